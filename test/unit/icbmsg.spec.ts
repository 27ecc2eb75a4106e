// Pins cores/zephyr/backend-icbmsg.ts to Zephyr's legacy ICBMsg (reference zephyr-ipc.md §3A, §4):
// two nRF5340 Zephyr cores in this thread (test/support/zephyr-pair.ts) sharing the multi_endpoint
// overlay's instance (0x4000-byte regions, 16 tx / 24 rx blocks). The app core (rx-region above its
// tx-region) is the follower, the net core the initiator. Then ports of tests/subsys/ipc/
// ipc_service_api (§6.E) that apply to ICBMsg, against an echo endpoint on the net core.
import { expect } from 'chai';
import type { IcbmsgBackend } from '../../cores/zephyr/backend-icbmsg.js';
import type { IpcEpt, IpcEptCfg } from '../../cores/zephyr/backend.js';
import { K_FOREVER, K_MSEC, K_NO_WAIT, type KTimeout } from '../../cores/zephyr/kernel.js';
import {
  ICBMSG_MSG_DATA, ICBMSG_MSG_RELEASE_DATA, icbmsgRegionLayout,
} from '../../shared/icbmsg-layout.js';
import { EAGAIN, EALREADY, EINVAL, ENOENT, ENOMEM, ENXIO } from '../../shared/zephyr-errno.js';
import { until } from '../support/two-cores.js';
import { type ZCore, type ZPair, appInstance, buildZephyrPair } from '../support/zephyr-pair.js';

const TX = { label: 'tx', base: 0x20070000, size: 0x4000 };
const RX = { label: 'rx', base: 0x20078000, size: 0x4000 };
const INST = appInstance({ name: 'ipc0', compatible: 'zephyr,ipc-icbmsg', txBlocks: 16, rxBlocks: 24, txRegion: TX, rxRegion: RX });
/** The app's TX region: its blocks are the net core's RX blocks. */
const APP_TX = icbmsgRegionLayout({ name: 'tx', ...TX }, 16, 24, 0);
const NET_TX = icbmsgRegionLayout({ name: 'rx', ...RX }, 24, 16, 0);

/** The backend behind a core's "ipc0" (test-only look into the service). */
function backendOf(c: ZCore): IcbmsgBackend {
  return (c.ipc as unknown as { instances: Map<string, { backend: IcbmsgBackend }> }).instances.get('ipc0')!.backend;
}

interface Ep {
  core: ZCore;
  ept: IpcEpt;
  cfg: IpcEptCfg;
  bound: number;
  rx: Uint8Array[];
  errors: string[];
}

/** An endpoint whose received() keeps a copy, unless `onRx` is given. */
function endpoint(core: ZCore, name: string, onRx?: (data: Uint8Array, len: number, ep: Ep) => void): Ep {
  const ep = { core, ept: {}, bound: 0, rx: [], errors: [] } as unknown as Ep;
  ep.cfg = {
    name,
    cb: {
      bound: () => ep.bound++,
      received: (d, l) => (onRx ? onRx(d, l, ep) : ep.rx.push(d.slice(0, l))),
      error: (m) => ep.errors.push(m),
    },
  };
  return ep;
}

function register(ep: Ep): void {
  expect(ep.core.ipc.register_endpoint(ep.core.ipc.device('ipc0'), ep.ept, ep.cfg)).to.equal(0);
}

