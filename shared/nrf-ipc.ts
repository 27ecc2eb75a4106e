// The nRF5340 IPC peripheral (nRF5340 Product Specification, "IPC — Interprocessor communication";
// register offsets as in Nordic's MDK): one instance per core, 16 signal-only channels each, joined
// by a 16-bit backbone. TASKS_SEND[n] puts the bits of SEND_CNF[n] on the backbone; every instance
// whose RECEIVE_CNF[m] shares a bit sets EVENTS_RECEIVE[m]. An event is one flag: several signals
// before the receiver clears it are seen once (receivers must drain their buffers until empty).
// The IRQ is level-triggered on INTEN & events; here each 0->1 event edge on an enabled channel
// raises the owning core's line, and clearing an event while INTEN and another event remain re-raises.
//
// Shared layout (Int32 words). Instance i's block starts at word i * NRF_IPC_INSTANCE_WORDS. What is
// written on every signal sits in 64-byte cache lines (16 words) of its own: each event (a sender
// and the owning core trade that line, and no other), and each sender's statistics; what a signal
// only reads (configuration, INTEN) shares lines that nothing writes then.
//   [16 n]      EVENTS_RECEIVE[n], n = 0..15   set by any sender, cleared by the owning core
//   [256]       INTEN                          owning core
//   [257..258]  GPMEM[0..1]                    either core
//   [272..287]  SEND_CNF[n]                    owning core
//   [288..303]  RECEIVE_CNF[n]                 owning core
// After the instances, at word G = instances * NRF_IPC_INSTANCE_WORDS:
//   [G]       configuration generation: +1 after each SEND_CNF or RECEIVE_CNF write (any core)
//   [G + 1]   statistics slots taken: each NrfIpcBank object (one per thread) takes one at its
//             first signal, NRF_IPC_STATS_SLOTS at most; later ones share the last line
//   [G + 16 * (1 + j * (NRF_IPC_STATS_SLOTS + 1) + s) + 0]  signals that set an event of instance
//             j (0->1), sent through the bank object holding slot s   statistics
//   [G + 16 * (1 + j * (NRF_IPC_STATS_SLOTS + 1) + s) + 1]  signals merged into an event of
//             instance j that was already set, idem                     statistics
//   A slot's line has one writer thread, which counts with plain increments (no locked
//   read-modify-write, no line shared with another writer); the shared last line (s =
//   NRF_IPC_STATS_SLOTS) counts with Atomics.add. stats(j) sums them all.
//
// Emulator-private: each NrfIpcBank object caches, per (instance, channel), the events a TASKS_SEND
// sets (the routing through SEND_CNF, the backbone and every RECEIVE_CNF), and rebuilds it when the
// configuration generation has moved: a send reads one word of configuration instead of 1 + 16 per
// instance. A send racing a configuration write routes by the configuration before or after it, as
// a signal racing a reconfiguration does on silicon. A send to an event that is already set leaves
// it set and is counted as merged; when the previous send found an event set, the next one looks
// at it first and writes nothing while it still is (an event no ISR clears, such as the sender's
// own instance listening on its TX channel, costs no locked write per signal).

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

/** One cache line, in Int32 words. */
const LINE_WORDS = 16;
/** EVENTS_RECEIVE[n] is word W_EVENTS + n * LINE_WORDS. */
const W_EVENTS = 0;
const W_INTEN = 256;
const W_GPMEM = 257;
const W_SEND_CNF = 272;
const W_RECEIVE_CNF = 288;
export const NRF_IPC_INSTANCE_WORDS = 304;
/** Within a statistics line. */
const S_DELIVERED = 0;
const S_MERGED = 1;
/** Statistics lines with a single writer, per receiving instance. */
export const NRF_IPC_STATS_SLOTS = 8;
/** Slot not taken yet. */
const SLOT_NONE = -1;

export class NrfIpcError extends Error {
  override name = 'NrfIpcError';
}

/**
 * Every IPC instance of the SoC in one SharedArrayBuffer. `irqOut(instance)` raises the interrupt
 * line of the core that owns `instance` (wired by the caller; shared/ knows no cores).
 */
