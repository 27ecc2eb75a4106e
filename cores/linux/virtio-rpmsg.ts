// Linux remoteproc + virtio_rpmsg_bus (drivers/rpmsg/virtio_rpmsg_bus.c) as the virtio DRIVER
// (host) of the rpmsg device of each TI remote core, run on the A72's worker thread.
//
// Memory layout per remote, relative to its DMA region (k3-j721e *_dma_memory_region), as Linux
// allocates it on J721E and as the TI RTOS side expects it (reference/rpmsg-j7.md 2.4, 2.5, 4.3):
//   +0x00000  vring0 = Linux RX ("input", rvq) = remote TX, notify id 0
//   +0x04000  vring1 = Linux TX ("output", svq) = remote RX, notify id 1
//   +0x40000  512 buffers of 512 bytes: buffers 0..255 = rbufs (all posted on vring0 at probe),
//             256..511 = sbufs (handed out one by one, then recycled from vring1's used ring)
// Ownership: Linux writes desc and avail of both rings, the table's vring da/notifyid, gfeatures and
// (last) the vdev status byte 0x7; the remote writes used of both rings. Mailbox values: Linux kicks
// with the notify id of the ring it added buffers to (0 after re-posting rbufs, 1 after a send);
// the remote kicks 0 after filling rbufs and 1 after consuming sbufs (tx-complete).
//
// RX (rpmsg_recv_done) runs in ISR context; sends run in tasks and may block (15 s) for a TX buffer.
// The per-message paths allocate nothing and log nothing (anomalies are logged, rate-limited).
//
// Corrupt rings are refused, never followed (as Linux marks a virtqueue broken, BAD_RING): when
// vring0's used.idx or an id in it is corrupt (more than `num` ahead, id >= num), or vring1's state
// is (its used ring, or an avail ring that cannot take a buffer), that ring is refused for good: one
// error names the ring and the bad value, stats.refused counts it (per remote and in the totals),
// the core does not fault, and the ring is not read again. A refused vring0 stops that remote's
// messages to Linux; a refused vring1 makes sends to that remote fail with -EPIPE (blocked senders
// are woken to fail). The other ring of the remote and the other remotes go on.
//
// Crash recovery (rproc_report_crash -> rproc_trigger_recovery, as omap_remoteproc does on
// RP_MBOX_CRASH; see the README for how this differs from the K3 driver): when a remote's mailbox
// carries RP_MBOX_CRASH, its virtio device is torn down at once (ISR context): every channel and
// endpoint is removed, listeners (rpmsg_char) are told so their devices fail with -EPIPE, blocked
// senders wake and fail with -EPIPE, and nothing of its vrings is read or written again. A recovery
// task then waits for the firmware to be loaded again (the resource table back to its image state:
// status 0, vrings at FW_RSC_ADDR_ANY; at most RPROC_RECOVERY_TIMEOUT_MS) and creates the virtio
// device again as rproc_boot does: fresh vrings, buffers posted, DRIVER_OK last, kick. The remote
// pairs late and announces its services again, which creates the channels again. Counted in
// stats.crashes and stats.recoveries.
//
// Stress runs (shared/perturb.ts, shared/mutation.ts): a send is the PT_PUBLISH point between
// filling an sbuf and offering it on vring1, where a bit-flip fault flips one bit of a stress
// payload and a corrupt-index fault, right after the publish, overwrites vring1's avail.idx with a
// value far ahead. HETSOC_MUTATION=vring-publish-early offers the buffer before writing it.
//
// Tracing (cores/trace.ts, one constant-false branch when off): each send ("rpmsg_send": fill and
// publish on vring1) and each received message ("rpmsg_recv_single", in the mailbox ISR) is a
// slice; a message's flow is keyed by (vring address, running count of the device's sends /
// receives), both counted from the device's (re)creation; each send samples vring1's free buffers.

import type { Bus } from '../../shared/bus.js';
import {
  FW_RSC_ADDR_ANY, RSC_TABLE_SIZE, ResourceTableView, TI_VDEV_STATUS_READY, VIRTIO_RPMSG_F_NS,
} from '../../shared/rsc-table.js';
import {
  RPMSG_ADDR_ANY, RPMSG_BUF_SIZE, RPMSG_HDR_SIZE, RPMSG_MAX_PAYLOAD, RPMSG_NS_ADDR, RPMSG_NS_DESTROY,
  RPMSG_NS_MSG_SIZE, RPMSG_RESERVED_ADDRESSES, RpmsgBufView, readNsAddr, readNsFlags, readNsName,
} from '../../shared/rpmsg.js';
import { VRING_PUBLISH_EARLY } from '../../shared/mutation.js';
import { PERTURB, PT_PUBLISH, flipPayloadBit, perturbAt, takeFault } from '../../shared/perturb.js';
import {
  TN_RING_REFUSED, TN_RPMSG_RECV_SINGLE, TN_RPMSG_SEND, TN_RPROC_CRASH, TN_RPROC_RECOVERED, TN_VRING_FREE,
} from '../../shared/trace-ring.js';
import { VRING_DESC_F_WRITE, Vring, VringDriver, VringError, vringSize } from '../../shared/vring.js';
import type { MailboxDriver } from '../drivers/mailbox.js';
import { type CoreRuntime, Semaphore } from '../runtime.js';
import { TRACE, traceBegin, traceCounter, traceEnd, traceFlowIn, traceFlowOut, traceInstant, traceNow } from '../trace.js';
import { EAGAIN, EBUSY, EINVAL, EMSGSIZE, ENODEV, EPIPE, ERESTARTSYS } from './errno.js';

