// The nRF5340 / Zephyr side of the stress hooks (shared/perturb.ts): PT_PUBLISH in the packed
// buffers' write paths (shared/pbuf.ts, shared/spsc-pbuf.ts) and before ICBMsg's MSG_DATA, the
// bit-flip and corrupt-index faults, and PT_MBOX_IRQ / delayed-irq on the IPC peripheral's interrupt
// (cores/nrf5340-core.ts). One thread: a config installed here acts on both cores of a zephyr-pair,
// so the fault tests install it around a single synchronous send.
import { expect } from 'chai';
import type { IcbmsgBackend } from '../../cores/zephyr/backend-icbmsg.js';
import type { IpcEpt, IpcEptCfg } from '../../cores/zephyr/backend.js';
import { BLOCK_OUT_OF_RANGE, IcbmsgBlocks } from '../../cores/zephyr/icbmsg-blocks.js';
import {
  type HookFault, PERTURB_POINTS, PT_MBOX_IRQ, PT_PUBLISH, installPerturbation, perturbStats,
} from '../../shared/perturb.js';
import { PBUF_PACKET_LEN_SZ, Pbuf } from '../../shared/pbuf.js';
import { LEN_SZ, SpscPbuf } from '../../shared/spsc-pbuf.js';
import {
  VERIFY_CORRUPT, VERIFY_OK, encodePayload, payloadLength, verifyPayload,
} from '../../shared/stress-payload.js';
import { ENOMEM } from '../../shared/zephyr-errno.js';
import { until } from '../support/two-cores.js';
import { type ZCore, type ZPair, appInstance, buildZephyrPair } from '../support/zephyr-pair.js';

/** Installs a configuration on this thread: `points` per PT_* (others off), `faults` armed from now. */
function install(points: Record<number, { p: number; maxUs: number }>, faults: HookFault[] = []): void {
  const all = Array.from({ length: PERTURB_POINTS }, (_, i) => points[i] ?? { p: 0, maxUs: 0 });
  installPerturbation({ seed: 0x7e57, core: 0, t0: performance.timeOrigin + performance.now(), points: all, faults });
}

const ALWAYS = { p: 1, maxUs: 2 };
const FLOW = 5;
const SEED = 0x0f10_5eed;

/** A pbuf writer and reader on one fresh region, with guard bytes around it. */
function pbufPair(size: number, guard = 64) {
  const sab = new SharedArrayBuffer(size + 2 * guard);
  const u8 = new Uint8Array(sab);
  u8.fill(0xa5);
  const tx = new Pbuf(sab, guard, size);
  const rx = new Pbuf(sab, guard, size);
  u8.fill(0, guard, guard + size);
  tx.txInit();
  rx.rxInit();
  const guardsIntact = (): boolean => u8.subarray(0, guard).every((b) => b === 0xa5) && u8.subarray(guard + size).every((b) => b === 0xa5);
  return { tx, rx, guardsIntact };
}

/** Moves an empty pbuf's indexes to `target` (a multiple of 4) with packets of 8..64 bytes. */
function pbufAdvance(tx: Pbuf, rx: Pbuf, target: number): void {
  const scratch = new Uint8Array(64);
  for (let wr = tx.indexes().wr; wr !== target; wr = tx.indexes().wr) {
    const step = (target - wr + tx.dataLen) % tx.dataLen;
    // A packet takes at least 8 bytes: a 4-byte gap is closed by going round once more.
    let chunk = step === 4 ? 8 : Math.min(step, 64);
    if (step - chunk === 4) chunk -= 4;
    expect(tx.write(scratch, chunk - PBUF_PACKET_LEN_SZ)).to.equal(chunk - PBUF_PACKET_LEN_SZ);
    expect(rx.read(scratch)).to.equal(chunk - PBUF_PACKET_LEN_SZ);
  }
  expect(tx.indexes()).to.deep.equal({ rd: target, wr: target });
}

