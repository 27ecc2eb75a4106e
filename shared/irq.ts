// Per-core interrupt controllers in shared memory: 32 lines per core, pending and enabled masks,
// and the wake word a sleeping core waits on. Matches no single TI or Nordic block; it is the part
// every core has (VIM on R5F, GIC on A72, NVIC on Cortex-M) reduced to what IPC needs: a device
// raises a line, the core's thread wakes and runs the line's ISR between its tasks.
//
// Any thread may raise a line of any core; only the owning core takes pending lines and sleeps.

/** Int32 words per core. */
export const IRQ_CORE_STRIDE = 8;
/** Incremented by every raise and every poke; the core sleeps on it (Atomics.wait / waitAsync). */
export const IRQ_WAKE_SEQ = 0;
/** 1 while the core sleeps (written by the core), so raisers skip Atomics.notify when it is awake. */
export const IRQ_SLEEPING = 1;
/** Bit n set: line n raised and not yet taken by the core (written by raisers and the core). */
export const IRQ_PENDING = 2;
/** Bit n set: line n enabled (written by the core). */
export const IRQ_ENABLED = 3;
/** Count of raises, for statistics (written by raisers). */
export const IRQ_RAISES = 4;
export const IRQ_LINES = 32;

export class InterruptController {
  readonly words: Int32Array;

  static byteLength(cores: number): number {
    return cores * IRQ_CORE_STRIDE * 4;
  }

  constructor(sab: SharedArrayBuffer, byteOffset: number, readonly cores: number) {
    this.words = new Int32Array(sab, byteOffset, cores * IRQ_CORE_STRIDE);
  }

  private base(core: number): number {
    if (!(core >= 0 && core < this.cores)) throw new RangeError(`interrupt controller: no core ${core} (0..${this.cores - 1})`);
    return core * IRQ_CORE_STRIDE;
  }

  /** Raises `line` of `core` and wakes the core if it sleeps. */
  raise(core: number, line: number): void {
    if (!(line >= 0 && line < IRQ_LINES)) throw new RangeError(`interrupt controller: no line ${line} on core ${core} (0..${IRQ_LINES - 1})`);
    const b = this.base(core);
    Atomics.or(this.words, b + IRQ_PENDING, 1 << line);
    Atomics.add(this.words, b + IRQ_RAISES, 1);
    this.poke(core);
  }

  /** Wakes the core without raising a line (control plane, timers of another thread). */
  poke(core: number): void {
    const b = this.base(core);
    Atomics.add(this.words, b + IRQ_WAKE_SEQ, 1);
    if (Atomics.load(this.words, b + IRQ_SLEEPING) !== 0) Atomics.notify(this.words, b + IRQ_WAKE_SEQ);
  }

  /** Takes (clears and returns) the lines that are pending and enabled. Owning core only. */
  take(core: number): number {
    const b = this.base(core);
    const p = Atomics.load(this.words, b + IRQ_PENDING) & Atomics.load(this.words, b + IRQ_ENABLED);
    if (p !== 0) Atomics.and(this.words, b + IRQ_PENDING, ~p);
    return p;
  }

  pending(core: number): number {
    return Atomics.load(this.words, this.base(core) + IRQ_PENDING);
  }

  enabled(core: number): number {
    return Atomics.load(this.words, this.base(core) + IRQ_ENABLED);
  }

  enable(core: number, line: number): void {
    Atomics.or(this.words, this.base(core) + IRQ_ENABLED, 1 << line);
  }

  disable(core: number, line: number): void {
    Atomics.and(this.words, this.base(core) + IRQ_ENABLED, ~(1 << line));
  }

  wakeSeq(core: number): number {
    return Atomics.load(this.words, this.base(core) + IRQ_WAKE_SEQ);
  }

  /** Index of the wake word of `core` in `words` (for Atomics.wait/waitAsync by the core). */
  wakeIndex(core: number): number {
    return this.base(core) + IRQ_WAKE_SEQ;
  }

  setSleeping(core: number, sleeping: boolean): void {
    Atomics.store(this.words, this.base(core) + IRQ_SLEEPING, sleeping ? 1 : 0);
  }

  raises(core: number): number {
    return Atomics.load(this.words, this.base(core) + IRQ_RAISES);
  }
}