/** Offset of vring0 (Linux RX) from the remote's DMA region. */
export const LINUX_VRING0_OFFSET = 0x0;
/** Offset of vring1 (Linux TX) from the remote's DMA region. */
export const LINUX_VRING1_OFFSET = 0x4000;
/** Offset of the buffer block from vring0 (= from the DMA region). */
export const LINUX_BUFS_OFFSET = 0x4_0000;
/** Linux MAX_RPMSG_NUM_BUFS: buffers allocated when the ring has >= 256 entries. */
export const MAX_RPMSG_NUM_BUFS = 512;
/** Notify id Linux assigns to vring0 (rvq) and vring1 (svq): the values carried by the mailbox. */
export const RVQ_NOTIFY_ID = 0;
export const SVQ_NOTIFY_ID = 1;
/** Mailbox values at or above this are remoteproc control words (omap_remoteproc.h RP_MBOX_READY). */
export const RP_MBOX_READY = 0xffff_ff00;
/** Remoteproc control word: the remote crashed (omap_remoteproc.h RP_MBOX_CRASH). */
export const RP_MBOX_CRASH = 0xffff_ff02;
/** How long crash recovery waits for the firmware to be loaded again (the fresh resource table). */
export const RPROC_RECOVERY_TIMEOUT_MS = 10_000;
/** Poll period of that wait. */
const RPROC_RECOVERY_POLL_MS = 1;
/** How long a blocking send waits for a TX buffer before failing with -ERESTARTSYS. */
export const RPMSG_TX_TIMEOUT_MS = 15_000;
/** Anomaly messages (bad buffers, drops) logged per remote before the rest are only counted. */
export const RPMSG_WARN_LIMIT = 16;

/** Logger: four levels taking a message string (a pino logger fits). */
export interface LinuxLog {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** One remote core Linux manages. */
export interface LinuxRemoteConfig {
  /** PDK proc id (mailbox peer). */
  procId: number;
  /** Core name for messages, e.g. "mcu2_0". */
  name: string;
  /** Physical address of the core's resource table. */
  rscTableAddr: number;
  /** Physical base of the core's DMA region (vrings + buffers). */
  dmaBase: number;
}

export interface LinuxRpmsgHostOptions {
  rt: CoreRuntime;
  bus: Bus;
  mailbox: MailboxDriver;
  log: LinuxLog;
  /** Proc id of the Linux core (0, mpu1_0). */
  selfProcId: number;
  /** Remotes in order: the index is N of `virtio<N>`. */
  remotes: readonly LinuxRemoteConfig[];
  /** Kick vring0 after DRIVER_OK, as rpmsg_probe does (default true). */
  kickAfterProbe?: boolean;
}

/**
 * Receive callback of an endpoint. Runs in ISR context. The payload is `data[off .. off+len)`, a view
 * of the shared receive buffer, valid only during the call (copy what you keep).
 */
export type RpmsgRxCallback = (data: Uint8Array, off: number, len: number, src: number) => void;

/** A Linux rpmsg endpoint (struct rpmsg_endpoint) bound to a local address of one virtio device. */
export class LinuxRpmsgEndpoint {
  /** Set by destroyEndpoint; a destroyed endpoint receives nothing more. */
  destroyed = false;
  constructor(
    /** Proc id of the remote whose virtio device holds the address. */
    readonly remote: number,
    /** Local address. */
    readonly addr: number,
    /** Default destination (RPMSG_ADDR_ANY when none). */
    readonly dst: number,
    readonly onMessage: RpmsgRxCallback,
  ) {}
}

/** An rpmsg channel created by a name-service announcement (a device on the rpmsg bus). */
export interface RpmsgChannel {
  /** Device name, `virtio<N>.<name>.-1.<dst>`. */
  device: string;
  name: string;
  /** Always RPMSG_ADDR_ANY for announced channels. */
  src: number;
  /** The announced remote address. */
  dst: number;
  /** Proc id of the remote. */
  remote: number;
}

/** Counters (totals on the host, and per remote). */
export interface RpmsgStats {
  /** Messages delivered to an endpoint (name-service messages included). */
  received: number;
  /** Messages placed in vring1. */
  sent: number;
  /** Messages for an address with no endpoint ("msg received with no recipient"). */
  droppedNoRecipient: number;
  /** Messages with used len > 512, used len < 16 or hdr.len > used len - 16 ("inbound msg too big"). */
  droppedTooBig: number;
  /** Used elements whose descriptor does not point at one of the remote's rbufs (skipped, not re-posted). */
  badBuffers: number;
  /** Times a blocking sender went to sleep waiting for a TX buffer. */
  txWaits: number;
  /** Blocking sends that gave up after 15 s (-ERESTARTSYS). */
  txTimeouts: number;
  /** Rings refused for a corrupt index or id (each counted once). */
  refused: number;
  /** RP_MBOX_CRASH reports that tore a virtio device down. */
  crashes: number;
  /** Virtio devices created again after a crash (rproc recovery completed). */
  recoveries: number;
}

export type ChannelEvent = 'create' | 'destroy';
/** A remote's virtio device went away (crash) or was created again (recovery). */
export type VdevEvent = 'remove' | 'recover';

function newStats(): RpmsgStats {
  return {
    received: 0, sent: 0, droppedNoRecipient: 0, droppedTooBig: 0, badBuffers: 0, txWaits: 0, txTimeouts: 0, refused: 0,
    crashes: 0, recoveries: 0,
  };
}

const hex = (v: number): string => '0x' + (v >>> 0).toString(16);

const TWO_POW_32 = 0x1_0000_0000;

const P_OK: Promise<number> = Promise.resolve(0);
const P_EINVAL: Promise<number> = Promise.resolve(-EINVAL);
const P_EMSGSIZE: Promise<number> = Promise.resolve(-EMSGSIZE);
const P_EAGAIN: Promise<number> = Promise.resolve(-EAGAIN);
const P_ENODEV: Promise<number> = Promise.resolve(-ENODEV);
const P_EPIPE: Promise<number> = Promise.resolve(-EPIPE);

/** State of one probed virtio rpmsg device (struct virtproc_info). */
class VirtprocInfo {
  /** Physical address of buffer 0. */
  readonly bufBase: number;
  /** Number of rbufs (= number of sbufs) = num_bufs / 2. */
  readonly half: number;
  /** Next never-used sbuf (last_sbuf). */
  lastSbuf = 0;
  /** Senders waiting for a TX buffer (vrp->sleepers). */
  sleepers = 0;
  readonly endpoints = new Map<number, LinuxRpmsgEndpoint>();
  readonly channels: RpmsgChannel[] = [];
  warned = 0;
  /** Torn down after a crash: nothing of it is read, written or kicked again. */
  removed = false;
  /** vring0 was found corrupt: it is not read any more. */
  rxRefused = false;
  /** vring1 was found corrupt: sends to this remote fail. */
  txRefused = false;
  /** Tracing: messages published on vring1 / taken from vring0 since this device was created. */
  txCount = 0;
  rxCount = 0;
  /** Tracing: physical addresses of vring0 (receive) and vring1 (send), the flow channels. */
  readonly rxChannel: number;
  readonly txChannel: number;
  /** Header access to `bufs`. */
  readonly hdr: RpmsgBufView;
  /**
   * `bufBase | 0` when every buffer address is below 2^32 (addresses are then handled as int32 bit
   * patterns, which stay small integers in compiled code), else NaN (plain arithmetic).
   */
  readonly bufBase32: number;

