// The stress run's host-side invariant checker (soc/stress/checks.ts): hand-made plans, reports and
// outcomes over a real J7 SoC image, whose shared memory each test corrupts on purpose to see each
// invariant reported, plus a clean run that produces no failure at all.

import { expect } from 'chai';
import type { SocImage } from '../../cores/boot.js';
import { J721E_DMA_REGION, J721E_MSMC_BASE, J721E_VRING_BASE, pdkPairLayout } from '../../shared/j721e.js';
import { MBOX_ST_CLUSTER_BYTES, MBOX_ST_FIFOS, MBOX_ST_FIFO_BYTES, MBOX_ST_FIFO_COUNT, MBOX_ST_HEADER_BYTES } from '../../shared/mailbox.js';
import type { RegionDescriptor } from '../../shared/memory-map.js';
import { RPMSG_BUF_SIZE, RPMSG_HDR_SIZE, writeHeader } from '../../shared/rpmsg.js';
import { ResourceTableView, TI_VDEV_STATUS_READY } from '../../shared/rsc-table.js';
import { FIN_MAGIC, encodeControl, encodePayload } from '../../shared/stress-payload.js';
import { VRING_DESC_F_WRITE, Vring, VringDevice, VringDriver } from '../../shared/vring.js';
import { buildImage } from '../../soc/image.js';
import { findProfile } from '../../soc/profile.js';
import type { CoreOutcome } from '../../soc/soc.js';
import { FifoDepthMonitor, checkRun, type CheckResult } from '../../soc/stress/checks.js';
import type { FaultEvent, FlowPlan, StressCoreReport, StressPlan, Violation } from '../../soc/stress/schema.js';

const SEED = 4242;
const REPLAY = 'npm run stress -- --profile j7 --seed 4242';
const SENT = 10;
const LEN = 100;

const j7Image = (): SocImage => buildImage(findProfile('j7'), 2);

function region(image: SocImage, name: string): RegionDescriptor {
  const r = image.regions.find((x) => x.name === name);
  if (!r) throw new Error(`no region ${name}`);
  return r;
}

/** A Vring view at a physical address of the image's RAM. */
function vringAt(image: SocImage, addr: number): Vring {
  const r = image.regions.find((x) => x.kind === 'ram' && addr >= x.base && addr < x.base + x.size)!;
  return new Vring(r.sab, r.byteOffset + addr - r.base, 256, 4096, `test vring @0x${addr.toString(16)}`);
}

/** Bytes of RAM at a physical address: [u8, offset]. */
function ramAt(image: SocImage, addr: number): [Uint8Array, number] {
  const r = image.regions.find((x) => x.kind === 'ram' && addr >= x.base && addr < x.base + x.size)!;
  return [new Uint8Array(r.sab, r.byteOffset, r.size), addr - r.base];
}

function flow(id: number, from: string, to: string, channel = 'rpmsg', more: Partial<FlowPlan> = {}): FlowPlan {
  return { id, from, to, channel, seed: 1000 + id, minLen: 1, maxLen: 496, tinyPct: 5, burstMax: 4, gapMaxUs: 100, zeroCopy: false, holdRx: false, ...more };
}

function j7Plan(faults: FaultEvent[] = []): StressPlan {
  return {
    version: 1, seed: SEED, profile: 'j7', platform: 'j721e', durationMs: 100,
    flows: [flow(0, 'mcu1_0', 'mcu2_0'), flow(1, 'mcu2_0', 'mcu1_0'), flow(2, 'mpu1_0', 'mcu1_0', 'rpmsg-char')],
    spinlock: { locks: [3, 7], counterAddr: J721E_MSMC_BASE, incrementsPerCore: 10, cores: ['mcu1_0', 'mcu2_0'] },
    perturb: [], faults, firewall: faults.some((f) => f.kind === 'firewall'),
  };
}

/** Every core's report for a run where everything went right: SENT messages per flow, all delivered. */
function cleanReports(plan: StressPlan, cores: readonly string[]): Map<string, StressCoreReport> {
  const out = new Map<string, StressCoreReport>();
  for (const core of cores) {
    out.set(core, {
      core,
      tx: plan.flows.filter((f) => f.from === core).map((f) => ({ id: f.id, sent: SENT, bytes: SENT * LEN, busy: 0, ackedReceived: SENT, ackedCorrupt: 0 })),
      rx: plan.flows.filter((f) => f.to === core).map((f) => ({ id: f.id, received: SENT, bytes: SENT * LEN, corrupt: 0, skipped: 0, finSent: SENT })),
      increments: plan.spinlock?.cores.includes(core) ? Object.fromEntries(plan.spinlock.locks.map((l) => [l, plan.spinlock!.incrementsPerCore])) : undefined,
      detected: [],
      violations: [],
    });
  }
  return out;
}

