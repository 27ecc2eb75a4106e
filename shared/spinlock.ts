// Matches the TI hardware spinlock module (`ti,am654-hwspinlock`, OMAP4-style IP) on J721E.
//
// Guest view (MMIO, 32-bit registers, little-endian):
//   0x000 REVISION    read-only
//   0x010 SYSCONFIG   bit 1 SOFTRESET: writing 1 frees every lock; the bit reads back 0
//   0x014 SYSSTATUS   read-only; bits 31:24 NUMLOCKS (count / 32: 1, 2, 4 or 8),
//                     bits 7:0 IU0..IU7 (some lock of group g = locks 32g..32g+31 is taken)
//   0x800 + 4n        LOCK_REG[n]: read 0 = was free and the reader now owns it,
//                     read 1 = taken; write 0 = release; write 1 = no effect
//
// SharedArrayBuffer layout (Int32 words from `byteOffset`; N = lock count):
//   header (SPINLOCK_SAB_HEADER_BYTES), then four arrays of N words each, in this order:
//   lock words, holder words, waiter counts, acquisition counters.
// Byte offset of array s = SPINLOCK_SAB_HEADER_BYTES + s * 4 * N (s = SPINLOCK_SAB_SECTION_*).

/** Base address of the spinlock module on J721E (`hwspinlock@30e00000`). */
export const SPINLOCK_BASE_J721E = 0x30e00000;
/** Size of the register window (devicetree `reg` size). */
export const SPINLOCK_REG_SIZE = 0x1000;

/** REVISION register offset (read-only). */
export const SPINLOCK_REVISION = 0x000;
/** SYSCONFIG register offset. */
export const SPINLOCK_SYSCONFIG = 0x010;
/** SYSCONFIG bit 1: soft reset; frees all locks, reads back 0 (reset completes at once here). */
export const SPINLOCK_SYSCONFIG_SOFTRESET = 1 << 1;
/** SYSSTATUS register offset (read-only). */
export const SPINLOCK_SYSSTATUS = 0x014;
/** SYSSTATUS NUMLOCKS field position (bits 31:24); number of locks = 32 x NUMLOCKS. */
export const SPINLOCK_SYSSTATUS_NUMLOCKS_SHIFT = 24;
/**
 * SYSSTATUS IU0 position; IUg (bit IU_SHIFT + g) = some lock in group g is taken. Bits 7:0 as in
 * rpmsg-j7.md section 6; not checked against a J721E TRM (older OMAP TRMs may differ).
 */
export const SPINLOCK_SYSSTATUS_IU_SHIFT = 0;
/** Locks per SYSSTATUS in-use group and per NUMLOCKS unit. */
export const SPINLOCK_LOCKS_PER_GROUP = 32;
/** LOCK_REG[0] offset; LOCK_REG[n] sits at SPINLOCK_LOCK_REG_BASE + 4 * n. */
export const SPINLOCK_LOCK_REG_BASE = 0x800;
/** Locks on J721E (TI CSL `LOCK_REG[256]`), the default bank size. */
export const SPINLOCK_COUNT_J721E = 256;

/**
 * Value read from REVISION. The J721E reset value is not in the reference material;
 * firmware must not depend on it.
 */
export const SPINLOCK_REVISION_VALUE = 0;

/** Lock word value: free. */
export const SPINLOCK_FREE = 0;
/** Lock word value: taken. */
export const SPINLOCK_TAKEN = 1;
/** Holder word value when no holder is recorded; otherwise the word holds coreId + 1. */
export const SPINLOCK_NO_HOLDER = 0;

// ---- SharedArrayBuffer layout ----
/**
 * Header word 0: SYSCONFIG as last written, SOFTRESET bit cleared.
 * Written by any core that writes SYSCONFIG (plain Atomics.store; last writer wins).
 */
export const SPINLOCK_SAB_SYSCONFIG = 0;
/** Header size in bytes (word 0 SYSCONFIG, words 1..3 reserved, zero). */
export const SPINLOCK_SAB_HEADER_BYTES = 16;
/**
 * Array 0, lock words: SPINLOCK_FREE / SPINLOCK_TAKEN. Taken only by compareExchange 0 -> 1
 * (any core); freed by Atomics.store 0 (any core: the hardware lets anyone release). Waiters
 * Atomics.wait on this word.
 */