  constructor(
    readonly cfg: LinuxRemoteConfig,
    readonly index: number,
    readonly table: ResourceTableView,
    readonly rvq: Vring,
    readonly svq: Vring,
    readonly rx: VringDriver,
    readonly tx: VringDriver,
    /** All num_bufs buffers (rbufs then sbufs). */
    readonly bufs: Uint8Array,
    numBufs: number,
    /** vrp->sendq: posted by tx-complete interrupts. */
    readonly sendq: Semaphore,
    readonly ns: boolean,
    /** Per-remote counters (they outlive a device torn down by a crash). */
    readonly stats: RpmsgStats,
  ) {
    this.bufBase = cfg.dmaBase + LINUX_VRING0_OFFSET + LINUX_BUFS_OFFSET;
    this.half = numBufs >>> 1;
    this.rxChannel = cfg.dmaBase + LINUX_VRING0_OFFSET;
    this.txChannel = cfg.dmaBase + LINUX_VRING1_OFFSET;
    this.hdr = new RpmsgBufView(bufs);
    this.bufBase32 = this.bufBase >= 0 && this.bufBase + numBufs * RPMSG_BUF_SIZE <= TWO_POW_32 ? this.bufBase | 0 : NaN;
  }
}

/**
 * Linux remoteproc + virtio_rpmsg_bus for every remote core: sets up the vrings at probe, receives
 * (ISR context), sends, handles name service, allocates endpoint addresses.
 */
export class LinuxRpmsgHost {
  /** Totals over all remotes. */
  readonly stats: RpmsgStats = newStats();

  private readonly rt: CoreRuntime;
  private readonly bus: Bus;
  private readonly mailbox: MailboxDriver;
  private readonly log: LinuxLog;
  private readonly remotes: readonly LinuxRemoteConfig[];
  private readonly kickAfterProbe: boolean;
  private readonly byProc = new Map<number, VirtprocInfo>();
  /** Per-remote counters by proc id, kept across crashes. */
  private readonly statsByProc = new Map<number, RpmsgStats>();
  private readonly channelListeners: ((ev: ChannelEvent, ch: RpmsgChannel) => void)[] = [];
  private readonly vdevListeners: ((ev: VdevEvent, remote: number) => void)[] = [];
  /** Remotes whose virtio device a crash tore down and recovery has not created again yet. */
  private readonly recovering = new Set<number>();
  private probed = false;
  readonly selfProcId: number;

  constructor(opts: LinuxRpmsgHostOptions) {
    this.rt = opts.rt;
    this.bus = opts.bus;
    this.mailbox = opts.mailbox;
    this.log = opts.log;
    this.selfProcId = opts.selfProcId;
    this.remotes = opts.remotes;
    this.kickAfterProbe = opts.kickAfterProbe ?? true;
  }

  // ---- probe -------------------------------------------------------------------------------

  /**
   * Brings up the virtio rpmsg device of every remote (call once, when Linux has booted). A remote
   * whose resource table is missing or invalid is logged and skipped.
   */
  probe(): void {
    if (this.probed) {
      this.log.warn('virtio_rpmsg: probe() called again; ignored');
      return;
    }
    this.probed = true;
    this.remotes.forEach((r, i) => {
      try {
        this.probeRemote(r, i);
      } catch (err) {
        this.log.error(`remoteproc ${r.name} (proc ${r.procId}): virtio rpmsg probe failed: ${
          err instanceof Error ? err.message : String(err)}`);
      }
    });
  }

