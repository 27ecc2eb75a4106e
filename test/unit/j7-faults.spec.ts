// Fault hooks and refusal of corrupt rings on the J721E paths, in one thread: PDK RPMessage between
// RTOS cores, PDK <-> the Linux virtio host, the mailbox driver's mailbox-drop fault and the
// mailbox's delayed interrupt. Perturbation is installed in the mocha thread, so every simulated core
// of a test shares it (faults name their peer to pick one direction).

import { expect } from 'chai';
import { wireJ721eCore } from '../../cores/j721e-core.js';
import { EPIPE } from '../../cores/linux/errno.js';
import { LinuxRpmsgHost, type LinuxRpmsgEndpoint } from '../../cores/linux/virtio-rpmsg.js';
import { IPC_EFAIL, IPC_MAX_DATA_PAYLOAD, IPC_SOK, type RPMessage_Handle } from '../../cores/rtos/pdk-types.js';
import { IPC_MCU1_0, IPC_MCU2_0, IPC_MCU2_1, IPC_MPU1_0 } from '../../shared/j721e.js';
import {
  PERTURB_POINTS, PT_ISR, PT_MBOX_IRQ, PT_PUBLISH, installPerturbation, perturbStats, type HookFault,
} from '../../shared/perturb.js';
import { RPMSG_ADDR_ANY } from '../../shared/rpmsg.js';
import { VERIFY_CORRUPT, VERIFY_OK, encodePayload, verifyPayload } from '../../shared/stress-payload.js';
import {
  TracedRuntime, VIRTIO_PARAMS, bringUp, bringUpAll, buildSoc, capturingLogger, until, type SimCore, type SimSoc,
} from '../support/two-cores.js';

// mcu1_0 (1) <-> mcu2_0 (3) pair at 0xAA580000: mcu1_0's TX vring first; used.idx at +0x2002.
const MCU1_0_TX_USED_IDX = 0xAA58_0000 + 0x2002;
// mcu2_0's TX vring (+0x40000); its avail ring (written by mcu1_0) idx at +0x1002.
const MCU2_0_TX_AVAIL_IDX = 0xAA58_0000 + 0x4_0000 + 0x1002;
/** mcu1_0 -> mcu2_0 kicks: cluster 5, FIFO 2 (pdk-ipc.spec.ts). */
const TO_MCU2_0 = { cluster: 5, fifo: 2 };

const rxBuf = () => new Uint8Array(IPC_MAX_DATA_PAYLOAD);
const bytes = (...v: number[]) => Uint8Array.from(v);

function hooks(faults: HookFault[], points: { p: number; maxUs: number }[] = []): void {
  installPerturbation({ seed: 1, core: 0, t0: performance.timeOrigin + performance.now(), points, faults });
}

async function recvOk(core: SimCore, ep: RPMessage_Handle, buf: Uint8Array): Promise<number> {
  const r = await core.pdk.RPMessage_recv(ep, buf, 5000);
  expect(r.status, `RPMessage_recv on ${core.info.name}`).to.equal(IPC_SOK);
  return r.len;
}

