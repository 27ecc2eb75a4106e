import { expect } from 'chai';
import {
  SPINLOCK_BASE_J721E,
  SPINLOCK_COUNT_J721E,
  SPINLOCK_LOCK_REG_BASE,
  SPINLOCK_REG_SIZE,
  SPINLOCK_REVISION,
  SPINLOCK_SAB_HEADER_BYTES,
  SPINLOCK_SAB_SECTIONS,
  SPINLOCK_SYSCONFIG,
  SPINLOCK_SYSCONFIG_SOFTRESET,
  SPINLOCK_SYSSTATUS,
  SpinlockBank,
  SpinlockError,
} from '../../shared/spinlock.js';
import { EBUSY, EINVAL, ETIMEDOUT, HwSpinlockDriver } from '../../cores/drivers/hwspinlock.js';

const A = 1; // "this" core
const B = 7; // "another core"
const lockReg = (n: number): number => SPINLOCK_LOCK_REG_BASE + 4 * n;

function freshBank(count = SPINLOCK_COUNT_J721E, byteOffset = 0): SpinlockBank {
  return new SpinlockBank(new SharedArrayBuffer(byteOffset + SpinlockBank.byteLength(count)), byteOffset, count);
}

describe('SpinlockBank (ti,am654-hwspinlock)', function () {
  describe('geometry', function () {
    it('exposes the J721E instance constants', function () {
      expect(SPINLOCK_BASE_J721E).to.equal(0x30e00000);
      expect(SPINLOCK_REG_SIZE).to.equal(0x1000);
      expect(SPINLOCK_LOCK_REG_BASE).to.equal(0x800);
      expect(SPINLOCK_COUNT_J721E).to.equal(256);
    });

    it('needs a header plus four words per lock', function () {
      expect(SpinlockBank.byteLength(256)).to.equal(SPINLOCK_SAB_HEADER_BYTES + SPINLOCK_SAB_SECTIONS * 4 * 256);
      expect(SpinlockBank.byteLength()).to.equal(SpinlockBank.byteLength(256));
    });

    it('rejects lock counts NUMLOCKS cannot express, misaligned offsets and short buffers', function () {
      for (const count of [0, 16, 48, 100, 512, 32.5]) {
        expect(() => SpinlockBank.byteLength(count)).to.throw(SpinlockError, String(count));
      }
      const sab = new SharedArrayBuffer(SpinlockBank.byteLength(32) + 8);
      expect(() => new SpinlockBank(sab, 2, 32)).to.throw(SpinlockError, 'byteOffset 2');
      expect(() => new SpinlockBank(sab, 12, 32)).to.throw(SpinlockError, 'needs bytes');
      expect(() => new SpinlockBank(sab, 8, 32)).not.to.throw();
    });

    it('shares state between banks built on the same buffer region', function () {
      const sab = new SharedArrayBuffer(64 + SpinlockBank.byteLength());
      const one = new SpinlockBank(sab, 64);
      const two = new SpinlockBank(sab, 64);
      expect(one.readReg(lockReg(3), A)).to.equal(0);
      expect(two.readReg(lockReg(3), B)).to.equal(1);
      expect(two.holder(3)).to.equal(A);
      two.writeReg(lockReg(3), 0, B);
      expect(one.isLocked(3)).to.equal(false);
    });
  });

  describe('LOCK_REG semantics', function () {
    it('reading a free lock returns 0 and takes it', function () {
      const bank = freshBank();
      expect(bank.isLocked(5)).to.equal(false);
      expect(bank.readReg(lockReg(5), A)).to.equal(0);
      expect(bank.isLocked(5)).to.equal(true);
      expect(bank.holder(5)).to.equal(A);
    });

    it('reading a taken lock returns 1 and leaves the holder alone', function () {
      const bank = freshBank();
      bank.readReg(lockReg(5), A);
      expect(bank.readReg(lockReg(5), B)).to.equal(1);
      expect(bank.readReg(lockReg(5), A)).to.equal(1); // not recursive either
      expect(bank.holder(5)).to.equal(A);
    });

    it('writing 0 releases, whoever writes it', function () {
      const bank = freshBank();
      bank.readReg(lockReg(9), A);
      bank.writeReg(lockReg(9), 0, B);
      expect(bank.isLocked(9)).to.equal(false);
      expect(bank.holder(9)).to.equal(-1);
      expect(bank.readReg(lockReg(9), B)).to.equal(0);
      expect(bank.holder(9)).to.equal(B);
    });

    it('writing 1 has no effect on a taken or a free lock', function () {
      const bank = freshBank();
      bank.readReg(lockReg(0), A);
      bank.writeReg(lockReg(0), 1, A);
      expect(bank.isLocked(0)).to.equal(true);
      bank.writeReg(lockReg(1), 1, A);
      expect(bank.isLocked(1)).to.equal(false);
    });

    it('locks are independent', function () {
      const bank = freshBank();
      expect(bank.readReg(lockReg(0), A)).to.equal(0);
      expect(bank.readReg(lockReg(255), B)).to.equal(0);
      expect([bank.holder(0), bank.holder(1), bank.holder(255)]).to.deep.equal([A, -1, B]);
    });

    it('counts acquisitions, not failed attempts', function () {
      const bank = freshBank();
      bank.readReg(lockReg(2), A);
      bank.readReg(lockReg(2), B);
      bank.writeReg(lockReg(2), 0, A);
      bank.readReg(lockReg(2), B);
      expect(bank.acquisitions(2)).to.equal(2);
      expect(bank.acquisitions(3)).to.equal(0);
    });
  });

  describe('SYSSTATUS, SYSCONFIG, REVISION', function () {
    it('reports NUMLOCKS = count / 32 in bits 31:24', function () {
      for (const [count, field] of [
        [32, 1],
        [64, 2],
        [128, 4],
        [256, 8],
      ]) {
        expect(freshBank(count).readReg(SPINLOCK_SYSSTATUS, A) >>> 24).to.equal(field);
      }
      expect(freshBank().readReg(SPINLOCK_SYSSTATUS, A)).to.equal(0x08000000);
    });

    it('sets IUg while any lock of group g (32 locks) is taken', function () {
      const bank = freshBank();
      bank.readReg(lockReg(0), A);
      bank.readReg(lockReg(31), A);
      bank.readReg(lockReg(33), A);
      bank.readReg(lockReg(255), A);
      expect(bank.readReg(SPINLOCK_SYSSTATUS, A)).to.equal(0x08000000 | 0b1000_0011);
      bank.writeReg(lockReg(0), 0, A);
      expect(bank.readReg(SPINLOCK_SYSSTATUS, A) & 0xff).to.equal(0b1000_0011); // 31 still taken
      bank.writeReg(lockReg(31), 0, A);
      bank.writeReg(lockReg(255), 0, A);
      expect(bank.readReg(SPINLOCK_SYSSTATUS, A) & 0xff).to.equal(0b0000_0010);
    });

    it('SOFTRESET frees every lock and clears holders, and reads back 0', function () {
      const bank = freshBank();
      for (const n of [0, 17, 100, 255]) bank.readReg(lockReg(n), B);
      bank.writeReg(SPINLOCK_SYSCONFIG, 0x10, A);
      expect(bank.readReg(SPINLOCK_SYSCONFIG, A)).to.equal(0x10);
      bank.writeReg(SPINLOCK_SYSCONFIG, SPINLOCK_SYSCONFIG_SOFTRESET, A);
      expect(bank.readReg(SPINLOCK_SYSCONFIG, A)).to.equal(0);
      expect(bank.readReg(SPINLOCK_SYSSTATUS, A)).to.equal(0x08000000);
      for (const n of [0, 17, 100, 255]) {
        expect(bank.isLocked(n)).to.equal(false);
        expect(bank.holder(n)).to.equal(-1);
      }
      expect(bank.readReg(lockReg(17), A)).to.equal(0);
    });

    it('REVISION reads as a constant and ignores writes, as does SYSSTATUS', function () {
      const bank = freshBank();
      const revision = bank.readReg(SPINLOCK_REVISION, A);
      bank.writeReg(SPINLOCK_REVISION, 0x1234, A);
      bank.writeReg(SPINLOCK_SYSSTATUS, 0xff, A);
      expect(bank.readReg(SPINLOCK_REVISION, A)).to.equal(revision);
      expect(bank.readReg(SPINLOCK_SYSSTATUS, A)).to.equal(0x08000000);
    });
  });

  describe('errors', function () {
    it('unknown, misaligned and out-of-window offsets throw naming the offset in hex', function () {
      const bank = freshBank();
      expect(() => bank.readReg(0x004, A)).to.throw(SpinlockError, '0x004');
      expect(() => bank.writeReg(0x7fc, 0, A)).to.throw(SpinlockError, '0x7fc');
      expect(() => bank.readReg(0x801, A)).to.throw(SpinlockError, /0x801.*misaligned/);
      expect(() => bank.writeReg(0x012, 0, A)).to.throw(SpinlockError, /0x012.*misaligned/);
      expect(() => bank.readReg(0x1000, A)).to.throw(SpinlockError, '0x1000');
    });

    it('LOCK_REG beyond the bank size throws naming the lock and valid range', function () {
      expect(() => freshBank(64).readReg(lockReg(64), A)).to.throw(SpinlockError, /0x900.*LOCK_REG\[64\].*0\.\.63/);
      const full = freshBank(256);
      expect(full.readReg(0xbfc, A)).to.equal(0); // LOCK_REG[255]
      expect(() => full.readReg(0xc00, A)).to.throw(SpinlockError, /0xc00.*LOCK_REG\[256\].*0\.\.255/);
    });

    it('out-of-range lock numbers throw naming the lock and the range', function () {
      const bank = freshBank();
      for (const n of [-1, 256, 1.5, NaN]) {
        expect(() => bank.tryLock(n, A)).to.throw(SpinlockError, `spinlock ${n} out of range: valid locks are 0..255`);
        expect(() => bank.unlock(n, A)).to.throw(SpinlockError, `spinlock ${n}`);
        expect(() => bank.holder(n)).to.throw(SpinlockError, `spinlock ${n}`);
        expect(() => bank.isLocked(n)).to.throw(SpinlockError, `spinlock ${n}`);
        expect(() => bank.waitWhileTaken(n, 0)).to.throw(SpinlockError, `spinlock ${n}`);
      }
      expect(bank.isValid(255)).to.equal(true);
      expect(bank.isValid(256)).to.equal(false);
    });

    it('rejects holder ids that cannot be recorded', function () {
      const bank = freshBank();
      expect(() => bank.tryLock(0, -1)).to.throw(SpinlockError, 'holder id -1');
      expect(bank.isLocked(0)).to.equal(false);
    });
  });

  describe('driver helpers', function () {
    it('tryLock / unlock report ownership and the previous holder', function () {
      const bank = freshBank();
      expect(bank.tryLock(10, 0)).to.equal(true);
      expect(bank.holder(10)).to.equal(0);
      expect(bank.tryLock(10, B)).to.equal(false);
      expect(bank.unlock(10, B)).to.equal(0);
      expect(bank.unlock(10, B)).to.equal(-1);
      expect(bank.isLocked(10)).to.equal(false);
    });

    it('waitWhileTaken returns at once for a free lock and times out on a held one', function () {
      const bank = freshBank();
      expect(bank.waitWhileTaken(4, 1000)).to.equal('ok');
      bank.tryLock(4, B);
      expect(bank.waitWhileTaken(4, 20)).to.equal('timed-out');
      expect(bank.waiters(4)).to.equal(0);
    });
  });
});