  private probeRemote(r: LinuxRemoteConfig, index: number): void {
    const what = `remoteproc ${r.name} (proc ${r.procId})`;
    if (this.byProc.has(r.procId)) {
      this.log.error(`${what}: listed twice in the remotes; second entry (index ${index}) skipped`);
      return;
    }
    let table: ResourceTableView;
    let dfeatures: number;
    let num0: number, align0: number, num1: number, align1: number;
    try {
      const w = this.bus.window(r.rscTableAddr, RSC_TABLE_SIZE);
      table = new ResourceTableView(w.sab, w.byteOffset);
      const info = table.parse();
      dfeatures = info.vdev.dfeatures;
      ({ num: num0, align: align0 } = info.vdev.vrings[0]!);
      ({ num: num1, align: align1 } = info.vdev.vrings[1]!);
    } catch (err) {
      this.log.error(`${what}: no valid resource table at ${hex(r.rscTableAddr)}: ${
        err instanceof Error ? err.message : String(err)}; core skipped`);
      return;
    }
    const size0 = vringSize(num0, align0);
    const size1 = vringSize(num1, align1);
    if (size0 > LINUX_VRING1_OFFSET - LINUX_VRING0_OFFSET || size1 > LINUX_BUFS_OFFSET - LINUX_VRING1_OFFSET) {
      this.log.error(`${what}: vrings of ${num0}/${num1} entries (align ${align0}/${align1}) need ${size0}/${size1} bytes, ` +
        `more than the ${hex(LINUX_VRING1_OFFSET)} / ${hex(LINUX_BUFS_OFFSET - LINUX_VRING1_OFFSET)} bytes of the layout; core skipped`);
      return;
    }
    // virtio_rpmsg_bus: num_bufs = 2 * rvq size if below 256 entries, else MAX_RPMSG_NUM_BUFS.
    const numBufs = num0 < MAX_RPMSG_NUM_BUFS / 2 ? num0 * 2 : MAX_RPMSG_NUM_BUFS;
    if (num1 < numBufs / 2) {
      this.log.error(`${what}: vring1 has ${num1} entries, fewer than the ${numBufs / 2} TX buffers; core skipped`);
      return;
    }
    if (!this.mailbox.hasQueueTo(r.procId)) {
      this.log.error(`${what}: no mailbox queue from proc ${this.selfProcId} to it; core skipped`);
      return;
    }

    const da0 = r.dmaBase + LINUX_VRING0_OFFSET;
    const da1 = r.dmaBase + LINUX_VRING1_OFFSET;
    const bufBase = da0 + LINUX_BUFS_OFFSET;
    const w0 = this.bus.window(da0, size0);
    const w1 = this.bus.window(da1, size1);
    const wb = this.bus.window(bufBase, numBufs * RPMSG_BUF_SIZE);
    const rvq = new Vring(w0.sab, w0.byteOffset, num0, align0, `${r.name}.vring0`);
    const svq = new Vring(w1.sab, w1.byteOffset, num1, align1, `${r.name}.vring1`);
    const bufs = new Uint8Array(wb.sab, wb.byteOffset, numBufs * RPMSG_BUF_SIZE);

    // remoteproc: publish where the rings are and the ids it will kick with.
    table.setVringDa(0, da0);
    table.setVringNotifyId(0, RVQ_NOTIFY_ID);
    table.setVringDa(1, da1);
    table.setVringNotifyId(1, SVQ_NOTIFY_ID);
    const gfeatures = dfeatures & (1 << VIRTIO_RPMSG_F_NS);
    table.setVdevGfeatures(gfeatures);

    rvq.reset();
    svq.reset();
    const rx = new VringDriver(rvq);
    const tx = new VringDriver(svq);
    let stats = this.statsByProc.get(r.procId);
    if (!stats) this.statsByProc.set(r.procId, (stats = newStats()));
    const vrp = new VirtprocInfo(r, index, table, rvq, svq, rx, tx, bufs, numBufs,
      new Semaphore(this.rt, `virtio${index} (${r.name}) tx buffer`), gfeatures !== 0, stats);
    for (let i = 0; i < vrp.half; i++) {
      rvq.setDesc(i, bufBase + i * RPMSG_BUF_SIZE, RPMSG_BUF_SIZE, VRING_DESC_F_WRITE, 0);
      rx.addAvail(i);
    }
    // virtqueue_disable_cb(svq): no tx-complete interrupts until a sender sleeps.
    tx.setInterruptSuppressed(true);

    if (vrp.ns) {
      vrp.endpoints.set(RPMSG_NS_ADDR, new LinuxRpmsgEndpoint(r.procId, RPMSG_NS_ADDR, RPMSG_ADDR_ANY,
        (data, off, len, src) => this.nsRecv(vrp, data, off, len, src)));
    }
    this.byProc.set(r.procId, vrp);
    this.mailbox.onReceive(r.procId, (value) => this.onMailbox(vrp, value));

    // DRIVER_OK last: the remote polls for 0x7 and then touches the rings.
    table.setVdevStatus(TI_VDEV_STATUS_READY);
    this.log.info(`${what}: virtio${index} ready: vring0 @${hex(da0)}, vring1 @${hex(da1)}, ` +
      `${numBufs} buffers @${hex(bufBase)}, name service ${vrp.ns ? 'on' : 'off'}`);
    if (this.kickAfterProbe && rx.needsKick()) this.mailbox.send(r.procId, RVQ_NOTIFY_ID);
  }

  // ---- receive (ISR context) ---------------------------------------------------------------

  private onMailbox(vrp: VirtprocInfo, value: number): void {
    if (vrp.removed) {
      this.log.debug(`remoteproc ${vrp.cfg.name}: mailbox value ${hex(value)} while its virtio device is down (recovery); ignored`);
      return;
    }
    if (value === RVQ_NOTIFY_ID) this.recvDone(vrp);
    else if (value === SVQ_NOTIFY_ID) this.xmitDone(vrp);
    else if (value === RP_MBOX_CRASH) this.crash(vrp);
    else if (value >= RP_MBOX_READY) {
      this.log.debug(`remoteproc ${vrp.cfg.name}: mailbox control word ${hex(value)} ignored`);
    } else {
      this.log.debug(`remoteproc ${vrp.cfg.name}: mailbox value ${hex(value)} is no vring notify id; ignored`);
    }
  }