function open(c: ZCore): void {
  expect(c.ipc.open_instance(c.ipc.device('ipc0'))).to.equal(0);
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const ticks = async (n = 50): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** Raw view of shared RAM as the given core's bus maps it. */
function mem(c: ZCore, addr: number, len: number): { u8: Uint8Array; dv: DataView } {
  const w = c.bus.window(addr, len);
  return { u8: new Uint8Array(w.sab, w.byteOffset, len), dv: new DataView(w.sab, w.byteOffset, len) };
}

/** The last packet a core wrote into the ICMsg pbuf at the start of region `begin` (A = 0: wr_idx @4, data @8). */
function lastControlPacket(c: ZCore, begin: number, icmsgSize: number): number[] {
  const { u8, dv } = mem(c, begin, icmsgSize);
  const dataLen = (icmsgSize - 8) & ~3;
  const wr = dv.getUint32(4, true);
  const at = (k: number): number => u8[8 + ((k + dataLen) % dataLen)]!;
  const start = wr - 8;
  return [0, 1, 2, 3, 4, 5, 6].map((k) => at(start + k));
}

let pair: ZPair;

/** Both cores started and their instances opened, ICMsg bonded. */
async function bonded(): Promise<{ app: ZCore; net: ZCore }> {
  pair = buildZephyrPair([INST]);
  const { app, net } = pair;
  pair.start(app);
  pair.start(net);
  open(app);
  open(net);
  await until(() => backendOf(app).icmsg.isBound && backendOf(net).icmsg.isBound, 'ICMsg bonding');
  return { app, net };
}

/** Endpoints `names` on both cores, bound on both sides. */
async function boundPair(names: string[] = ['ipc0A'], onNetRx?: (d: Uint8Array, l: number, ep: Ep) => void) {
  const { app, net } = await bonded();
  const a = names.map((n) => endpoint(app, n));
  const n = names.map((nm) => endpoint(net, nm, onNetRx));
  for (const ep of [...n, ...a]) register(ep);
  await until(() => [...a, ...n].every((e) => e.bound === 1), 'endpoints bound');
  return { app, net, a, n };
}

const noFault = (): void => {
  expect(pair.app.rt.fault, 'app fault').to.equal(undefined);
  expect(pair.net.rt.fault, 'net fault').to.equal(undefined);
};

describe('ICBMsg backend, legacy ICMsg-based design (zephyr,ipc-icbmsg)', function () {
  afterEach(function () {
    pair?.stop();
  });

  describe('layout and roles', function () {
    it('splits a 0x4000 region with 16 local / 24 remote blocks into 1000-byte blocks at offset 384; max payload 16*1000-4', async function () {
      expect(APP_TX).to.include({ blockSize: 1000, blocksOffset: 384, icmsgSize: 384, blocks: 16 });
      expect(NET_TX).to.include({ blockSize: 668, blocksOffset: 352, blocks: 24 });
      const { app, net, a, n } = await boundPair();
      expect(app.ipc.get_tx_buffer_size(a[0]!.ept)).to.equal(16 * 1000 - 4);
      expect(net.ipc.get_tx_buffer_size(n[0]!.ept)).to.equal(24 * 668 - 4);
      expect(backendOf(app).status()).to.include({ role: 'follower' });
      expect(backendOf(net).status()).to.include({ role: 'initiator' });
      expect(backendOf(app).freeBlocks()).to.equal(16);
      expect(backendOf(net).freeBlocks()).to.equal(24);
    });

    it('second open_instance returns -EALREADY', async function () {
      const { app } = await bonded();
      expect(app.ipc.open_instance(app.ipc.device('ipc0'))).to.equal(-EALREADY);
    });
  });

  describe('binding by name', function () {
    it('binds ipc0A and ipc0B: follower registers B, A before bonding, initiator A, B after; addresses are the initiator\'s registration order', async function () {
      pair = buildZephyrPair([INST]);
      const { app, net } = pair;
      open(app);
      const aB = endpoint(app, 'ipc0B');
      const aA = endpoint(app, 'ipc0A');
      register(aB);
      register(aA);
      pair.start(app);
      pair.start(net);
      open(net);
      await until(() => backendOf(app).icmsg.isBound && backendOf(net).icmsg.isBound, 'ICMsg bonding');
      expect(aA.bound + aB.bound).to.equal(0);
      const nA = endpoint(net, 'ipc0A');
      const nB = endpoint(net, 'ipc0B');
      register(nA);
      register(nB);
      await until(() => [aA, aB, nA, nB].every((e) => e.bound === 1), 'four endpoints bound');
      const eps = (c: ZCore) => (backendOf(c).status().endpoints as { name: string; addr: number; state: string }[]);
      expect(eps(net)).to.deep.equal([
        { name: 'ipc0A', addr: 0, state: 'READY', rebound: 'NORMAL' }, { name: 'ipc0B', addr: 1, state: 'READY', rebound: 'NORMAL' },
      ]);
      expect(eps(app)).to.deep.equal([
        { name: 'ipc0B', addr: 1, state: 'READY', rebound: 'NORMAL' }, { name: 'ipc0A', addr: 0, state: 'READY', rebound: 'NORMAL' },
      ]);
      expect(app.ipc.send(aA.ept, bytes('to A'))).to.equal(4);
      expect(net.ipc.send(nB.ept, bytes('to B'))).to.equal(4);
      await until(() => nA.rx.length === 1 && aB.rx.length === 1, 'routed messages');
      expect(text(nA.rx[0]!)).to.equal('to A');
      expect(text(aB.rx[0]!)).to.equal('to B');
      expect(nB.rx.length + aA.rx.length).to.equal(0);
      noFault();
    });

    it('initiator registers before open and bonding; each bound message waits on the follower until that name registers', async function () {
      pair = buildZephyrPair([INST]);
      const { app, net } = pair;
      const nA = endpoint(net, 'ipc0A');
      const nB = endpoint(net, 'ipc0B');
      register(nA);
      register(nB);
      open(net);
      open(app);
      pair.start(net);
      pair.start(app);
      await until(() => backendOf(app).status().waitingBound === 2, 'two bound messages waiting on the follower');
      expect(backendOf(net).freeBlocks(), 'each name sits in one initiator block').to.equal(22);
      expect((backendOf(net).status().endpoints as { state: string }[]).map((e) => e.state)).to.deep.equal(['BOUNDING', 'BOUNDING']);
      const aB = endpoint(app, 'ipc0B');
      register(aB);
      await until(() => aB.bound === 1 && nB.bound === 1, 'ipc0B bound');
      expect(nA.bound).to.equal(0);
      expect(backendOf(app).status().waitingBound).to.equal(1);
      await until(() => backendOf(net).freeBlocks() === 23, 'the B name block released by MSG_RELEASE_BOUND');
      const aA = endpoint(app, 'ipc0A');
      register(aA);
      await until(() => aA.bound === 1 && nA.bound === 1, 'ipc0A bound');
      await until(() => backendOf(net).freeBlocks() === 24, 'all name blocks released');
      expect(backendOf(app).status().waitingBound).to.equal(0);
    });

    it('the initiator\'s bound() also fires on a MSG_DATA for its address that comes before MSG_RELEASE_BOUND, and only once', async function () {
      const { app, net } = await bonded();
      const nA = endpoint(net, 'ipc0A');
      register(nA);
      await until(() => backendOf(app).status().waitingBound === 1, 'bound message waiting on the follower');
      const blk = mem(app, TX.base + APP_TX.blocksOffset + 10 * APP_TX.blockSize, 8);
      blk.dv.setUint32(0, 1, true);
      blk.u8[4] = 0x78;
      expect(backendOf(app).icmsg.send(Uint8Array.of(ICBMSG_MSG_DATA, 0, 10))).to.equal(3);
      await until(() => nA.rx.length === 1, 'data delivered to the bounding endpoint');
      expect(nA.bound).to.equal(1);
      expect(text(nA.rx[0]!)).to.equal('x');
      const aA = endpoint(app, 'ipc0A');
      register(aA);
      await until(() => aA.bound === 1 && backendOf(net).freeBlocks() === 24, 'follower bound, name block released');
      expect(nA.bound).to.equal(1);
    });

    it('ping-pongs 100 one-byte messages on ipc0A and ipc0B at once (multi_endpoint sample)', async function () {
      const { app, net } = await bonded();
      const names = ['ipc0A', 'ipc0B'];
      const last: Record<string, number> = {};
      const appEps = names.map((nm) => endpoint(app, nm, (d, _l, ep) => {
        last[nm] = d[0]!;
        if (d[0]! < 100) expect(app.ipc.send(ep.ept, Uint8Array.of(d[0]! + 1))).to.equal(1);
      }));
      const netEps = names.map((nm) => endpoint(net, nm, (d, _l, ep) => {
        expect(net.ipc.send(ep.ept, Uint8Array.of(d[0]! + 1))).to.equal(1);
      }));
      for (const e of [...appEps, ...netEps]) register(e);
      await until(() => [...appEps, ...netEps].every((e) => e.bound === 1), 'bound');
      for (const e of appEps) expect(app.ipc.send(e.ept, Uint8Array.of(0))).to.equal(1);
      await until(() => last.ipc0A === 101 && last.ipc0B === 101, 'both ping-pongs done', 20000);
      await until(() => backendOf(app).freeBlocks() === 16 && backendOf(net).freeBlocks() === 24, 'all blocks back');
      noFault();
    });
  });

  describe('wire format', function () {
    it('a sent buffer is a u32 LE size then the payload at the first free block; the control message is {MSG_DATA, addr, block} in the ICMsg queue; the receiver sees the same memory', async function () {
      const held: Uint8Array[] = [];
      const { app, net, a, n } = await boundPair(['ipc0A'], (d, l, ep) => {
        expect(net.ipc.hold_rx_buffer(ep.ept, d)).to.equal(0);
        held.push(d);
        ep.rx.push(d.slice(0, l));
      });
      expect(app.ipc.send(a[0]!.ept, bytes('hello icbmsg'))).to.equal(12);
      await until(() => n[0]!.rx.length === 1, 'delivery');
      const block0 = TX.base + APP_TX.blocksOffset;
      const { u8, dv } = mem(app, block0, 16);
      expect(dv.getUint32(0, true)).to.equal(12);
      expect(text(u8.subarray(4, 16))).to.equal('hello icbmsg');
      expect(lastControlPacket(app, TX.base, APP_TX.icmsgSize)).to.deep.equal([0, 3, 0, 0, ICBMSG_MSG_DATA, 0, 0]);
      const w = net.bus.window(block0 + 4, 12);
      expect(held[0]!.buffer).to.equal(w.sab);
      expect(held[0]!.byteOffset, 'zero copy: a view at the payload').to.equal(w.byteOffset);
      expect(held[0]!.length).to.equal(12);
      expect(backendOf(app).freeBlocks()).to.equal(15);
      expect(net.ipc.release_rx_buffer(n[0]!.ept, held[0]!)).to.equal(0);
      expect(lastControlPacket(net, RX.base, NET_TX.icmsgSize)).to.deep.equal([0, 3, 0, 0, ICBMSG_MSG_RELEASE_DATA, 0, 0]);
      await until(() => backendOf(app).freeBlocks() === 16, 'block 0 released by MSG_RELEASE_DATA');
    });
  });

  describe('allocation', function () {
    it('send returns -ENOMEM while every TX block is taken (get_tx_buffer size 0 takes them all), and works after the drop', async function () {
      const { app, a } = await boundPair();
      const ept = a[0]!.ept;
      const req = { size: 0 } as { size: number; data?: Uint8Array };
      expect(await app.ipc.get_tx_buffer(ept, req, K_NO_WAIT)).to.equal(0);
      expect(req.size).to.equal(16 * 1000 - 4);
      expect(backendOf(app).freeBlocks()).to.equal(0);
      expect(app.ipc.send(ept, bytes('no room'))).to.equal(-ENOMEM);
      expect(await app.ipc.get_tx_buffer(ept, { size: 1 }, K_NO_WAIT)).to.equal(-ENOMEM);
      expect(app.ipc.drop_tx_buffer(ept, req.data!)).to.equal(0);
      expect(app.ipc.send(ept, bytes('room'))).to.equal(4);
    });

    it('size 0 takes the first free block and the free blocks contiguous with it only', async function () {
      const { app, a } = await boundPair();
      const ept = a[0]!.ept;
      const bufs = [];
      for (let i = 0; i < 4; i++) {
        const r = { size: 10 } as { size: number; data?: Uint8Array };
        expect(await app.ipc.get_tx_buffer(ept, r, K_NO_WAIT)).to.equal(0);
        expect(r.size).to.equal(996);
        bufs.push(r.data!);
      }
      expect(app.ipc.drop_tx_buffer(ept, bufs[1]!)).to.equal(0);
      expect(app.ipc.drop_tx_buffer(ept, bufs[2]!)).to.equal(0);
      const r = { size: 0 } as { size: number; data?: Uint8Array };
      expect(await app.ipc.get_tx_buffer(ept, r, K_NO_WAIT)).to.equal(0);
      expect(r.size, 'blocks 1 and 2').to.equal(2 * 1000 - 4);
      expect(r.data!.byteOffset).to.equal(bufs[1]!.byteOffset);
      expect(backendOf(app).freeBlocks()).to.equal(12);
    });

    it('get_tx_buffer rounds up to whole blocks: 996 B -> 1 block, 997 B -> 2 blocks (1996 B)', async function () {
      const { app, a } = await boundPair();
      const r1 = { size: 996 } as { size: number; data?: Uint8Array };
      const r2 = { size: 997 } as { size: number; data?: Uint8Array };
      expect(await app.ipc.get_tx_buffer(a[0]!.ept, r1, K_NO_WAIT)).to.equal(0);
      expect(await app.ipc.get_tx_buffer(a[0]!.ept, r2, K_NO_WAIT)).to.equal(0);
      expect([r1.size, r2.size, r1.data!.length, r2.data!.length]).to.deep.equal([996, 1996, 996, 1996]);
      expect(backendOf(app).freeBlocks()).to.equal(13);
    });

    it('get_tx_buffer waits: K_NO_WAIT -> -ENOMEM, K_MSEC(5) -> -EAGAIN, K_FOREVER until the peer releases blocks', async function () {
      const held: Uint8Array[] = [];
      const { app, net, a, n } = await boundPair(['ipc0A'], (d, _l, ep) => {
        net.ipc.hold_rx_buffer(ep.ept, d);
        held.push(d);
      });
      const ept = a[0]!.ept;
      expect(app.ipc.send(ept, new Uint8Array(2500))).to.equal(2500);
      await until(() => held.length === 1, 'held on the net core');
      const rest = { size: 0 } as { size: number; data?: Uint8Array };
      expect(await app.ipc.get_tx_buffer(ept, rest, K_NO_WAIT)).to.equal(0);
      expect(rest.size).to.equal(13 * 1000 - 4);
      expect(await app.ipc.get_tx_buffer(ept, { size: 100 }, K_NO_WAIT)).to.equal(-ENOMEM);
      const t0 = Date.now();
      expect(await app.ipc.get_tx_buffer(ept, { size: 100 }, K_MSEC(5))).to.equal(-EAGAIN);
      expect(Date.now() - t0).to.be.at.least(4);
      const req = { size: 100 } as { size: number; data?: Uint8Array };
      let result: number | undefined;
      void app.ipc.get_tx_buffer(ept, req, K_FOREVER).then((r) => (result = r));
      await ticks(100);
      expect(result, 'still waiting').to.equal(undefined);
      expect(net.ipc.release_rx_buffer(n[0]!.ept, held[0]!)).to.equal(0);
      await until(() => result !== undefined, 'the K_FOREVER waiter woken by MSG_RELEASE_DATA');
      expect(result).to.equal(0);
      expect(req.size).to.equal(996);
      expect(req.data!.byteOffset, 'first fit: block 0').to.equal(mem(app, TX.base + APP_TX.blocksOffset + 4, 1).u8.byteOffset);
    });

    it('more than the maximum -> -ENOMEM at once (even with K_FOREVER) with the maximum in req.size', async function () {
      const { app, a } = await boundPair();
      for (const wait of [K_NO_WAIT, K_FOREVER] as KTimeout[]) {
        const req = { size: 16 * 1000 - 3 };
        expect(await app.ipc.get_tx_buffer(a[0]!.ept, req, wait)).to.equal(-ENOMEM);
        expect(req.size).to.equal(16 * 1000 - 4);
      }
      const max = { size: 16 * 1000 - 4 } as { size: number; data?: Uint8Array };
      expect(await app.ipc.get_tx_buffer(a[0]!.ept, max, K_NO_WAIT)).to.equal(0);
      expect(backendOf(app).freeBlocks()).to.equal(0);
      expect(app.ipc.send(a[0]!.ept, new Uint8Array(16 * 1000 - 3))).to.equal(-ENOMEM);
    });

    it('drop_tx_buffer: 0, then -EALREADY; -EINVAL for a pointer that is no TX payload; -ENXIO for a buffer already sent', async function () {
      const { app, a } = await boundPair();
      const ept = a[0]!.ept;
      const req = { size: 20 } as { size: number; data?: Uint8Array };
      expect(await app.ipc.get_tx_buffer(ept, req, K_NO_WAIT)).to.equal(0);
      expect(app.ipc.drop_tx_buffer(ept, req.data!)).to.equal(0);
      expect(app.ipc.drop_tx_buffer(ept, req.data!)).to.equal(-EALREADY);
      expect(app.ipc.drop_tx_buffer(ept, new Uint8Array(20))).to.equal(-EINVAL);
      expect(await app.ipc.get_tx_buffer(ept, req, K_NO_WAIT)).to.equal(0);
      expect(app.ipc.drop_tx_buffer(ept, req.data!.subarray(1))).to.equal(-EINVAL);
      expect(app.ipc.send_nocopy(ept, req.data!, 5)).to.equal(5);
      expect(app.ipc.drop_tx_buffer(ept, req.data!)).to.equal(-ENXIO);
      expect(app.ipc.send_nocopy(ept, req.data!, 5), 'sent already').to.equal(-EINVAL);
    });

    it('send_nocopy shrinks the allocation to len: tail blocks free at once, header = len; a len above the allocation -> -EINVAL and the buffer is dropped', async function () {
      const held: Uint8Array[] = [];
      const { app, net, a, n } = await boundPair(['ipc0A'], (d, l, ep) => {
        net.ipc.hold_rx_buffer(ep.ept, d);
        held.push(d);
        ep.rx.push(d.slice(0, l));
      });
      const ept = a[0]!.ept;
      const req = { size: 2500 } as { size: number; data?: Uint8Array };
      expect(await app.ipc.get_tx_buffer(ept, req, K_NO_WAIT)).to.equal(0);
      expect(req.size).to.equal(2996);
      expect(backendOf(app).freeBlocks()).to.equal(13);
      req.data!.set(bytes('0123456789'));
      expect(app.ipc.send_nocopy(ept, req.data!, 10)).to.equal(10);
      expect(backendOf(app).freeBlocks()).to.equal(15);
      expect(mem(app, TX.base + APP_TX.blocksOffset, 4).dv.getUint32(0, true)).to.equal(10);
      await until(() => held.length === 1, 'delivery');
      expect(text(n[0]!.rx[0]!)).to.equal('0123456789');
      expect(net.ipc.release_rx_buffer(n[0]!.ept, held[0]!)).to.equal(0);
      await until(() => backendOf(app).freeBlocks() === 16, 'released');
      const r2 = { size: 10 } as { size: number; data?: Uint8Array };
      expect(await app.ipc.get_tx_buffer(ept, r2, K_NO_WAIT)).to.equal(0);
      expect(app.ipc.send_nocopy(ept, r2.data!, 997)).to.equal(-EINVAL);
      expect(backendOf(app).freeBlocks()).to.equal(16);
    });
  });

  describe('holding received buffers', function () {
    it('hold in received(), release later out of order: each release returns its blocks; -EALREADY twice; -ENXIO if never held; -EINVAL to hold outside the callback', async function () {
      const held: Uint8Array[] = [];
      let unheld: Uint8Array | undefined;
      const { app, net, a, n } = await boundPair(['ipc0A'], (d, l, ep) => {
        if (l === 1) {
          unheld = d;
          return;
        }
        expect(net.ipc.hold_rx_buffer(ep.ept, d)).to.equal(0);
        expect(net.ipc.hold_rx_buffer(ep.ept, d)).to.equal(-EALREADY);
        held.push(d);
      });
      const sizes = [100, 1500, 10];
      sizes.forEach((s, k) => expect(app.ipc.send(a[0]!.ept, new Uint8Array(s).fill(k + 1))).to.equal(s));
      await until(() => held.length === 3, 'three held');
      const b = backendOf(app);
      expect(b.freeBlocks()).to.equal(12);
      const ept = n[0]!.ept;
      for (const [k, want] of [[1, 14], [2, 15], [0, 16]] as const) {
        expect(held[k]!.every((x) => x === k + 1), `held buffer ${k} intact`).to.equal(true);
        expect(net.ipc.release_rx_buffer(ept, held[k]!)).to.equal(0);
        expect(net.ipc.release_rx_buffer(ept, held[k]!)).to.equal(-EALREADY);
        await until(() => b.freeBlocks() === want, `release ${k}`);
      }
      expect(net.ipc.hold_rx_buffer(ept, held[0]!)).to.equal(-EINVAL);
      expect(app.ipc.send(a[0]!.ept, Uint8Array.of(9))).to.equal(1);
      await until(() => unheld !== undefined && b.freeBlocks() === 16, 'one-byte message delivered and released');
      expect(net.ipc.release_rx_buffer(ept, unheld!)).to.equal(-ENXIO);
      expect(net.ipc.release_rx_buffer(ept, new Uint8Array(4))).to.equal(-EINVAL);
      noFault();
    });
  });

  describe('stress', function () {
    it('3 endpoints x 300 random-size messages from app tasks (K_FOREVER, K_MSEC(2) and copy-send) while the net core holds some and releases them out of order: every byte arrives, no block is lost', async function () {
      this.timeout(60000);
      const names = ['ipc0A', 'ipc0B', 'ipc0C'];
      const COUNT = 300;
      let seed = 0x1cb35;
      const rand = (): number => {
        seed = (seed + 0x6D2B79F5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      const fill = (e: number, seq: number, u8: Uint8Array, len: number): void => {
        for (let k = 0; k < len; k++) u8[k] = (e * 97 + seq * 13 + k * 7) & 0xFF;
      };
      const intact = (e: number, seq: number, u8: Uint8Array, len: number): boolean => {
        for (let k = 0; k < len; k++) if (u8[k] !== ((e * 97 + seq * 13 + k * 7) & 0xFF)) return false;
        return true;
      };
      const sizes = names.map(() => Array.from({ length: COUNT }, () => Math.floor(rand() * 2800)));
      const got = names.map(() => 0);
      const bad: string[] = [];
      const held: { e: number; seq: number; d: Uint8Array; ept: IpcEpt }[] = [];
      let heldTotal = 0;
      const { app, net } = await bonded();
      const netEps = names.map((nm, e) => endpoint(net, nm, (d, l, ep) => {
        const seq = got[e]!++;
        if (l !== sizes[e]![seq] || !intact(e, seq, d, l)) bad.push(`${nm} #${seq}: ${l} bytes, expected ${sizes[e]![seq]}`);
        if (held.length < 5 && rand() < 0.25) {
          expect(net.ipc.hold_rx_buffer(ep.ept, d)).to.equal(0);
          held.push({ e, seq, d, ept: ep.ept });
          heldTotal++;
        }
      }));
      const appEps = names.map((nm) => endpoint(app, nm));
      for (const ep of [...netEps, ...appEps]) register(ep);
      await until(() => [...netEps, ...appEps].every((x) => x.bound === 1), 'bound');
      let receiving = true;
      void net.rt.spawn('releaser', async () => {
        while (receiving || held.length > 0) {
          await net.rt.sleep(1);
          if (held.length === 0 || (receiving && rand() < 0.3)) continue;
          const h = held.splice(Math.floor(rand() * held.length), 1)[0]!;
          if (!intact(h.e, h.seq, h.d, h.d.length)) bad.push(`held ${names[h.e]} #${h.seq} changed while held`);
          expect(net.ipc.release_rx_buffer(h.ept, h.d)).to.equal(0);
        }
      });
      const stats = { eagain: 0, enomem: 0, short: 0 };
      const sender = async (e: number): Promise<void> => {
        const ept = appEps[e]!.ept;
        for (let seq = 0; seq < COUNT; seq++) {
          const len = sizes[e]![seq]!;
          if (e === 2 && seq % 2 === 0) {
            const copy = new Uint8Array(len);
            fill(e, seq, copy, len);
            let r: number;
            while ((r = app.ipc.send(ept, copy)) === -ENOMEM) {
              stats.enomem++;
              await app.rt.sleep(0);
            }
            expect(r).to.equal(len);
            continue;
          }
          const wait = e === 1 ? K_MSEC(2) : K_FOREVER;
          const req = { size: len } as { size: number; data?: Uint8Array };
          if (backendOf(app).freeBlocks() < Math.ceil((len + 4) / 1000)) stats.short++;
          let r: number;
          while ((r = await app.ipc.get_tx_buffer(ept, req, wait)) === -EAGAIN) {
            stats.eagain++;
            req.size = len;
          }
          expect(r).to.equal(0);
          expect(req.size).to.be.at.least(len);
          fill(e, seq, req.data!, len);
          expect(app.ipc.send_nocopy(ept, req.data!, len)).to.equal(len);
          if (rand() < 0.3) await app.rt.yield();
        }
      };
      const senders = names.map((_, e) => app.rt.spawn(`sender ${names[e]}`, () => sender(e)));
      await until(() => got.every((g) => g === COUNT), `all ${3 * COUNT} messages (got ${got})`, 50000);
      receiving = false;
      await Promise.all(senders);
      await until(() => held.length === 0 && backendOf(app).freeBlocks() === 16, 'every block back on the sender', 10000);
      expect(bad).to.deep.equal([]);
      expect(heldTotal, 'the receiver held buffers').to.be.greaterThan(10);
      expect(stats.short + stats.enomem, 'senders found the blocks taken').to.be.greaterThan(0);
      expect(backendOf(net).status().rx).to.include({ held: 0 });
      expect(backendOf(app).status().rejected).to.equal(0);
      noFault();
    });
  });

  describe('deregistration', function () {
    it('deregister then send -> -ENOENT; data for it on the wire is dropped and its blocks given back; re-register fires bound() locally and traffic resumes', async function () {
      const { app, net, a, n } = await boundPair();
      const A = a[0]!;
      expect(app.ipc.deregister_endpoint(A.ept)).to.equal(0);
      expect(app.ipc.send(A.ept, bytes('x'))).to.equal(-ENOENT);
      expect(app.ipc.deregister_endpoint(A.ept)).to.equal(-ENOENT);
      expect(net.ipc.send(n[0]!.ept, bytes('lost'))).to.equal(4);
      await until(() => backendOf(app).status().rejected === 1 && backendOf(net).freeBlocks() === 24, 'dropped and released');
      expect(A.rx.length).to.equal(0);
      register(A);
      await until(() => A.bound === 2, 'bound() again on the app core');
      await ticks(50);
      expect(n[0]!.bound, 'no wire message: the peer sees nothing').to.equal(1);
      expect(app.ipc.send(A.ept, bytes('back'))).to.equal(4);
      expect(net.ipc.send(n[0]!.ept, bytes('here'))).to.equal(4);
      await until(() => A.rx.length === 1 && n[0]!.rx.length === 1, 'traffic resumes');
      expect([text(A.rx[0]!), text(n[0]!.rx[0]!)]).to.deep.equal(['here', 'back']);
    });

    it('more endpoints than CONFIG_IPC_SERVICE_BACKEND_ICBMSG_NUM_EP (4) -> -ENOMEM', async function () {
      const { app } = await bonded();
      for (let i = 0; i < 4; i++) register(endpoint(app, `e${i}`));
      const e = endpoint(app, 'e4');
      expect(app.ipc.register_endpoint(app.ipc.device('ipc0'), e.ept, e.cfg)).to.equal(-ENOMEM);
    });
  });

  describe('validation of what the peer sends', function () {
    it('rejects short messages, bad addresses, bad block indexes, corrupt headers and releases of blocks not in flight without faulting; ignores unknown types; reads only the first 3 bytes', async function () {
      const { app, net, a, n } = await boundPair();
      const A = a[0]!;
      const raw = (...b: number[]): void => {
        expect(backendOf(net).icmsg.send(Uint8Array.from(b))).to.equal(b.length);
      };
      const rejected = (): number => backendOf(app).status().rejected as number;
      raw(ICBMSG_MSG_DATA, 0);
      raw(ICBMSG_MSG_DATA, 9, 0);
      raw(ICBMSG_MSG_DATA, 0, 200);
      await until(() => rejected() === 3, 'three rejected');
      expect(A.errors.length, 'block 200 reported to ipc0A').to.equal(1);
      const netBlock = (i: number) => mem(net, RX.base + NET_TX.blocksOffset + i * NET_TX.blockSize, NET_TX.blockSize);
      netBlock(5).dv.setUint32(0, 0xFFFFFFF0, true);
      raw(ICBMSG_MSG_DATA, 0, 5);
      netBlock(23).dv.setUint32(0, 668, true);
      raw(ICBMSG_MSG_DATA, 0, 23);
      raw(ICBMSG_MSG_RELEASE_DATA, 0, 3);
      raw(7, 0, 0);
      await until(() => rejected() === 6, 'corrupt header, overflowing size, stray release rejected');
      expect(A.errors.length).to.equal(3);
      expect(backendOf(app).freeBlocks()).to.equal(16);
      const b22 = netBlock(22);
      b22.dv.setUint32(0, 5, true);
      b22.u8.set(bytes('extra'), 4);
      raw(ICBMSG_MSG_DATA, 0, 22, 0xEE, 0xEE);
      await until(() => A.rx.length === 1, 'a 5-byte control message counts as its first 3 bytes');
      expect(text(A.rx[0]!)).to.equal('extra');
      await until(() => backendOf(net).status().rejected === 1, 'the net core rejects the release of block 22, which it never sent');
      expect(rejected()).to.equal(6);
      expect(app.ipc.send(A.ept, bytes('still fine'))).to.equal(10);
      await until(() => n[0]!.rx.length === 1, 'normal traffic after the garbage');
      noFault();
    });
  });
});

describe('tests/subsys/ipc/ipc_service_api (§6.E) on ICBMsg, echo endpoint on the net core', function () {
  const PING = 1;
  const PONG = 2;
  const ECHO = 3;
  const ECHO_RSP = 4;
  const MSG_LEN = 20;
  const msg = (cmd: number, fill: number): Uint8Array => {
    const m = new Uint8Array(MSG_LEN);
    new DataView(m.buffer).setUint32(0, cmd, true);
    m.fill(fill, 4);
    return m;
  };
  let echoFailures = 0;
  let app: ZCore;
  let ept: IpcEpt;
  let replies: Uint8Array[];
  let onReply: ((d: Uint8Array, l: number) => void) | undefined;

  beforeEach(async function () {
    echoFailures = 0;
    replies = [];
    onReply = undefined;
    pair = buildZephyrPair([INST]);
    const { net } = pair;
    app = pair.app;
    pair.start(app);
    pair.start(net);
    // Setup opens twice: 0 or -EALREADY are both fine.
    for (const c of [app, net]) for (let i = 0; i < 2; i++) expect([0, -EALREADY]).to.include(c.ipc.open_instance(c.ipc.device('ipc0')));
    const remote = endpoint(net, 'ipc0A', (d, l, ep) => {
      const cmd = new DataView(d.buffer, d.byteOffset, l).getUint32(0, true);
      const out = new Uint8Array(d.subarray(0, l));
      new DataView(out.buffer).setUint32(0, cmd === PING ? PONG : ECHO_RSP, true);
      if (net.ipc.send(ep.ept, out) < 0) echoFailures++;
    });
    const local = endpoint(app, 'ipc0A', (d, l) => (onReply ? onReply(d, l) : replies.push(d.slice(0, l))));
    register(remote);
    register(local);
    ept = local.ept;
    await until(() => local.bound === 1 && remote.bound === 1, 'bound', 1000);
  });

  afterEach(function () {
    pair?.stop();
  });

  it('test_echo: PING -> PONG and ECHO -> ECHO_RSP with the same payload', async function () {
    expect(app.ipc.send(ept, msg(PING, 0))).to.equal(MSG_LEN);
    expect(app.ipc.send(ept, msg(ECHO, 0x5A))).to.equal(MSG_LEN);
    await until(() => replies.length === 2, 'replies');
    expect(replies[0]).to.deep.equal(msg(PONG, 0));
    expect(replies[1]).to.deep.equal(msg(ECHO_RSP, 0x5A));
  });

  it('test_get_tx_buffer_size: > 0 (16*1000-4 here)', function () {
    expect(app.ipc.get_tx_buffer_size(ept)).to.equal(15996);
  });

  it('test_nocopy_send_with_timeout / without_timeout: get_tx_buffer, fill, send_nocopy, echo comes back', async function () {
    for (const wait of [K_MSEC(100), K_NO_WAIT]) {
      const req = { size: MSG_LEN } as { size: number; data?: Uint8Array };
      expect(await app.ipc.get_tx_buffer(ept, req, wait)).to.equal(0);
      req.data!.set(msg(ECHO, wait + 1));
      expect(app.ipc.send_nocopy(ept, req.data!, MSG_LEN)).to.equal(MSG_LEN);
    }
    await until(() => replies.length === 2, 'two echoes');
    expect(replies.map((r) => r[4])).to.deep.equal([101, 1]);
  });

  it('test_drop_tx_buffer: drop -> 0, a second drop -> -EALREADY', async function () {
    const req = { size: MSG_LEN } as { size: number; data?: Uint8Array };
    expect(await app.ipc.get_tx_buffer(ept, req, K_MSEC(100))).to.equal(0);
    expect(app.ipc.drop_tx_buffer(ept, req.data!)).to.equal(0);
    expect(app.ipc.drop_tx_buffer(ept, req.data!)).to.equal(-EALREADY);
  });

  it('test_get_tx_buffer_timeout: 16 buffers exhaust the blocks (then -ENOMEM); one dropped after 1 ms lets get(K_MSEC(100)) succeed', async function () {
    const bufs: Uint8Array[] = [];
    let r = 0;
    for (let i = 0; i < 32; i++) {
      const req = { size: MSG_LEN } as { size: number; data?: Uint8Array };
      r = await app.ipc.get_tx_buffer(ept, req, K_NO_WAIT);
      if (r < 0) break;
      bufs.push(req.data!);
    }
    expect(r).to.equal(-ENOMEM);
    expect(bufs.length).to.equal(16);
    setTimeout(() => expect(app.ipc.drop_tx_buffer(ept, bufs.pop()!)).to.equal(0), 1);
    const req = { size: MSG_LEN } as { size: number; data?: Uint8Array };
    expect(await app.ipc.get_tx_buffer(ept, req, K_MSEC(100))).to.equal(0);
    bufs.push(req.data!);
    for (const b of bufs) expect(app.ipc.drop_tx_buffer(ept, b)).to.equal(0);
    expect(backendOf(app).freeBlocks()).to.equal(16);
  });

  it('test_hold_release_rx_buffer: hold the echo in received(), release it later (0), again (-EALREADY)', async function () {
    let held: Uint8Array | undefined;
    onReply = (d) => {
      expect(app.ipc.hold_rx_buffer(ept, d)).to.equal(0);
      held = d;
    };
    expect(app.ipc.send(ept, msg(ECHO, 7))).to.equal(MSG_LEN);
    await until(() => held !== undefined, 'echo held');
    await ticks(20);
    expect(held).to.deep.equal(msg(ECHO_RSP, 7));
    expect(app.ipc.release_rx_buffer(ept, held!)).to.equal(0);
    expect(app.ipc.release_rx_buffer(ept, held!)).to.equal(-EALREADY);
    await until(() => backendOf(pair.net).freeBlocks() === 24, 'the remote got its block back');
  });

  it('test_hold_rx_buffer_exhaust: holding every echo stops the remote after its 24 blocks; held payloads intact; after release the next echo arrives', async function () {
    const held: Uint8Array[] = [];
    onReply = (d) => {
      expect(app.ipc.hold_rx_buffer(ept, d)).to.equal(0);
      held.push(d);
    };
    for (let i = 0; echoFailures === 0; i++) {
      expect(i, 'the remote should run out of blocks').to.be.below(64);
      expect(app.ipc.send(ept, msg(ECHO, i))).to.equal(MSG_LEN);
      await until(() => held.length === i + 1 || echoFailures > 0, `echo ${i}`);
    }
    expect(held.length).to.equal(24);
    held.forEach((h, i) => expect(h, `held echo ${i}`).to.deep.equal(msg(ECHO_RSP, i)));
    for (const h of held) expect(app.ipc.release_rx_buffer(ept, h)).to.equal(0);
    onReply = undefined;
    expect(app.ipc.send(ept, msg(ECHO, 0xEE))).to.equal(MSG_LEN);
    await until(() => replies.length === 1, 'next echo');
    expect(replies[0]).to.deep.equal(msg(ECHO_RSP, 0xEE));
  });

  it('test_deregister_endpoint: send afterwards -> -ENOENT, then re-register works', async function () {
    expect(app.ipc.deregister_endpoint(ept)).to.equal(0);
    expect(app.ipc.send(ept, msg(PING, 0))).to.equal(-ENOENT);
    let bound = 0;
    const again: IpcEptCfg = { name: 'ipc0A', cb: { bound: () => bound++, received: (d, l) => replies.push(d.slice(0, l)) } };
    expect(app.ipc.register_endpoint(app.ipc.device('ipc0'), ept, again)).to.equal(0);
    await until(() => bound === 1, 'bound again');
    expect(app.ipc.send(ept, msg(PING, 0))).to.equal(MSG_LEN);
    await until(() => replies.length === 1, 'PONG');
    expect(replies[0]).to.deep.equal(msg(PONG, 0));
  });
});
