// The nRF5340 IPC peripheral (nRF5340 Product Specification, "IPC — Interprocessor communication";
// register offsets as in Nordic's MDK): one instance per core, 16 signal-only channels each, joined
// by a 16-bit backbone. TASKS_SEND[n] puts the bits of SEND_CNF[n] on the backbone; every instance
// whose RECEIVE_CNF[m] shares a bit sets EVENTS_RECEIVE[m]. An event is one flag: several signals
// before the receiver clears it are seen once (receivers must drain their buffers until empty).
// The IRQ is level-triggered on INTEN & events; here each 0->1 event edge on an enabled channel
// raises the owning core's line, and clearing an event while INTEN and another event remain re-raises.
//
// Shared layout per instance (Int32 words, stride NRF_IPC_INSTANCE_WORDS):
//   [0..15]  EVENTS_RECEIVE[n]   set by any sender, cleared by the owning core
//   [16]     INTEN               owning core
//   [17..32] SEND_CNF[n]         owning core
//   [33..48] RECEIVE_CNF[n]      owning core
//   [49..50] GPMEM[0..1]         either core
//   [51]     signals delivered (events set 0->1)        statistics, any sender
//   [52]     signals merged into an already set event   statistics, any sender

export const NRF_IPC_CHANNELS = 16;
/** Register offsets within one instance's 4 KiB window. */
export const NRF_IPC_TASKS_SEND = 0x000;
export const NRF_IPC_SUBSCRIBE_SEND = 0x080;
export const NRF_IPC_EVENTS_RECEIVE = 0x100;
export const NRF_IPC_PUBLISH_RECEIVE = 0x180;
export const NRF_IPC_INTEN = 0x300;
export const NRF_IPC_INTENSET = 0x304;
export const NRF_IPC_INTENCLR = 0x308;
export const NRF_IPC_INTPEND = 0x30C;
export const NRF_IPC_SEND_CNF = 0x510;
export const NRF_IPC_RECEIVE_CNF = 0x590;
export const NRF_IPC_GPMEM = 0x610;
export const NRF_IPC_WINDOW_SIZE = 0x1000;

const W_EVENTS = 0;
const W_INTEN = 16;
const W_SEND_CNF = 17;
const W_RECEIVE_CNF = 33;
const W_GPMEM = 49;
const W_DELIVERED = 51;
const W_MERGED = 52;
export const NRF_IPC_INSTANCE_WORDS = 56;

export class NrfIpcError extends Error {
  override name = 'NrfIpcError';
}

/**
 * Every IPC instance of the SoC in one SharedArrayBuffer. `irqOut(instance)` raises the interrupt
 * line of the core that owns `instance` (wired by the caller; shared/ knows no cores).
 */
export class NrfIpcBank {
  readonly words: Int32Array;

  static byteLength(instances: number): number {
    return instances * NRF_IPC_INSTANCE_WORDS * 4;
  }

  constructor(sab: SharedArrayBuffer, byteOffset: number, readonly instances: number, private readonly irqOut: (instance: number) => void = () => {}) {
    this.words = new Int32Array(sab, byteOffset, instances * NRF_IPC_INSTANCE_WORDS);
  }

  private base(instance: number): number {
    if (!(Number.isInteger(instance) && instance >= 0 && instance < this.instances)) {
      throw new NrfIpcError(`nRF IPC: no instance ${instance} (0..${this.instances - 1})`);
    }
    return instance * NRF_IPC_INSTANCE_WORDS;
  }

  private static channel(ch: number): number {
    if (!(Number.isInteger(ch) && ch >= 0 && ch < NRF_IPC_CHANNELS)) {
      throw new NrfIpcError(`nRF IPC: no channel ${ch} (0..${NRF_IPC_CHANNELS - 1})`);
    }
    return ch;
  }

