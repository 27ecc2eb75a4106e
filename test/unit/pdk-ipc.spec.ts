import { expect } from 'chai';
import {
  IPC_CTRL_ENDPOINT_ID, IPC_EBADARGS, IPC_EFAIL, IPC_EINVALID_PARAMS, IPC_ETIMEOUT, IPC_E_UNBLOCKED,
  IPC_MAX_DATA_PAYLOAD, IPC_RPMESSAGE_TIMEOUT_FOREVER, IPC_SOK, RPMESSAGE_ALL, RPMESSAGE_ANY,
  type RPMessage_Handle, type RPMessage_RecvResult,
} from '../../cores/rtos/pdk-types.js';
import { IPC_MCU1_0, IPC_MCU2_0, IPC_MCU2_1, IPC_VRING_BUFFER_SIZE, J721E_VRING_BASE } from '../../shared/j721e.js';
import { VRING_DESC_F_WRITE } from '../../shared/vring.js';
import { VIRTIO_PARAMS, bringUp, bringUpAll, buildSoc, until, type SimCore, type SimSoc } from '../support/two-cores.js';

// PDK Ipc_updateVirtioInfo layout of the mcu1_0 (1) <-> mcu2_0 (3) pair, cnt 11, base 0xAA000000:
// region 0 = mcu1_0's TX vring, 1 = its buffers, 2 = mcu2_0's TX vring, 3 = its buffers.
const PAIR_1_3 = 0xAA58_0000;
const MCU1_0_TX_VRING = PAIR_1_3;
const MCU1_0_TX_BUFS = PAIR_1_3 + 0x2_0000;
const MCU2_0_TX_VRING = PAIR_1_3 + 0x4_0000;
const MCU2_0_TX_BUFS = PAIR_1_3 + 0x6_0000;
// Split vring of 256 descriptors, align 4096: desc table at 0, avail at 0x1000, used at 0x2000.
const AVAIL_IDX = 0x1002;
const USED_IDX = 0x2002;
const USED_RING = 0x2004;

const bytes = (...v: number[]) => Uint8Array.from(v);
const rxBuf = () => new Uint8Array(IPC_MAX_DATA_PAYLOAD);
const text = (s: string) => new TextEncoder().encode(s);

/** RPMessage_recvNb polled between event-loop turns until it returns something other than IPC_ETIMEOUT. */
async function pollRecvNb(core: SimCore, ep: RPMessage_Handle, buf: Uint8Array, timeoutMs = 5000): Promise<RPMessage_RecvResult> {
  let r = core.pdk.RPMessage_recvNb(ep, buf);
  await until(() => (r = core.pdk.RPMessage_recvNb(ep, buf)).status !== IPC_ETIMEOUT, `a message on endpoint ${ep.endPt} of ${core.info.name}`, timeoutMs);
  return r;
}

