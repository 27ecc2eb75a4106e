import { expect } from 'chai';
import { EAGAIN, EINVAL, EMSGSIZE, ENOENT, EPIPE, ERESTARTSYS, errnoName } from '../../cores/linux/errno.js';
import { O_NONBLOCK, createTiRpmsgChar, type TiRpmsgChar } from '../../cores/linux/rpmsg-char.js';
import {
  LINUX_BUFS_OFFSET, LINUX_VRING1_OFFSET, LinuxRpmsgHost, type LinuxLog,
} from '../../cores/linux/virtio-rpmsg.js';
import { CoreRuntime } from '../../cores/runtime.js';
import { Bus } from '../../shared/bus.js';
import {
  IPC_MCU2_0, IPC_MPU1_0, J721E_DMA_REGION, J721E_DMA_REGION_SIZE,
  J721E_RSC_TABLE_OFFSET, J721E_RSC_TABLE_REGION_SIZE, J721E_RX_QUEUE,
} from '../../shared/j721e.js';
import { MailboxBank } from '../../shared/mailbox.js';
import { ramRegion } from '../../shared/memory-map.js';
import {
  RPMSG_ADDR_ANY, RPMSG_NS_ADDR, RPMSG_NS_CREATE, RPMSG_NS_DESTROY, writeHeader, writeNsMsg,
} from '../../shared/rpmsg.js';
import { ResourceTableView, writeTiResourceTable } from '../../shared/rsc-table.js';
import {
  VRING_AVAIL_F_NO_INTERRUPT, VRING_DESC_F_WRITE, Vring, VringDevice,
} from '../../shared/vring.js';
import { linuxMailboxRig } from '../support/linux-mailbox.js';

const DMA = J721E_DMA_REGION.mcu2_0!;
const RSC = DMA + J721E_RSC_TABLE_OFFSET;
const BUFS = DMA + LINUX_BUFS_OFFSET;
/** Where Linux reads messages from mcu2_0, and where mcu2_0 reads Linux's kicks. */
const TO_LINUX = J721E_RX_QUEUE[IPC_MPU1_0]![IPC_MCU2_0]!;
const TO_REMOTE = J721E_RX_QUEUE[IPC_MCU2_0]![IPC_MPU1_0]!;

interface Logged { level: string; msg: string }

interface Rig {
  rt: CoreRuntime;
  bank: MailboxBank;
  host: LinuxRpmsgHost;
  rc: TiRpmsgChar;
  logs: Logged[];
  /** The DMA region's bytes, byte 0 = DMA. */
  dma: Uint8Array;
  table: ResourceTableView;
  /** The remote's views of the two rings. */
  vring0: Vring;
  vring1: Vring;
  dev0: VringDevice;
  dev1: VringDevice;
}

/** Linux (core 0, proc 0) with a real mailbox bank, interrupt controller and runtime; mcu2_0 played by hand. */
function rig(opts: { table?: boolean } = {}): Rig {
  const { bank, rt, mailbox } = linuxMailboxRig();
  const dmaRegion = ramRegion('dma.mcu2_0', DMA, J721E_DMA_REGION_SIZE, 'mcu2_0');
  const rscRegion = ramRegion('rsc.mcu2_0', RSC, J721E_RSC_TABLE_REGION_SIZE, 'mcu2_0');
  const bus = new Bus([dmaRegion, rscRegion], {}, { name: 'mpu1_0', index: 0 });
  if (opts.table !== false) {
    writeTiResourceTable(new Uint8Array(rscRegion.sab), 0, { traceDa: 0xa2200000, traceName: 'trace:r5f0' });
  }
  const logs: Logged[] = [];
  const log: LinuxLog = {
    debug: (msg) => logs.push({ level: 'debug', msg }),
    info: (msg) => logs.push({ level: 'info', msg }),
    warn: (msg) => logs.push({ level: 'warn', msg }),
    error: (msg) => logs.push({ level: 'error', msg }),
  };
  const host = new LinuxRpmsgHost({
    rt, bus, mailbox, log, selfProcId: IPC_MPU1_0,
    remotes: [{ procId: IPC_MCU2_0, name: 'mcu2_0', rscTableAddr: RSC, dmaBase: DMA }],
  });
  const rc = createTiRpmsgChar(host, rt, log);
  rt.start();
  const vring0 = new Vring(dmaRegion.sab, 0, 256, 4096, 'remote.vring0');
  const vring1 = new Vring(dmaRegion.sab, LINUX_VRING1_OFFSET, 256, 4096, 'remote.vring1');
  return {
    rt, bank, host, rc, logs, dma: new Uint8Array(dmaRegion.sab), table: new ResourceTableView(rscRegion.sab, 0),
    vring0, vring1, dev0: new VringDevice(vring0), dev1: new VringDevice(vring1),
  };
}