describe('stress hooks in the packed buffers (pbuf, spsc_pbuf)', function () {
  afterEach(function () {
    installPerturbation(undefined);
  });

  it('pbuf: with PT_PUBLISH delaying every write, 300 stress payloads of 16..120 B (many wrapping) round-trip intact; one PT_PUBLISH per write', function () {
    const { tx, rx, guardsIntact } = pbufPair(256);
    install({ [PT_PUBLISH]: ALWAYS });
    const src = new Uint8Array(120);
    const dst = new Uint8Array(120);
    let wrapped = 0;
    for (let seq = 0; seq < 300; seq++) {
      const len = payloadLength(SEED, seq, 16, 120);
      encodePayload(src, 0, FLOW, SEED, seq, len);
      const wr = tx.indexes().wr;
      if (wr + PBUF_PACKET_LEN_SZ + len > tx.dataLen) wrapped++;
      expect(tx.write(src, len)).to.equal(len);
      expect(rx.read(dst)).to.equal(len);
      expect(verifyPayload(dst, 0, len, FLOW, SEED, seq), `seq ${seq}`).to.equal(VERIFY_OK);
    }
    const st = perturbStats();
    expect(st.seen[PT_PUBLISH]).to.equal(300);
    expect(st.delayed[PT_PUBLISH]).to.equal(300);
    expect(wrapped, 'payloads that wrapped around the end').to.be.greaterThan(10);
    expect(guardsIntact()).to.equal(true);
  });

  it('spsc_pbuf: with PT_PUBLISH on, write/read and alloc/commit/claim/free round-trip, padding included; padding is a publish too', function () {
    const sab = new SharedArrayBuffer(256);
    const tx = SpscPbuf.init(sab, 0, 256);
    const rx = new SpscPbuf(sab, 0, 256);
    install({ [PT_PUBLISH]: ALWAYS });
    const src = new Uint8Array(100);
    const dst = new Uint8Array(100);
    const dataStart = tx.byteOffset + tx.dataOffset;
    let commits = 0;
    let paddings = 0;
    for (let seq = 0; seq < 300; seq++) {
      const len = payloadLength(SEED, seq, 16, 100);
      const before = tx.wrIdx;
      if (seq % 2 === 0) {
        encodePayload(src, 0, FLOW, SEED, seq, len);
        expect(tx.write(src, len)).to.equal(len);
      } else {
        expect(tx.alloc(len)).to.equal(len);
        encodePayload(tx.bytes, tx.allocOffset, FLOW, SEED, seq, len);
        tx.commit(len);
      }
      commits++;
      // The packet went to data[0] although wr_idx was elsewhere and did not reach the end: padding.
      if (before !== 0 && tx.allocOffset - LEN_SZ === dataStart) paddings++;
      if (seq % 3 === 0) {
        expect(rx.read(dst)).to.equal(len);
        expect(verifyPayload(dst, 0, len, FLOW, SEED, seq), `seq ${seq}`).to.equal(VERIFY_OK);
      } else {
        expect(rx.claim()).to.equal(len);
        expect(verifyPayload(rx.bytes, rx.claimOffset, len, FLOW, SEED, seq), `seq ${seq}`).to.equal(VERIFY_OK);
        rx.free(len);
      }
    }
    expect(paddings, 'packets that needed a padding mark').to.be.greaterThan(10);
    const st = perturbStats();
    expect(st.seen[PT_PUBLISH]).to.equal(commits + paddings);
    expect(st.delayed[PT_PUBLISH]).to.equal(commits + paddings);
  });

  it('pbuf: a bit-flip fault (count 1) corrupts exactly one stress payload, which verifyPayload reports corrupt; short and later payloads are untouched', function () {
    const { tx, rx } = pbufPair(512);
    install({}, [{ id: 7, kind: 'bit-flip', atMs: 0, count: 1 }]);
    const src = new Uint8Array(100);
    const dst = new Uint8Array(100);
    // A 10-byte payload has no stress header: never a candidate.
    encodePayload(src, 0, FLOW, SEED, 0, 10);
    expect(tx.write(src, 10)).to.equal(10);
    expect(rx.read(dst)).to.equal(10);
    expect(verifyPayload(dst, 0, 10, FLOW, SEED, 0)).to.equal(VERIFY_OK);
    const verdicts: number[] = [];
    for (let seq = 1; seq <= 20; seq++) {
      const len = payloadLength(SEED, seq, 16, 100);
      encodePayload(src, 0, FLOW, SEED, seq, len);
      expect(tx.write(src, len)).to.equal(len);
      expect(rx.read(dst)).to.equal(len);
      verdicts.push(verifyPayload(dst, 0, len, FLOW, SEED, seq));
    }
    expect(verdicts[0], 'the first stress payload takes the flip').to.equal(VERIFY_CORRUPT);
    expect(verdicts.filter((v) => v === VERIFY_CORRUPT)).to.have.length(1);
    expect(verdicts.filter((v) => v === VERIFY_OK)).to.have.length(19);
    expect(perturbStats().fired).to.deep.equal({ 7: 1 });
  });

  it('pbuf: a wrapped payload is flipped only in its first, contiguous part; one whose first part is under 16 B is skipped; nothing outside the region changes', function () {
    const { tx, rx, guardsIntact } = pbufPair(256);
    const src = new Uint8Array(64);
    const dst = new Uint8Array(64);
    // 248 data bytes. Header at 236: payload at 240, 8 B before the end (too few to hold the stress header).
    pbufAdvance(tx, rx, 236);
    install({}, [{ id: 1, kind: 'bit-flip', atMs: 0, count: 1 }]);
    encodePayload(src, 0, FLOW, SEED, 0, 40);
    expect(tx.write(src, 40)).to.equal(40);
    expect(rx.read(dst)).to.equal(40);
    expect(verifyPayload(dst, 0, 40, FLOW, SEED, 0), 'skipped: only 8 contiguous bytes').to.equal(VERIFY_OK);
    expect(perturbStats().fired).to.deep.equal({ 1: 0 });
    installPerturbation(undefined);
    // Header at 196: payload at 200, 48 contiguous bytes then 12 at data[0].
    pbufAdvance(tx, rx, 196);
    install({}, [{ id: 2, kind: 'bit-flip', atMs: 0, count: 1 }]);
    encodePayload(src, 0, FLOW, SEED, 1, 60);
    expect(tx.write(src, 60)).to.equal(60);
    expect(rx.read(dst)).to.equal(60);
    expect(verifyPayload(dst, 0, 60, FLOW, SEED, 1)).to.equal(VERIFY_CORRUPT);
    const diff = [...dst.subarray(0, 60)].map((b, i) => b ^ src[i]!).map((x, i) => (x ? i : -1)).filter((i) => i >= 0);
    expect(diff).to.have.length(1);
    expect(diff[0]).to.be.within(4, 47);
    expect(guardsIntact()).to.equal(true);
  });

  it('spsc_pbuf: a bit-flip fault (count 2) hits one payload sent with write() and one with alloc/commit', function () {
    const sab = new SharedArrayBuffer(512);
    const tx = SpscPbuf.init(sab, 0, 512);
    const rx = new SpscPbuf(sab, 0, 512);
    install({}, [{ id: 3, kind: 'bit-flip', atMs: 0, count: 2 }]);
    const src = new Uint8Array(64);
    const dst = new Uint8Array(64);
    encodePayload(src, 0, FLOW, SEED, 0, 40);
    expect(tx.write(src, 40)).to.equal(40);
    expect(tx.alloc(50)).to.equal(50);
    encodePayload(tx.bytes, tx.allocOffset, FLOW, SEED, 1, 50);
    tx.commit(50);
    encodePayload(src, 0, FLOW, SEED, 2, 30);
    expect(tx.write(src, 30)).to.equal(30);
    expect(rx.read(dst)).to.equal(40);
    expect(verifyPayload(dst, 0, 40, FLOW, SEED, 0)).to.equal(VERIFY_CORRUPT);
    expect(rx.read(dst)).to.equal(50);
    expect(verifyPayload(dst, 0, 50, FLOW, SEED, 1)).to.equal(VERIFY_CORRUPT);
    expect(rx.read(dst)).to.equal(30);
    expect(verifyPayload(dst, 0, 30, FLOW, SEED, 2)).to.equal(VERIFY_OK);
    expect(perturbStats().fired).to.deep.equal({ 3: 2 });
  });

  it('the write paths still refuse what they refused: a full pbuf answers -ENOMEM with PERTURB on, and publishes nothing', function () {
    const { tx } = pbufPair(64);
    install({ [PT_PUBLISH]: ALWAYS });
    const src = new Uint8Array(40);
    expect(tx.write(src, 40)).to.equal(40);
    const wr = tx.indexes().wr;
    expect(tx.write(src, 40)).to.equal(-ENOMEM);
    expect(tx.indexes().wr).to.equal(wr);
    expect(perturbStats().seen[PT_PUBLISH]).to.equal(1);
  });
});