/** Sets what the receiver of `flowId` counted, and the sender's ACK to match (as the FIN/ACK exchange would). */
function setRx(plan: StressPlan, reports: Map<string, StressCoreReport>, flowId: number, patch: { received?: number; corrupt?: number; skipped?: number; finSent?: number }): void {
  const fl = plan.flows.find((f) => f.id === flowId)!;
  const rx = reports.get(fl.to)!.rx.find((x) => x.id === flowId)!;
  Object.assign(rx, patch, patch.received !== undefined ? { bytes: patch.received * LEN } : {});
  const tx = reports.get(fl.from)?.tx.find((x) => x.id === flowId);
  if (tx) Object.assign(tx, { ackedReceived: rx.received, ackedCorrupt: rx.corrupt });
}

function outcomesOf(image: SocImage, reports: Map<string, StressCoreReport>, stats: Record<string, Record<string, unknown>> = {}): CoreOutcome[] {
  return image.cores.map((c) => ({
    name: c.name, state: 'finished', result: reports.get(c.name),
    stats: { perturb: { seen: [], delayed: [], delayedUs: 0, fired: {} }, rpmsg: { refused: 0 }, ...(stats[c.name] ?? {}) },
  }));
}

/** Spinlock counters as the locked increments of the clean reports leave them. */
function writeCounters(image: SocImage, plan: StressPlan, delta = 0): void {
  const sp = plan.spinlock!;
  const [u8, off] = ramAt(image, sp.counterAddr);
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  sp.locks.forEach((_, k) => dv.setUint32(off + 4 * k, sp.incrementsPerCore * sp.cores.length + (k === 0 ? delta : 0), true));
}

/** Primes `sender`'s PDK TX ring to `receiver` as pdk-ipc's createRtosLink does (reset + prime). */
function primePdk(image: SocImage, sender: number, receiver: number): { v: Vring; dev: VringDevice; drv: VringDriver; bufs: number } {
  const l = pdkPairLayout(sender, receiver, J721E_VRING_BASE);
  const v = vringAt(image, l.txVring);
  v.reset();
  v.prime(l.txBufs, RPMSG_BUF_SIZE, VRING_DESC_F_WRITE);
  return { v, dev: new VringDevice(v), drv: new VringDriver(v), bufs: l.txBufs };
}

/** One RPMsg send on a primed ring (the payload written by `fill` after the header), not yet reaped. */
function send(image: SocImage, ring: { dev: VringDevice; v: Vring }, len: number, fill: (u8: Uint8Array, off: number) => void): number {
  const id = ring.dev.getAvail();
  const [u8, off] = ramAt(image, ring.v.descAddrLo(id));
  writeHeader(u8, off, 20, 20, 1, len, 0);
  fill(u8, off + RPMSG_HDR_SIZE);
  ring.dev.addUsed(id, RPMSG_HDR_SIZE + len);
  return id;
}

/** `n` messages sent and reaped (the receiver gives each buffer back at once), wrapping the ring. */
function traffic(image: SocImage, ring: { dev: VringDevice; drv: VringDriver; v: Vring }, n: number): void {
  for (let i = 0; i < n; i++) {
    send(image, ring, LEN, (u8, off) => encodePayload(u8, off, 0, 1000, i, LEN));
    const id = ring.drv.getUsed();
    ring.drv.addAvail(id);
  }
}

/** A clean J7 run: reports, counters, and the mcu1_0 <-> mcu2_0 link's vrings after some traffic. */
function cleanJ7(faults: FaultEvent[] = []) {
  const image = j7Image();
  const plan = j7Plan(faults);
  const reports = cleanReports(plan, image.cores.map((c) => c.name));
  writeCounters(image, plan);
  const a = primePdk(image, 1, 3);
  const b = primePdk(image, 3, 1);
  traffic(image, a, 300);
  traffic(image, b, 77);
  return { image, plan, reports, a, b };
}

const check = (image: SocImage, plan: StressPlan, outcomes: CoreOutcome[]): CheckResult => checkRun({ plan, image, outcomes, replay: REPLAY });
const only = (r: CheckResult, invariant: string) => r.failures.filter((f) => f.invariant === invariant);

function expectOne(r: CheckResult, invariant: string) {
  expect(r.failures.map((f) => f.invariant), JSON.stringify(r.failures, null, 1)).to.deep.equal([invariant]);
  const f = r.failures[0]!;
  expect(f.seed).to.equal(SEED);
  expect(f.replay).to.equal(REPLAY);
  expect(f.detail).to.be.a('string').and.not.equal('');
  return f;
}