export const SPINLOCK_SAB_SECTION_LOCK = 0;
/**
 * Array 1, holder words: coreId + 1 of the holder, SPINLOCK_NO_HOLDER when free. Written by the
 * core that won the compareExchange right after winning; cleared by the releasing core BEFORE it
 * frees the lock word. Diagnostic only: never used to decide ownership.
 */
export const SPINLOCK_SAB_SECTION_HOLDER = 1;
/**
 * Array 2, waiter counts: number of threads inside waitWhileTaken for the lock. Atomics.add /
 * Atomics.sub by each waiter; read by the releaser to decide whether to notify.
 */
export const SPINLOCK_SAB_SECTION_WAITERS = 2;
/**
 * Array 3, acquisition counters (uint32, wrapping): Atomics.add 1 by each successful acquirer.
 * Emulator statistic, not a hardware register; survives SOFTRESET.
 */
export const SPINLOCK_SAB_SECTION_ACQUIRED = 3;
/** Number of per-lock arrays after the header. */
export const SPINLOCK_SAB_SECTIONS = 4;

const WORD_BYTES = 4;
const GROUPS_MAX = 8;
/** Largest core id that fits a holder word (stored as id + 1 in an Int32). */
const HOLDER_ID_MAX = 0x7ffffffe;

/** Thrown for a bad lock number, register offset, holder id or bank geometry. */
export class SpinlockError extends Error {
  override name = 'SpinlockError';
}

function hex(value: number): string {
  return Number.isInteger(value) && value >= 0 ? `0x${value.toString(16).padStart(3, '0')}` : String(value);
}

/**
 * One spinlock module whose state lives in a SharedArrayBuffer, so every core thread that builds a
 * SpinlockBank on the same (sab, byteOffset, count) sees the same locks.
 */
export class SpinlockBank {
  /** Number of locks (32, 64, 128 or 256). */
  readonly count: number;
  private readonly words: Int32Array;
  private readonly lockBase: number;
  private readonly holderBase: number;
  private readonly waitersBase: number;
  private readonly acquiredBase: number;

  /** Bytes of SharedArrayBuffer a bank of `count` locks needs. */
  static byteLength(count: number = SPINLOCK_COUNT_J721E): number {
    SpinlockBank.checkCount(count);
    return SPINLOCK_SAB_HEADER_BYTES + SPINLOCK_SAB_SECTIONS * count * WORD_BYTES;
  }

