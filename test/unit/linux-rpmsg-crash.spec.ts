// Linux's side of a J7 remote crash, in one thread: RP_MBOX_CRASH in the remote's mailbox FIFO
// tears its virtio device down (rpmsg_char devices fail with -EPIPE, blocked callers wake), and
// once the firmware's resource table is back to its image state Linux creates the device again
// as rproc_boot does. The remote (mcu2_0) is played by hand.

import { expect } from 'chai';
import { EAGAIN, EPIPE } from '../../cores/linux/errno.js';
import { O_NONBLOCK, createTiRpmsgChar, type TiRpmsgChar } from '../../cores/linux/rpmsg-char.js';
import { LINUX_VRING1_OFFSET, LinuxRpmsgHost, RP_MBOX_CRASH, type LinuxLog } from '../../cores/linux/virtio-rpmsg.js';
import { CoreRuntime } from '../../cores/runtime.js';
import { Bus } from '../../shared/bus.js';
import {
  IPC_MCU2_0, IPC_MPU1_0, J721E_DMA_REGION, J721E_DMA_REGION_SIZE,
  J721E_RSC_TABLE_OFFSET, J721E_RSC_TABLE_REGION_SIZE, J721E_RX_QUEUE, TIRC_RPROC,
} from '../../shared/j721e.js';
import { MailboxBank } from '../../shared/mailbox.js';
import { ramRegion } from '../../shared/memory-map.js';
import { RPMSG_NS_ADDR, writeHeader, writeNsMsg } from '../../shared/rpmsg.js';
import { ResourceTableView, writeTiResourceTable } from '../../shared/rsc-table.js';
import { Vring, VringDevice } from '../../shared/vring.js';
import { linuxMailboxRig } from '../support/linux-mailbox.js';

const DMA = J721E_DMA_REGION.mcu2_0!;
const RSC = DMA + J721E_RSC_TABLE_OFFSET;
const TO_LINUX = J721E_RX_QUEUE[IPC_MPU1_0]![IPC_MCU2_0]!;
const TO_REMOTE = J721E_RX_QUEUE[IPC_MCU2_0]![IPC_MPU1_0]!;
const RPROC = TIRC_RPROC.find((r) => r.proc === 'mcu2_0')!.id;

interface Rig {
  rt: CoreRuntime;
  bank: MailboxBank;
  host: LinuxRpmsgHost;
  rc: TiRpmsgChar;
  logs: { level: string; msg: string }[];
  dma: Uint8Array;
  rscU8: Uint8Array;
  table: ResourceTableView;
  /** The remote's side of vring0 (its TX ring); made again by `remoteBoot`. */
  dev0: VringDevice;
  vring0: Vring;
}

function rig(): Rig {
  const { bank, rt, mailbox } = linuxMailboxRig();
  const dmaRegion = ramRegion('dma.mcu2_0', DMA, J721E_DMA_REGION_SIZE, 'mcu2_0');
  const rscRegion = ramRegion('rsc.mcu2_0', RSC, J721E_RSC_TABLE_REGION_SIZE, 'mcu2_0');
  const rscU8 = new Uint8Array(rscRegion.sab);
  writeTiResourceTable(rscU8, 0, { traceDa: 0xa2200000, traceName: 'trace:r5f0' });
  const logs: Rig['logs'] = [];
  const log: LinuxLog = {
    debug: (msg) => logs.push({ level: 'debug', msg }),
    info: (msg) => logs.push({ level: 'info', msg }),
    warn: (msg) => logs.push({ level: 'warn', msg }),
    error: (msg) => logs.push({ level: 'error', msg }),
  };
  const host = new LinuxRpmsgHost({
    rt, bus: new Bus([dmaRegion, rscRegion], {}, { name: 'mpu1_0', index: 0 }), mailbox, log, selfProcId: IPC_MPU1_0,
    remotes: [{ procId: IPC_MCU2_0, name: 'mcu2_0', rscTableAddr: RSC, dmaBase: DMA }],
  });
  const rc = createTiRpmsgChar(host, rt, log);
  rc.rpmsg_char_init(null);
  rt.start();
  const vring0 = new Vring(dmaRegion.sab, 0, 256, 4096, 'remote.vring0');
  return {
    rt, bank, host, rc, logs, dma: new Uint8Array(dmaRegion.sab), rscU8, table: new ResourceTableView(rscRegion.sab, 0),
    dev0: new VringDevice(vring0), vring0,
  };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 20000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`condition never became true: ${what}`);
}

