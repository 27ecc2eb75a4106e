// The seeded perturbation points and fault hooks of shared/perturb.ts, on their own, and the
// hardware-spinlock read-modify-write (lockedAdd32) whose hold time is one of those points.

import { expect } from 'chai';
import { EINVAL, ETIMEDOUT, HwSpinlockDriver } from '../../cores/drivers/hwspinlock.js';
import { Bus } from '../../shared/bus.js';
import { ramRegion } from '../../shared/memory-map.js';
import {
  PERTURB, PERTURB_POINTS, PT_ISR, PT_PUBLISH, PT_SPIN_HOLD, STRESS_MAGIC, flipPayloadBit, installPerturbation,
  occurrenceFraction, perturbAt, perturbStats, takeFault, type HookFault, type PerturbConfig,
} from '../../shared/perturb.js';
import { SpinlockBank } from '../../shared/spinlock.js';
import { VERIFY_CORRUPT, VERIFY_OK, encodePayload, verifyPayload } from '../../shared/stress-payload.js';

const now = (): number => performance.timeOrigin + performance.now();

/** A configuration delaying every point with probability `p`, up to `maxUs`. */
function config(seed: number, opts: { core?: number; p?: number; maxUs?: number; faults?: HookFault[]; t0?: number } = {}): PerturbConfig {
  const p = opts.p ?? 0.5;
  const maxUs = opts.maxUs ?? 20;
  return {
    seed, core: opts.core ?? 3, t0: opts.t0 ?? now(),
    points: Array.from({ length: PERTURB_POINTS }, () => ({ p, maxUs })),
    faults: opts.faults ?? [],
  };
}

/** The delay (µs, 0 = none) of each of the first `n` occurrences of `point` under `cfg`. */
function delays(cfg: PerturbConfig, point: number, n: number): number[] {
  installPerturbation(cfg);
  const out: number[] = [];
  let before = 0;
  for (let i = 0; i < n; i++) {
    perturbAt(point);
    const after = perturbStats().delayedUs;
    out.push(after - before);
    before = after;
  }
  installPerturbation(undefined);
  return out;
}

describe('perturbation points and fault hooks (shared/perturb.ts)', () => {
  afterEach(() => installPerturbation(undefined));

  it('is off until a configuration is installed, and off again after it is removed', () => {
    expect(PERTURB.on).to.equal(false);
    installPerturbation(config(1));
    expect(PERTURB.on).to.equal(true);
    installPerturbation(undefined);
    expect(PERTURB.on).to.equal(false);
    expect(takeFault('bit-flip')).to.equal(undefined);
  });

  it('decides each occurrence\'s delay from (seed, core, point, n) alone: same configuration, same delays', () => {
    const a = delays(config(1234), PT_PUBLISH, 200);
    const b = delays(config(1234), PT_PUBLISH, 200);
    expect(a).to.deep.equal(b);
    // About half the occurrences are delayed, each by 1..maxUs µs.
    const hit = a.filter((d) => d > 0);
    expect(hit.length).to.be.within(60, 140);
    for (const d of hit) expect(d).to.be.within(1, 20);
    // Which occurrences are delayed is exactly occurrenceFraction(seed, core, point, n) < p.
    a.forEach((d, n) => expect(d > 0, `occurrence ${n}`).to.equal(occurrenceFraction(1234, 3, PT_PUBLISH, n) < 0.5));
  });

  it('chooses other delays for another seed, another core or another point', () => {
    const base = delays(config(1234), PT_PUBLISH, 200);
    expect(delays(config(1235), PT_PUBLISH, 200)).to.not.deep.equal(base);
    expect(delays(config(1234, { core: 4 }), PT_PUBLISH, 200)).to.not.deep.equal(base);
    expect(delays(config(1234), PT_ISR, 200)).to.not.deep.equal(base);
  });

  it('counts occurrences per point, and never delays a point whose probability is 0', () => {
    installPerturbation(config(9, { p: 0 }));
    for (let i = 0; i < 50; i++) perturbAt(PT_SPIN_HOLD);
    const st = perturbStats();
    expect(st.seen[PT_SPIN_HOLD]).to.equal(50);
    expect(st.delayed[PT_SPIN_HOLD]).to.equal(0);
    expect(st.delayedUs).to.equal(0);
  });

  it('takeFault fires a fault only for its kind and peer, at most `count` times, and counts it', () => {
    installPerturbation(config(1, {
      faults: [{ id: 7, kind: 'mailbox-drop', atMs: 0, count: 2, peer: 'mcu2_0' }],
    }));
    expect(takeFault('bit-flip', 'mcu2_0')).to.equal(undefined);
    expect(takeFault('mailbox-drop', 'mcu2_1')).to.equal(undefined);
    expect(takeFault('mailbox-drop', 'mcu2_0')?.id).to.equal(7);
    expect(takeFault('mailbox-drop', 'mcu2_0')?.id).to.equal(7);
    expect(takeFault('mailbox-drop', 'mcu2_0')).to.equal(undefined);
    expect(perturbStats().fired).to.deep.equal({ 7: 2 });
  });

  it('takeFault holds a fault back until atMs after the run\'s start, and a fault without a peer hits any peer', () => {
    const faults: HookFault[] = [{ id: 1, kind: 'corrupt-index', atMs: 60_000, count: 1 }];
    installPerturbation(config(1, { faults }));
    expect(takeFault('corrupt-index', 'mcu1_0')).to.equal(undefined);
    expect(perturbStats().fired).to.deep.equal({ 1: 0 });
    // The same schedule in a run that started 61 s ago: the fault is due.
    installPerturbation(config(1, { faults, t0: now() - 61_000 }));
    expect(takeFault('corrupt-index', 'mcu1_0')?.id).to.equal(1);
    expect(takeFault('corrupt-index', 'mcu1_0')).to.equal(undefined);
  });

  it('flipPayloadBit flips exactly one bit of a stress payload, never in its magic word, and the checksum catches it', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      installPerturbation(config(seed, { faults: [{ id: 3, kind: 'bit-flip', atMs: 0, count: 1 }] }));
      const u8 = new Uint8Array(200);
      encodePayload(u8, 40, 5, 0xabc, 17, 64);
      expect(verifyPayload(u8, 40, 64, 5, 0xabc, 17)).to.equal(VERIFY_OK);
      const before = u8.slice();
      expect(flipPayloadBit(u8, 40, 64, 'mcu2_0')).to.equal(true);
      let bits = 0;
      let at = -1;
      for (let i = 0; i < u8.length; i++) {
        const x = u8[i]! ^ before[i]!;
        if (x !== 0) at = i;
        for (let v = x; v !== 0; v &= v - 1) bits++;
      }
      expect(bits, `seed ${seed}`).to.equal(1);
      expect(at, `seed ${seed}`).to.be.within(40 + 4, 40 + 63);
      expect(verifyPayload(u8, 40, 64, 5, 0xabc, 17)).to.equal(VERIFY_CORRUPT);
      // count 1: the next payload is left alone.
      expect(flipPayloadBit(u8, 40, 64, 'mcu2_0')).to.equal(false);
    }
  });

  it('flipPayloadBit leaves payloads that are not stress payloads (or shorter than 16 bytes) untouched, without using the fault', () => {
    installPerturbation(config(1, { faults: [{ id: 3, kind: 'bit-flip', atMs: 0, count: 1 }] }));
    const other = Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff);
    const copy = other.slice();
    expect(flipPayloadBit(other, 0, 64)).to.equal(false);
    expect(other).to.deep.equal(copy);
    const short = new Uint8Array(12);
    new DataView(short.buffer).setUint32(0, STRESS_MAGIC, true);
    const shortCopy = short.slice();
    expect(flipPayloadBit(short, 0, 12)).to.equal(false);
    expect(short).to.deep.equal(shortCopy);
    expect(perturbStats().fired).to.deep.equal({ 3: 0 });
  });
});