// ---- ICBMsg and the IPC interrupt (two Zephyr cores in this thread) ------------------------------

const ICB = appInstance({
  name: 'ipc0', compatible: 'zephyr,ipc-icbmsg', txBlocks: 16, rxBlocks: 24,
  txRegion: { label: 'tx', base: 0x20070000, size: 0x4000 }, rxRegion: { label: 'rx', base: 0x20078000, size: 0x4000 },
});
const ICM = appInstance({
  name: 'ipc1', compatible: 'zephyr,ipc-icmsg', mboxTx: 2, mboxRx: 3,
  txRegion: { label: 'tx1', base: 0x20074000, size: 0x800 }, rxRegion: { label: 'rx1', base: 0x2007c000, size: 0x800 },
});

interface Ep {
  ept: IpcEpt;
  cfg: IpcEptCfg;
  bound: number;
  rx: Uint8Array[];
  errors: string[];
}

function endpoint(core: ZCore, instance: string, name: string): Ep {
  const ep: Ep = { ept: {} as IpcEpt, cfg: undefined as unknown as IpcEptCfg, bound: 0, rx: [], errors: [] };
  ep.cfg = {
    name,
    cb: { bound: () => ep.bound++, received: (d, l) => ep.rx.push(d.slice(0, l)), error: (m) => ep.errors.push(m) },
  };
  expect(core.ipc.register_endpoint(core.ipc.device(instance), ep.ept, ep.cfg)).to.equal(0);
  return ep;
}