describe('J721E fault hooks and corrupt-ring refusal (single thread)', () => {
  let soc: SimSoc;
  afterEach(() => {
    installPerturbation(undefined);
    soc?.stop();
  });

  describe('PDK RPMessage between RTOS cores', () => {
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

    it('a receiver refuses a ring whose used.idx was corrupted: counted once, logged once with the ring and value, no fault, other links go on', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 16 })!;
      const epA = a.pdk.RPMessage_create({ requestedEndpt: 15, numBufs: 16 })!;
      const buf = rxBuf();
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(1), 1)).to.equal(IPC_SOK);
      expect(await recvOk(b, epB, buf)).to.equal(1);

      hooks([{ id: 9, kind: 'corrupt-index', atMs: 0, count: 1, peer: 'mcu2_0' }]);
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(2), 1)).to.equal(IPC_SOK);
      expect(perturbStats().fired).to.deep.equal({ 9: 1 });
      // used.idx was 2 after the publish; the fault moved it num + 7 further.
      expect(a.bus.read16(MCU1_0_TX_USED_IDX)).to.equal(2 + 256 + 7);
      await until(() => b.pdk.stats.refused === 1, 'mcu2_0 to refuse mcu1_0\'s ring');
      const errors = b.log.entries.filter((e) => e.level === 'error');
      expect(errors).to.have.length(1);
      expect(errors[0]!.msg).to.include('mcu1_0->mcu2_0 vring').and.include('265').and.include('refused');

      // More kicks on the refused ring: nothing read, nothing logged, nothing counted again.
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(3), 1)).to.equal(IPC_SOK);
      await until(() => b.mailbox.stats.received >= 3, 'the third kick to reach mcu2_0');
      expect(b.pdk.stats.refused).to.equal(1);
      expect(b.log.entries.filter((e) => e.level === 'error')).to.have.length(1);
      expect(b.pdk.RPMessage_recvNb(epB, buf).status).to.not.equal(IPC_SOK);
      expect(b.pdk.refusedRing(IPC_MCU1_0)).to.equal('rx');

      // No core faulted; mcu2_1 -> mcu2_0 and the reverse direction mcu2_0 -> mcu1_0 still work.
      for (const x of [a, b, c]) expect(x.rt.fault, x.info.name).to.equal(undefined);
      expect(c.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 51, bytes(7, 7), 2)).to.equal(IPC_SOK);
      expect(await recvOk(b, epB, buf)).to.equal(2);
      expect(b.pdk.RPMessage_send(null, IPC_MCU1_0, 15, 14, bytes(8), 1)).to.equal(IPC_SOK);
      expect(await recvOk(a, epA, buf)).to.equal(1);
      expect(buf[0]).to.equal(8);
      expect(a.pdk.stats.refused + c.pdk.stats.refused).to.equal(0);
    });

    it('a sender whose TX ring holds a corrupt avail.idx refuses it: sends to that peer return IPC_EFAIL, others go on', async () => {
      // mcu1_0 writes avail of mcu2_0's TX ring; a memory error pushes it far ahead.
      a.bus.write16(MCU2_0_TX_AVAIL_IDX, (a.bus.read16(MCU2_0_TX_AVAIL_IDX) + 300) & 0xffff);
      expect(b.pdk.RPMessage_send(null, IPC_MCU1_0, 14, 50, bytes(1), 1)).to.equal(IPC_EFAIL);
      expect(b.pdk.RPMessage_send(null, IPC_MCU1_0, 14, 50, bytes(1), 1)).to.equal(IPC_EFAIL);
      expect(b.pdk.stats.refused).to.equal(1);
      expect(b.pdk.refusedRing(IPC_MCU1_0)).to.equal('tx');
      expect(b.log.entries.filter((e) => e.level === 'error')).to.have.length(1);
      expect(b.log.entries[0]!.msg).to.include('mcu2_0->mcu1_0 tx vring').and.include('556');
      const epC = c.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 4 })!;
      expect(b.pdk.RPMessage_send(null, IPC_MCU2_1, 14, 50, bytes(5), 1)).to.equal(IPC_SOK);
      expect(await recvOk(c, epC, rxBuf())).to.equal(1);
      expect(b.rt.fault).to.equal(undefined);
    });

    it('a bit-flip fault corrupts one stress payload between fill and publish; the receiver\'s checksum catches it', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 16 })!;
      hooks([{ id: 4, kind: 'bit-flip', atMs: 0, count: 1, peer: 'mcu2_0' }]);
      const msg = new Uint8Array(100);
      const buf = rxBuf();
      // A non-stress message is never hit (and does not use the fault up).
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17), 17)).to.equal(IPC_SOK);
      expect(await recvOk(b, epB, buf)).to.equal(17);
      expect(Array.from(buf.subarray(0, 17))).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
      for (let seq = 0; seq < 3; seq++) {
        encodePayload(msg, 0, 2, 0x77, seq, 100);
        expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, msg, 100)).to.equal(IPC_SOK);
      }
      const verdicts: number[] = [];
      for (let seq = 0; seq < 3; seq++) {
        expect(await recvOk(b, epB, buf)).to.equal(100);
        verdicts.push(verifyPayload(buf, 0, 100, 2, 0x77, seq));
      }
      expect(verdicts).to.deep.equal([VERIFY_CORRUPT, VERIFY_OK, VERIFY_OK]);
      expect(perturbStats().fired).to.deep.equal({ 4: 1 });
    });

    it('counts the publish, mailbox-interrupt and ISR points of a send when perturbation is on', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 16 })!;
      hooks([], Array.from({ length: PERTURB_POINTS }, () => ({ p: 0, maxUs: 0 })));
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(1), 1)).to.equal(IPC_SOK);
      await recvOk(b, epB, rxBuf());
      const st = perturbStats();
      expect(st.seen[PT_PUBLISH]).to.equal(1);
      expect(st.seen[PT_MBOX_IRQ]).to.be.at.least(1);
      expect(st.seen[PT_ISR]).to.be.at.least(1);
    });

    it('a delayed-irq fault holds the receiver\'s interrupt back, and the message still arrives', async () => {
      const epB = b.pdk.RPMessage_create({ requestedEndpt: 14, numBufs: 16 })!;
      hooks([{ id: 5, kind: 'delayed-irq', atMs: 0, count: 1, peer: 'mcu2_0', delayMs: 20 }]);
      expect(soc.irq.pending(b.info.index)).to.equal(0);
      expect(a.pdk.RPMessage_send(null, IPC_MCU2_0, 14, 50, bytes(6), 1)).to.equal(IPC_SOK);
      expect(perturbStats().fired).to.deep.equal({ 5: 1 });
      // The message sits in the FIFO with no interrupt line raised on mcu2_0 (without the fault the
      // mailbox output raises it inside the send).
      expect(b.bank.count(TO_MCU2_0.cluster, TO_MCU2_0.fifo)).to.equal(1);
      expect(soc.irq.pending(b.info.index)).to.equal(0);
      const buf = rxBuf();
      expect(await recvOk(b, epB, buf)).to.equal(1);
      expect(buf[0]).to.equal(6);
    });
  });

  describe('mailbox-drop', () => {
    let a: SimCore;
    beforeEach(() => {
      soc = buildSoc(['mcu1_0', 'mcu2_0']);
      soc.start();
      a = soc.core('mcu1_0');
      bringUp(a, [IPC_MCU2_0]);
      // mcu2_0 never reads its mailbox: the FIFO from mcu1_0 fills up.
      bringUp(soc.core('mcu2_0'), [IPC_MCU1_0], { rpmessage: false });
    });

    it('writes without checking FIFOSTATUS: to a full FIFO the hardware drops the message, counted in the bank and the driver', () => {
      for (let i = 0; i < 4; i++) a.mailbox.send(IPC_MCU2_0, i);
      expect(a.bank.count(TO_MCU2_0.cluster, TO_MCU2_0.fifo)).to.equal(4);
      hooks([
        { id: 1, kind: 'mailbox-drop', atMs: 0, count: 2, peer: 'mcu2_0' },
        { id: 2, kind: 'mailbox-drop', atMs: 0, count: 5, peer: 'mcu2_1' },
      ]);
      a.mailbox.send(IPC_MCU2_0, 10);
      a.mailbox.send(IPC_MCU2_0, 11);
      expect(a.bank.drops(TO_MCU2_0.cluster, TO_MCU2_0.fifo)).to.equal(2);
      expect(a.mailbox.txDrops).to.equal(2);
      expect(a.mailbox.stats).to.include({ uncheckedWrites: 2, sent: 4, queued: 0 });
      expect(a.mailbox.backlog).to.equal(0);
      // The fault for mcu2_0 is used up (the one for mcu2_1 does not apply): back to the checked path.
      a.mailbox.send(IPC_MCU2_0, 12);
      expect(a.mailbox.backlog).to.equal(1);
      expect(a.mailbox.stats).to.include({ uncheckedWrites: 2, queued: 1 });
      expect(a.bank.drops(TO_MCU2_0.cluster, TO_MCU2_0.fifo)).to.equal(2);
      expect(perturbStats().fired).to.deep.equal({ 1: 2, 2: 0 });
    });

    it('an unchecked write to a FIFO with room lands', () => {
      hooks([{ id: 1, kind: 'mailbox-drop', atMs: 0, count: 1 }]);
      a.mailbox.send(IPC_MCU2_0, 10);
      expect(a.bank.count(TO_MCU2_0.cluster, TO_MCU2_0.fifo)).to.equal(1);
      expect(a.mailbox.stats).to.include({ uncheckedWrites: 1, sent: 1 });
      expect(a.mailbox.txDrops).to.equal(0);
    });
  });

  describe('PDK <-> Linux virtio host', () => {
    let m: SimCore;
    let linuxRt: TracedRuntime;
    let host: LinuxRpmsgHost;
    let linuxLog: ReturnType<typeof capturingLogger>;
    let got: number[][];
    let ept: LinuxRpmsgEndpoint;
    let epM: RPMessage_Handle;

    beforeEach(() => {
      soc = buildSoc(['mcu2_0']);
      const info = soc.image.cores.find((x) => x.name === 'mpu1_0')!;
      linuxRt = new TracedRuntime({ index: info.index, name: info.name, irq: soc.irq, control: soc.control });
      const { bus, mailbox } = wireJ721eCore(soc.image, info, linuxRt, soc.irq, soc.control);
      linuxLog = capturingLogger();
      const mcu = soc.image.cores.find((x) => x.name === 'mcu2_0')!;
      host = new LinuxRpmsgHost({
        rt: linuxRt, bus, mailbox, log: linuxLog, selfProcId: IPC_MPU1_0,
        remotes: [{ procId: mcu.procId, name: 'mcu2_0', rscTableAddr: soc.image.rscTables.mcu2_0!, dmaBase: soc.image.dmaRegions.mcu2_0! }],
      });
      host.probe();
      soc.start();
      linuxRt.start();
      m = soc.core('mcu2_0');
      const p = m.pdk;
      expect(p.Ipc_mpSetConfig(IPC_MCU2_0, 1, [IPC_MPU1_0])).to.equal(IPC_SOK);
      expect(p.Ipc_init(null)).to.equal(IPC_SOK);
      expect(p.Ipc_loadResourceTable()).to.equal(IPC_SOK);
      expect(p.Ipc_initVirtIO(VIRTIO_PARAMS)).to.equal(IPC_SOK);
      expect(p.Ipc_isRemoteVirtioCreated(IPC_MPU1_0)).to.equal(true);
      expect(p.RPMessage_init(p.RPMessageParams_init())).to.equal(IPC_SOK);
      got = [];
      ept = host.createEndpoint(IPC_MCU2_0, RPMSG_ADDR_ANY, RPMSG_ADDR_ANY, (data, off, len) => {
        got.push(Array.from(data.subarray(off, off + len)));
      }) as LinuxRpmsgEndpoint;
      epM = p.RPMessage_create({ requestedEndpt: 14, numBufs: 16 })!;
    });
    afterEach(() => linuxRt.stop());

    it('Linux refuses vring0 when the remote corrupts its used.idx, and still sends on vring1', async () => {
      expect(m.pdk.RPMessage_send(epM, IPC_MPU1_0, ept.addr, 0, bytes(1), 1)).to.equal(IPC_SOK);
      await until(() => got.length === 1, 'the first message to reach Linux');
      hooks([{ id: 2, kind: 'corrupt-index', atMs: 0, count: 1, peer: 'mpu1_0' }]);
      expect(m.pdk.RPMessage_send(epM, IPC_MPU1_0, ept.addr, 0, bytes(2), 1)).to.equal(IPC_SOK);
      await until(() => host.stats.refused === 1, 'Linux to refuse vring0');
      const st = host.statistics();
      expect(st.refused).to.equal(1);
      expect(st.remotes.mcu2_0!.refused).to.equal(1);
      const errors = linuxLog.entries.filter((e) => e.level === 'error');
      expect(errors).to.have.length(1);
      expect(errors[0]!.msg).to.include('vring0').and.include('mcu2_0').and.include(String(2 + 256 + 7));
      expect(got).to.deep.equal([[1]]);
      expect(linuxRt.fault).to.equal(undefined);
      // Linux -> mcu2_0 still works.
      expect(await host.send(IPC_MCU2_0, ept.addr, 14, bytes(9), true)).to.equal(0);
      const buf = rxBuf();
      expect(await recvOk(m, epM, buf)).to.equal(1);
      expect(buf[0]).to.equal(9);
    });

    it('the remote refuses vring1 when Linux corrupts its avail.idx; Linux\'s next send on it is -EPIPE; mcu2_0 -> Linux goes on', async () => {
      const buf = rxBuf();
      expect(await host.send(IPC_MCU2_0, ept.addr, 14, bytes(1), true)).to.equal(0);
      expect(await recvOk(m, epM, buf)).to.equal(1);
      hooks([{ id: 3, kind: 'corrupt-index', atMs: 0, count: 1, peer: 'mcu2_0' }]);
      expect(await host.send(IPC_MCU2_0, ept.addr, 14, bytes(2), true)).to.equal(0);
      await until(() => m.pdk.stats.refused === 1, 'mcu2_0 to refuse vring1');
      expect(m.pdk.refusedRing(IPC_MPU1_0)).to.equal('rx');
      const errors = m.log.entries.filter((e) => e.level === 'error');
      expect(errors).to.have.length(1);
      expect(errors[0]!.msg).to.include('vring1').and.include(String(2 + 256 + 7));
      // Linux itself finds vring1 inconsistent on its next offer (avail ring "full"), and stops.
      expect(await host.send(IPC_MCU2_0, ept.addr, 14, bytes(3), true)).to.equal(-EPIPE);
      expect(await host.send(IPC_MCU2_0, ept.addr, 14, bytes(4), false)).to.equal(-EPIPE);
      expect(host.stats.refused).to.equal(1);
      expect(m.rt.fault).to.equal(undefined);
      expect(linuxRt.fault).to.equal(undefined);
      expect(m.pdk.RPMessage_send(epM, IPC_MPU1_0, ept.addr, 0, bytes(5), 1)).to.equal(IPC_SOK);
      await until(() => got.length === 1, 'mcu2_0\'s message to reach Linux');
      expect(got).to.deep.equal([[5]]);
    });
  });
});