export class NrfIpcBank {
  readonly words: Int32Array;
  /**
   * This thread's routing cache. For a send of (instance, ch), key = instance * 16 + ch: the events
   * it sets are planEvent[key * planStride + k] (word index) of instance planInst[...], k < planLen[key],
   * ordered by instance; valid while planGen[key] equals the bank's configuration generation.
   */
  private readonly planStride: number;
  private readonly planEvent: Int32Array;
  private readonly planInst: Int32Array;
  private readonly planLen: Int32Array;
  private readonly planGen: Int32Array;
  /** 1 when the last send through this plan entry found its event set. */
  private readonly planWasSet: Uint8Array;

  /** Word of the configuration generation. */
  private readonly genWord: number;
  /** This object's statistics slot (SLOT_NONE until its first signal; NRF_IPC_STATS_SLOTS: shared). */
  private slot = SLOT_NONE;

  static byteLength(instances: number): number {
    return (instances * NRF_IPC_INSTANCE_WORDS + LINE_WORDS * (1 + instances * (NRF_IPC_STATS_SLOTS + 1))) * 4;
  }

  constructor(sab: SharedArrayBuffer, byteOffset: number, readonly instances: number, private readonly irqOut: (instance: number) => void = () => {}) {
    this.words = new Int32Array(sab, byteOffset, NrfIpcBank.byteLength(instances) / 4);
    this.genWord = instances * NRF_IPC_INSTANCE_WORDS;
    const keys = instances * NRF_IPC_CHANNELS;
    this.planStride = instances * NRF_IPC_CHANNELS;
    this.planEvent = new Int32Array(keys * this.planStride);
    this.planInst = new Int32Array(keys * this.planStride);
    this.planLen = new Int32Array(keys);
    this.planGen = new Int32Array(keys).fill(-1);
    this.planWasSet = new Uint8Array(keys * this.planStride);
  }

  /** Takes this object's statistics slot (its first signal). */
  private takeSlot(): number {
    const s = Atomics.add(this.words, this.genWord + 1, 1);
    this.slot = s < NRF_IPC_STATS_SLOTS ? s : NRF_IPC_STATS_SLOTS;
    return this.slot;
  }

  /** Rebuilds the events TASKS_SEND[ch] of `instance` sets, as of configuration generation `gen`. */
  private buildPlan(key: number, instance: number, ch: number, gen: number): void {
    const w = this.words;
    const mask = Atomics.load(w, instance * NRF_IPC_INSTANCE_WORDS + W_SEND_CNF + ch);
    let n = 0;
    const at = key * this.planStride;
    if (mask !== 0) {
      for (let j = 0; j < this.instances; j++) {
        const b = j * NRF_IPC_INSTANCE_WORDS;
        for (let m = 0; m < NRF_IPC_CHANNELS; m++) {
          if ((Atomics.load(w, b + W_RECEIVE_CNF + m) & mask) === 0) continue;
          this.planEvent[at + n] = b + W_EVENTS + m * LINE_WORDS;
          this.planInst[at + n] = j;
          this.planWasSet[at + n] = 0;
          n++;
        }
      }
    }
    this.planLen[key] = n;
    this.planGen[key] = gen;
  }

  /** After a SEND_CNF or RECEIVE_CNF word: senders rebuild their routing from the new value. */
  private bumpConfig(): void {
    Atomics.add(this.words, this.genWord, 1);
  }

  /** First word of statistics slot `slot`'s line for receiving instance `to`. */
  private statsWord(to: number, slot: number): number {
    return this.genWord + LINE_WORDS * (1 + to * (NRF_IPC_STATS_SLOTS + 1) + slot);
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
    const key = (this.base(instance) / NRF_IPC_INSTANCE_WORDS) * NRF_IPC_CHANNELS + NrfIpcBank.channel(ch);
    const w = this.words;
    const gen = Atomics.load(w, this.genWord);
    if (gen !== this.planGen[key]) this.buildPlan(key, instance, ch, gen);
    const n = this.planLen[key]!;
    if (n === 0) return;
    const slot = this.slot === SLOT_NONE ? this.takeSlot() : this.slot;
    const plain = slot < NRF_IPC_STATS_SLOTS;
    const at = key * this.planStride;
    const wasSet = this.planWasSet;
    let j = -1;
    let b = 0;
    let st = 0;
    let raise = false;
    for (let k = at; k < at + n; k++) {
      const inst = this.planInst[k]!;
      if (inst !== j) {
        if (raise) this.irqOut(j);
        raise = false;
        j = inst;
        b = j * NRF_IPC_INSTANCE_WORDS;
        st = this.statsWord(j, slot);
      }
      const e = this.planEvent[k]!;
      // An event already set stays set: the signal merges. One read-modify-write otherwise; a plain
      // look first when the last signal found it set (it likely still is: nothing to write then).
      if ((wasSet[k] !== 0 && Atomics.load(w, e) !== 0) || Atomics.exchange(w, e, 1) !== 0) {
        wasSet[k] = 1;
        if (plain) w[st + S_MERGED] = (w[st + S_MERGED]! + 1) | 0;
        else Atomics.add(w, st + S_MERGED, 1);
        continue;
      }
      wasSet[k] = 0;
      if (plain) w[st + S_DELIVERED] = (w[st + S_DELIVERED]! + 1) | 0;
      else Atomics.add(w, st + S_DELIVERED, 1);
      if (Atomics.load(w, b + W_INTEN) & (1 << ((e - b - W_EVENTS) / LINE_WORDS))) raise = true;
    }
    if (raise) this.irqOut(j);
  }