/** Resolves with `p`, or rejects if it has not settled within `ms` (a guard, never a pacing sleep). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

describe('PDK IPC (single thread, j7 image)', () => {
  let soc: SimSoc;
  afterEach(() => soc?.stop());
  /** mcu1_0 and mcu2_0 running, mcu1_0 brought up to RPMessage_init with mcu2_0 as its remote. */
  const mcu1Up = (): SimCore => {
    soc = buildSoc(['mcu1_0', 'mcu2_0']);
    soc.start();
    const a = soc.core('mcu1_0');
    bringUp(a, [IPC_MCU2_0]);
    return a;
  };

  describe('Ipc_mp*', () => {
    let a: SimCore;
    beforeEach(() => {
      soc = buildSoc(['mcu1_0']);
      soc.start();
      a = soc.core('mcu1_0');
    });

    it('Ipc_mpSetConfig accepts the core\'s own id and a list of distinct remotes, and the getters report them', () => {
      expect(a.pdk.Ipc_mpSetConfig(IPC_MCU1_0, 2, [IPC_MCU2_0, IPC_MCU2_1])).to.equal(IPC_SOK);
      expect(a.pdk.Ipc_mpGetSelfId()).to.equal(IPC_MCU1_0);
      expect(a.pdk.Ipc_mpGetSelfName()).to.equal('mcu1_0');
      expect(a.pdk.Ipc_mpGetNumProcessors()).to.equal(2);
      expect(a.pdk.Ipc_mpGetRemoteProcId(0)).to.equal(IPC_MCU2_0);
      expect(a.pdk.Ipc_mpGetRemoteProcId(1)).to.equal(IPC_MCU2_1);
      expect(a.pdk.Ipc_mpGetId('mcu2_0')).to.equal(IPC_MCU2_0);
      expect(a.pdk.Ipc_mpGetName(IPC_MCU2_1)).to.equal('mcu2_1');
    });

    it('Ipc_mpSetConfig rejects a selfId that is not this core with IPC_EINVALID_PARAMS and says why', () => {
      expect(a.pdk.Ipc_mpSetConfig(IPC_MCU2_0, 1, [IPC_MCU2_1])).to.equal(IPC_EINVALID_PARAMS);
      expect(a.log.entries.some((e) => e.level === 'error' && /selfId 3/.test(e.msg))).to.equal(true);
    });

    it('Ipc_mpSetConfig rejects the core itself in the remote list', () => {
      expect(a.pdk.Ipc_mpSetConfig(IPC_MCU1_0, 2, [IPC_MCU2_0, IPC_MCU1_0])).to.equal(IPC_EINVALID_PARAMS);
    });

    it('Ipc_mpSetConfig rejects a remote listed twice', () => {
      expect(a.pdk.Ipc_mpSetConfig(IPC_MCU1_0, 2, [IPC_MCU2_0, IPC_MCU2_0])).to.equal(IPC_EINVALID_PARAMS);
    });

    it('Ipc_mpSetConfig rejects remote ids outside 0..10', () => {
      expect(a.pdk.Ipc_mpSetConfig(IPC_MCU1_0, 1, [11])).to.equal(IPC_EINVALID_PARAMS);
      expect(a.pdk.Ipc_mpSetConfig(IPC_MCU1_0, 1, [-1])).to.equal(IPC_EINVALID_PARAMS);
    });
  });

  describe('Ipc_init and Ipc_initVirtIO', () => {
    let a: SimCore;
    let b: SimCore;
    beforeEach(() => {
      soc = buildSoc(['mcu1_0', 'mcu2_0']);
      soc.start();
      a = soc.core('mcu1_0');
      b = soc.core('mcu2_0');
    });

    it('Ipc_init(NULL) succeeds and an instId other than 0 is IPC_EINVALID_PARAMS', () => {
      expect(a.pdk.Ipc_init(a.pdk.IpcInitPrms_init(1))).to.equal(IPC_EINVALID_PARAMS);
      expect(a.pdk.Ipc_init(null)).to.equal(IPC_SOK);
      expect(b.pdk.Ipc_init(b.pdk.IpcInitPrms_init(0))).to.equal(IPC_SOK);
    });

    it('Ipc_initVirtIO fails before Ipc_init', () => {
      expect(a.pdk.Ipc_mpSetConfig(IPC_MCU1_0, 1, [IPC_MCU2_0])).to.equal(IPC_SOK);
      expect(a.pdk.Ipc_initVirtIO(VIRTIO_PARAMS)).to.equal(IPC_EFAIL);
      expect(a.pdk.Ipc_isRemoteVirtioCreated(IPC_MCU2_0)).to.equal(false);
    });

    it('Ipc_initVirtIO with vringBufSize below IPC_VRING_BUFFER_SIZE (0x1C00000) is IPC_EFAIL', () => {
      expect(a.pdk.Ipc_mpSetConfig(IPC_MCU1_0, 1, [IPC_MCU2_0])).to.equal(IPC_SOK);
      expect(a.pdk.Ipc_init(null)).to.equal(IPC_SOK);
      expect(a.pdk.Ipc_initVirtIO({ vringBaseAddr: J721E_VRING_BASE, vringBufSize: IPC_VRING_BUFFER_SIZE - 1 })).to.equal(IPC_EFAIL);
      expect(a.pdk.Ipc_initVirtIO(VIRTIO_PARAMS)).to.equal(IPC_SOK);
      expect(a.pdk.Ipc_isRemoteVirtioCreated(IPC_MCU2_0)).to.equal(true);
    });

    it('puts each core\'s TX vring at the PDK pair address, primed with its 256 buffers', () => {
      bringUp(a, [IPC_MCU2_0]);
      bringUp(b, [IPC_MCU1_0]);
      // mcu1_0 is the lower id: region 0 is its TX ring, region 1 its buffers.
      expect(a.bus.read16(MCU1_0_TX_VRING + AVAIL_IDX)).to.equal(256);
      expect(a.bus.read16(MCU1_0_TX_VRING + USED_IDX)).to.equal(0);
      for (const i of [0, 1, 255]) {
        const d = MCU1_0_TX_VRING + 16 * i;
        expect(a.bus.read32(d), `desc[${i}].addr`).to.equal(MCU1_0_TX_BUFS + 512 * i);
        expect(a.bus.read32(d + 4), `desc[${i}].addr high word`).to.equal(0);
        expect(a.bus.read32(d + 8), `desc[${i}].len`).to.equal(512);
        expect(a.bus.read16(d + 12), `desc[${i}].flags`).to.equal(VRING_DESC_F_WRITE);
        expect(a.bus.read16(MCU1_0_TX_VRING + 0x1004 + 2 * i), `avail.ring[${i}]`).to.equal(i);
      }
      // mcu2_0, the higher id, owns region 2 and primes it with the buffers of region 3.
      expect(b.bus.read16(MCU2_0_TX_VRING + AVAIL_IDX)).to.equal(256);
      expect(b.bus.read32(MCU2_0_TX_VRING)).to.equal(MCU2_0_TX_BUFS);
      expect(b.bus.read32(MCU2_0_TX_VRING + 16 * 255)).to.equal(MCU2_0_TX_BUFS + 512 * 255);
    });

    it('places the mcu2_0 <-> mcu2_1 pair at 0xAAD80000 (cnt 27)', () => {
      soc.stop();
      soc = buildSoc(['mcu2_0', 'mcu2_1']);
      soc.start();
      const c2 = soc.core('mcu2_0');
      const c3 = soc.core('mcu2_1');
      bringUp(c2, [IPC_MCU2_1]);
      bringUp(c3, [IPC_MCU2_0]);
      expect(c2.bus.read16(0xAAD8_0000 + AVAIL_IDX)).to.equal(256);
      expect(c2.bus.read32(0xAAD8_0000)).to.equal(0xAADA_0000);
      expect(c3.bus.read16(0xAADC_0000 + AVAIL_IDX)).to.equal(256);
      expect(c3.bus.read32(0xAADC_0000)).to.equal(0xAADE_0000);
    });
  });

  describe('RPMessage_create', () => {
    let a: SimCore;
    beforeEach(() => {
      a = mcu1Up();
    });

    it('creates a requested reserved endpoint (0..100)', () => {
      for (const n of [0, 14, 100]) {
        const ep = a.pdk.RPMessage_create({ requestedEndpt: n, numBufs: 4 });
        expect(ep, `endpoint ${n}`).to.not.equal(null);
        expect(ep!.endPt).to.equal(n);
      }
    });

    it('refuses endpoint 53, which is the control endpoint', () => {
      expect(a.pdk.RPMessage_create({ requestedEndpt: IPC_CTRL_ENDPOINT_ID, numBufs: 4 })).to.equal(null);
    });

    it('refuses an explicit endpoint above 100', () => {
      expect(a.pdk.RPMessage_create({ requestedEndpt: 101, numBufs: 4 })).to.equal(null);
      expect(a.pdk.RPMessage_create({ requestedEndpt: 255, numBufs: 4 })).to.equal(null);
    });

    it('refuses an endpoint that already exists', () => {
      expect(a.pdk.RPMessage_create({ requestedEndpt: 20, numBufs: 4 })).to.not.equal(null);
      expect(a.pdk.RPMessage_create({ requestedEndpt: 20, numBufs: 4 })).to.equal(null);
      expect(a.log.entries.some((e) => e.level === 'error' && /endpoint 20 already exists/.test(e.msg))).to.equal(true);
    });

    it('gives RPMESSAGE_ANY the first free endpoint from 101 on, reusing a deleted one', () => {
      const e1 = a.pdk.RPMessage_create(a.pdk.RPMessageParams_init());
      const e2 = a.pdk.RPMessage_create({ requestedEndpt: RPMESSAGE_ANY, numBufs: 4 });
      expect(e1!.endPt).to.equal(101);
      expect(e2!.endPt).to.equal(102);
      expect(a.pdk.RPMessage_delete(e1!)).to.equal(IPC_SOK);
      expect(a.pdk.RPMessage_create(a.pdk.RPMessageParams_init())!.endPt).to.equal(101);
      expect(a.pdk.RPMessage_create(a.pdk.RPMessageParams_init())!.endPt).to.equal(103);
    });

    it('refuses numBufs 0', () => {
      expect(a.pdk.RPMessage_create({ requestedEndpt: RPMESSAGE_ANY, numBufs: 0 })).to.equal(null);
      expect(a.pdk.RPMessage_create({ requestedEndpt: 10, numBufs: 0 })).to.equal(null);
    });
  });

  describe('RPMessage_send argument checks', () => {
    let a: SimCore;
    beforeEach(() => {
      a = mcu1Up();
    });

    it('is IPC_EFAIL to itself, to proc ids >= 11, to a core without vrings, and for len > 496', () => {
      const ep = a.pdk.RPMessage_create(a.pdk.RPMessageParams_init())!;
      const data = new Uint8Array(IPC_MAX_DATA_PAYLOAD + 1);
      expect(a.pdk.RPMessage_send(ep, IPC_MCU1_0, 10, 0, data, 4)).to.equal(IPC_EFAIL);
      expect(a.pdk.RPMessage_send(ep, 11, 10, 0, data, 4)).to.equal(IPC_EFAIL);
      expect(a.pdk.RPMessage_send(ep, 0xFFFF_FFFF, 10, 0, data, 4)).to.equal(IPC_EFAIL);
      expect(a.pdk.RPMessage_send(ep, IPC_MCU2_1, 10, 0, data, 4)).to.equal(IPC_EFAIL);
      expect(a.pdk.RPMessage_send(ep, IPC_MCU2_0, 10, 0, data, IPC_MAX_DATA_PAYLOAD + 1)).to.equal(IPC_EFAIL);
      // None of the refused sends took a TX buffer or wrote the ring.
      expect(a.bus.read16(MCU1_0_TX_VRING + USED_IDX)).to.equal(0);
      expect(a.pdk.stats.sent).to.equal(0);
      // The largest payload goes.
      expect(a.pdk.RPMessage_send(ep, IPC_MCU2_0, 10, 0, data, IPC_MAX_DATA_PAYLOAD)).to.equal(IPC_SOK);
      expect(a.bus.read16(MCU1_0_TX_VRING + USED_IDX)).to.equal(1);
    });

    it('is IPC_EFAIL before RPMessage_init: the PDK sets up its TX vq table (tx_VQs) there', () => {
      soc.stop();
      soc = buildSoc(['mcu1_0', 'mcu2_0']);
      soc.start();
      a = soc.core('mcu1_0');
      bringUp(a, [IPC_MCU2_0], { rpmessage: false });
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(1), 1)).to.equal(IPC_EFAIL);
      expect(a.pdk.RPMessage_announce(IPC_MCU2_0, 101, 'early')).to.equal(IPC_EFAIL);
      expect(a.bus.read16(MCU1_0_TX_VRING + USED_IDX)).to.equal(0);
      expect(a.pdk.RPMessage_init(a.pdk.RPMessageParams_init())).to.equal(IPC_SOK);
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(1), 1)).to.equal(IPC_SOK);
    });
  });

  describe('messages between two cores', () => {
    let a: SimCore;
    let b: SimCore;
    beforeEach(() => {
      soc = buildSoc(['mcu1_0', 'mcu2_0']);
      soc.start();
      a = soc.core('mcu1_0');
      b = soc.core('mcu2_0');
      bringUp(a, [IPC_MCU2_0]);
      bringUp(b, [IPC_MCU1_0]);
    });

    it('delivers the payload, len, reply endpoint and sender proc id to the destination endpoint', async () => {
      const epA = a.pdk.RPMessage_create(a.pdk.RPMessageParams_init())!;
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      const payload = text('hello mcu2_0');
      // srcEndPt 77 is overridden by the handle's endpoint (101).
      expect(a.pdk.RPMessage_send(epA, IPC_MCU2_0, 14, 77, payload, payload.length)).to.equal(IPC_SOK);
      const buf = rxBuf();
      const r = await b.pdk.RPMessage_recv(epB, buf, 5000);
      expect(r).to.deep.equal({ status: IPC_SOK, len: payload.length, rplyEndPt: 101, fromProcId: IPC_MCU1_0 });
      expect(new TextDecoder().decode(buf.subarray(0, r.len))).to.equal('hello mcu2_0');
    });

    it('with two tasks waiting on one endpoint of numBufs 2, four messages arriving at once reach them in order and the rest stay queued', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 2 })!;
      const b1 = rxBuf();
      const b2 = rxBuf();
      const r1 = b.pdk.RPMessage_recv(epB, b1, 5000);
      const r2 = b.pdk.RPMessage_recv(epB, b2, 5000);
      for (let i = 1; i <= 4; i++) expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 60, bytes(i), 1)).to.equal(IPC_SOK);
      expect((await r1).status).to.equal(IPC_SOK);
      expect((await r2).status).to.equal(IPC_SOK);
      expect([b1[0], b2[0]]).to.deep.equal([1, 2]);
      const rest: number[] = [];
      for (let i = 0; i < 2; i++) {
        const buf = rxBuf();
        expect((await b.pdk.RPMessage_recv(epB, buf, 5000)).status).to.equal(IPC_SOK);
        rest.push(buf[0]!);
      }
      expect(rest).to.deep.equal([3, 4]);
      expect(b.pdk.stats.droppedQueueFull).to.equal(0);
    });

    it('writes the PDK header (src, dst, srcProcId, len, flags) into the sender\'s TX buffer and returns the buffer at once', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 60, bytes(1, 2, 3), 3)).to.equal(IPC_SOK);
      expect(a.bus.read16(MCU1_0_TX_VRING + USED_IDX)).to.equal(1);
      expect(a.bus.read32(MCU1_0_TX_VRING + USED_RING)).to.equal(0); // used.ring[0].id
      expect(a.bus.read32(MCU1_0_TX_VRING + USED_RING + 4)).to.equal(16 + 3); // used.ring[0].len
      expect(a.bus.read32(MCU1_0_TX_BUFS)).to.equal(60);
      expect(a.bus.read32(MCU1_0_TX_BUFS + 4)).to.equal(14);
      expect(a.bus.read32(MCU1_0_TX_BUFS + 8)).to.equal(IPC_MCU1_0);
      expect(a.bus.read16(MCU1_0_TX_BUFS + 12)).to.equal(3);
      expect(a.bus.read16(MCU1_0_TX_BUFS + 14)).to.equal(0);
      expect(Array.from(a.bus.readBytes(MCU1_0_TX_BUFS + 16, 3))).to.deep.equal([1, 2, 3]);
      const r = await b.pdk.RPMessage_recv(epB, rxBuf(), 5000);
      expect(r).to.include({ status: IPC_SOK, len: 3, rplyEndPt: 60, fromProcId: IPC_MCU1_0 });
      // The receiver copied the payload out and gave descriptor 0 back through avail.
      expect(a.bus.read16(MCU1_0_TX_VRING + AVAIL_IDX)).to.equal(257);
      expect(a.bus.read16(MCU1_0_TX_VRING + 0x1004)).to.equal(0);
    });

    it('carries a reply back on the other core\'s TX ring to the rplyEndPt and fromProcId it was given', async () => {
      const epA = a.pdk.RPMessage_create(a.pdk.RPMessageParams_init())!;
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      expect(a.pdk.RPMessage_send(epA, IPC_MCU2_0, 14, 0, text('ping'), 4)).to.equal(IPC_SOK);
      const buf = rxBuf();
      const req = await b.pdk.RPMessage_recv(epB, buf, 5000);
      expect(req.status).to.equal(IPC_SOK);
      expect(b.pdk.RPMessage_send(epB, req.fromProcId, req.rplyEndPt, 0, text('pong'), 4)).to.equal(IPC_SOK);
      expect(b.bus.read16(MCU2_0_TX_VRING + USED_IDX)).to.equal(1);
      const rep = await a.pdk.RPMessage_recv(epA, buf, 5000);
      expect(rep).to.deep.equal({ status: IPC_SOK, len: 4, rplyEndPt: 14, fromProcId: IPC_MCU2_0 });
      expect(new TextDecoder().decode(buf.subarray(0, 4))).to.equal('pong');
    });

    it('keeps the order of messages to one endpoint', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 16 })!;
      for (let i = 0; i < 10; i++) expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(i), 1)).to.equal(IPC_SOK);
      const buf = rxBuf();
      for (let i = 0; i < 10; i++) {
        const r = await b.pdk.RPMessage_recv(epB, buf, 5000);
        expect(r.status).to.equal(IPC_SOK);
        expect(buf[0], `message ${i}`).to.equal(i);
      }
    });

    it('RPMessage_recv with a short timeout on an empty endpoint returns IPC_ETIMEOUT', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      const r = await b.pdk.RPMessage_recv(epB, rxBuf(), 20);
      expect(r.status).to.equal(IPC_ETIMEOUT);
    });

    it('RPMessage_recvNb is IPC_ETIMEOUT on an empty endpoint and IPC_SOK once a message has arrived', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      const buf = rxBuf();
      expect(b.pdk.RPMessage_recvNb(epB, buf).status).to.equal(IPC_ETIMEOUT);
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 61, bytes(9, 8), 2)).to.equal(IPC_SOK);
      const r = await pollRecvNb(b, epB, buf);
      expect(r).to.deep.equal({ status: IPC_SOK, len: 2, rplyEndPt: 61, fromProcId: IPC_MCU1_0 });
      expect(Array.from(buf.subarray(0, 2))).to.deep.equal([9, 8]);
      expect(b.pdk.RPMessage_recvNb(epB, buf).status).to.equal(IPC_ETIMEOUT);
    });

    it('RPMessage_unblock makes a pending RPMessage_recv return IPC_E_UNBLOCKED', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      const pending = b.pdk.RPMessage_recv(epB, rxBuf(), IPC_RPMESSAGE_TIMEOUT_FOREVER);
      b.pdk.RPMessage_unblock(epB);
      const r = await within(pending, 5000, 'the unblocked RPMessage_recv');
      expect(r.status).to.equal(IPC_E_UNBLOCKED);
    });

    it('RPMessage_unblock before RPMessage_recv makes that recv return IPC_E_UNBLOCKED at once', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      b.pdk.RPMessage_unblock(epB);
      const r = await within(b.pdk.RPMessage_recv(epB, rxBuf(), IPC_RPMESSAGE_TIMEOUT_FOREVER), 5000, 'RPMessage_recv');
      expect(r.status).to.equal(IPC_E_UNBLOCKED);
    });

    it('RPMessage_recvNb on a deleted endpoint is IPC_EBADARGS', () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      expect(b.pdk.RPMessage_delete(epB)).to.equal(IPC_SOK);
      expect(b.pdk.RPMessage_recvNb(epB, rxBuf()).status).to.equal(IPC_EBADARGS);
    });

    it('drops messages for an endpoint that does not exist (deleted) and delivers the next ones', async () => {
      const gone = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      const live = b.pdk.RPMessage_create({ requestedEndpt: 15, numBufs: 4 })!;
      expect(b.pdk.RPMessage_delete(gone)).to.equal(IPC_SOK);
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(1), 1)).to.equal(IPC_SOK);
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 15, 50, bytes(2), 1)).to.equal(IPC_SOK);
      const buf = rxBuf();
      const r = await b.pdk.RPMessage_recv(live, buf, 5000);
      expect(r.status).to.equal(IPC_SOK);
      expect(buf[0]).to.equal(2);
      expect(b.pdk.stats.droppedNoEndpoint).to.equal(1);
      // Both buffers went back to mcu1_0.
      expect(a.bus.read16(MCU1_0_TX_VRING + AVAIL_IDX)).to.equal(258);
    });

    it('holds numBufs messages in an endpoint queue that is not read and drops the rest', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 2 })!;
      for (let i = 0; i < 5; i++) expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(10 + i), 1)).to.equal(IPC_SOK);
      // Let all five reach the endpoint before anyone reads (a waiting recv would take one directly).
      await until(() => b.pdk.stats.droppedQueueFull === 3, 'the receiver to take all five messages');
      const buf = rxBuf();
      for (const want of [10, 11]) {
        const r = await b.pdk.RPMessage_recv(epB, buf, 5000);
        expect(r.status).to.equal(IPC_SOK);
        expect(buf[0]).to.equal(want);
      }
      expect(b.pdk.stats.droppedQueueFull).to.equal(3);
      expect(b.pdk.RPMessage_recvNb(epB, buf).status).to.equal(IPC_ETIMEOUT);
      // The dropped messages' buffers went back to the sender too.
      expect(a.bus.read16(MCU1_0_TX_VRING + AVAIL_IDX)).to.equal(256 + 5);
    });

    it('hands a message that arrives while RPMessage_recv waits straight to it, outside the numBufs queue (PDK recv_buffer)', async () => {
      // PDK RPMessage_enqueMsg: with a task blocked in RPMessage_recv (obj->recv_buffer set) the
      // payload is copied into the task's buffer without taking a heap element, so a burst of
      // numBufs + 1 messages is kept whole.
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 1 })!;
      const first = rxBuf();
      const pending = b.pdk.RPMessage_recv(epB, first, 5000);
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(1), 1)).to.equal(IPC_SOK);
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(2), 1)).to.equal(IPC_SOK);
      const r1 = await pending;
      expect(r1.status).to.equal(IPC_SOK);
      expect(first[0]).to.equal(1);
      const second = rxBuf();
      const r2 = b.pdk.RPMessage_recvNb(epB, second);
      expect(b.pdk.stats.droppedQueueFull).to.equal(0);
      expect(r2.status).to.equal(IPC_SOK);
      expect(second[0]).to.equal(2);
    });

    it('RPMessage_setCallback delivers messages to the callback in ISR context instead of the queue', async () => {
      const epA = a.pdk.RPMessage_create(a.pdk.RPMessageParams_init())!;
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      const got: { handle: RPMessage_Handle; arg: unknown; data: number[]; len: number; src: number; proc: number; isrDepth: number }[] = [];
      let done!: () => void;
      const twoCalls = new Promise<void>((resolve) => { done = resolve; });
      const arg = { tag: 'cb-arg' };
      expect(b.pdk.RPMessage_setCallback(epB, (handle, cbArg, data, len, src, proc) => {
        got.push({ handle, arg: cbArg, data: Array.from(data.subarray(0, len)), len, src, proc, isrDepth: b.rt.isrDepth });
        if (got.length === 2) done();
      }, arg)).to.equal(IPC_SOK);
      expect(a.pdk.RPMessage_send(epA, IPC_MCU2_0, 14, 0, bytes(5, 6, 7), 3)).to.equal(IPC_SOK);
      expect(a.pdk.RPMessage_send(epA, IPC_MCU2_0, 14, 0, bytes(8), 1)).to.equal(IPC_SOK);
      await within(twoCalls, 5000, 'two callbacks on mcu2_0 endpoint 14');
      expect(got).to.deep.equal([
        { handle: epB, arg, data: [5, 6, 7], len: 3, src: 101, proc: IPC_MCU1_0, isrDepth: 1 },
        { handle: epB, arg, data: [8], len: 1, src: 101, proc: IPC_MCU1_0, isrDepth: 1 },
      ]);
      expect(b.pdk.RPMessage_recvNb(epB, rxBuf()).status).to.equal(IPC_ETIMEOUT);
    });

    it('calls Ipc_InitPrms.newMsgFxn with the source endpoint and proc for each queued message', async () => {
      soc.stop();
      soc = buildSoc(['mcu1_0', 'mcu2_0']);
      soc.start();
      a = soc.core('mcu1_0');
      b = soc.core('mcu2_0');
      bringUp(a, [IPC_MCU2_0]);
      const calls: [number, number][] = [];
      expect(b.pdk.Ipc_mpSetConfig(IPC_MCU2_0, 1, [IPC_MCU1_0])).to.equal(IPC_SOK);
      expect(b.pdk.Ipc_init({ instId: 0, newMsgFxn: (src, proc) => calls.push([src, proc]) })).to.equal(IPC_SOK);
      expect(b.pdk.Ipc_initVirtIO(VIRTIO_PARAMS)).to.equal(IPC_SOK);
      expect(b.pdk.RPMessage_init(b.pdk.RPMessageParams_init())).to.equal(IPC_SOK);
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 66, bytes(1), 1)).to.equal(IPC_SOK);
      expect((await b.pdk.RPMessage_recv(epB, rxBuf(), 5000)).status).to.equal(IPC_SOK);
      expect(calls).to.deep.equal([[66, IPC_MCU1_0]]);
    });
  });

  describe('TX buffer exhaustion and the mailbox software queue', () => {
    let a: SimCore;
    let b: SimCore;
    beforeEach(() => {
      soc = buildSoc(['mcu1_0', 'mcu2_0']);
      soc.start();
      a = soc.core('mcu1_0');
      b = soc.core('mcu2_0');
      bringUp(a, [IPC_MCU2_0]);
      // mcu2_0 sets up its vrings but never calls RPMessage_init: its mailbox interrupt for mcu1_0
      // is not installed, so nothing on it ever takes mcu1_0's messages or kicks.
      bringUp(b, [IPC_MCU1_0], { rpmessage: false });
    });

    it('send succeeds 256 times, then is IPC_EFAIL with every TX buffer in flight; no kick is lost', () => {
      const data = bytes(0xAB);
      for (let i = 0; i < 256; i++) {
        const st = a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, data, 1);
        if (st !== IPC_SOK) expect.fail(`send ${i} returned ${st}`);
      }
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, data, 1)).to.equal(IPC_EFAIL);
      expect(a.pdk.stats).to.include({ sent: 256, sendNoBuffer: 1 });
      expect(a.bus.read16(MCU1_0_TX_VRING + USED_IDX)).to.equal(256);
      // mcu1_0 -> mcu2_0 kicks go to cluster 5, FIFO 2 (4 deep); the rest wait in the driver's queue.
      expect(a.mailbox.stats.sent).to.equal(4);
      expect(a.mailbox.stats.queued).to.be.greaterThan(0);
      expect(a.mailbox.stats.sent + a.mailbox.stats.queued).to.equal(256);
      expect(a.mailbox.backlog).to.equal(252);
      expect(a.bank.count(5, 2)).to.equal(4);
      expect(a.bank.drops(5, 2)).to.equal(0);
    });

    it('a receiver that attaches late drains what waited (dropped: no endpoint yet), frees the buffers and gets every kick', async () => {
      for (let i = 0; i < 256; i++) a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(i & 0xFF), 1);
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(0), 1)).to.equal(IPC_EFAIL);
      // PDK RPMessage_init drains pending messages at once; endpoints do not exist yet, so they are dropped.
      expect(b.pdk.RPMessage_init(b.pdk.RPMessageParams_init())).to.equal(IPC_SOK);
      expect(b.pdk.stats.droppedNoEndpoint).to.equal(256);
      expect(a.bus.read16(MCU1_0_TX_VRING + AVAIL_IDX)).to.equal(512);
      // The 256 kicks reach mcu2_0 through the FIFO as it drains (NotFull via the doorbell on mcu1_0).
      await until(() => a.mailbox.backlog === 0 && b.mailbox.stats.received === 256, 'the 256 kicks to reach mcu2_0');
      expect(a.mailbox.stats.sent).to.equal(256);
      expect(a.bank.drops(5, 2)).to.equal(0);
      // The sender has buffers again.
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(42), 1)).to.equal(IPC_SOK);
      const buf = rxBuf();
      const r = await b.pdk.RPMessage_recv(epB, buf, 5000);
      expect(r.status).to.equal(IPC_SOK);
      expect(buf[0]).to.equal(42);
    });
  });

  describe('three cores', () => {
    let a: SimCore;
    let b: SimCore;
    let c: SimCore;
    beforeEach(() => {
      soc = buildSoc(['mcu1_0', 'mcu2_0', 'mcu2_1']);
      soc.start();
      a = soc.core('mcu1_0');
      b = soc.core('mcu2_0');
      c = soc.core('mcu2_1');
      bringUpAll(soc);
    });

    it('tells two senders apart by fromProcId', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 70, bytes(1), 1)).to.equal(IPC_SOK);
      const buf = rxBuf();
      const r1 = await b.pdk.RPMessage_recv(epB, buf, 5000);
      expect(r1).to.include({ status: IPC_SOK, fromProcId: IPC_MCU1_0, rplyEndPt: 70 });
      expect(c.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 71, bytes(2), 1)).to.equal(IPC_SOK);
      const r2 = await b.pdk.RPMessage_recv(epB, buf, 5000);
      expect(r2).to.include({ status: IPC_SOK, fromProcId: IPC_MCU2_1, rplyEndPt: 71 });
    });

    it('a burst on a cluster where the sender owns a user drains through its NotFull interrupt', async () => {
      // mcu2_1 -> mcu2_0 goes to cluster 1 FIFO 4, where mcu2_1 owns user 2.
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 32 })!;
      for (let i = 0; i < 20; i++) expect(c.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 72, bytes(i), 1)).to.equal(IPC_SOK);
      expect(c.mailbox.stats.queued).to.equal(16);
      const buf = rxBuf();
      for (let i = 0; i < 20; i++) {
        const r = await b.pdk.RPMessage_recv(epB, buf, 5000);
        expect(r.status).to.equal(IPC_SOK);
        expect(buf[0]).to.equal(i);
      }
      await until(() => c.mailbox.backlog === 0 && c.mailbox.stats.sent === 20, 'mcu2_1 to drain its mailbox queue');
      expect(c.bank.drops(1, 4)).to.equal(0);
    });

    it('RPMessage_announce to RPMESSAGE_ALL reaches every attached core', async () => {
      expect(a.pdk.RPMessage_announce(RPMESSAGE_ALL, 101, 'svc-all')).to.equal(IPC_SOK);
      const [rb, rc] = await Promise.all([
        b.pdk.RPMessage_getRemoteEndPt(RPMESSAGE_ANY, 'svc-all', 5000),
        c.pdk.RPMessage_getRemoteEndPt(IPC_MCU1_0, 'svc-all', 5000),
      ]);
      expect(rb).to.deep.equal({ status: IPC_SOK, remoteProcId: IPC_MCU1_0, remoteEndPt: 101 });
      expect(rc).to.deep.equal({ status: IPC_SOK, remoteProcId: IPC_MCU1_0, remoteEndPt: 101 });
    });
  });

  describe('name service', () => {
    let a: SimCore;
    let b: SimCore;
    beforeEach(() => {
      soc = buildSoc(['mcu1_0', 'mcu2_0']);
      soc.start();
      a = soc.core('mcu1_0');
      b = soc.core('mcu2_0');
      bringUp(a, [IPC_MCU2_0]);
      bringUp(b, [IPC_MCU1_0]);
    });

    it('RPMessage_announce refuses an empty name and a 32-character name with IPC_EFAIL', () => {
      expect(a.pdk.RPMessage_announce(IPC_MCU2_0, 101, '')).to.equal(IPC_EFAIL);
      expect(a.pdk.RPMessage_announce(IPC_MCU2_0, 101, 'x'.repeat(32))).to.equal(IPC_EFAIL);
      expect(a.pdk.stats.sent).to.equal(0);
      expect(a.pdk.RPMessage_announce(IPC_MCU2_0, 101, 'x'.repeat(31))).to.equal(IPC_SOK);
    });

    it('an announcement resolves RPMessage_getRemoteEndPt on the other core with the announcer\'s proc and endpoint', async () => {
      const ep = a.pdk.RPMessage_create(a.pdk.RPMessageParams_init())!;
      expect(a.pdk.RPMessage_announce(IPC_MCU2_0, ep.endPt, 'rpmsg_chrdev')).to.equal(IPC_SOK);
      const r = await b.pdk.RPMessage_getRemoteEndPt(IPC_MCU1_0, 'rpmsg_chrdev', 5000);
      expect(r).to.deep.equal({ status: IPC_SOK, remoteProcId: IPC_MCU1_0, remoteEndPt: 101 });
      // Once received, the lookup is answered from the table.
      expect(await b.pdk.RPMessage_getRemoteEndPt(RPMESSAGE_ANY, 'rpmsg_chrdev', 0)).to.deep.equal(r);
    });

    it('a task already waiting in RPMessage_getRemoteEndPt is woken by the announcement', async () => {
      const waiting = b.pdk.RPMessage_getRemoteEndPt(IPC_MCU1_0, 'late-svc', 5000);
      expect(a.pdk.RPMessage_announce(IPC_MCU2_0, 33, 'late-svc')).to.equal(IPC_SOK);
      expect(await waiting).to.deep.equal({ status: IPC_SOK, remoteProcId: IPC_MCU1_0, remoteEndPt: 33 });
    });

    it('RPMessage_getRemoteEndPt for a name never announced times out with IPC_ETIMEOUT', async () => {
      const r = await b.pdk.RPMessage_getRemoteEndPt(IPC_MCU1_0, 'nobody', 20);
      expect(r.status).to.equal(IPC_ETIMEOUT);
    });

    it('RPMessage_getRemoteEndPt for a name announced by another proc than the one asked for times out', async () => {
      expect(a.pdk.RPMessage_announce(IPC_MCU2_0, 101, 'svc')).to.equal(IPC_SOK);
      // Wait for the announcement to land (ANY matches it), then ask for it from mcu2_1.
      expect((await b.pdk.RPMessage_getRemoteEndPt(RPMESSAGE_ANY, 'svc', 5000)).status).to.equal(IPC_SOK);
      expect((await b.pdk.RPMessage_getRemoteEndPt(IPC_MCU2_1, 'svc', 20)).status).to.equal(IPC_ETIMEOUT);
    });
  });
});