  private anomaly(vrp: VirtprocInfo, level: 'warn' | 'error', msg: string): void {
    if (vrp.warned >= RPMSG_WARN_LIMIT) return;
    vrp.warned++;
    const text = `virtio${vrp.index} (${vrp.cfg.name}): ${msg}` +
      (vrp.warned === RPMSG_WARN_LIMIT ? ' (further anomalies of this remote are only counted)' : '');
    if (level === 'warn') this.log.warn(text);
    else this.log.error(text);
  }

  // ---- crash and recovery ------------------------------------------------------------------

  /** rproc_report_crash: tear the virtio device down now (ISR context), recover in a task. */
  private crash(vrp: VirtprocInfo): void {
    const r = vrp.cfg;
    vrp.stats.crashes++;
    this.stats.crashes++;
    if (TRACE.on) traceInstant(TN_RPROC_CRASH, r.procId);
    this.log.warn(`remoteproc ${r.name} (proc ${r.procId}): crashed (RP_MBOX_CRASH from the remote); recovering: virtio${vrp.index}, ` +
      `its ${vrp.channels.length} channel(s) and their rpmsg devices are removed`);
    this.removeVdev(vrp);
    if (this.rt.isStopped) return;
    this.recovering.add(r.procId);
    void this.rt.spawn(`remoteproc ${r.name} recovery`, () => this.recover(vrp));
  }

  /** rproc_stop's part for rpmsg: unregister every channel and endpoint of the device; senders fail. */
  private removeVdev(vrp: VirtprocInfo): void {
    vrp.removed = true;
    if (this.byProc.get(vrp.cfg.procId) === vrp) this.byProc.delete(vrp.cfg.procId);
    for (const ch of vrp.channels.splice(0)) for (const l of this.channelListeners) l('destroy', ch);
    for (const ept of vrp.endpoints.values()) ept.destroyed = true;
    vrp.endpoints.clear();
    for (const l of this.vdevListeners) l('remove', vrp.cfg.procId);
    this.xmitDone(vrp);
  }

  /** Whether the table is what the firmware image carries (the firmware was just loaded). */
  private static freshTable(t: ResourceTableView): boolean {
    return t.vdevStatus() === 0 && t.vringDa(0) === FW_RSC_ADDR_ANY && t.vringDa(1) === FW_RSC_ADDR_ANY;
  }

  /** The rest of rproc recovery: wait for the reloaded firmware's table, then rproc_boot's vdev. */
  private async recover(old: VirtprocInfo): Promise<void> {
    try {
      await this.recoverVdev(old);
    } finally {
      this.recovering.delete(old.cfg.procId);
    }
  }