/** The remote sends one message on vring0 and kicks 0 (as PDK does after Ipc_lateVirtioCreate). */
function remoteSend(r: Rig, src: number, dst: number, payload: Uint8Array): void {
  const id = r.dev0.getAvail();
  expect(id).to.be.at.least(0);
  const off = r.vring0.descAddr(id) - DMA;
  writeHeader(r.dma, off, src, dst, IPC_MCU2_0, payload.length, 0);
  r.dma.set(payload, off + 16);
  r.dev0.addUsed(id, 16 + payload.length);
  r.bank.send(TO_LINUX.cluster, TO_LINUX.fifo, 0);
}

/** The remote (re)boots: pairs with the vdev Linux set up and announces rpmsg_chrdev at 14. */
async function remoteBoot(r: Rig): Promise<void> {
  r.dev0 = new VringDevice(r.vring0);
  const ns = new Uint8Array(40);
  writeNsMsg(ns, 0, 'rpmsg_chrdev', 14, 0);
  remoteSend(r, RPMSG_NS_ADDR, RPMSG_NS_ADDR, ns);
  await until(() => r.host.findChannel(IPC_MCU2_0, 'rpmsg_chrdev', 14) !== undefined, 'channel announced');
}

const crash = (r: Rig): boolean => r.bank.send(TO_LINUX.cluster, TO_LINUX.fifo, RP_MBOX_CRASH);

/** The firmware is loaded again: its table as the image carries it. */
const reload = (r: Rig): void => writeTiResourceTable(r.rscU8, 0, { traceDa: 0xa2200000, traceName: 'trace:r5f0' });