  /** TASKS_SEND[ch] of `instance`: signal every channel whose RECEIVE_CNF shares a backbone bit. */
  send(instance: number, ch: number): void {
    const mask = Atomics.load(this.words, this.base(instance) + W_SEND_CNF + NrfIpcBank.channel(ch));
    if (mask === 0) return;
    for (let j = 0; j < this.instances; j++) {
      const b = j * NRF_IPC_INSTANCE_WORDS;
      let raise = false;
      for (let m = 0; m < NRF_IPC_CHANNELS; m++) {
        if ((Atomics.load(this.words, b + W_RECEIVE_CNF + m) & mask) === 0) continue;
        if (Atomics.exchange(this.words, b + W_EVENTS + m, 1) === 0) {
          Atomics.add(this.words, b + W_DELIVERED, 1);
          if (Atomics.load(this.words, b + W_INTEN) & (1 << m)) raise = true;
        } else {
          Atomics.add(this.words, b + W_MERGED, 1);
        }
      }
      if (raise) this.irqOut(j);
    }
  }

  /** EVENTS_RECEIVE[ch] (1 when set). */
  event(instance: number, ch: number): number {
    return Atomics.load(this.words, this.base(instance) + W_EVENTS + NrfIpcBank.channel(ch));
  }

  /** Bitmap of set events. */
  events(instance: number): number {
    const b = this.base(instance);
    let bits = 0;
    for (let m = 0; m < NRF_IPC_CHANNELS; m++) if (Atomics.load(this.words, b + W_EVENTS + m)) bits |= 1 << m;
    return bits;
  }

  clearEvent(instance: number, ch: number): void {
    Atomics.store(this.words, this.base(instance) + W_EVENTS + NrfIpcBank.channel(ch), 0);
  }

  intPend(instance: number): number {
    return this.events(instance) & Atomics.load(this.words, this.base(instance) + W_INTEN);
  }

  setInten(instance: number, value: number): void {
    const b = this.base(instance);
    const before = Atomics.exchange(this.words, b + W_INTEN, value & 0xFFFF);
    // Level-triggered: enabling a channel whose event is already set interrupts at once.
    if ((value & ~before & this.events(instance)) !== 0) this.irqOut(instance);
  }

  inten(instance: number): number {
    return Atomics.load(this.words, this.base(instance) + W_INTEN);
  }

  setSendCnf(instance: number, ch: number, mask: number): void {
    Atomics.store(this.words, this.base(instance) + W_SEND_CNF + NrfIpcBank.channel(ch), mask & 0xFFFF);
  }

  setReceiveCnf(instance: number, ch: number, mask: number): void {
    Atomics.store(this.words, this.base(instance) + W_RECEIVE_CNF + NrfIpcBank.channel(ch), mask & 0xFFFF);
  }

  /**
   * What a level-triggered line does on its own: raises (irqOut) the line of every instance with an
   * enabled event set (INTEN & EVENTS != 0), except instance `skip`. Here a line is raised on the
   * 0->1 edge of an event, from the sender's thread, so a sender stopped between setting the event
   * and raising the line (a core reset terminating its worker) leaves the event set and the line
   * quiet; every later signal then merges into the set event and the receiver never hears from the
   * peer again. Call it once the sender's thread is gone (Soc.resetCore), with `skip` = the reset
   * core's own instance (its IPC peripheral is set up again by its next boot). Raising a line whose
   * ISR already runs is harmless: the ISR drains until nothing is pending. Returns the bitmap of
   * instances raised.
   */
  reassertLines(skip = -1): number {
    let raised = 0;
    for (let i = 0; i < this.instances; i++) {
      if (i === skip || this.intPend(i) === 0) continue;
      raised |= 1 << i;
      this.irqOut(i);
    }
    return raised;
  }

  stats(instance: number): { delivered: number; merged: number } {
    const b = this.base(instance);
    return { delivered: Atomics.load(this.words, b + W_DELIVERED), merged: Atomics.load(this.words, b + W_MERGED) };
  }