  private async recoverVdev(old: VirtprocInfo): Promise<void> {
    const r = old.cfg;
    const what = `remoteproc ${r.name} (proc ${r.procId})`;
    const deadline = this.rt.now() / 1000 + RPROC_RECOVERY_TIMEOUT_MS;
    // Recovery runs in a workqueue, after the ISR and what it woke.
    await this.rt.yield();
    while (!LinuxRpmsgHost.freshTable(old.table)) {
      if (this.rt.now() / 1000 > deadline) {
        this.log.error(`${what}: recovery failed: no firmware reload within ${RPROC_RECOVERY_TIMEOUT_MS} ms (resource table status ` +
          `${hex(old.table.vdevStatus())}, vring0 da ${hex(old.table.vringDa(0))}); virtio${old.index} stays down`);
        return;
      }
      await this.rt.sleep(RPROC_RECOVERY_POLL_MS);
    }
    try {
      this.probeRemote(r, old.index);
    } catch (err) {
      this.log.error(`${what}: recovery failed: virtio rpmsg probe: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    const vrp = this.byProc.get(r.procId);
    if (!vrp || vrp === old) return; // probeRemote logged why
    vrp.stats.recoveries++;
    this.stats.recoveries++;
    if (TRACE.on) traceInstant(TN_RPROC_RECOVERED, r.procId);
    this.log.info(`${what}: recovered: firmware reloaded, virtio${vrp.index} created again; waiting for the remote to announce its services`);
    for (const l of this.vdevListeners) l('recover', r.procId);
  }

  /** rpmsg_recv_done: drain vring0's used ring, dispatch, re-post, kick once. */
  private recvDone(vrp: VirtprocInfo): void {
    const rx = vrp.rx;
    const rvq = vrp.rvq;
    if (vrp.rxRefused || vrp.removed) return;
    let reposted = 0;
    for (;;) {
      let id: number;
      try {
        id = rx.getUsed();
      } catch (err) {
        if (!(err instanceof VringError)) throw err;
        this.refuse(vrp, err, true);
        break;
      }
      if (id < 0) break;
      const n = vrp.rxCount++;
      if (TRACE.on) traceFlowIn(vrp.rxChannel, n, traceBegin(TN_RPMSG_RECV_SINGLE));
      const usedLen = rx.lastLen;
      const addrHi = rvq.descAddrHi(id);
      // rel = addr - bufBase. With bufBase32 (all buffers below 2^32), in int32: exact for every
      // buffer; any other address comes out negative or >= half * 512.
      const base32 = vrp.bufBase32;
      const rel = base32 === base32 ? (rvq.descAddrLo32(id) - base32) | 0 : rvq.descAddrLo(id) - vrp.bufBase;
      if (addrHi !== 0 || rel < 0 || rel % RPMSG_BUF_SIZE !== 0 || rel >= vrp.half * RPMSG_BUF_SIZE) {
        const addr = rvq.descAddrLo(id);
        vrp.stats.badBuffers++;
        this.stats.badBuffers++;
        this.anomaly(vrp, 'error', `vring0 used id ${id} points at ${addrHi !== 0 ? hex(addrHi) + ':' : ''}${hex(addr)}, ` +
          `not one of the ${vrp.half} rx buffers at ${hex(vrp.bufBase)}; element skipped`);
        if (TRACE.on) traceEnd(TN_RPMSG_RECV_SINGLE);
        continue;
      }
      try {
        this.recvSingle(vrp, rel, usedLen);
      } catch (err) {
        this.anomaly(vrp, 'error', `endpoint callback failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (TRACE.on) traceEnd(TN_RPMSG_RECV_SINGLE);
      // Give the buffer back with its full size.
      if (base32 === base32) rvq.setDescLo32(id, (base32 + rel) | 0, RPMSG_BUF_SIZE, VRING_DESC_F_WRITE, 0);
      else rvq.setDesc(id, vrp.bufBase + rel, RPMSG_BUF_SIZE, VRING_DESC_F_WRITE, 0);
      try {
        rx.addAvail(id);
      } catch (err) {
        if (!(err instanceof VringError)) throw err;
        this.refuse(vrp, err, true);
        break;
      }
      reposted++;
    }
    if (reposted > 0 && rx.needsKick()) this.mailbox.send(vrp.cfg.procId, RVQ_NOTIFY_ID);
  }

  /** rpmsg_recv_single: check sizes, dispatch by dst. `off` = buffer offset in vrp.bufs. */
  private recvSingle(vrp: VirtprocInfo, off: number, usedLen: number): void {
    const u8 = vrp.bufs;
    const hdr = vrp.hdr;
    const msgLen = hdr.len(off);
    if (usedLen > RPMSG_BUF_SIZE || usedLen < RPMSG_HDR_SIZE || msgLen > usedLen - RPMSG_HDR_SIZE) {
      vrp.stats.droppedTooBig++;
      this.stats.droppedTooBig++;
      this.anomaly(vrp, 'warn', `inbound msg too big: (used len ${usedLen}, msg len ${msgLen}); dropped`);
      return;
    }
    const dst = hdr.dst(off);
    const ept = vrp.endpoints.get(dst);
    if (ept === undefined) {
      vrp.stats.droppedNoRecipient++;
      this.stats.droppedNoRecipient++;
      this.anomaly(vrp, 'warn', `msg received with no recipient (src ${hdr.src(off)}, dst ${dst}, len ${msgLen})`);
      return;
    }
    vrp.stats.received++;
    this.stats.received++;
    ept.onMessage(u8, off + RPMSG_HDR_SIZE, msgLen, hdr.src(off));
  }

  /** rpmsg_ns_cb: create or destroy a channel. */
  private nsRecv(vrp: VirtprocInfo, data: Uint8Array, off: number, len: number, src: number): void {
    const who = `virtio${vrp.index} (${vrp.cfg.name})`;
    if (len !== RPMSG_NS_MSG_SIZE) {
      this.log.error(`${who}: malformed ns msg (${len} bytes from ${src}, expected ${RPMSG_NS_MSG_SIZE})`);
      return;
    }
    const name = readNsName(data, off);
    const addr = readNsAddr(data, off);
    const flags = readNsFlags(data, off);
    const destroy = (flags & RPMSG_NS_DESTROY) !== 0;
    this.log.info(`${who}: ${destroy ? 'destroying' : 'creating'} channel ${name} addr ${hex(addr)}`);
    const at = vrp.channels.findIndex((c) => c.name === name && c.src === RPMSG_ADDR_ANY && c.dst === addr);
    if (destroy) {
      if (at < 0) {
        this.log.error(`${who}: rpmsg_destroy_channel failed: no channel ${name} addr ${hex(addr)}`);
        return;
      }
      const [ch] = vrp.channels.splice(at, 1);
      for (const l of this.channelListeners) l('destroy', ch!);
      return;
    }
    if (at >= 0) {
      this.log.warn(`${who}: channel ${vrp.channels[at]!.device} already exists; announcement refused`);
      return;
    }
    const ch: RpmsgChannel = {
      device: `virtio${vrp.index}.${name}.-1.${addr}`, name, src: RPMSG_ADDR_ANY, dst: addr, remote: vrp.cfg.procId,
    };
    vrp.channels.push(ch);
    for (const l of this.channelListeners) l('create', ch);
  }

  /** Refuses vring0 (rx) or vring1 of a remote for good (see the file header). */
  private refuse(vrp: VirtprocInfo, err: VringError, rx: boolean): void {
    if (rx ? vrp.rxRefused : vrp.txRefused) return;
    if (rx) vrp.rxRefused = true;
    else vrp.txRefused = true;
    vrp.stats.refused++;
    if (TRACE.on) traceInstant(TN_RING_REFUSED, rx ? vrp.rxChannel : vrp.txChannel, err.value);
    this.stats.refused++;
    this.log.error(`virtio${vrp.index} (${vrp.cfg.name}): ${rx ? 'vring0' : 'vring1'} (${err.ring}) refused: bad value ${err.value}: ` +
      `${err.message}; ${rx ? 'messages from the remote are no longer read' : 'sends to the remote now fail with -EPIPE'}`);
    if (!rx) this.xmitDone(vrp);
  }

  /** rpmsg_xmit_done: wake every sender waiting for a TX buffer. */
  private xmitDone(vrp: VirtprocInfo): void {
    const q = vrp.sendq;
    while (q.waiterCount > 0) q.post();
  }

  // ---- send (task context) -----------------------------------------------------------------

  /** get_a_tx_buf: a never-used sbuf, else one the remote returned on vring1; -1 when none. */
  private getTxBuf(vrp: VirtprocInfo): number {
    if (vrp.txRefused || vrp.removed) return -1;
    if (vrp.lastSbuf < vrp.half) return vrp.lastSbuf++;
    try {
      return vrp.tx.getUsed();
    } catch (err) {
      if (!(err instanceof VringError)) throw err;
      this.refuse(vrp, err, false);
      return -1;
    }
  }

  /** Fill sbuf `id`, offer it on vring1, kick. 0, or -EPIPE when vring1 turns out corrupt. */
  private fill(vrp: VirtprocInfo, id: number, src: number, dst: number, data: Uint8Array): number {
    if (!TRACE.on) return this.fillBuffer(vrp, id, src, dst, data);
    traceBegin(TN_RPMSG_SEND);
    const r = this.fillBuffer(vrp, id, src, dst, data);
    traceEnd(TN_RPMSG_SEND);
    return r;
  }

  private fillBuffer(vrp: VirtprocInfo, id: number, src: number, dst: number, data: Uint8Array): number {
    const off = (vrp.half + id) * RPMSG_BUF_SIZE;
    const len = data.length;
    const u8 = vrp.bufs;
    const at = off + RPMSG_HDR_SIZE;
    const ts = TRACE.on ? traceNow() : 0;
    try {
      if (VRING_PUBLISH_EARLY) {
        // Planted bug: the remote may read the buffer before it is written.
        this.setTxDesc(vrp, id, off, RPMSG_HDR_SIZE + len);
        vrp.tx.addAvail(id);
        if (PERTURB.on) perturbAt(PT_PUBLISH);
        vrp.hdr.writeHeader(off, src, dst, 0, len, 0);
        u8.set(data, at);
        if (PERTURB.on) flipPayloadBit(u8, at, len, vrp.cfg.name);
      } else {
        vrp.hdr.writeHeader(off, src, dst, 0, len, 0);
        u8.set(data, at);
        this.setTxDesc(vrp, id, off, RPMSG_HDR_SIZE + len);
        if (PERTURB.on) {
          flipPayloadBit(u8, at, len, vrp.cfg.name);
          perturbAt(PT_PUBLISH);
        }
        vrp.tx.addAvail(id);
      }
    } catch (err) {
      if (!(err instanceof VringError)) throw err;
      this.refuse(vrp, err, false);
      return -EPIPE;
    }
    const n = vrp.txCount++;
    if (TRACE.on) {
      traceFlowOut(vrp.txChannel, n, ts);
      traceCounter(TN_VRING_FREE, vrp.txChannel, vrp.half - vrp.lastSbuf + vrp.tx.pendingUsed(), vrp.cfg.procId, ts);
    }
    // Corrupt-index fault: a memory error hits the avail.idx just published.
    if (PERTURB.on && takeFault('corrupt-index', vrp.cfg.name)) vrp.svq.setAvailIdx(vrp.svq.availIdx() + vrp.svq.num + 7);
    vrp.stats.sent++;
    this.stats.sent++;
    if (vrp.tx.needsKick()) this.mailbox.send(vrp.cfg.procId, SVQ_NOTIFY_ID);
    return 0;
  }

  /** svq.setDesc(id, bufBase + off, len, 0, 0), the address kept in int32 when it can be. */
  private setTxDesc(vrp: VirtprocInfo, id: number, off: number, len: number): void {
    const base32 = vrp.bufBase32;
    if (base32 === base32 && off < vrp.bufs.length) vrp.svq.setDescLo32(id, (base32 + off) | 0, len, 0, 0);
    else vrp.svq.setDesc(id, vrp.bufBase + off, len, 0, 0);
  }

  /**
   * rpmsg_send_offchannel_raw: send `data` from local address `src` to remote address `dst` of the
   * remote with proc id `remote`. Resolves 0, or -EINVAL (src/dst ANY), -EMSGSIZE (> 496 bytes),
   * -ENODEV (no such virtio device), -EAGAIN (nonblock and no TX buffer), -ERESTARTSYS (blocked
   * 15 s without a TX buffer), -EPIPE (vring1 refused as corrupt, or the device was torn down by a
   * crash while the sender waited).
   */
  send(remote: number, src: number, dst: number, data: Uint8Array, nonblock: boolean): Promise<number> {
    const vrp = this.byProc.get(remote);
    if (vrp === undefined) return P_ENODEV;
    if (src === RPMSG_ADDR_ANY || dst === RPMSG_ADDR_ANY || (src >>> 0) !== src || (dst >>> 0) !== dst) return P_EINVAL;
    if (data.length > RPMSG_MAX_PAYLOAD) return P_EMSGSIZE;
    const id = this.getTxBuf(vrp);
    if (id >= 0) return this.fill(vrp, id, src, dst, data) === 0 ? P_OK : P_EPIPE;
    if (vrp.txRefused) return P_EPIPE;
    // rpmsg_trysend gives -ENOMEM, which rpmsg_char turns into -EAGAIN.
    if (nonblock) return P_EAGAIN;
    return this.sendBlocking(vrp, src, dst, data);
  }

  private async sendBlocking(vrp: VirtprocInfo, src: number, dst: number, data: Uint8Array): Promise<number> {
    const deadline = this.rt.now() / 1000 + RPMSG_TX_TIMEOUT_MS;
    // rpmsg_upref_sleepers: enable tx-complete interrupts, then look again (a buffer may have come
    // back while they were off, without a kick).
    if (vrp.sleepers++ === 0) vrp.tx.setInterruptSuppressed(false);
    let id = -1;
    try {
      for (;;) {
        id = this.getTxBuf(vrp);
        if (id >= 0 || vrp.txRefused || vrp.removed) break;
        const remaining = deadline - this.rt.now() / 1000;
        if (remaining <= 0) break;
        vrp.stats.txWaits++;
        this.stats.txWaits++;
        await vrp.sendq.pend(remaining);
      }
    } finally {
      // A torn-down device's rings may already be another device's: leave them alone.
      if (--vrp.sleepers === 0 && !vrp.removed) vrp.tx.setInterruptSuppressed(true);
    }
    if (vrp.txRefused || vrp.removed) return -EPIPE;
    if (id < 0) {
      vrp.stats.txTimeouts++;
      this.stats.txTimeouts++;
      this.log.error(`virtio${vrp.index} (${vrp.cfg.name}): timeout waiting for a tx buffer (${RPMSG_TX_TIMEOUT_MS} ms)`);
      return -ERESTARTSYS;
    }
    return this.fill(vrp, id, src, dst, data);
  }

  // ---- endpoints ---------------------------------------------------------------------------

  /**
   * rpmsg_create_ept on the virtio device of `remote`. `src` RPMSG_ADDR_ANY takes the first free
   * address >= 1024; any other value is taken exactly if free. Returns the endpoint, or -ENODEV
   * (no virtio device for `remote`), -EINVAL (bad address), -EBUSY (address in use; 53 belongs to
   * the name service).
   */
  createEndpoint(remote: number, src: number, dst: number, onMessage: RpmsgRxCallback): LinuxRpmsgEndpoint | number {
    const vrp = this.byProc.get(remote);
    if (vrp === undefined) return -ENODEV;
    let addr = src;
    if (src === RPMSG_ADDR_ANY) {
      addr = RPMSG_RESERVED_ADDRESSES;
      while (vrp.endpoints.has(addr)) addr++;
      if (addr >= RPMSG_ADDR_ANY) return -EBUSY;
    } else if (!Number.isInteger(src) || src < 0 || src >= RPMSG_ADDR_ANY) {
      return -EINVAL;
    } else if (vrp.endpoints.has(src)) {
      return -EBUSY;
    }
    if (!Number.isInteger(dst) || dst < 0 || dst > RPMSG_ADDR_ANY) return -EINVAL;
    const ept = new LinuxRpmsgEndpoint(remote, addr, dst, onMessage);
    vrp.endpoints.set(addr, ept);
    return ept;
  }

  /** rpmsg_destroy_ept: frees the address; the endpoint receives nothing more. */
  destroyEndpoint(ept: LinuxRpmsgEndpoint): void {
    if (ept.destroyed) return;
    ept.destroyed = true;
    const vrp = this.byProc.get(ept.remote);
    if (vrp && vrp.endpoints.get(ept.addr) === ept) vrp.endpoints.delete(ept.addr);
  }

  // ---- queries -----------------------------------------------------------------------------

  /** All announced channels of all remotes (fresh array). */
  channels(): RpmsgChannel[] {
    const out: RpmsgChannel[] = [];
    for (const vrp of this.byProc.values()) for (const c of vrp.channels) out.push({ ...c });
    return out;
  }

  /** The announced channel `name` at remote address `dst` of `remote`, if any. */
  findChannel(remote: number, name: string, dst: number): RpmsgChannel | undefined {
    const c = this.byProc.get(remote)?.channels.find((ch) => ch.name === name && ch.dst === dst);
    return c ? { ...c } : undefined;
  }

  /** N of `virtio<N>` for the remote with this proc id, or -1 when it has no virtio device. */
  virtioIndexOf(remoteProcId: number): number {
    return this.byProc.get(remoteProcId)?.index ?? -1;
  }

  /** Name of the remote core with this proc id (from the configuration), if listed. */
  remoteName(remoteProcId: number): string | undefined {
    return this.remotes.find((r) => r.procId === remoteProcId)?.name;
  }

  /** Whether the remote's virtio device was set up by probe(). */
  isReady(remoteProcId: number): boolean {
    return this.byProc.has(remoteProcId);
  }

  /** Whether the remote crashed and its virtio device is being recovered (down until then). */
  isRecovering(remoteProcId: number): boolean {
    return this.recovering.has(remoteProcId);
  }

  /** Counters of one remote (live object), or undefined when it has no virtio device. */
  remoteStats(remoteProcId: number): Readonly<RpmsgStats> | undefined {
    return this.byProc.get(remoteProcId)?.stats;
  }

  /**
   * A structured-clone-safe snapshot: the totals, plus per remote (by core name) its counters,
   * virtio index and channel devices.
   */
  statistics(): RpmsgStats & { remotes: Record<string, RpmsgStats & { virtio: number; channels: string[] }> } {
    const remotes: Record<string, RpmsgStats & { virtio: number; channels: string[] }> = {};
    for (const r of this.remotes) {
      const stats = this.statsByProc.get(r.procId);
      if (!stats) continue;
      // virtio -1: the device is down (a crash, recovery not complete).
      const vrp = this.byProc.get(r.procId);
      remotes[r.name] = { ...stats, virtio: vrp?.index ?? -1, channels: vrp?.channels.map((c) => c.device) ?? [] };
    }
    return { ...this.stats, remotes };
  }

  /** Local addresses in use on the remote's virtio device (53 = name service). */
  endpointAddrs(remoteProcId: number): number[] {
    const vrp = this.byProc.get(remoteProcId);
    return vrp ? [...vrp.endpoints.keys()].sort((a, b) => a - b) : [];
  }

  /** Calls `listener` (in ISR context) when a channel is created or destroyed by name service. */
  onChannel(listener: (ev: ChannelEvent, ch: RpmsgChannel) => void): void {
    this.channelListeners.push(listener);
  }

  /**
   * Calls `listener` when a remote's virtio device is torn down by a crash ('remove', ISR context;
   * its channels were destroyed just before) or created again by recovery ('recover', task context).
   */
  onVdev(listener: (ev: VdevEvent, remote: number) => void): void {
    this.vdevListeners.push(listener);
  }
}
