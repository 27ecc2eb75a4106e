// Firmware-side hardware spinlock driver: the Linux hwspinlock API shape (trylock / lock with
// timeout / unlock, 0 or negative errno) over the TI spinlock module in shared/spinlock.ts, plus
// lockedAdd32, a read-modify-write of a shared u32 under one lock (what the stress firmware's shared
// counters use). Its hold time is a perturbation point (PT_SPIN_HOLD); with HETSOC_MUTATION=
// spinlock-release-early it releases the lock before its write: a planted lost-update bug.
import type { Bus } from '../../shared/bus.js';
import { SPINLOCK_RELEASE_EARLY } from '../../shared/mutation.js';
import { PERTURB, PT_SPIN_HOLD, perturbAt } from '../../shared/perturb.js';
import type { SpinlockBank } from '../../shared/spinlock.js';

/** Linux errno: lock taken (trylock). */
export const EBUSY = 16;
/** Linux errno: no such lock / bad argument. */
export const EINVAL = 22;
/** Linux errno: lock not acquired before the timeout. */
export const ETIMEDOUT = 110;

/**
 * Atomics.load polls before blocking when spinning is allowed. About the cost of one cross-CPU
 * wake (~25 us at ~5 ns per load; node-platform.md section 6).
 */
export const HWSPINLOCK_SPIN_ITERATIONS = 2000;

/** Decides, per wait, whether a short spin is worth it (false when threads outnumber CPUs). */
export interface SpinPolicy {
  canSpin(): boolean;
}

/**
 * One core's handle on a spinlock bank. `lock` blocks the calling core thread on purpose: a
 * hardware spinlock is busy-waited with interrupts disabled, so the core does nothing else.
 */
export class HwSpinlockDriver {
  /** True when the last successful unlock released a lock this core did not hold (or a free one). */
  lastUnlockWasForeign = false;
  /** Holder replaced by the last successful unlock (-1 = the lock was free). */
  lastUnlockPreviousHolder = -1;

  /**
   * @param bank the spinlock module
   * @param coreId this core's id, recorded as holder of the locks it takes
   * @param policy whether to spin briefly before blocking while a lock is taken
   */
  constructor(
    private readonly bank: SpinlockBank,
    readonly coreId: number,
    private readonly policy: SpinPolicy,
  ) {
    if (!Number.isInteger(coreId) || coreId < 0) {
      throw new RangeError(`hwspinlock driver: core id ${coreId} invalid, expected an integer >= 0`);
    }
  }

  /**
   * One attempt to take lock `n`.
   * @returns 0 when taken, -EBUSY when another holder has it, -EINVAL for a bad lock id
   */
  trylock(n: number): number {
    if (!this.bank.isValid(n)) return -EINVAL;
    return this.bank.tryLock(n, this.coreId) ? 0 : -EBUSY;
  }

  /**
   * Take lock `n`, waiting at most `timeoutMs` (Infinity = forever). While the lock is taken:
   * spin up to HWSPINLOCK_SPIN_ITERATIONS loads if policy.canSpin(), then block until a release
   * or the deadline, and retry. Like Linux, one more attempt is made after the last wait.
   * @returns 0 when taken, -ETIMEDOUT at the deadline, -EINVAL for a bad lock id or timeout
   */
  lock(n: number, timeoutMs: number): number {
    if (!this.bank.isValid(n) || !(timeoutMs >= 0)) return -EINVAL;
    const bank = this.bank;
    if (bank.tryLock(n, this.coreId)) return 0;
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      if (this.policy.canSpin()) {
        for (let i = 0; i < HWSPINLOCK_SPIN_ITERATIONS; i++) {
          if (!bank.isLocked(n) && bank.tryLock(n, this.coreId)) return 0;
        }
      }
      const remaining = deadline === Infinity ? Infinity : deadline - performance.now();
      if (remaining <= 0) return -ETIMEDOUT;
      bank.waitWhileTaken(n, remaining);
      if (bank.tryLock(n, this.coreId)) return 0;
    }
  }

  /**
   * Release lock `n`. The hardware lets any core release any lock, so this always releases; when
   * the lock was not this core's, lastUnlockWasForeign is set (and still 0 is returned).
   * @returns 0, or -EINVAL for a bad lock id
   */
  unlock(n: number): number {
    if (!this.bank.isValid(n)) return -EINVAL;
    const previous = this.bank.unlock(n, this.coreId);
    this.lastUnlockPreviousHolder = previous;
    this.lastUnlockWasForeign = previous !== this.coreId;
    return 0;
  }

  /**
   * Adds `delta` to the u32 at physical address `addr` under hardware spinlock `lock`: lock (as
   * `lock`, waiting at most `timeoutMs`), read, write the sum, unlock. Bus errors (unmapped address,
   * firewall) propagate after the lock is released.
   * @returns the new value (u32), or the negative errno of `lock` (-ETIMEDOUT, -EINVAL)
   */
  lockedAdd32(lock: number, bus: Bus, addr: number, delta: number, timeoutMs: number = Infinity): number {
    const rc = this.lock(lock, timeoutMs);
    if (rc !== 0) return rc;
    let v: number;
    if (SPINLOCK_RELEASE_EARLY) {
      // Planted bug: the lock is dropped between the read and the write.
      try {
        v = bus.read32(addr);
      } finally {
        this.unlock(lock);
      }
      if (PERTURB.on) perturbAt(PT_SPIN_HOLD);
      v = (v + delta) >>> 0;
      bus.write32(addr, v);
      return v;
    }
    try {
      v = bus.read32(addr);
      if (PERTURB.on) perturbAt(PT_SPIN_HOLD);
      v = (v + delta) >>> 0;
      bus.write32(addr, v);
    } finally {
      this.unlock(lock);
    }
    return v;
  }

  /** Core id holding lock `n`, -1 when free, -EINVAL for a bad lock id. */
  holder(n: number): number {
    if (!this.bank.isValid(n)) return -EINVAL;
    return this.bank.holder(n);
  }
}