  /** Register read at `offset` in `instance`'s window. */
  readReg(instance: number, offset: number): number {
    const b = this.base(instance);
    const n = (offset & 0x7F) >>> 2;
    if (offset >= NRF_IPC_EVENTS_RECEIVE && offset < NRF_IPC_EVENTS_RECEIVE + 0x40) return Atomics.load(this.words, b + W_EVENTS + n);
    if (offset >= NRF_IPC_SEND_CNF && offset < NRF_IPC_SEND_CNF + 0x40) return Atomics.load(this.words, b + W_SEND_CNF + ((offset - NRF_IPC_SEND_CNF) >>> 2));
    if (offset >= NRF_IPC_RECEIVE_CNF && offset < NRF_IPC_RECEIVE_CNF + 0x40) {
      return Atomics.load(this.words, b + W_RECEIVE_CNF + ((offset - NRF_IPC_RECEIVE_CNF) >>> 2));
    }
    switch (offset) {
      case NRF_IPC_INTEN:
      case NRF_IPC_INTENSET:
      case NRF_IPC_INTENCLR:
        return this.inten(instance);
      case NRF_IPC_INTPEND:
        return this.intPend(instance);
      case NRF_IPC_GPMEM:
      case NRF_IPC_GPMEM + 4:
        return Atomics.load(this.words, b + W_GPMEM + ((offset - NRF_IPC_GPMEM) >>> 2));
    }
    if (offset < NRF_IPC_TASKS_SEND + 0x40 || (offset >= NRF_IPC_SUBSCRIBE_SEND && offset < NRF_IPC_SUBSCRIBE_SEND + 0x40) ||
      (offset >= NRF_IPC_PUBLISH_RECEIVE && offset < NRF_IPC_PUBLISH_RECEIVE + 0x40)) return 0;
    throw new NrfIpcError(`nRF IPC instance ${instance}: no register at offset 0x${offset.toString(16)}`);
  }

  /** Register write with the peripheral's side effects (TASKS_SEND signals, INTENSET/CLR). */
  writeReg(instance: number, offset: number, value: number): void {
    const b = this.base(instance);
    if (offset < NRF_IPC_TASKS_SEND + 0x40) {
      if (value & 1) this.send(instance, offset >>> 2);
      return;
    }
    if (offset >= NRF_IPC_EVENTS_RECEIVE && offset < NRF_IPC_EVENTS_RECEIVE + 0x40) {
      const ch = (offset - NRF_IPC_EVENTS_RECEIVE) >>> 2;
      if (value === 0) this.clearEvent(instance, ch);
      else if (Atomics.exchange(this.words, b + W_EVENTS + ch, 1) === 0 && (this.inten(instance) & (1 << ch))) this.irqOut(instance);
      return;
    }
    if (offset >= NRF_IPC_SEND_CNF && offset < NRF_IPC_SEND_CNF + 0x40) return this.setSendCnf(instance, (offset - NRF_IPC_SEND_CNF) >>> 2, value);
    if (offset >= NRF_IPC_RECEIVE_CNF && offset < NRF_IPC_RECEIVE_CNF + 0x40) {
      return this.setReceiveCnf(instance, (offset - NRF_IPC_RECEIVE_CNF) >>> 2, value);
    }
    switch (offset) {
      case NRF_IPC_INTEN:
        return this.setInten(instance, value);
      case NRF_IPC_INTENSET:
        return this.setInten(instance, this.inten(instance) | value);
      case NRF_IPC_INTENCLR:
        return this.setInten(instance, this.inten(instance) & ~value);
      case NRF_IPC_GPMEM:
      case NRF_IPC_GPMEM + 4:
        Atomics.store(this.words, b + W_GPMEM + ((offset - NRF_IPC_GPMEM) >>> 2), value | 0);
        return;
    }
    if ((offset >= NRF_IPC_SUBSCRIBE_SEND && offset < NRF_IPC_SUBSCRIBE_SEND + 0x40) ||
      (offset >= NRF_IPC_PUBLISH_RECEIVE && offset < NRF_IPC_PUBLISH_RECEIVE + 0x40)) return; // DPPI not modelled
    throw new NrfIpcError(`nRF IPC instance ${instance}: no writable register at offset 0x${offset.toString(16)}`);
  }
}