  /**
   * Attach to (or, on fresh zeroed memory, create) a bank. Zeroed memory is the reset state:
   * all locks free. Does not write to the buffer.
   * @param sab shared memory holding the bank
   * @param byteOffset start of the bank, multiple of 4
   * @param count number of locks: 32, 64, 128 or 256 (what SYSSTATUS NUMLOCKS can express)
   */
  constructor(sab: SharedArrayBuffer, byteOffset: number, count: number = SPINLOCK_COUNT_J721E) {
    SpinlockBank.checkCount(count);
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % WORD_BYTES !== 0) {
      throw new SpinlockError(`spinlock bank byteOffset ${byteOffset} must be a non-negative multiple of 4`);
    }
    const length = SpinlockBank.byteLength(count);
    if (byteOffset + length > sab.byteLength) {
      throw new SpinlockError(
        `spinlock bank of ${count} locks needs bytes ${byteOffset}..${byteOffset + length - 1}, ` +
          `SharedArrayBuffer has ${sab.byteLength}`,
      );
    }
    this.count = count;
    this.words = new Int32Array(sab, byteOffset, length / WORD_BYTES);
    const headerWords = SPINLOCK_SAB_HEADER_BYTES / WORD_BYTES;
    this.lockBase = headerWords + SPINLOCK_SAB_SECTION_LOCK * count;
    this.holderBase = headerWords + SPINLOCK_SAB_SECTION_HOLDER * count;
    this.waitersBase = headerWords + SPINLOCK_SAB_SECTION_WAITERS * count;
    this.acquiredBase = headerWords + SPINLOCK_SAB_SECTION_ACQUIRED * count;
  }

  private static checkCount(count: number): void {
    if (
      !Number.isInteger(count) ||
      count < SPINLOCK_LOCKS_PER_GROUP ||
      count > SPINLOCK_LOCKS_PER_GROUP * GROUPS_MAX ||
      (count & (count - 1)) !== 0
    ) {
      throw new SpinlockError(`spinlock count ${count} invalid: expected 32, 64, 128 or 256`);
    }
  }

  private checkLock(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n >= this.count) {
      throw new SpinlockError(`spinlock ${n} out of range: valid locks are 0..${this.count - 1}`);
    }
  }

  /** True when `n` names a lock of this bank. */
  isValid(n: number): boolean {
    return Number.isInteger(n) && n >= 0 && n < this.count;
  }

  // ---- pure helpers (what the register semantics are built from) ----

  /**
   * Try to take lock `n` once: one compareExchange 0 -> 1 on the lock word; on success record
   * `holder` (a core id >= 0) and count the acquisition.
   * @returns true when the caller now owns the lock
   */
  tryLock(n: number, holder: number): boolean {
    this.checkLock(n);
    if (!Number.isInteger(holder) || holder < 0 || holder > HOLDER_ID_MAX) {
      throw new SpinlockError(`spinlock ${n}: holder id ${holder} invalid, expected 0..${HOLDER_ID_MAX}`);
    }
    if (Atomics.compareExchange(this.words, this.lockBase + n, SPINLOCK_FREE, SPINLOCK_TAKEN) !== SPINLOCK_FREE) {
      return false;
    }
    Atomics.store(this.words, this.holderBase + n, holder + 1);
    Atomics.add(this.words, this.acquiredBase + n, 1);
    return true;
  }

  /**
   * Release lock `n` as the hardware does on a write of 0: whoever `by` is, the lock becomes free.
   * Clears the holder word first, then frees the lock word, then wakes one waiter if any.
   * @param by core id of the releaser; not stored (the hardware does not know it either), callers
   *   compare it with the returned previous holder to spot foreign releases
   * @returns the previous holder's core id, or -1 when the lock was free or its holder unrecorded
   */
  unlock(n: number, by: number): number {
    this.checkLock(n);
    const previous = Atomics.exchange(this.words, this.holderBase + n, SPINLOCK_NO_HOLDER) - 1;
    Atomics.store(this.words, this.lockBase + n, SPINLOCK_FREE);
    if (Atomics.load(this.words, this.waitersBase + n) !== 0) {
      // One waiter is enough: every woken waiter retries and, if it wins, releases in turn.
      Atomics.notify(this.words, this.lockBase + n, 1);
    }
    return previous;
  }

  /**
   * Core id holding lock `n`, or -1 when it is free. Diagnostic: right after another thread's
   * compareExchange and before it records itself this can read -1 for a taken lock; use isLocked
   * for the authoritative state.
   */
  holder(n: number): number {
    this.checkLock(n);
    return Atomics.load(this.words, this.holderBase + n) - 1;
  }

  /** True when lock `n` is taken. */
  isLocked(n: number): boolean {
    this.checkLock(n);
    return Atomics.load(this.words, this.lockBase + n) !== SPINLOCK_FREE;
  }

  /** Number of successful acquisitions of lock `n` since the buffer was zeroed (uint32, wraps). */
  acquisitions(n: number): number {
    this.checkLock(n);
    return Atomics.load(this.words, this.acquiredBase + n) >>> 0;
  }

  /** Number of threads currently blocked in waitWhileTaken on lock `n`. */
  waiters(n: number): number {
    this.checkLock(n);
    return Atomics.load(this.words, this.waitersBase + n);
  }

  /**
   * Block the calling thread while lock `n` is taken, at most `timeoutMs` (Infinity allowed).
   * Does not take the lock: a release wakes one waiter, which must then retry tryLock (or call
   * this again); a waiter that gives up without retrying may leave other waiters asleep until
   * their own timeout.
   * @returns 'ok' when the lock was seen free or a release woke the caller, 'timed-out' otherwise
   */
  waitWhileTaken(n: number, timeoutMs: number): 'ok' | 'timed-out' {
    this.checkLock(n);
    const lockIndex = this.lockBase + n;
    Atomics.add(this.words, this.waitersBase + n, 1);
    try {
      // Counted as a waiter before the check, so a release after this point notifies us.
      const result = Atomics.wait(this.words, lockIndex, SPINLOCK_TAKEN, timeoutMs);
      return result === 'timed-out' ? 'timed-out' : 'ok';
    } finally {
      Atomics.sub(this.words, this.waitersBase + n, 1);
    }
  }

  /** SOFTRESET: free every lock, clear holders, wake every waiter. Counters are kept. */
  softReset(): void {
    Atomics.store(this.words, SPINLOCK_SAB_SYSCONFIG / WORD_BYTES, 0);
    for (let n = 0; n < this.count; n++) {
      Atomics.store(this.words, this.holderBase + n, SPINLOCK_NO_HOLDER);
      Atomics.store(this.words, this.lockBase + n, SPINLOCK_FREE);
      if (Atomics.load(this.words, this.waitersBase + n) !== 0) {
        Atomics.notify(this.words, this.lockBase + n);
      }
    }
  }

  /** SYSSTATUS value: NUMLOCKS in bits 31:24, IU0..IU7 from the current lock words. */
  sysstatus(): number {
    let value = (this.count / SPINLOCK_LOCKS_PER_GROUP) << SPINLOCK_SYSSTATUS_NUMLOCKS_SHIFT;
    for (let group = 0; group * SPINLOCK_LOCKS_PER_GROUP < this.count; group++) {
      const first = this.lockBase + group * SPINLOCK_LOCKS_PER_GROUP;
      for (let i = 0; i < SPINLOCK_LOCKS_PER_GROUP; i++) {
        if (Atomics.load(this.words, first + i) !== SPINLOCK_FREE) {
          value |= 1 << (SPINLOCK_SYSSTATUS_IU_SHIFT + group);
          break;
        }
      }
    }
    return value >>> 0;
  }

  // ---- register dispatch (guest MMIO view) ----

  private lockOfOffset(offset: number, access: string): number {
    if (!Number.isInteger(offset) || offset < 0 || offset >= SPINLOCK_REG_SIZE) {
      throw new SpinlockError(`spinlock ${access} at offset ${hex(offset)}: outside the 0x1000-byte window`);
    }
    if (offset % WORD_BYTES !== 0) {
      throw new SpinlockError(`spinlock ${access} at offset ${hex(offset)}: misaligned, registers are 32-bit`);
    }
    if (offset >= SPINLOCK_LOCK_REG_BASE) {
      const n = (offset - SPINLOCK_LOCK_REG_BASE) / WORD_BYTES;
      if (n < this.count) return n;
      throw new SpinlockError(
        `spinlock ${access} at offset ${hex(offset)}: LOCK_REG[${n}] does not exist, ` +
          `valid locks are 0..${this.count - 1}`,
      );
    }
    return -1;
  }

  /**
   * Guest 32-bit read at `offset`. Reading LOCK_REG[n] is the acquisition attempt: 0 = the lock was
   * free and `accessor` (a core id) now holds it, 1 = taken.
   * @throws SpinlockError for an unknown, misaligned or out-of-window offset
   */
  readReg(offset: number, accessor: number): number {
    const n = this.lockOfOffset(offset, 'read');
    if (n >= 0) return this.tryLock(n, accessor) ? 0 : 1;
    switch (offset) {
      case SPINLOCK_REVISION:
        return SPINLOCK_REVISION_VALUE;
      case SPINLOCK_SYSCONFIG:
        return Atomics.load(this.words, SPINLOCK_SAB_SYSCONFIG / WORD_BYTES) >>> 0;
      case SPINLOCK_SYSSTATUS:
        return this.sysstatus();
      default:
        throw new SpinlockError(`spinlock read at offset ${hex(offset)}: no register there`);
    }
  }

  /**
   * Guest 32-bit write at `offset`. LOCK_REG[n]: bit 0 = 0 releases (whoever `accessor` is),
   * 1 has no effect. SYSCONFIG: with SOFTRESET set, frees all locks and SYSCONFIG returns to 0;
   * otherwise the value is stored and read back.
   * Writes to the read-only REVISION and SYSSTATUS are ignored, as the hardware does.
   * @throws SpinlockError for an unknown, misaligned or out-of-window offset
   */
  writeReg(offset: number, value: number, accessor: number): void {
    const n = this.lockOfOffset(offset, 'write');
    if (n >= 0) {
      if ((value & 1) === 0) this.unlock(n, accessor);
      return;
    }
    switch (offset) {
      case SPINLOCK_REVISION:
      case SPINLOCK_SYSSTATUS:
        return;
      case SPINLOCK_SYSCONFIG:
        if ((value & SPINLOCK_SYSCONFIG_SOFTRESET) !== 0) {
          this.softReset();
        } else {
          Atomics.store(this.words, SPINLOCK_SAB_SYSCONFIG / WORD_BYTES, value | 0);
        }
        return;
      default:
        throw new SpinlockError(`spinlock write at offset ${hex(offset)}: no register there`);
    }
  }
}