describe('HwSpinlockDriver', function () {
  const never = { canSpin: () => false };

  it('trylock returns 0, then -EBUSY while taken, -EINVAL for a bad id', function () {
    const bank = freshBank();
    const a = new HwSpinlockDriver(bank, A, never);
    const b = new HwSpinlockDriver(bank, B, never);
    expect([EBUSY, EINVAL, ETIMEDOUT]).to.deep.equal([16, 22, 110]);
    expect(a.trylock(3)).to.equal(0);
    expect(b.trylock(3)).to.equal(-EBUSY);
    expect(a.trylock(3)).to.equal(-EBUSY);
    expect(a.trylock(256)).to.equal(-EINVAL);
    expect(a.trylock(-1)).to.equal(-EINVAL);
    expect(a.holder(3)).to.equal(A);
    expect(a.holder(300)).to.equal(-EINVAL);
  });

  it('lock takes a free lock, with a finite or infinite timeout', function () {
    const bank = freshBank();
    const a = new HwSpinlockDriver(bank, A, never);
    expect(a.lock(1, 20)).to.equal(0);
    expect(a.lock(2, Infinity)).to.equal(0);
    expect(a.lock(3, 0)).to.equal(0);
    expect([a.holder(1), a.holder(2), a.holder(3)]).to.deep.equal([A, A, A]);
  });

  it('lock on a lock held by another core returns -ETIMEDOUT (blocking wait)', function () {
    const bank = freshBank();
    const b = new HwSpinlockDriver(bank, B, never);
    const a = new HwSpinlockDriver(bank, A, never);
    expect(b.trylock(8)).to.equal(0);
    expect(a.lock(8, 20)).to.equal(-ETIMEDOUT);
    expect(a.lock(8, 0)).to.equal(-ETIMEDOUT);
    expect(b.holder(8)).to.equal(B);
    expect(bank.waiters(8)).to.equal(0);
  });

  it('lock spins first when the policy allows, then still times out', function () {
    const bank = freshBank();
    let asked = 0;
    const a = new HwSpinlockDriver(bank, A, { canSpin: () => (asked++, true) });
    bank.tryLock(8, B);
    expect(a.lock(8, 20)).to.equal(-ETIMEDOUT);
    expect(asked).to.be.greaterThan(0);
    bank.unlock(8, B);
    expect(a.lock(8, 20)).to.equal(0);
  });

  it('lock rejects a bad id or a negative / NaN timeout with -EINVAL', function () {
    const a = new HwSpinlockDriver(freshBank(32), A, never);
    expect(a.lock(32, 10)).to.equal(-EINVAL);
    expect(a.lock(0, -1)).to.equal(-EINVAL);
    expect(a.lock(0, NaN)).to.equal(-EINVAL);
    expect(a.holder(0)).to.equal(-1);
  });

  it('unlock returns 0 and flags a release of a lock this core did not hold', function () {
    const bank = freshBank();
    const a = new HwSpinlockDriver(bank, A, never);
    const b = new HwSpinlockDriver(bank, B, never);
    expect(a.trylock(6)).to.equal(0);
    expect(a.unlock(6)).to.equal(0);
    expect(a.lastUnlockWasForeign).to.equal(false);
    expect(a.lastUnlockPreviousHolder).to.equal(A);

    expect(b.trylock(6)).to.equal(0);
    expect(a.unlock(6)).to.equal(0); // allowed by the hardware
    expect(a.lastUnlockWasForeign).to.equal(true);
    expect(a.lastUnlockPreviousHolder).to.equal(B);
    expect(bank.isLocked(6)).to.equal(false);

    expect(a.unlock(6)).to.equal(0); // already free
    expect(a.lastUnlockWasForeign).to.equal(true);
    expect(a.lastUnlockPreviousHolder).to.equal(-1);
    expect(a.unlock(999)).to.equal(-EINVAL);
  });

  it('rejects a negative or fractional core id', function () {
    expect(() => new HwSpinlockDriver(freshBank(), -1, never)).to.throw(RangeError, 'core id -1');
    expect(() => new HwSpinlockDriver(freshBank(), 1.5, never)).to.throw(RangeError, 'core id 1.5');
  });
});