describe('stress invariant checks (soc/stress/checks.ts)', () => {
  describe('a clean run', () => {
    it('produces no failure, counts its checks and totals the traffic', () => {
      const { image, plan, reports } = cleanJ7();
      const r = check(image, plan, outcomesOf(image, reports));
      expect(r.failures, JSON.stringify(r.failures, null, 1)).to.deep.equal([]);
      expect(r.messages).to.equal(3 * SENT);
      expect(r.bytes).to.equal(3 * SENT * LEN);
      expect(r.faults).to.deep.equal([]);
      // 10 cores, 3 flows x 3, per-sender corruption, 2 locks, 2 vrings x 2, the FIFO sweep, ...
      expect(r.checked).to.be.greaterThan(30);
    });

    it('takes unread trailing FIN / ACK messages in a vring for what they are, not for a leak', () => {
      const { image, plan, reports, a } = cleanJ7();
      send(image, a, 16, (u8, off) => encodeControl(u8, off, FIN_MAGIC, 0, SENT, 0));
      const r = check(image, plan, outcomesOf(image, reports));
      expect(r.failures).to.deep.equal([]);
      expect(r.notes.join('\n')).to.match(/trailing control message.*FIN of flow 0/);
    });
  });

  describe('progress', () => {
    it('names a stuck core and what its tasks wait on (the watchdog)', () => {
      const { image, plan, reports } = cleanJ7();
      const outcomes = outcomesOf(image, reports);
      const stuck = outcomes.find((o) => o.name === 'C66X_1')!;
      Object.assign(stuck, {
        state: 'stuck', result: undefined, waits: ['main: RPMessage_recv on endpoint 20'],
        error: { message: 'main() did not return within 5000 ms', where: 'watchdog' },
      });
      const f = expectOne(check(image, plan, outcomes), 'progress');
      expect(f.cores).to.deep.equal(['C66X_1']);
      expect(f.seen).to.equal('stuck');
      expect(f.detail).to.contain('RPMessage_recv on endpoint 20');
    });

    it('reports a core that finished without a stress report when a flow needs it', () => {
      const { image, plan, reports } = cleanJ7();
      const outcomes = outcomesOf(image, reports);
      outcomes.find((o) => o.name === 'mcu2_0')!.result = { hello: 1 };
      const r = check(image, plan, outcomes);
      expect(only(r, 'progress').map((f) => f.cores)).to.deep.equal([['mcu2_0']]);
      // Its increments are missing too: the spinlock check only bounds the counter then.
      expect(only(r, 'spinlock-exclusive')).to.deep.equal([]);
    });
  });

  describe('per flow', () => {
    it('no-loss: 10 sent, 9 received', () => {
      const { image, plan, reports } = cleanJ7();
      setRx(plan, reports, 0, { received: 9 });
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'no-loss');
      expect(f.cores).to.deep.equal(['mcu1_0', 'mcu2_0']);
      expect(f.endpoint).to.equal('rpmsg');
      expect(f.expected).to.contain('10');
      expect(f.seen).to.contain('9 received');
    });

    it('no-loss: the sender\'s ACK disagrees with the receiver\'s final report', () => {
      const { image, plan, reports } = cleanJ7();
      reports.get('mcu2_0')!.tx[0]!.ackedReceived = 7;
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'no-loss');
      expect(f.cores).to.deep.equal(['mcu2_0', 'mcu1_0']);
      expect(f.seen).to.equal('ACK of 7 + 0');
    });

    it('no-loss: the FIN never arrived (once, when the firmware reported it already)', () => {
      const { image, plan, reports } = cleanJ7();
      delete reports.get('mcu1_0')!.rx.find((x) => x.id === 2)!.finSent;
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'no-loss');
      expect(f.cores).to.deep.equal(['mpu1_0', 'mcu1_0']);
      expect(f.seen).to.equal('no FIN');
      reports.get('mcu1_0')!.violations.push({
        invariant: 'no-loss', core: 'mcu1_0', flow: 2, peer: 'mpu1_0', expected: 'a FIN from the sender', seen: 'no FIN within 6300 ms', detail: 'flow 2 mpu1_0->mcu1_0: the sender\'s end-of-flow message never arrived',
      });
      const r = check(image, plan, outcomesOf(image, reports));
      expect(r.failures.map((x) => [x.invariant, x.seen])).to.deep.equal([['no-loss', 'no FIN within 6300 ms']]);
    });

    it('allows loss on a loss-exempt flow, but not more deliveries than sends', () => {
      // mcu2_0 throws on purpose: flows 0 and 1 are exempt.
      const fault: FaultEvent = { id: 0, kind: 'firmware-exception', core: 'mcu2_0', atMs: 50, count: 1 };
      const { image, plan, reports } = cleanJ7([fault]);
      const outcomes = outcomesOf(image, reports);
      Object.assign(outcomes.find((o) => o.name === 'mcu2_0')!, {
        state: 'faulted', result: undefined, error: { message: 'injected firmware exception (fault #0, firmware-exception at 50 ms)' },
      });
      // mcu2_0 sent 4 before it died, mcu1_0 got 3 of them: allowed.
      const mcu1 = reports.get('mcu1_0')!;
      Object.assign(mcu1.rx.find((x) => x.id === 1)!, { received: 3, skipped: 1, finSent: undefined });
      let r = check(image, plan, outcomes);
      expect(r.failures, JSON.stringify(r.failures, null, 1)).to.deep.equal([]);
      expect(r.faults[0]).to.include({ outcome: 'reported', fired: 1 });
      expect(r.faults[0]!.detail).to.contain('vring checks of mcu1_0<->mcu2_0 skipped');
      // A sender report claiming 2 sent against 3 received: duplication.
      reports.set('mcu2_0', { ...reports.get('mcu2_0')!, tx: [{ id: 1, sent: 2, bytes: 200, busy: 0 }] });
      outcomes.find((o) => o.name === 'mcu2_0')!.result = reports.get('mcu2_0');
      r = check(image, plan, outcomes);
      expect(r.failures.map((f) => f.invariant)).to.deep.equal(['no-duplicate']);
    });

    it('passes the firmware\'s own violations through (duplicate, reorder, payload)', () => {
      const { image, plan, reports } = cleanJ7();
      const v = (invariant: Violation['invariant'], seen: string): Violation => ({
        invariant, core: 'mcu2_0', flow: 0, peer: 'mcu1_0', endpoint: 'rpmsg', expected: 'seq 5', seen, detail: `flow 0 mcu1_0->mcu2_0: ${invariant} ${seen}`,
      });
      reports.get('mcu2_0')!.violations.push(v('no-duplicate', 'seq 3'), v('in-order', 'seq 2'), v('payload-intact', 'bad header'));
      const r = check(image, plan, outcomesOf(image, reports));
      expect(r.failures.map((f) => f.invariant)).to.deep.equal(['no-duplicate', 'in-order', 'payload-intact']);
      for (const f of r.failures) {
        expect(f.cores).to.deep.equal(['mcu2_0', 'mcu1_0']);
        expect(f).to.include({ seed: SEED, replay: REPLAY, endpoint: 'rpmsg', expected: 'seq 5' });
      }
    });
  });

  describe('payload-intact and the bit-flip promise', () => {
    const flip: FaultEvent = { id: 0, kind: 'bit-flip', core: 'mcu1_0', atMs: 10, peer: 'mcu2_0', count: 3 };
    const fired = (n: number) => ({ mcu1_0: { perturb: { seen: [], delayed: [], delayedUs: 0, fired: { 0: n } } } });

    it('reports corrupt payloads that no fault injected', () => {
      const { image, plan, reports } = cleanJ7();
      setRx(plan, reports, 0, { received: 9, corrupt: 1 });
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'payload-intact');
      expect(f.cores[0]).to.equal('mcu1_0');
      expect(f).to.include({ expected: 'at most 0 corrupt (the bit flips fired on mcu1_0)', seen: '1 corrupt' });
    });

    it('reports flips that no receiver counted corrupt', () => {
      const { image, plan, reports } = cleanJ7([flip]);
      setRx(plan, reports, 0, { received: 8, corrupt: 2 });
      const r = check(image, plan, outcomesOf(image, reports, fired(3)));
      const f = expectOne(r, 'fault-promise');
      expect(f).to.include({ expected: '3 corrupt payloads (one per flip)', seen: '2 corrupt' });
      expect(r.faults[0]).to.include({ kind: 'bit-flip', fired: 3 });
      expect(r.faults[0]!.detail).to.contain('only 2 of 3');
    });

    it('calls the fault detected when every flip was counted corrupt', () => {
      const { image, plan, reports } = cleanJ7([flip]);
      setRx(plan, reports, 0, { received: 7, corrupt: 3 });
      const r = check(image, plan, outcomesOf(image, reports, fired(3)));
      expect(r.failures).to.deep.equal([]);
      expect(r.faults).to.deep.equal([{ id: 0, kind: 'bit-flip', core: 'mcu1_0', atMs: 10, fired: 3, outcome: 'detected', detail: '3 flip(s) on mcu1_0\'s payloads to mcu2_0' }]);
    });

    it('does not take a lossy flow\'s corrupt count for corruption (a short payload after a gap cannot be placed)', () => {
      const fault: FaultEvent = { id: 0, kind: 'corrupt-index', core: 'mcu1_0', atMs: 10, peer: 'mcu2_0', count: 6 };
      const { image, plan, reports } = cleanJ7([fault]);
      setRx(plan, reports, 0, { received: 3, corrupt: 1, skipped: 6 });
      const stats = { mcu1_0: { perturb: { seen: [], delayed: [], delayedUs: 0, fired: { 0: 1 } } }, mcu2_0: { rpmsg: { refused: 1 } } };
      const r = check(image, plan, outcomesOf(image, reports, stats));
      expect(r.failures).to.deep.equal([]);
      expect(r.notes.join('\n')).to.contain('1 corrupt not compared with the bit flips');
    });

    it('calls a fault that never fired "not fired", without a failure', () => {
      const { image, plan, reports } = cleanJ7([flip]);
      const r = check(image, plan, outcomesOf(image, reports, fired(0)));
      expect(r.failures).to.deep.equal([]);
      expect(r.faults[0]).to.include({ fired: 0, outcome: 'not fired' });
    });
  });

  describe('spinlock-exclusive', () => {
    it('reports a counter one below the increments the cores claim', () => {
      const { image, plan, reports } = cleanJ7();
      writeCounters(image, plan, -1);
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'spinlock-exclusive');
      expect(f).to.include({ endpoint: 'spinlock 3', expected: '20', seen: '19' });
      expect(f.detail).to.contain('updates were lost');
    });
  });

  describe('vring-ownership and no-leak (PDK vrings)', () => {
    it('reports the same descriptor id twice in the avail window', () => {
      const { image, plan, reports, a } = cleanJ7();
      // Slot of the free window [used.idx, avail.idx) made to repeat its neighbour's id.
      const u = a.v.usedIdx();
      a.v.setAvailRing((u + 5) & 255, a.v.availRing((u + 6) & 255));
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'vring-ownership');
      expect(f.cores).to.deep.equal(['mcu1_0', 'mcu2_0']);
      expect(f.detail).to.match(/descriptor \d+ twice/);
      expect(f.endpoint).to.contain('mcu1_0->mcu2_0 vring');
    });

    it('reports a descriptor id out of range in the avail window', () => {
      const { image, plan, reports, b } = cleanJ7();
      b.v.setAvailRing(b.v.usedIdx() & 255, 300);
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'vring-ownership');
      expect(f.cores).to.deep.equal(['mcu2_0', 'mcu1_0']);
      expect(f.detail).to.contain('= 300 (>= 256)');
    });

    it('reports a buffer that is free and unreaped at the same time', () => {
      const { image, plan, reports, a } = cleanJ7();
      const id = send(image, a, LEN, (u8, off) => encodePayload(u8, off, 0, 1000, SENT, LEN));
      // Its id also appears in the free window.
      a.v.setAvailRing(a.v.usedIdx() & 255, id);
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'vring-ownership');
      expect(f.detail).to.contain(`descriptor ${id} both free in avail and unreaped`);
    });

    it('reports a buffer missing from the ring at the end (a leak), naming what it holds', () => {
      const { image, plan, reports, a } = cleanJ7();
      send(image, a, LEN, (u8, off) => encodePayload(u8, off, 0, 1000, 5, LEN));
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'no-leak');
      expect(f.cores).to.deep.equal(['mcu1_0', 'mcu2_0']);
      expect(f).to.include({ expected: '256 buffers free (avail.idx - used.idx)', seen: '255' });
      expect(f.detail).to.contain('data of flow 0 seq 5');
    });

    it('skips the link a corrupt-index fault hit, and holds the receiver to refusing it', () => {
      const fault: FaultEvent = { id: 0, kind: 'corrupt-index', core: 'mcu1_0', atMs: 10, peer: 'mcu2_0', count: 1 };
      const { image, plan, reports, a } = cleanJ7([fault]);
      // What the fault does: used.idx far ahead.
      a.v.setUsedIdx(a.v.usedIdx() + 256 + 7);
      setRx(plan, reports, 0, { received: 6 });
      const stats = { mcu1_0: { perturb: { seen: [], delayed: [], delayedUs: 0, fired: { 0: 1 } } } };
      let r = check(image, plan, outcomesOf(image, reports, stats));
      const f = expectOne(r, 'fault-promise');
      expect(f.detail).to.contain('no receiver refused anything');
      r = check(image, plan, outcomesOf(image, reports, { ...stats, mcu2_0: { rpmsg: { refused: 1 } } }));
      expect(r.failures).to.deep.equal([]);
      expect(r.faults[0]).to.include({ fired: 1, outcome: 'reported' });
      expect(r.faults[0]!.detail).to.contain('vring checks of mcu1_0<->mcu2_0 skipped');
    });
  });

  describe('vring-ownership and no-leak (Linux resource-table vrings)', () => {
    /** Linux probes mcu1_0's vdev, mcu1_0 attaches late, traffic both ways (Linux reuses its TX buffers). */
    function linuxLink(image: SocImage) {
      const dma = J721E_DMA_REGION.mcu1_0!;
      const [u8, off] = ramAt(image, image.rscTables.mcu1_0!);
      const t = new ResourceTableView(u8.buffer as SharedArrayBuffer, u8.byteOffset + off);
      t.setVringDa(0, dma);
      t.setVringDa(1, dma + 0x4000);
      const v0 = vringAt(image, dma);
      const v1 = vringAt(image, dma + 0x4000);
      const bufBase = dma + 0x4_0000;
      v0.reset();
      v1.reset();
      const linuxRx = new VringDriver(v0);
      for (let i = 0; i < 256; i++) {
        v0.setDesc(i, bufBase + i * RPMSG_BUF_SIZE, RPMSG_BUF_SIZE, VRING_DESC_F_WRITE, 0);
        linuxRx.addAvail(i);
      }
      t.setVdevStatus(TI_VDEV_STATUS_READY);
      // The remote re-primes vring0 (pdk-ipc Ipc_lateVirtioCreate).
      v0.reset();
      v0.prime(bufBase, RPMSG_BUF_SIZE, VRING_DESC_F_WRITE);
      traffic(image, { v: v0, dev: new VringDevice(v0), drv: linuxRx }, 40);
      // Linux -> mcu1_0: never-used sbufs first, then the ones mcu1_0 returned.
      const linuxTx = new VringDriver(v1);
      const remoteRx = new VringDevice(v1);
      let lastSbuf = 0;
      const linuxSend = (): number => {
        const id = lastSbuf < 256 ? lastSbuf++ : linuxTx.getUsed();
        const [b, o] = ramAt(image, bufBase + (256 + id) * RPMSG_BUF_SIZE);
        writeHeader(b, o, 1024, 14, 0, LEN, 0);
        encodePayload(b, o + RPMSG_HDR_SIZE, 2, 1002, id, LEN);
        v1.setDesc(id, bufBase + (256 + id) * RPMSG_BUF_SIZE, RPMSG_HDR_SIZE + LEN, 0, 0);
        linuxTx.addAvail(id);
        return id;
      };
      const remoteDrain = (): void => {
        for (let id = remoteRx.getAvail(); id >= 0; id = remoteRx.getAvail()) remoteRx.addUsed(id, RPMSG_BUF_SIZE);
      };
      for (let i = 0; i < 300; i++) {
        linuxSend();
        remoteDrain();
      }
      return { v0, v1, linuxSend, remoteDrain };
    }

    it('accepts a Linux link at rest', () => {
      const { image, plan, reports } = cleanJ7();
      linuxLink(image);
      const r = check(image, plan, outcomesOf(image, reports));
      expect(r.failures, JSON.stringify(r.failures, null, 1)).to.deep.equal([]);
    });

    it('reports a Linux TX buffer owned twice', () => {
      const { image, plan, reports } = cleanJ7();
      const { v1 } = linuxLink(image);
      // An unreaped used entry made to repeat another's id.
      const u = v1.usedIdx();
      v1.setUsedElem((u - 1) & 255, v1.usedElemId((u - 2) & 255), RPMSG_BUF_SIZE);
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'vring-ownership');
      expect(f.cores).to.deep.equal(['mpu1_0', 'mcu1_0']);
      expect(f.detail).to.match(/descriptor \d+ both used\.ring/);
    });

    it('reports data Linux offered that the remote never consumed', () => {
      const { image, plan, reports } = cleanJ7();
      const { linuxSend } = linuxLink(image);
      linuxSend();
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'no-leak');
      expect(f.cores).to.deep.equal(['mpu1_0', 'mcu1_0']);
      expect(f.detail).to.contain('data of flow 2');
    });

    it('reports a buffer of the remote\'s vring0 that Linux never gave back', () => {
      const { image, plan, reports } = cleanJ7();
      const { v0 } = linuxLink(image);
      send(image, { v: v0, dev: new VringDevice(v0, v0.usedIdx()) }, LEN, (u8, off) => encodePayload(u8, off, 3, 1003, 40, LEN));
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'no-leak');
      expect(f.cores).to.deep.equal(['mcu1_0', 'mpu1_0']);
    });
  });

  describe('mailbox-fifo-depth', () => {
    /** Writes FIFO `fifo` of `cluster`'s count word directly (no MailboxBank call can make it exceed 4). */
    function setCount(image: SocImage, cluster: number, fifo: number, count: number): void {
      const r = region(image, 'mailbox');
      const w = new Int32Array(r.sab, r.byteOffset);
      w[(MBOX_ST_HEADER_BYTES + cluster * MBOX_ST_CLUSTER_BYTES + MBOX_ST_FIFOS + fifo * MBOX_ST_FIFO_BYTES + MBOX_ST_FIFO_COUNT) >> 2] = count;
    }

    it('is reported by checkRun at the end, naming the queue\'s cores', () => {
      const { image, plan, reports } = cleanJ7();
      setCount(image, 7, 0, 5); // PDK queue table: mcu1_0 reads cluster 7 FIFO 0, written by mcu2_0
      const f = expectOne(check(image, plan, outcomesOf(image, reports)), 'mailbox-fifo-depth');
      expect(f).to.include({ endpoint: 'mailbox cluster 7 fifo 0', expected: 'at most 4 messages', seen: '5 messages' });
      expect(f.cores).to.have.members(['mcu2_0', 'mcu1_0']);
    });

    it('is reported once by the monitor that samples during the run', async () => {
      const image = j7Image();
      const m = new FifoDepthMonitor(image, REPLAY, SEED);
      m.sample();
      setCount(image, 2, 3, 5);
      m.sample();
      m.sample();
      let r = m.stop();
      expect(r.checked).to.equal(3);
      expect(r.failures).to.have.length(1);
      expect(r.failures[0]).to.include({ seed: SEED, invariant: 'mailbox-fifo-depth', endpoint: 'mailbox cluster 2 fifo 3', seen: '5 messages', replay: REPLAY });
      // start(): an interval that keeps sampling until stop().
      const m2 = new FifoDepthMonitor(image, REPLAY, SEED);
      m2.start();
      const deadline = Date.now() + 10_000;
      while (m2.stop().checked === 0 && Date.now() < deadline) {
        m2.start();
        await new Promise((res) => setTimeout(res, 5));
      }
      r = m2.stop();
      expect(r.checked).to.be.greaterThan(0);
      expect(r.failures).to.have.length(1);
    });

    it('does nothing on an image without a mailbox bank', () => {
      const image = { ...j7Image(), regions: [] };
      const m = new FifoDepthMonitor(image, REPLAY);
      m.start();
      m.sample();
      expect(m.stop()).to.deep.equal({ checked: 0, failures: [] });
    });
  });

  describe('fault promises', () => {
    it('firmware-exception: the core must fault with the injected exception and the others must finish', () => {
      const fault: FaultEvent = { id: 0, kind: 'firmware-exception', core: 'C7X_1', atMs: 50, count: 1 };
      const { image, plan, reports } = cleanJ7([fault]);
      // Broken: the core finished.
      let r = check(image, plan, outcomesOf(image, reports));
      let f = expectOne(r, 'fault-promise');
      expect(f).to.include({ seen: 'finished' });
      expect(f.cores).to.deep.equal(['C7X_1']);
      // Broken: it faulted for another reason.
      const outcomes = outcomesOf(image, reports);
      const c7x = outcomes.find((o) => o.name === 'C7X_1')!;
      Object.assign(c7x, { state: 'faulted', result: undefined, error: { message: 'TypeError: x is undefined' } });
      f = expectOne(check(image, plan, outcomes), 'fault-promise');
      expect(f.detail).to.contain('not with the injected exception');
      // Kept.
      c7x.error = { message: 'injected firmware exception (fault #0, firmware-exception at 50 ms)' };
      r = check(image, plan, outcomes);
      expect(r.failures).to.deep.equal([]);
      expect(r.faults[0]).to.include({ fired: 1, outcome: 'reported' });
      // Broken: another core did not finish.
      outcomes.find((o) => o.name === 'mcu3_1')!.state = 'stuck';
      r = check(image, plan, outcomes);
      expect(r.failures.map((x) => x.invariant).sort()).to.deep.equal(['fault-promise', 'progress']);
      expect(only(r, 'fault-promise')[0]!.cores).to.deep.equal(['C7X_1', 'mcu3_1']);
    });

    it('firewall: the target core must record the refused write', () => {
      const addr = J721E_VRING_BASE + 0x10;
      const fault: FaultEvent = { id: 0, kind: 'firewall', core: 'mcu1_0', atMs: 30, count: 1, addr };
      const { image, plan, reports } = cleanJ7([fault]);
      // Due at 30 ms, inside the 100 ms traffic phase mcu1_0's senders run through: the report must have it.
      let r = check(image, plan, outcomesOf(image, reports));
      const f = expectOne(r, 'fault-promise');
      expect(f).to.include({ expected: 'a firewall detection in the report', seen: 'none' });
      // Due after the traffic phase: main() may have returned its report before the write.
      fault.atMs = 700;
      r = check(image, plan, outcomesOf(image, reports));
      expect(r.failures).to.deep.equal([]);
      expect(r.faults[0]).to.include({ fired: 0, outcome: 'not fired' });
      expect(r.faults[0]!.detail).to.contain('may have returned before the write');
      fault.atMs = 30;
      reports.get('mcu1_0')!.detected.push({
        kind: 'firewall', faultId: 0,
        detail: `firewall: core mcu1_0 may not write32 0x${addr.toString(16).toUpperCase()} (4 bytes): region "vring C66X_1<->C7X_1" belongs to C66X_1, C7X_1; the write was refused`,
      });
      r = check(image, plan, outcomesOf(image, reports));
      expect(r.failures).to.deep.equal([]);
      expect(r.faults[0]).to.include({ fired: 1, outcome: 'reported' });
    });

    it('mailbox-drop: survived when the loss checks pass, reported how often it fired', () => {
      const fault: FaultEvent = { id: 0, kind: 'mailbox-drop', core: 'mcu1_0', atMs: 30, peer: 'mcu2_0', count: 4 };
      const { image, plan, reports } = cleanJ7([fault]);
      const stats = { mcu1_0: { perturb: { seen: [], delayed: [], delayedUs: 0, fired: { 0: 4 } }, mailbox: { txDrops: 2 } } };
      let r = check(image, plan, outcomesOf(image, reports, stats));
      expect(r.failures).to.deep.equal([]);
      expect(r.faults[0]).to.include({ fired: 4, outcome: 'survived' });
      expect(r.faults[0]!.detail).to.contain('passed the loss checks');
      setRx(plan, reports, 0, { received: 9 });
      r = check(image, plan, outcomesOf(image, reports, stats));
      expect(r.failures.map((x) => x.invariant)).to.deep.equal(['no-loss']);
      expect(r.faults[0]!.detail).to.contain('promise not kept');
    });
  });

  describe('no-leak (nRF5340 ICBMsg)', () => {
    const nrfImage = (): SocImage => ({
      ...j7Image(), platform: 'nrf5340', profile: 'nrf5340', regions: [], rscTables: {}, dmaRegions: {},
      cores: [
        { index: 0, name: 'cpuapp', kind: 'cortex-m33', os: 'zephyr', procId: 0 },
        { index: 1, name: 'cpunet', kind: 'cortex-m33', os: 'zephyr', procId: 1 },
      ],
    });
    const nrfPlan = (faults: FaultEvent[] = []): StressPlan => ({
      version: 1, seed: SEED, profile: 'nrf5340', platform: 'nrf5340', durationMs: 100, perturb: [], faults, firewall: false,
      flows: [
        flow(0, 'cpuapp', 'cpunet', 'stress0A', { instance: 'ipc0', zeroCopy: true, holdRx: true }),
        flow(1, 'cpunet', 'cpuapp', 'stress0A', { instance: 'ipc0' }),
        flow(2, 'cpuapp', 'cpunet', 'stress1', { instance: 'ipc1' }),
      ],
    });
    const ipc = (free: number, more: Record<string, unknown> = {}) => ({
      ipc0: { role: 'initiator', tx: { blockSize: 64, blocks: 16, free, owned: 0, inFlight: 16 - free, stranded: 0 }, rx: { blocks: 16, held: 0 }, rejected: 0, sent: 50, received: 50, ...more },
      ipc1: { state: 'connected', sent: 20, received: 20 },
    });
    const outcomes = (image: SocImage, plan: StressPlan, app: object, net: object, fired: Record<number, number> = {}) =>
      outcomesOf(image, cleanReports(plan, ['cpuapp', 'cpunet']), {
        cpuapp: { ipc: app, rpmsg: undefined, perturb: { seen: [], delayed: [], delayedUs: 0, fired } },
        cpunet: { ipc: net, rpmsg: undefined },
      });

    it('accepts all TX blocks back', () => {
      const image = nrfImage();
      const plan = nrfPlan();
      const r = check(image, plan, outcomes(image, plan, ipc(16), ipc(16)));
      expect(r.failures).to.deep.equal([]);
    });

    it('reports TX blocks that never came back', () => {
      const image = nrfImage();
      const plan = nrfPlan();
      const f = expectOne(check(image, plan, outcomes(image, plan, ipc(14), ipc(16))), 'no-leak');
      expect(f).to.include({ endpoint: 'ipc0', expected: '16 free TX blocks', seen: '14 free' });
      expect(f.cores).to.deep.equal(['cpuapp', 'cpunet']);
    });

    it('does not conclude while control messages are still in flight', () => {
      const image = nrfImage();
      const plan = nrfPlan();
      const r = check(image, plan, outcomes(image, plan, ipc(14, { received: 49 }), ipc(16)));
      expect(r.failures).to.deep.equal([]);
      expect(r.notes.join('\n')).to.contain('inconclusive');
    });

    it('expects the blocks a corrupted index stranded, and the peer to have rejected it', () => {
      const fault: FaultEvent = { id: 0, kind: 'corrupt-index', core: 'cpuapp', atMs: 10, peer: 'cpunet', count: 1 };
      const image = nrfImage();
      const plan = nrfPlan([fault]);
      const app = ipc(14, { tx: { blocks: 16, free: 14, owned: 0, inFlight: 2, stranded: 2 }, corruptIndexSent: 1 });
      let r = check(image, plan, outcomes(image, plan, app, ipc(16, { rejected: 0 }), { 0: 1 }));
      let f = expectOne(r, 'fault-promise');
      expect(f.detail).to.contain('no receiver refused anything');
      r = check(image, plan, outcomes(image, plan, app, ipc(16, { rejected: 1 }), { 0: 1 }));
      expect(r.failures).to.deep.equal([]);
      expect(r.faults[0]).to.include({ fired: 1, outcome: 'reported' });
      expect(r.faults[0]!.detail).to.contain('stranded by the corrupted index');
      // More missing than stranded: a leak all the same.
      const worse = ipc(12, { tx: { blocks: 16, free: 12, owned: 0, inFlight: 4, stranded: 2 } });
      f = expectOne(check(image, plan, outcomes(image, plan, worse, ipc(16, { rejected: 1 }), { 0: 1 })), 'no-leak');
      expect(f).to.include({ expected: '14 free TX blocks', seen: '12 free' });
    });
  });
});