function icbmsgOf(c: ZCore): IcbmsgBackend {
  return (c.ipc as unknown as { instances: Map<string, { backend: IcbmsgBackend }> }).instances.get('ipc0')!.backend;
}

const stressMsg = (seq: number, len: number): Uint8Array => {
  const b = new Uint8Array(len);
  encodePayload(b, 0, FLOW, SEED, seq, len);
  return b;
};

describe('stress hooks on the nRF5340 Zephyr IPC stack (ICBMsg, ICMsg, IPC interrupt)', function () {
  let pair: ZPair;
  let eps: { a: Record<string, Ep>; n: Record<string, Ep> };

  beforeEach(async function () {
    pair = buildZephyrPair([ICB, ICM]);
    const { app, net } = pair;
    pair.start(app);
    pair.start(net);
    for (const c of [app, net]) expect(c.ipc.open_instance(c.ipc.device('ipc0'))).to.equal(0);
    eps = { a: {}, n: {} };
    for (const [side, core] of [['a', app], ['n', net]] as const) {
      eps[side].A = endpoint(core, 'ipc0', 'ipc0A');
      eps[side].B = endpoint(core, 'ipc0', 'ipc0B');
      eps[side].I = endpoint(core, 'ipc1', 'ipc1');
    }
    await until(() => [...Object.values(eps.a), ...Object.values(eps.n)].every((e) => e.bound === 1), 'all endpoints bound');
  });

  afterEach(function () {
    installPerturbation(undefined);
    pair?.stop();
  });

  const noFault = (): void => {
    expect(pair.app.rt.fault, 'app fault').to.equal(undefined);
    expect(pair.net.rt.fault, 'net fault').to.equal(undefined);
  };

  it('ICBMsg corrupt-index: the receiver refuses the out-of-range block naming instance, index and valid range; no core faults; other endpoints, and later messages, still flow; the stranded block shows in status()', async function () {
    const { app, net } = pair;
    const { a, n } = eps;
    install({}, [{ id: 11, kind: 'corrupt-index', atMs: 0, count: 1 }]);
    expect(app.ipc.send(a.A!.ept, stressMsg(0, 40))).to.equal(40);
    installPerturbation(undefined);
    await until(() => icbmsgOf(net).status().rejected === 1, 'the net core refuses the block');
    expect(n.A!.rx).to.have.length(0);
    expect(n.A!.errors).to.have.length(1);
    const m = /^ICBMsg ipc0: rejected MSG_DATA for endpoint 0: block index (\d+) is outside the RX blocks 0\.\.15$/.exec(n.A!.errors[0]!);
    expect(m, n.A!.errors[0]).to.not.equal(null);
    expect(Number(m![1])).to.be.within(16, 255);
    noFault();
    // Later traffic: the other endpoint of the instance, the same endpoint, the other direction, the ICMsg instance.
    expect(app.ipc.send(a.B!.ept, stressMsg(0, 30))).to.equal(30);
    expect(app.ipc.send(a.A!.ept, stressMsg(1, 50))).to.equal(50);
    expect(net.ipc.send(n.B!.ept, stressMsg(0, 20))).to.equal(20);
    expect(app.ipc.send(a.I!.ept, stressMsg(0, 60))).to.equal(60);
    await until(() => n.B!.rx.length === 1 && n.A!.rx.length === 1 && a.B!.rx.length === 1 && n.I!.rx.length === 1, 'later messages');
    expect(verifyPayload(n.B!.rx[0]!, 0, 30, FLOW, SEED, 0)).to.equal(VERIFY_OK);
    expect(verifyPayload(n.A!.rx[0]!, 0, 50, FLOW, SEED, 1)).to.equal(VERIFY_OK);
    expect(verifyPayload(a.B!.rx[0]!, 0, 20, FLOW, SEED, 0)).to.equal(VERIFY_OK);
    expect(verifyPayload(n.I!.rx[0]!, 0, 60, FLOW, SEED, 0)).to.equal(VERIFY_OK);
    // The peer never learns which block it holds: one block stays sent for good, and status() says so.
    await until(() => icbmsgOf(app).freeBlocks() === 15, 'all but the stranded block back');
    const st = icbmsgOf(app).status();
    expect(st.tx).to.include({ blocks: 16, free: 15, owned: 0, inFlight: 1, stranded: 1 });
    expect(st.corruptIndexSent).to.equal(1);
    await until(() => icbmsgOf(net).freeBlocks() === 24, 'the net core\'s block back');
    expect(icbmsgOf(net).status().tx).to.include({ free: 24, inFlight: 0, stranded: 0 });
    expect(icbmsgOf(net).status().rejected).to.equal(1);
    noFault();
  });

  it('ICBMsg bit-flip: the block payload is flipped before MSG_DATA; the receiver sees one corrupt stress payload, the next one intact', async function () {
    const { app } = pair;
    const { a, n } = eps;
    install({ [PT_PUBLISH]: ALWAYS }, [{ id: 4, kind: 'bit-flip', atMs: 0, count: 1 }]);
    expect(app.ipc.send(a.A!.ept, stressMsg(0, 100))).to.equal(100);
    const seenAfterOne = perturbStats().seen[PT_PUBLISH]!;
    expect(app.ipc.send(a.A!.ept, stressMsg(1, 100))).to.equal(100);
    installPerturbation(undefined);
    await until(() => n.A!.rx.length === 2, 'two messages');
    expect(verifyPayload(n.A!.rx[0]!, 0, 100, FLOW, SEED, 0)).to.equal(VERIFY_CORRUPT);
    expect(verifyPayload(n.A!.rx[1]!, 0, 100, FLOW, SEED, 1)).to.equal(VERIFY_OK);
    // Each send passes PT_PUBLISH twice: the block before MSG_DATA, the control packet in the pbuf.
    expect(seenAfterOne).to.equal(2);
    await until(() => icbmsgOf(app).freeBlocks() === 16, 'blocks released');
    noFault();
  });

  it('ICMsg bit-flip: the pbuf under ICMsg flips the payload between copy and publish; the receiver sees it corrupt', async function () {
    const { app } = pair;
    const { a, n } = eps;
    install({}, [{ id: 5, kind: 'bit-flip', atMs: 0, count: 1 }]);
    expect(app.ipc.send(a.I!.ept, stressMsg(0, 64))).to.equal(64);
    installPerturbation(undefined);
    expect(app.ipc.send(a.I!.ept, stressMsg(1, 64))).to.equal(64);
    await until(() => n.I!.rx.length === 2, 'two messages');
    expect(verifyPayload(n.I!.rx[0]!, 0, 64, FLOW, SEED, 0)).to.equal(VERIFY_CORRUPT);
    expect(verifyPayload(n.I!.rx[1]!, 0, 64, FLOW, SEED, 1)).to.equal(VERIFY_OK);
    noFault();
  });

  it('IPC interrupt: PT_MBOX_IRQ runs on every raise, and a delayed-irq fault holds one interrupt back without losing the message', async function () {
    const { app } = pair;
    const { a, n } = eps;
    install({ [PT_MBOX_IRQ]: ALWAYS }, [{ id: 9, kind: 'delayed-irq', atMs: 0, count: 1, delayMs: 20 }]);
    expect(app.ipc.send(a.I!.ept, stressMsg(0, 32))).to.equal(32);
    const st = perturbStats();
    expect(st.fired).to.deep.equal({ 9: 1 });
    expect(st.seen[PT_MBOX_IRQ]).to.be.at.least(1);
    await until(() => n.I!.rx.length === 1, 'the message, after the late interrupt');
    expect(verifyPayload(n.I!.rx[0]!, 0, 32, FLOW, SEED, 0)).to.equal(VERIFY_OK);
    expect(app.ipc.send(a.A!.ept, stressMsg(1, 32))).to.equal(32);
    await until(() => n.A!.rx.length === 1, 'ICBMsg traffic with PT_MBOX_IRQ on');
    noFault();
  });
});

describe('ICBMsg blocks: a block index from the peer outside the area is refused before any read', function () {
  it('validatedSize of an index past the last block returns BLOCK_OUT_OF_RANGE even when the area ends the memory (a read would throw)', function () {
    const sab = new SharedArrayBuffer(16 * 64);
    const blocks = new IcbmsgBlocks({ sab, byteOffset: 0, blockSize: 64, blocks: 16 }, 'ipc0 rx');
    for (const i of [16, 17, 200, 255, -1, 1.5]) expect(blocks.validatedSize(i), `index ${i}`).to.equal(BLOCK_OUT_OF_RANGE);
    expect(blocks.describeRefusal(200, BLOCK_OUT_OF_RANGE)).to.equal('block index 200 is outside the RX blocks 0..15');
  });
});
