// Per-core interrupt controllers in shared memory: 32 lines per core, pending and enabled masks,
// and the wake word a sleeping core waits on. Matches no single TI or Nordic block; it is the part
// every core has (VIM on R5F, GIC on A72, NVIC on Cortex-M) reduced to what IPC needs: a device
// raises a line, the core's thread wakes and runs the line's ISR between its tasks.
//
// Any thread may raise a line of any core; only the owning core takes pending lines and sleeps.

/** Int32 words per core: one 64-byte cache line, so that raising one core's line does not move another core's words. */
export const IRQ_CORE_STRIDE = 16;
/** Incremented by every raise and every poke; the core sleeps on it (Atomics.wait / waitAsync). */
export const IRQ_WAKE_SEQ = 0;
/** 1 while the core sleeps: set by the core, cleared by the first of a raiser (compareExchange, see
 * the constructor) or the core when it wakes; raisers skip Atomics.notify when it is 0. */
export const IRQ_SLEEPING = 1;
/** Bit n set: line n raised and not yet taken by the core (written by raisers and the core). */
export const IRQ_PENDING = 2;
/** Bit n set: line n enabled (written by the core). */
export const IRQ_ENABLED = 3;
// Word 4 reserved (was a count of raises; not worth an atomic operation on every interrupt).
export const IRQ_LINES = 32;

/** The SoC's count of awake cores (CoreControl): a raiser that wakes a sleeping core counts it in. */
export interface AwakeCounter {
  addAwake(delta: number): void;
}

export class InterruptController {
  readonly words: Int32Array;

  static byteLength(cores: number): number {
    return cores * IRQ_CORE_STRIDE * 4;
  }

  /**
   * @param awake the SoC's awake-core count. With it, a raise that wakes a sleeping core counts
   *   that core as awake at once (it is runnable from then on, though its thread has yet to be
   *   scheduled), so that other cores stop polling for the CPU it needs. Without it (host-side
   *   raisers), the woken core counts itself in when it runs.
   */
  constructor(sab: SharedArrayBuffer, byteOffset: number, readonly cores: number, private readonly awake?: AwakeCounter) {
    this.words = new Int32Array(sab, byteOffset, cores * IRQ_CORE_STRIDE);
  }

  private base(core: number): number {
    if (!(core >= 0 && core < this.cores)) throw new RangeError(`interrupt controller: no core ${core} (0..${this.cores - 1})`);
    return core * IRQ_CORE_STRIDE;
  }

  /**
   * Raises `line` of `core` and wakes the core if it sleeps. A raise of a line that is still
   * pending coalesces with it (a level interrupt the core has not taken yet): the core will see
   * everything published before this call when it takes the line, so nothing more is written.
   */
  raise(core: number, line: number): void {
    if (!(line >= 0 && line < IRQ_LINES)) throw new RangeError(`interrupt controller: no line ${line} on core ${core} (0..${IRQ_LINES - 1})`);
    const b = this.base(core);
    const bit = 1 << line;
    if ((Atomics.load(this.words, b + IRQ_PENDING) & bit) !== 0) return;
    if ((Atomics.or(this.words, b + IRQ_PENDING, bit) & bit) !== 0) return;
    this.poke(core);
  }

  /** Wakes the core without raising a line (control plane, timers of another thread). */
  poke(core: number): void {
    const b = this.base(core);
    Atomics.add(this.words, b + IRQ_WAKE_SEQ, 1);
    if (Atomics.load(this.words, b + IRQ_SLEEPING) !== 0) {
      if (this.awake && Atomics.compareExchange(this.words, b + IRQ_SLEEPING, 1, 0) === 1) this.awake.addAwake(1);
      Atomics.notify(this.words, b + IRQ_WAKE_SEQ, 1);
    }
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

  /** The core is about to sleep on its wake word (owning core only). */
  setSleeping(core: number, sleeping: boolean): void {
    Atomics.store(this.words, this.base(core) + IRQ_SLEEPING, sleeping ? 1 : 0);
  }

  /**
   * After its wait ended, the core marks itself awake. True when this call did it (so the core
   * counts itself in); false when a raiser already did (see the constructor).
   */
  claimWake(core: number): boolean {
    return Atomics.compareExchange(this.words, this.base(core) + IRQ_SLEEPING, 1, 0) === 1;
  }
}