  /** EVENTS_RECEIVE[ch] (1 when set). */
  event(instance: number, ch: number): number {
    return Atomics.load(this.words, this.base(instance) + W_EVENTS + NrfIpcBank.channel(ch) * LINE_WORDS);
  }

  /** Bitmap of set events. */
  events(instance: number): number {
    const b = this.base(instance);
    let bits = 0;
    for (let m = 0; m < NRF_IPC_CHANNELS; m++) if (Atomics.load(this.words, b + W_EVENTS + m * LINE_WORDS)) bits |= 1 << m;
    return bits;
  }

  clearEvent(instance: number, ch: number): void {
    Atomics.store(this.words, this.base(instance) + W_EVENTS + NrfIpcBank.channel(ch) * LINE_WORDS, 0);
  }

  /** INTEN & events: only the enabled channels' events are read. */
  intPend(instance: number): number {
    const b = this.base(instance);
    const w = this.words;
    let pending = 0;
    for (let bits = Atomics.load(w, b + W_INTEN); bits !== 0; bits &= bits - 1) {
      const bit = bits & -bits;
      if (Atomics.load(w, b + W_EVENTS + (31 - Math.clz32(bit)) * LINE_WORDS) !== 0) pending |= bit;
    }
    return pending;
  }

  /**
   * The owning core's ISR: clears every enabled event that is set and returns them (INTPEND as it
   * was, each pending event then cleared). One read-modify-write per enabled channel, which takes
   * the event's line once where a read followed by a clear would move it twice. A signal that
   * lands after its event was taken sets it again (and interrupts again).
   */
  takeEvents(instance: number): number {
    const b = this.base(instance);
    const w = this.words;
    let taken = 0;
    for (let bits = Atomics.load(w, b + W_INTEN); bits !== 0; bits &= bits - 1) {
      const bit = bits & -bits;
      if (Atomics.exchange(w, b + W_EVENTS + (31 - Math.clz32(bit)) * LINE_WORDS, 0) !== 0) taken |= bit;
    }
    return taken;
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
    this.bumpConfig();
  }

  setReceiveCnf(instance: number, ch: number, mask: number): void {
    const b = this.base(instance);
    Atomics.store(this.words, b + W_RECEIVE_CNF + NrfIpcBank.channel(ch), mask & 0xFFFF);
    this.bumpConfig();
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

  /** Signals that set an event of `instance` (0->1), and signals merged into one already set, from every sender. */
  stats(instance: number): { delivered: number; merged: number } {
    this.base(instance);
    let delivered = 0;
    let merged = 0;
    for (let s = 0; s <= NRF_IPC_STATS_SLOTS; s++) {
      const st = this.statsWord(instance, s);
      delivered += Atomics.load(this.words, st + S_DELIVERED);
      merged += Atomics.load(this.words, st + S_MERGED);
    }
    return { delivered, merged };
  }

  /** Register read at `offset` in `instance`'s window. */
  readReg(instance: number, offset: number): number {
    const b = this.base(instance);
    const n = (offset & 0x7F) >>> 2;
    if (offset >= NRF_IPC_EVENTS_RECEIVE && offset < NRF_IPC_EVENTS_RECEIVE + 0x40) return Atomics.load(this.words, b + W_EVENTS + n * LINE_WORDS);
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
      else if (Atomics.exchange(this.words, b + W_EVENTS + ch * LINE_WORDS, 1) === 0 && (this.inten(instance) & (1 << ch))) this.irqOut(instance);
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