describe('HwSpinlockDriver.lockedAdd32', () => {
  const ADDR = 0x7000_0100;
  let bank: SpinlockBank;
  let bus: Bus;
  let a: HwSpinlockDriver;
  let b: HwSpinlockDriver;
  beforeEach(() => {
    bank = new SpinlockBank(new SharedArrayBuffer(SpinlockBank.byteLength(256)), 0, 256);
    bus = new Bus([ramRegion('msmc', 0x7000_0000, 0x1000)], {}, { name: 'mcu1_0', index: 1 });
    a = new HwSpinlockDriver(bank, 1, { canSpin: () => true });
    b = new HwSpinlockDriver(bank, 2, { canSpin: () => true });
  });
  afterEach(() => installPerturbation(undefined));

  it('adds exactly, returns the new value, wraps at 2^32, and leaves the lock free', () => {
    for (let i = 1; i <= 1000; i++) {
      const v = (i % 2 === 0 ? a : b).lockedAdd32(5, bus, ADDR, 1);
      if (v !== i) expect.fail(`increment ${i} returned ${v}`);
    }
    expect(bus.read32(ADDR)).to.equal(1000);
    expect(a.lockedAdd32(5, bus, ADDR, -1000)).to.equal(0);
    expect(a.lockedAdd32(5, bus, ADDR, -1)).to.equal(0xffff_ffff);
    expect(a.lockedAdd32(5, bus, ADDR, 2)).to.equal(1);
    expect(bank.isLocked(5)).to.equal(false);
  });

  it('returns the lock\'s errno and does not touch the value when the lock is not taken', () => {
    bus.write32(ADDR, 41);
    expect(b.lock(5, 0)).to.equal(0);
    expect(a.lockedAdd32(5, bus, ADDR, 1, 0)).to.equal(-ETIMEDOUT);
    expect(a.lockedAdd32(999, bus, ADDR, 1)).to.equal(-EINVAL);
    expect(bus.read32(ADDR)).to.equal(41);
    expect(b.unlock(5)).to.equal(0);
    expect(a.lockedAdd32(5, bus, ADDR, 1, 0)).to.equal(42);
  });

  it('releases the lock when the bus access fails', () => {
    expect(() => a.lockedAdd32(5, bus, 0x9000_0000, 1)).to.throw(/bus error/);
    expect(bank.isLocked(5)).to.equal(false);
  });

  it('is a perturbation point while the lock is held (PT_SPIN_HOLD)', () => {
    installPerturbation(config(1, { p: 0 }));
    for (let i = 0; i < 10; i++) a.lockedAdd32(5, bus, ADDR, 1);
    expect(perturbStats().seen[PT_SPIN_HOLD]).to.equal(10);
    expect(bus.read32(ADDR)).to.equal(10);
  });
});