/** Lets the event loop turn until `cond` holds (bounded by turns, not by time). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 20000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`condition never became true: ${what}`);
}

/** Values Linux has written into the remote's mailbox FIFO. */
function kicksToRemote(r: Rig): number[] {
  const out: number[] = [];
  while (r.bank.pop(TO_REMOTE.cluster, TO_REMOTE.fifo)) out.push(r.bank.lastValue);
  return out;
}

/** The remote sends one message to Linux through vring0, as PDK does, and kicks with 0. */
function remoteSend(r: Rig, src: number, dst: number, payload: Uint8Array,
  o: { usedLen?: number; hdrLen?: number; kick?: boolean } = {}): number {
  const id = r.dev0.getAvail();
  expect(id).to.be.at.least(0);
  const off = r.vring0.descAddr(id) - DMA;
  writeHeader(r.dma, off, src, dst, IPC_MCU2_0, o.hdrLen ?? payload.length, 0);
  r.dma.set(payload, off + 16);
  r.dev0.addUsed(id, o.usedLen ?? 16 + payload.length);
  if (o.kick !== false) r.bank.send(TO_LINUX.cluster, TO_LINUX.fifo, 0);
  return id;
}

function announce(r: Rig, name: string, addr: number, flags = RPMSG_NS_CREATE): void {
  const ns = new Uint8Array(40);
  writeNsMsg(ns, 0, name, addr, flags);
  remoteSend(r, RPMSG_NS_ADDR, RPMSG_NS_ADDR, ns);
}

async function received(r: Rig, before: number): Promise<void> {
  const s = r.host.stats;
  await until(() => s.received + s.droppedNoRecipient + s.droppedTooBig + s.badBuffers > before, 'Linux processed vring0');
}

const total = (r: Rig): number => {
  const s = r.host.stats;
  return s.received + s.droppedNoRecipient + s.droppedTooBig + s.badBuffers;
};

async function withChannel(r: Rig): Promise<void> {
  r.host.probe();
  kicksToRemote(r);
  const n = total(r);
  announce(r, 'rpmsg_chrdev', 14);
  await received(r, n);
}

const bytes = (...v: number[]): Uint8Array => Uint8Array.from(v);