describe('Linux remoteproc crash recovery of a J7 remote (unit)', () => {
  let r: Rig;
  afterEach(() => {
    r.rc.rpmsg_char_exit();
    r.rt.stop();
  });

  it('RP_MBOX_CRASH removes the device: a blocked read wakes with -EPIPE, queued messages are lost, writes fail with -EPIPE, select reports it', async () => {
    r = rig();
    r.host.probe();
    await remoteBoot(r);
    const dev = r.rc.rpmsg_char_open(RPROC, null, 1100, 14, 'crash-test', 0)!;
    const quiet = r.rc.rpmsg_char_open(RPROC, null, 1101, 14, 'crash-test-2', O_NONBLOCK)!;
    remoteSend(r, 14, 1101, Uint8Array.of(1, 2, 3));
    await until(() => quiet.queued === 1, 'message queued on the second device');
    const blocked = dev.read(new Uint8Array(512));
    const selected = r.rc.select([dev], 10_000);
    expect(crash(r)).to.equal(true);
    expect(await blocked).to.equal(-EPIPE);
    expect(await r.rc.select([dev], 10_000)).to.deep.equal([dev]);
    expect(dev.removed).to.equal(true);
    expect(dev.isOpen).to.equal(true);
    expect(await quiet.read(new Uint8Array(512))).to.equal(-EPIPE);
    expect(quiet.queued).to.equal(0);
    expect(await dev.write(Uint8Array.of(9))).to.equal(-EPIPE);
    expect(await selected).to.deep.equal([dev]);
    const warn = r.logs.find((l) => l.level === 'warn' && l.msg.includes('crashed'));
    expect(warn?.msg).to.contain('mcu2_0').and.contain('RP_MBOX_CRASH');
    expect(r.rt.fault).to.equal(undefined);
    expect(r.rc.rpmsg_char_close(dev)).to.equal(0);
  });

  it('re-creates the virtio device once the firmware is reloaded (fresh rings, status 7 last, kick); the re-announced channel opens again on the same address', async () => {
    r = rig();
    r.host.probe();
    await remoteBoot(r);
    const dev = r.rc.rpmsg_char_open(RPROC, null, 1100, 14, 'crash-test', O_NONBLOCK)!;
    remoteSend(r, 14, 1100, Uint8Array.of(7));
    await until(() => dev.queued === 1, 'message queued');
    while (r.bank.pop(TO_REMOTE.cluster, TO_REMOTE.fifo));

    expect(crash(r)).to.equal(true);
    await until(() => dev.removed, 'device removed');
    expect(r.host.isRecovering(IPC_MCU2_0)).to.equal(true);
    expect(r.host.channels()).to.deep.equal([]);
    // Down until the firmware is reloaded: opening finds no virtio device and says so only at debug level.
    expect(r.rc.rpmsg_char_open(RPROC, null, 1100, 14, 'crash-test', O_NONBLOCK)).to.equal(null);
    expect(r.logs.filter((l) => l.level === 'error')).to.deep.equal([]);
    for (let i = 0; i < 20; i++) await new Promise((res) => setImmediate(res));
    expect(r.host.virtioIndexOf(IPC_MCU2_0)).to.equal(-1);

    reload(r);
    await until(() => r.host.virtioIndexOf(IPC_MCU2_0) === 0, 'virtio0 created again');
    expect(r.table.vdevStatus()).to.equal(7);
    expect(r.table.vringDa(0)).to.equal(DMA);
    expect(r.table.vringDa(1)).to.equal(DMA + LINUX_VRING1_OFFSET);
    expect(r.vring0.availIdx()).to.equal(256);
    expect(r.vring0.usedIdx()).to.equal(0);
    const kicks: number[] = [];
    while (r.bank.pop(TO_REMOTE.cluster, TO_REMOTE.fifo)) kicks.push(r.bank.lastValue);
    expect(kicks).to.deep.equal([0]);

    await remoteBoot(r);
    expect(r.rc.rpmsg_char_close(dev)).to.equal(0);
    const again = r.rc.rpmsg_char_open(RPROC, null, 1100, 14, 'crash-test', O_NONBLOCK)!;
    expect(again.endpt).to.equal(1100);
    expect(await again.read(new Uint8Array(512))).to.equal(-EAGAIN);
    remoteSend(r, 14, 1100, Uint8Array.of(8));
    await until(() => again.queued === 1, 'message of the new incarnation queued');
    const buf = new Uint8Array(512);
    expect(await again.read(buf)).to.equal(1);
    expect(buf[0]).to.equal(8);
    expect(await again.write(Uint8Array.of(1, 2))).to.equal(2);

    const st = r.host.statistics();
    expect([st.crashes, st.recoveries]).to.deep.equal([1, 1]);
    expect(st.remotes.mcu2_0).to.include({ crashes: 1, recoveries: 1, virtio: 0 });
    expect(st.remotes.mcu2_0!.channels).to.deep.equal(['virtio0.rpmsg_chrdev.-1.14']);
    expect(r.logs.some((l) => l.level === 'info' && /mcu2_0.*recovered/.test(l.msg))).to.equal(true);
    expect(r.rt.fault).to.equal(undefined);
  });

  it('a writer blocked for a TX buffer is woken by the crash and fails with -EPIPE', async () => {
    r = rig();
    r.host.probe();
    await remoteBoot(r);
    const dev = r.rc.rpmsg_char_open(RPROC, null, 1100, 14, 'crash-test', 0)!;
    // The remote never consumes vring1: after its 256 TX buffers the next write blocks.
    for (let i = 0; i < 256; i++) expect(await dev.write(Uint8Array.of(i & 0xff))).to.equal(1);
    const blocked = dev.write(Uint8Array.of(0xee));
    await until(() => r.host.statistics().txWaits > 0, 'the writer sleeps');
    crash(r);
    expect(await blocked).to.equal(-EPIPE);
    expect(r.rt.fault).to.equal(undefined);
  });
});