describe('Linux virtio rpmsg host + rpmsg_char (unit)', () => {
  let r: Rig;
  afterEach(() => {
    r.rc.rpmsg_char_exit();
    r.rt.stop();
  });

  it('probe publishes the rings in the resource table, posts 256 rx buffers, then sets status 7', () => {
    r = rig();
    expect(r.table.vdevStatus()).to.equal(0);
    r.host.probe();
    expect(r.table.vdevStatus()).to.equal(7);
    expect(r.table.vringDa(0)).to.equal(DMA);
    expect(r.table.vringDa(1)).to.equal(DMA + 0x4000);
    expect(r.table.vringNotifyId(0)).to.equal(0);
    expect(r.table.vringNotifyId(1)).to.equal(1);
    expect(r.table.vdevGfeatures()).to.equal(1);
    expect(r.vring0.availIdx()).to.equal(256);
    for (const i of [0, 1, 255]) {
      expect(r.vring0.availRing(i)).to.equal(i);
      expect(r.vring0.descAddr(i)).to.equal(BUFS + i * 512);
      expect(r.vring0.descLen(i)).to.equal(512);
      expect(r.vring0.descFlags(i)).to.equal(VRING_DESC_F_WRITE);
    }
    expect(r.vring1.availIdx()).to.equal(0);
    expect(r.vring1.availFlags() & VRING_AVAIL_F_NO_INTERRUPT).to.equal(VRING_AVAIL_F_NO_INTERRUPT);
    expect(r.host.virtioIndexOf(IPC_MCU2_0)).to.equal(0);
    expect(kicksToRemote(r)).to.deep.equal([0]);
  });

  it('skips a remote without a valid resource table and logs the core and address', () => {
    r = rig({ table: false });
    r.host.probe();
    expect(r.host.virtioIndexOf(IPC_MCU2_0)).to.equal(-1);
    expect(r.table.vdevStatus()).to.equal(0);
    const err = r.logs.find((l) => l.level === 'error');
    expect(err?.msg).to.contain('mcu2_0').and.to.contain('0xa2100000');
    expect(r.rt.fault).to.equal(undefined);
  });

  it('creates the channel virtio0.rpmsg_chrdev.-1.14 from an NS announcement, re-posts the buffer and kicks', async () => {
    r = rig();
    await withChannel(r);
    expect(r.host.channels()).to.deep.equal([
      { device: 'virtio0.rpmsg_chrdev.-1.14', name: 'rpmsg_chrdev', src: RPMSG_ADDR_ANY, dst: 14, remote: IPC_MCU2_0 },
    ]);
    expect(r.vring0.availIdx()).to.equal(257);
    expect(kicksToRemote(r)).to.deep.equal([0]);
    // A duplicate is refused, a destroy removes it.
    let n = total(r);
    announce(r, 'rpmsg_chrdev', 14);
    await received(r, n);
    expect(r.host.channels()).to.have.length(1);
    expect(r.logs.some((l) => l.level === 'warn' && l.msg.includes('already exists'))).to.equal(true);
    n = total(r);
    announce(r, 'rpmsg_chrdev', 14, RPMSG_NS_DESTROY);
    await received(r, n);
    expect(r.host.channels()).to.deep.equal([]);
  });

  it('opens /dev/rpmsg0 on fd 3 with local address 1024 and writes the exact header into vring1', async () => {
    r = rig();
    await withChannel(r);
    kicksToRemote(r);
    expect(r.rc.rpmsg_char_init(null)).to.equal(0);
    expect(r.rc.rpmsg_char_init('j721e')).to.equal(1);
    const dev = r.rc.rpmsg_char_open(2, null, RPMSG_ADDR_ANY, 14, 'rpmsg-char-2-1', 0)!;
    expect(dev).to.not.equal(null);
    expect([dev.fd, dev.endpt, dev.devName]).to.deep.equal([3, 1024, '/dev/rpmsg0']);
    expect(await dev.write(bytes(0x68, 0x69, 0x21))).to.equal(3);
    expect(r.vring1.availIdx()).to.equal(1);
    const id = r.vring1.availRing(0);
    const sbuf = BUFS + 256 * 512;
    expect(r.vring1.descAddr(id)).to.equal(sbuf);
    expect(r.vring1.descLen(id)).to.equal(19);
    expect(r.vring1.descFlags(id)).to.equal(0);
    expect(Array.from(r.dma.subarray(sbuf - DMA, sbuf - DMA + 19))).to.deep.equal([
      0x00, 0x04, 0x00, 0x00, // src 1024
      0x0e, 0x00, 0x00, 0x00, // dst 14
      0x00, 0x00, 0x00, 0x00, // reserved
      0x03, 0x00, // len
      0x00, 0x00, // flags
      0x68, 0x69, 0x21,
    ]);
    expect(kicksToRemote(r)).to.deep.equal([1]);
    expect(await dev.write(new Uint8Array(497))).to.equal(-EMSGSIZE);
    expect(await dev.write(new Uint8Array(496))).to.equal(496);
    const second = r.rc.rpmsg_char_open(2, 'rpmsg_chrdev', 1030, 14, 'other', 0)!;
    expect([second.fd, second.endpt, second.devName]).to.deep.equal([4, 1030, '/dev/rpmsg1']);
  });

  it('refuses opens that ti-rpmsg-char refuses, quietly when the channel is not announced yet', async () => {
    r = rig();
    await withChannel(r);
    expect(r.rc.rpmsg_char_open(2, null, RPMSG_ADDR_ANY, 14, 'x', 0)).to.equal(null); // not initialised
    expect(r.rc.rpmsg_char_init('am64x')).to.equal(-ENOENT);
    expect(r.rc.rpmsg_char_init(null)).to.equal(0);
    const errors = (): number => r.logs.filter((l) => l.level === 'error').length;
    let e = errors();
    expect(r.rc.rpmsg_char_open(2, null, RPMSG_ADDR_ANY, 15, 'x', 0)).to.equal(null);
    expect(errors()).to.equal(e);
    expect(r.logs.at(-1)!.msg).to.contain('virtio0.rpmsg_chrdev.-1.15');
    expect(r.rc.rpmsg_char_open(99, null, RPMSG_ADDR_ANY, 14, 'x', 0)).to.equal(null);
    expect(r.logs.at(-1)!.msg).to.contain('99');
    expect(r.rc.rpmsg_char_open(2, null, 1023, 14, 'x', 0)).to.equal(null);
    expect(r.rc.rpmsg_char_open(3, null, RPMSG_ADDR_ANY, 14, 'x', 0)).to.equal(null); // mcu2_1: no virtio
    e = errors();
    const a = r.rc.rpmsg_char_open(2, null, RPMSG_ADDR_ANY, 14, 'x', 0);
    expect(a).to.not.equal(null);
    expect(r.rc.rpmsg_char_open(2, null, RPMSG_ADDR_ANY, 14, 'x', 0)).to.equal(null);
    expect(r.rc.rpmsg_char_open(2, null, 1024, 14, 'y', 0)).to.equal(null); // address taken
    expect(errors()).to.equal(e + 2);
    expect(r.rc.rpmsg_char_close(a)).to.equal(0);
    expect(r.rc.rpmsg_char_close(a)).to.equal(-EINVAL);
    expect(await a!.read(new Uint8Array(4))).to.equal(-EPIPE);
    expect(await a!.write(new Uint8Array(4))).to.equal(-EPIPE);
    const b = r.rc.rpmsg_char_open(2, null, 1024, 14, 'x', 0)!;
    expect([b.fd, b.endpt, b.devName]).to.deep.equal([3, 1024, '/dev/rpmsg0']);
  });

  it('reads one message per call, truncating silently, after select reports the device readable', async () => {
    r = rig();
    await withChannel(r);
    r.rc.rpmsg_char_init(null);
    const dev = r.rc.rpmsg_char_open(2, null, RPMSG_ADDR_ANY, 14, 'reader', 0)!;
    expect(await r.rc.select([dev], 0)).to.deep.equal([]);
    const sel = r.rc.select([dev], 60_000);
    const n = total(r);
    remoteSend(r, 14, dev.endpt, bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), { kick: false });
    remoteSend(r, 14, dev.endpt, bytes(11, 12, 13));
    expect(await sel).to.deep.equal([dev]);
    await received(r, n + 1);
    const buf = new Uint8Array(4);
    expect(await dev.read(buf)).to.equal(4);
    expect(Array.from(buf)).to.deep.equal([1, 2, 3, 4]);
    const big = new Uint8Array(64);
    expect(await dev.read(big)).to.equal(3);
    expect(Array.from(big.subarray(0, 3))).to.deep.equal([11, 12, 13]);
    expect(dev.readable()).to.equal(false);
    // A blocked read completes when the next message arrives.
    const pending = dev.read(big);
    remoteSend(r, 14, dev.endpt, bytes(42));
    expect(await pending).to.equal(1);
    expect(big[0]).to.equal(42);
    const nb = r.rc.rpmsg_char_open(2, null, RPMSG_ADDR_ANY, 14, 'nb', O_NONBLOCK)!;
    expect(await nb.read(big)).to.equal(-EAGAIN);
  });

  it('counts messages with no recipient, too big, or in a foreign buffer, and keeps running', async () => {
    r = rig();
    await withChannel(r);
    let n = total(r);
    remoteSend(r, 14, 999, bytes(1));
    await received(r, n);
    expect(r.host.stats.droppedNoRecipient).to.equal(1);
    n = total(r);
    remoteSend(r, 14, 1024, bytes(1, 2), { usedLen: 600 });
    await received(r, n);
    n = total(r);
    remoteSend(r, 14, 1024, bytes(1, 2), { hdrLen: 20 });
    await received(r, n);
    expect(r.host.stats.droppedTooBig).to.equal(2);
    // A used element pointing outside the rx buffers.
    const id = r.dev0.getAvail();
    r.vring0.setDesc(id, 0xdead0000, 512, VRING_DESC_F_WRITE, 0);
    r.dev0.addUsed(id, 20);
    n = total(r);
    r.bank.send(TO_LINUX.cluster, TO_LINUX.fifo, 0);
    await received(r, n);
    expect(r.host.stats.badBuffers).to.equal(1);
    expect(r.logs.some((l) => l.level === 'error' && l.msg.includes('0xdead0000') && l.msg.includes(`id ${id}`)))
      .to.equal(true);
    expect(r.rt.fault).to.equal(undefined);
  });

  it('gives -EAGAIN in O_NONBLOCK once the 256 tx buffers are out, and recycles returned ones', async () => {
    r = rig();
    await withChannel(r);
    r.rc.rpmsg_char_init(null);
    const dev = r.rc.rpmsg_char_open(2, null, RPMSG_ADDR_ANY, 14, 'nb', O_NONBLOCK)!;
    kicksToRemote(r);
    r.vring1.setUsedFlags(1); // remote: no kicks please
    for (let i = 0; i < 256; i++) expect(await dev.write(bytes(i & 0xff))).to.equal(1);
    expect(await dev.write(bytes(0))).to.equal(-EAGAIN);
    const id = r.dev1.getAvail();
    r.dev1.addUsed(id, 17);
    expect(await dev.write(bytes(7))).to.equal(1);
    expect(r.vring1.descAddr(id)).to.equal(BUFS + (256 + id) * 512);
    expect(kicksToRemote(r)).to.deep.equal([]);
  });

  it('blocks a writer until the remote returns a buffer and kicks tx-complete', async () => {
    r = rig();
    await withChannel(r);
    r.rc.rpmsg_char_init(null);
    const dev = r.rc.rpmsg_char_open(2, null, RPMSG_ADDR_ANY, 14, 'blk', 0)!;
    r.vring1.setUsedFlags(1);
    for (let i = 0; i < 256; i++) await dev.write(bytes(1));
    const w = dev.write(bytes(9, 9));
    await until(() => (r.vring1.availFlags() & VRING_AVAIL_F_NO_INTERRUPT) === 0, 'tx-complete interrupts enabled');
    const id = r.dev1.getAvail();
    r.dev1.addUsed(id, 17);
    r.bank.send(TO_LINUX.cluster, TO_LINUX.fifo, 1);
    expect(await w).to.equal(2);
    expect(r.vring1.availFlags() & VRING_AVAIL_F_NO_INTERRUPT).to.equal(VRING_AVAIL_F_NO_INTERRUPT);
    expect(r.host.stats.txWaits).to.be.at.least(1);
  });

  it('names errnos', () => {
    r = rig();
    expect(errnoName(-EMSGSIZE)).to.equal('EMSGSIZE');
    expect(errnoName(ERESTARTSYS)).to.equal('ERESTARTSYS');
    expect(errnoName(0)).to.equal('OK');
  });
});
