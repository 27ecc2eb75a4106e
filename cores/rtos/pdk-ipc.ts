// TI PDK IPC LLD (RPMessage over virtio vrings and the hardware mailbox) for RTOS cores, following
// packages/ti/drv/ipc src/ipc_api.c, ipc_virtio.c and ipc_mailbox.c (reference/rpmsg-j7.md §2.6, §4):
// - RTOS to RTOS: each core owns its TX ring in the pair's region at VRING_BASE_ADDRESS, primed with
//   its own 256 buffers. Send takes an avail entry, fills it, adds it to used and writes its TX vq id
//   into the receiver's mailbox FIFO. The receiver drains used, copies each payload into the
//   endpoint's queue and gives the buffer back through avail.
// - To Linux: the A72 is the virtio host; TX is the resource table's vring0 (re-primed with the
//   buffers at vring0.da + 0x40000), RX is vring1 (avail -> used).
// Send never blocks (IPC_EFAIL without a free buffer); recv waits with a timeout or forever.
//
// A corrupt ring is refused, never followed: every index and descriptor id read from a peer's ring is
// range-checked (shared/vring.ts throws VringError) and every buffer address must lie inside the
// link's buffer window. When a ring's index or id is found corrupt (a used.idx or avail.idx more
// than `num` ahead, an id >= num), that ring is refused for good: the error is logged once, naming
// the ring and the bad value, stats.refused counts it, the core does not fault, and nothing of that
// ring is read (or given back) again. Refusal is per ring, i.e. per direction of a link: a refused
// receive ring stops that peer's messages to this core; a refused TX ring (the peer's avail.idx of
// it) makes sends to that peer return IPC_EFAIL. The other direction and the other links go on.
//
// Stress runs (shared/perturb.ts, shared/mutation.ts): RPMessage_send is the PT_PUBLISH point
// between filling a buffer and publishing its used entry, where a bit-flip fault flips one bit of a
// stress payload and a corrupt-index fault, right after the publish, overwrites the TX ring's
// used.idx with a value far ahead. HETSOC_MUTATION=vring-publish-early publishes before the buffer
// is written (a planted bug). With nothing installed each costs one constant-false branch.
//
// Tracing (cores/trace.ts, one constant-false branch when off): RPMessage_send, the completion of
// RPMessage_recv/recvNb and the delivery of each received message ("RPMessage rx", in the mailbox
// ISR) are slices; a message's flow goes from its send to its delivery, keyed by (vring address,
// running count of the link's sends / receives); each send samples the TX ring's free buffers.

import type { Logger } from 'pino';
import type { Bus } from '../../shared/bus.js';
import { IPC_MAX_PROCS, IPC_MPU1_0, IPC_VRING_BUFFER_SIZE, IPC_VRING_SIZE, pdkPairLayout } from '../../shared/j721e.js';
import { hex } from '../../shared/memory-map.js';
import { VRING_PUBLISH_EARLY } from '../../shared/mutation.js';
import { PERTURB, PT_PUBLISH, flipPayloadBit, perturbAt, takeFault } from '../../shared/perturb.js';
import {
  RPMSG_BUF_SIZE, RPMSG_HDR_SIZE, RPMSG_NS_MSG_SIZE, RpmsgBufView, readNsAddr, readNsFlags, readNsName,
  writeNsMsg,
} from '../../shared/rpmsg.js';
import { ResourceTableView, TI_VDEV_STATUS_READY } from '../../shared/rsc-table.js';
import {
  TN_RING_REFUSED, TN_RPMESSAGE_RECV, TN_RPMESSAGE_RECVNB, TN_RPMESSAGE_RX, TN_RPMESSAGE_SEND, TN_VRING_FREE,
} from '../../shared/trace-ring.js';
import { Vring, VringDevice, VringDriver, VringError, VRING_DESC_F_WRITE, vringSize } from '../../shared/vring.js';
import type { MailboxDriver } from '../drivers/mailbox.js';
import { BufferWindow } from '../ipc/buffer-window.js';
import { Semaphore, type CoreRuntime } from '../runtime.js';
import { TRACE, traceBegin, traceCounter, traceEnd, traceFlowIn, traceFlowOut, traceInstant, traceNow } from '../trace.js';
import { Endpoint } from './endpoint.js';
import {
  IPC_CTRL_ENDPOINT_ID, IPC_EBADARGS, IPC_EFAIL, IPC_EINVALID_PARAMS, IPC_ETIMEOUT, IPC_E_UNBLOCKED,
  IPC_MAX_DATA_PAYLOAD, IPC_MAX_NAME_ENTRY, IPC_RPMESSAGE_TIMEOUT_FOREVER, IPC_SOK, MAXENDPOINTS,
  RPMESSAGE_ALL, RPMESSAGE_ANY, RPMessage_Buffer_Count_Default, RPMessage_MAX_RESERVED_ENDPOINT, SERVICENAMELEN,
  type Ipc_InitPrms, type Ipc_VirtIoParams, type RPMessage_Callback, type RPMessage_Handle, type RPMessage_Params,
  type RPMessage_RecvResult, type RPMessage_RemoteEndPt,
} from './pdk-types.js';

/** Linux's 256 KiB buffer block sits this far after vring0 (PDK primeBuf = vring0.da + 2 * IPC_VRING_SIZE). */
const LINUX_BUFFER_OFFSET = 2 * IPC_VRING_SIZE;

export interface PdkDeps {
  rt: CoreRuntime;
  bus: Bus;
  mailbox: MailboxDriver;
  log: Logger;
  selfProcId: number;
  procNames: readonly string[];
  /** Physical address of the resource table linked into this core's image, if any. */
  rscTableAddr?: number;
}

interface Link {
  remote: number;
  linux: boolean;
  tx: VringDevice;
  txBufs: BufferWindow;
  /** Header access to txBufs. */
  txHdr: RpmsgBufView;
  /** Mailbox payload after a send (TX vq id; for Linux the notify id of vring0). */
  txKick: number;
  rxRtos?: VringDriver;
  rxLinux?: VringDevice;
  rxBufs: BufferWindow;
  /** Header (and payload word) access to rxBufs. */
  rxHdr: RpmsgBufView;
  /** Mailbox payload after consuming Linux's buffers (notify id of vring1). */
  rxKick: number;
  /** RPMessage layer attached (RPMessage_init / RPMessage_lateInit): mailbox interrupt installed. */
  attached: boolean;
  /** Core name of the remote (fault hooks aimed at one peer). */
  peer: string;
  /** The receive ring was found corrupt: it is not read any more. */
  rxRefused: boolean;
  /** The TX ring was found corrupt (the peer's avail.idx): sends to the remote fail. */
  txRefused: boolean;
  /** Tracing: physical addresses of the TX and receive rings (flow channels). */
  txChannel: number;
  rxChannel: number;
  /** Messages published on the TX ring / taken from the receive ring since the link was created. */
  txCount: number;
  rxCount: number;
}

interface NameEntry {
  name: string;
  endPt: number;
  procId: number;
}

interface NameWaiter {
  name: string;
  procId: number;
  sem: Semaphore;
  endPt: number;
  foundProc: number;
}

export interface PdkStats {
  sent: number;
  received: number;
  sendNoBuffer: number;
  droppedNoEndpoint: number;
  droppedQueueFull: number;
  droppedBad: number;
  /** Rings refused for a corrupt index or descriptor id (each counted once). */
  refused: number;
}

const timeoutMs = (t: number): number => (t === IPC_RPMESSAGE_TIMEOUT_FOREVER ? Infinity : t);

const TWO_POW_32 = 0x1_0000_0000;

/**
 * win.offsetOf(ring.descAddr(id), len), throwing what descAddr throws: the offset of descriptor
 * id's buffer of `len` bytes in `win`, or -1 when it is not wholly inside. For a 32-bit address and
 * a window below 4 GiB it works on int32 words (an address of 2^31 or more would be a heap number).
 */
function bufferOffset(ring: Vring, id: number, win: BufferWindow, len: number): number {
  const base = win.base;
  const size = win.size;
  if (ring.descAddrHi(id) === 0 && base >= 0 && base + size <= TWO_POW_32 && size <= 0x7FFF_FFFF) {
    // Exact: lo and base are both in 0..2^32-1, so a difference outside int32 range cannot wrap
    // into 0..size-1.
    const off = (ring.descAddrLo32(id) - (base | 0)) | 0;
    return off >= 0 && len >= 0 && off + len <= size ? off : -1;
  }
  return win.offsetOf(ring.descAddr(id), len);
}

export class PdkIpc {
  private readonly rt: CoreRuntime;
  private readonly log: Logger;
  readonly self: number;
  private remotes: number[] | undefined;
  private initDone = false;
  private rscTable: ResourceTableView | undefined;
  private vringBase = 0;
  private rpmsgInit = false;
  private readonly links: (Link | undefined)[] = new Array(IPC_MAX_PROCS).fill(undefined);
  private readonly endpoints: (Endpoint | undefined)[] = new Array(MAXENDPOINTS).fill(undefined);
  private readonly names: NameEntry[] = [];
  private readonly nameWaiters = new Set<NameWaiter>();
  private readonly nsScratch = new Uint8Array(RPMSG_NS_MSG_SIZE);
  /** The last `data.subarray(0, len)` a send copied from, and its `data` (firmware sends from one buffer). */
  private sendData: Uint8Array | undefined;
  private sendView: Uint8Array | undefined;
  private newMsgFxn: Ipc_InitPrms['newMsgFxn'];
  readonly stats: PdkStats = {
    sent: 0, received: 0, sendNoBuffer: 0, droppedNoEndpoint: 0, droppedQueueFull: 0, droppedBad: 0, refused: 0,
  };

  constructor(private readonly deps: PdkDeps) {
    this.rt = deps.rt;
    this.log = deps.log;
    this.self = deps.selfProcId;
  }

  private procName(id: number): string {
    return this.deps.procNames[id] ?? `proc ${id}`;
  }

  // ---- Ipc_mp* ------------------------------------------------------------------------------

  Ipc_mpSetConfig(selfId: number, numProc: number, procArry: readonly number[]): number {
    if (selfId !== this.self) {
      this.log.error(`Ipc_mpSetConfig: selfId ${selfId} (${this.procName(selfId)}) is not this core; ${this.rt.name} is proc ${this.self}`);
      return IPC_EINVALID_PARAMS;
    }
    if (!Number.isInteger(numProc) || numProc < 0 || numProc > IPC_MAX_PROCS - 1 || numProc > procArry.length) {
      this.log.error(`Ipc_mpSetConfig: numProc ${numProc} must be 0..${Math.min(IPC_MAX_PROCS - 1, procArry.length)}`);
      return IPC_EINVALID_PARAMS;
    }
    const list = procArry.slice(0, numProc);
    for (const p of list) {
      if (!Number.isInteger(p) || p < 0 || p >= IPC_MAX_PROCS || p === selfId || list.indexOf(p) !== list.lastIndexOf(p)) {
        this.log.error(`Ipc_mpSetConfig: remote proc id ${p} is invalid (must be 0..${IPC_MAX_PROCS - 1}, not self, listed once)`);
        return IPC_EINVALID_PARAMS;
      }
    }
    this.remotes = list;
    return IPC_SOK;
  }

  Ipc_mpGetSelfId(): number {
    return this.self;
  }

  Ipc_mpGetSelfName(): string {
    return this.procName(this.self);
  }

  Ipc_mpGetName(id: number): string | null {
    return this.deps.procNames[id] ?? null;
  }

  Ipc_mpGetId(name: string): number {
    const i = this.deps.procNames.indexOf(name);
    return i >= 0 ? i : 0xFFFF_FFFF;
  }

  Ipc_mpGetNumProcessors(): number {
    return this.remotes ? this.remotes.length : 0;
  }

  Ipc_mpGetRemoteProcId(index: number): number {
    return this.remotes?.[index] ?? 0xFFFF_FFFF;
  }

  // ---- Ipc_init, resource table, virtio -----------------------------------------------------

  IpcInitPrms_init(instId = 0): Ipc_InitPrms {
    return { instId };
  }

  Ipc_init(cfg: Ipc_InitPrms | null = null): number {
    if (cfg && cfg.instId !== 0) {
      this.log.error(`Ipc_init: instId ${cfg.instId} must be 0`);
      return IPC_EINVALID_PARAMS;
    }
    this.newMsgFxn = cfg?.newMsgFxn;
    this.initDone = true;
    return IPC_SOK;
  }

  /** Stores the resource table (default: the one linked into this core's image). */
  Ipc_loadResourceTable(addr: number | undefined = this.deps.rscTableAddr): number {
    if (addr === undefined) {
      this.log.error('Ipc_loadResourceTable: this core has no resource table in its image and no address was given');
      return IPC_EFAIL;
    }
    try {
      const w = this.deps.bus.window(addr, 140);
      const view = new ResourceTableView(w.sab, w.byteOffset);
      view.parse();
      this.rscTable = view;
      return IPC_SOK;
    } catch (err) {
      this.log.error(`Ipc_loadResourceTable(${hex(addr)}): ${(err as Error).message}`);
      return IPC_EFAIL;
    }
  }

  Ipc_isRemoteReady(procId: number): boolean {
    if (procId === IPC_MPU1_0 && this.rscTable) return this.rscTable.vdevStatus() === TI_VDEV_STATUS_READY;
    return true;
  }

  Ipc_isRemoteVirtioCreated(procId: number): boolean {
    return this.links[procId] !== undefined;
  }

  Ipc_getVqObjMemoryRequiredPerCore(): number {
    return 2 * 64;
  }

  Ipc_initVirtIO(params: Ipc_VirtIoParams): number {
    if (!this.initDone || !this.remotes) {
      this.log.error('Ipc_initVirtIO: call Ipc_mpSetConfig and Ipc_init first');
      return IPC_EFAIL;
    }
    if (!params || !(params.vringBufSize >= IPC_VRING_BUFFER_SIZE)) {
      this.log.error(`Ipc_initVirtIO: vringBufSize ${params?.vringBufSize} is smaller than IPC_VRING_BUFFER_SIZE ${hex(IPC_VRING_BUFFER_SIZE)}`);
      return IPC_EFAIL;
    }
    this.vringBase = params.vringBaseAddr;
    for (const remote of this.remotes) {
      if (remote === IPC_MPU1_0 && this.rscTable) {
        // Linux: only if it is already up; otherwise Ipc_lateVirtioCreate pairs later.
        if (this.Ipc_isRemoteReady(remote)) {
          const st = this.Ipc_lateVirtioCreate(remote);
          if (st !== IPC_SOK) return st;
        }
        continue;
      }
      try {
        this.links[remote] = this.createRtosLink(remote);
      } catch (err) {
        this.log.error(`Ipc_initVirtIO: vrings with ${this.procName(remote)}: ${(err as Error).message}`);
        return IPC_EFAIL;
      }
    }
    return IPC_SOK;
  }

  private createRtosLink(remote: number): Link {
    const bus = this.deps.bus;
    const l = pdkPairLayout(this.self, remote, this.vringBase);
    const size = vringSize(256, 4096);
    const txw = bus.window(l.txVring, size);
    const txRing = new Vring(txw.sab, txw.byteOffset, 256, 4096, `${this.rt.name}->${this.procName(remote)} tx vring @${hex(l.txVring)}`);
    txRing.reset();
    txRing.prime(l.txBufs, RPMSG_BUF_SIZE, VRING_DESC_F_WRITE);
    const tx = new VringDevice(txRing);
    tx.setNotifySuppressed(true);
    const rxw = bus.window(l.rxVring, size);
    const rxRing = new Vring(rxw.sab, rxw.byteOffset, 256, 4096, `${this.procName(remote)}->${this.rt.name} vring @${hex(l.rxVring)}`);
    const txBufs = new BufferWindow(bus, l.txBufs, IPC_VRING_SIZE, `${this.rt.name} tx buffers for ${this.procName(remote)}`);
    const rxBufs = new BufferWindow(bus, l.rxBufs, IPC_VRING_SIZE, `${this.procName(remote)} tx buffers`);
    return {
      remote, linux: false, tx, txKick: l.txVqId, txBufs, txHdr: new RpmsgBufView(txBufs.dv),
      rxRtos: new VringDriver(rxRing),
      rxBufs, rxHdr: new RpmsgBufView(rxBufs.dv),
      rxKick: l.rxVqId,
      attached: false, peer: this.procName(remote), rxRefused: false, txRefused: false,
      txChannel: l.txVring, rxChannel: l.rxVring, txCount: 0, rxCount: 0,
    };
  }

  Ipc_lateVirtioCreate(procId: number): number {
    if (procId !== IPC_MPU1_0 || !this.rscTable) {
      this.log.error(`Ipc_lateVirtioCreate(${procId}): late pairing is for Linux (proc ${IPC_MPU1_0}) with a loaded resource table`);
      return IPC_EFAIL;
    }
    if (this.links[procId]) return IPC_SOK;
    if (!this.Ipc_isRemoteReady(procId)) return IPC_EFAIL;
    const t = this.rscTable;
    try {
      const bus = this.deps.bus;
      const [v0, v1] = [t.vring(0), t.vring(1)];
      const size = vringSize(v0.num, v0.align);
      const w0 = bus.window(v0.da, size);
      const txRing = new Vring(w0.sab, w0.byteOffset, v0.num, v0.align, `${this.rt.name}->Linux vring0 @${hex(v0.da)}`);
      // As the PDK does: clear and re-prime vring0 with the buffers at vring0.da + 0x40000.
      txRing.reset();
      txRing.prime(v0.da + LINUX_BUFFER_OFFSET, RPMSG_BUF_SIZE, VRING_DESC_F_WRITE);
      const tx = new VringDevice(txRing);
      tx.setNotifySuppressed(true);
      const w1 = bus.window(v1.da, vringSize(v1.num, v1.align));
      const rxRing = new Vring(w1.sab, w1.byteOffset, v1.num, v1.align, `Linux->${this.rt.name} vring1 @${hex(v1.da)}`);
      const bufs = new BufferWindow(bus, v0.da + LINUX_BUFFER_OFFSET, 2 * v0.num * RPMSG_BUF_SIZE, `Linux buffers of ${this.rt.name}`);
      const hdr = new RpmsgBufView(bufs.dv);
      this.links[procId] = {
        remote: procId, linux: true, tx, txBufs: bufs, txHdr: hdr, txKick: v0.notifyid,
        rxLinux: new VringDevice(rxRing), rxBufs: bufs, rxHdr: hdr, rxKick: v1.notifyid, attached: false,
        peer: this.procName(procId), rxRefused: false, txRefused: false,
        txChannel: v0.da, rxChannel: v1.da, txCount: 0, rxCount: 0,
      };
      return IPC_SOK;
    } catch (err) {
      this.log.error(`Ipc_lateVirtioCreate(${procId}): ${(err as Error).message}`);
      return IPC_EFAIL;
    }
  }

  // ---- RPMessage ----------------------------------------------------------------------------

  RPMessageParams_init(): RPMessage_Params {
    return { requestedEndpt: RPMESSAGE_ANY, numBufs: RPMessage_Buffer_Count_Default };
  }

  RPMessage_getObjMemRequired(): number {
    return 64;
  }

  RPMessage_getMessageBufferSize(): number {
    return (IPC_MAX_DATA_PAYLOAD + 16 + 7) & ~7;
  }

  RPMessage_init(_params?: RPMessage_Params): number {
    if (!this.initDone) {
      this.log.error('RPMessage_init: call Ipc_init first');
      return IPC_EFAIL;
    }
    if (this.rpmsgInit) return IPC_SOK;
    this.rpmsgInit = true;
    for (const link of this.links) if (link) this.attach(link);
    return IPC_SOK;
  }

  RPMessage_lateInit(proc: number): number {
    const link = this.links[proc];
    if (!this.rpmsgInit || !link) {
      this.log.error(`RPMessage_lateInit(${proc}): ${!this.rpmsgInit ? 'RPMessage_init has not run' : 'no virtio pair with that core (Ipc_lateVirtioCreate first)'}`);
      return IPC_EFAIL;
    }
    this.attach(link);
    return IPC_SOK;
  }

  /** Installs the mailbox interrupt for the link and drains what arrived before. */
  private attach(link: Link): void {
    if (link.attached) return;
    link.attached = true;
    this.deps.mailbox.onReceive(link.remote, () => this.processRx(link));
    this.processRx(link);
  }

  RPMessage_create(params: RPMessage_Params = this.RPMessageParams_init()): RPMessage_Handle | null {
    const numBufs = params.numBufs ?? RPMessage_Buffer_Count_Default;
    if (!Number.isInteger(numBufs) || numBufs < 1) {
      this.log.error(`RPMessage_create: numBufs ${numBufs} must be at least 1`);
      return null;
    }
    let ep = params.requestedEndpt ?? RPMESSAGE_ANY;
    if (ep === RPMESSAGE_ANY) {
      ep = -1;
      for (let e = RPMessage_MAX_RESERVED_ENDPOINT + 1; e < MAXENDPOINTS; e++) {
        if (!this.endpoints[e]) {
          ep = e;
          break;
        }
      }
      if (ep < 0) {
        this.log.error(`RPMessage_create: no free endpoint in ${RPMessage_MAX_RESERVED_ENDPOINT + 1}..${MAXENDPOINTS - 1}`);
        return null;
      }
    } else if (!Number.isInteger(ep) || ep < 0 || ep > RPMessage_MAX_RESERVED_ENDPOINT || ep === IPC_CTRL_ENDPOINT_ID) {
      this.log.error(`RPMessage_create: requested endpoint ${ep} must be 0..${RPMessage_MAX_RESERVED_ENDPOINT} (not ${IPC_CTRL_ENDPOINT_ID}) or RPMESSAGE_ANY`);
      return null;
    } else if (this.endpoints[ep]) {
      this.log.error(`RPMessage_create: endpoint ${ep} already exists on ${this.rt.name}`);
      return null;
    }
    const e = new Endpoint(this.rt, ep, numBufs);
    this.endpoints[ep] = e;
    return e;
  }

  private endpointOf(handle: RPMessage_Handle | null | undefined): Endpoint | undefined {
    return handle instanceof Endpoint && !handle.deleted && this.endpoints[handle.endPt] === handle ? handle : undefined;
  }

  RPMessage_setCallback(handle: RPMessage_Handle, cb: RPMessage_Callback, arg?: unknown): number {
    const ep = this.endpointOf(handle);
    if (!ep || typeof cb !== 'function') return IPC_EBADARGS;
    ep.callback = cb;
    ep.callbackArg = arg;
    return IPC_SOK;
  }

  RPMessage_delete(handle: RPMessage_Handle): number {
    const ep = this.endpointOf(handle);
    if (!ep) return IPC_EFAIL;
    ep.deleted = true;
    ep.clear();
    this.endpoints[ep.endPt] = undefined;
    ep.sem.abandon();
    return IPC_SOK;
  }

  RPMessage_unblock(handle: RPMessage_Handle): void {
    const ep = this.endpointOf(handle);
    if (!ep) return;
    ep.unblocked = true;
    ep.sem.abandon();
  }

  /**
   * Sends one message; never blocks. IPC_EFAIL when the core, the vring or a free buffer is missing,
   * or when the TX ring to that core was refused as corrupt.
   */
  RPMessage_send(handle: RPMessage_Handle | null, dstProc: number, dstEndPt: number, srcEndPt: number,
                 data: Uint8Array, len: number = data?.length): number {
    if (!TRACE.on) return this.rawSend(handle, dstProc, dstEndPt, srcEndPt, data, len);
    traceBegin(TN_RPMESSAGE_SEND);
    const r = this.rawSend(handle, dstProc, dstEndPt, srcEndPt, data, len);
    traceEnd(TN_RPMESSAGE_SEND);
    return r;
  }

  /** RPMessage_rawSend: the send itself (RPMessage_send wraps it in a trace slice when tracing). */
  private rawSend(handle: RPMessage_Handle | null, dstProc: number, dstEndPt: number, srcEndPt: number, data: Uint8Array, len: number): number {
    if (handle) {
      const ep = this.endpointOf(handle);
      if (!ep) return IPC_EFAIL;
      srcEndPt = ep.endPt;
    }
    if (!Number.isInteger(dstProc) || dstProc < 0 || dstProc >= IPC_MAX_PROCS || dstProc === this.self) return IPC_EFAIL;
    const link = this.links[dstProc];
    // As in the PDK, the TX queue of a core exists once RPMessage_init/RPMessage_lateInit attached it.
    if (!link?.attached || !(data instanceof Uint8Array) || !(len >= 0) || len > IPC_MAX_DATA_PAYLOAD || len > data.length) return IPC_EFAIL;
    if (link.txRefused) return IPC_EFAIL;
    const tx = link.tx;
    let id: number;
    try {
      id = tx.getAvail();
    } catch (err) {
      if (!(err instanceof VringError)) throw err;
      this.refuse(link, err, false);
      return IPC_EFAIL;
    }
    if (id < 0) {
      tx.setNotifySuppressed(false);
      this.stats.sendNoBuffer++;
      return IPC_EFAIL;
    }
    const off = bufferOffset(tx.ring, id, link.txBufs, RPMSG_HDR_SIZE + len);
    if (off < 0) {
      const addr = tx.ring.descAddr(id);
      this.log.error(`RPMessage_send to ${this.procName(dstProc)}: ${link.txBufs.describe(addr, RPMSG_HDR_SIZE + len)} (descriptor ${id})`);
      return IPC_EFAIL;
    }
    const u8 = link.txBufs.u8;
    const at = off + RPMSG_HDR_SIZE;
    const ts = TRACE.on ? traceNow() : 0;
    if (VRING_PUBLISH_EARLY) {
      // Planted bug: the receiver may read the buffer before it is written.
      tx.addUsed(id, RPMSG_HDR_SIZE + len);
      if (PERTURB.on) perturbAt(PT_PUBLISH);
      link.txHdr.writeHeader(off, srcEndPt >>> 0, dstEndPt >>> 0, link.linux ? 0 : this.self, len, 0);
      u8.set(len === data.length ? data : this.prefix(data, len), at);
      if (PERTURB.on) flipPayloadBit(u8, at, len, link.peer);
    } else {
      link.txHdr.writeHeader(off, srcEndPt >>> 0, dstEndPt >>> 0, link.linux ? 0 : this.self, len, 0);
      u8.set(len === data.length ? data : this.prefix(data, len), at);
      if (PERTURB.on) {
        flipPayloadBit(u8, at, len, link.peer);
        perturbAt(PT_PUBLISH);
      }
      tx.addUsed(id, RPMSG_HDR_SIZE + len);
    }
    const n = link.txCount++;
    if (TRACE.on) {
      traceFlowOut(link.txChannel, n, ts);
      traceCounter(TN_VRING_FREE, link.txChannel, tx.availableCount(), dstProc, ts);
    }
    // Corrupt-index fault: a memory error hits the used.idx just published.
    if (PERTURB.on && takeFault('corrupt-index', link.peer)) tx.ring.setUsedIdx(tx.ring.usedIdx() + tx.ring.num + 7);
    this.stats.sent++;
    if (tx.needsInterrupt()) this.deps.mailbox.send(dstProc, link.txKick);
    return IPC_SOK;
  }

  /** data.subarray(0, len), reused while the same plain Uint8Array is sent from with the same length. */
  private prefix(data: Uint8Array, len: number): Uint8Array {
    const v = this.sendView;
    if (data === this.sendData && v !== undefined && v.length === len) return v;
    const view = data.subarray(0, len);
    // Only plain Uint8Arrays: a subclass's species constructor runs on every subarray call.
    if (Object.getPrototypeOf(data) === Uint8Array.prototype) {
      this.sendData = data;
      this.sendView = view;
    }
    return view;
  }

  async RPMessage_recv(handle: RPMessage_Handle, data: Uint8Array, timeout: number = IPC_RPMESSAGE_TIMEOUT_FOREVER): Promise<RPMessage_RecvResult> {
    const ep = this.endpointOf(handle);
    const out = { status: IPC_SOK, len: 0, rplyEndPt: 0, fromProcId: 0 };
    if (!ep || !(data instanceof Uint8Array)) {
      out.status = IPC_EBADARGS;
      return out;
    }
    if (ep.unblocked) {
      out.status = IPC_E_UNBLOCKED;
      return out;
    }
    if (!ep.sem.tryPend()) {
      const ok = await ep.sem.pend(timeoutMs(timeout));
      if (ep.unblocked) {
        out.status = IPC_E_UNBLOCKED;
        return out;
      }
      if (ep.deleted) {
        out.status = IPC_EFAIL;
        return out;
      }
      if (!ok) {
        out.status = IPC_ETIMEOUT;
        return out;
      }
    }
    if (TRACE.on) traceBegin(TN_RPMESSAGE_RECV);
    this.take(ep, data, out);
    if (TRACE.on) traceEnd(TN_RPMESSAGE_RECV);
    return out;
  }

  RPMessage_recvNb(handle: RPMessage_Handle, data: Uint8Array): RPMessage_RecvResult {
    const ep = this.endpointOf(handle);
    const out = { status: IPC_SOK, len: 0, rplyEndPt: 0, fromProcId: 0 };
    if (!ep || !(data instanceof Uint8Array)) out.status = IPC_EBADARGS;
    else if (ep.unblocked) out.status = IPC_E_UNBLOCKED;
    else if (!ep.sem.tryPend()) out.status = IPC_ETIMEOUT;
    else if (!TRACE.on) this.take(ep, data, out);
    else {
      traceBegin(TN_RPMESSAGE_RECVNB);
      this.take(ep, data, out);
      traceEnd(TN_RPMESSAGE_RECVNB);
    }
    return out;
  }

  private take(ep: Endpoint, data: Uint8Array, out: RPMessage_RecvResult): void {
    if (data.length < IPC_MAX_DATA_PAYLOAD) {
      // The PDK copies up to 496 bytes without a size argument: a smaller buffer is a caller bug.
      ep.sem.post();
      out.status = IPC_EBADARGS;
      this.log.error(`RPMessage_recv on endpoint ${ep.endPt}: buffer of ${data.length} bytes; it must hold ${IPC_MAX_DATA_PAYLOAD}`);
      return;
    }
    ep.dequeue(data, out);
  }

  // ---- name service -------------------------------------------------------------------------

  RPMessage_announce(remoteProcId: number, endPt: number, name: string): number {
    if (typeof name !== 'string' || name.length === 0 || name.length >= SERVICENAMELEN) {
      this.log.error(`RPMessage_announce: name "${name}" must be 1..${SERVICENAMELEN - 1} characters`);
      return IPC_EFAIL;
    }
    writeNsMsg(this.nsScratch, 0, name, endPt >>> 0, 0);
    if (remoteProcId !== RPMESSAGE_ALL) {
      const st = this.RPMessage_send(null, remoteProcId, IPC_CTRL_ENDPOINT_ID, IPC_CTRL_ENDPOINT_ID, this.nsScratch);
      if (st !== IPC_SOK) this.log.warn(`RPMessage_announce "${name}" to ${this.procName(remoteProcId)} failed (${st})`);
      return st;
    }
    let status = IPC_SOK;
    for (const link of this.links) {
      if (!link?.attached) continue;
      status = this.RPMessage_send(null, link.remote, IPC_CTRL_ENDPOINT_ID, IPC_CTRL_ENDPOINT_ID, this.nsScratch);
      if (status !== IPC_SOK) this.log.warn(`RPMessage_announce "${name}" to ${this.procName(link.remote)} failed (${status}); going on with the others`);
    }
    return status;
  }

  async RPMessage_getRemoteEndPt(currProcId: number, name: string, timeout: number = IPC_RPMESSAGE_TIMEOUT_FOREVER): Promise<RPMessage_RemoteEndPt> {
    if (typeof name !== 'string' || name.length === 0 || name.length >= SERVICENAMELEN) {
      return { status: IPC_EFAIL, remoteProcId: 0xFFFF_FFFF, remoteEndPt: RPMESSAGE_ANY };
    }
    const hit = this.names.find((n) => n.name === name && (n.procId === currProcId || currProcId === RPMESSAGE_ANY));
    if (hit) return { status: IPC_SOK, remoteProcId: hit.procId, remoteEndPt: hit.endPt };
    const w: NameWaiter = {
      name, procId: currProcId, endPt: 0, foundProc: 0,
      sem: new Semaphore(this.rt, `RPMessage_getRemoteEndPt "${name}" on ${currProcId === RPMESSAGE_ANY ? 'any core' : this.procName(currProcId)}`),
    };
    this.nameWaiters.add(w);
    const ok = await w.sem.pend(timeoutMs(timeout));
    this.nameWaiters.delete(w);
    if (!ok) return { status: IPC_ETIMEOUT, remoteProcId: 0xFFFF_FFFF, remoteEndPt: RPMESSAGE_ANY };
    return { status: IPC_SOK, remoteProcId: w.foundProc, remoteEndPt: w.endPt };
  }

  private processAnnounce(procId: number, u8: Uint8Array, off: number): void {
    const type = readNsFlags(u8, off);
    if (type !== 0) {
      this.log.warn(`Invalid cntrl msg type 0x${type.toString(16)} from ${this.procName(procId)}`);
      return;
    }
    const name = readNsName(u8, off);
    const endPt = readNsAddr(u8, off);
    if (this.names.length >= IPC_MAX_NAME_ENTRY - 1) {
      this.log.warn(`RPMessage_processAnnounceMsg: announcement table full (${IPC_MAX_NAME_ENTRY - 1}); "${name}" from ${this.procName(procId)} dropped`);
      return;
    }
    this.names.push({ name, endPt, procId });
    for (const w of this.nameWaiters) {
      if (w.name === name && (w.procId === procId || w.procId === RPMESSAGE_ANY) && w.sem.waiterCount > 0) {
        w.endPt = endPt;
        w.foundProc = procId;
        w.sem.post();
      }
    }
  }

  /** Announcements received so far. */
  announcements(): readonly NameEntry[] {
    return this.names;
  }

  // ---- receive path (interrupt context) -----------------------------------------------------

  private processRx(link: Link): void {
    if (link.rxRefused) return;
    try {
      if (link.rxRtos) this.drainRtos(link, link.rxRtos);
      else if (link.rxLinux) this.drainLinux(link, link.rxLinux);
    } catch (err) {
      if (!(err instanceof VringError)) throw err;
      this.refuse(link, err, true);
    }
  }

  /** Refuses a ring of `link` for good (see the file header): logged once, counted once. */
  private refuse(link: Link, err: VringError, rx: boolean): void {
    if (rx ? link.rxRefused : link.txRefused) return;
    if (rx) link.rxRefused = true;
    else link.txRefused = true;
    this.stats.refused++;
    if (TRACE.on) traceInstant(TN_RING_REFUSED, rx ? link.rxChannel : link.txChannel, err.value);
    this.log.error(`${rx ? 'receive' : 'TX'} ring ${err.ring} with ${this.procName(link.remote)} refused: bad value ${err.value}: ` +
      `${err.message}; ${rx ? `messages from ${this.procName(link.remote)} on it are no longer read` : `sends to ${this.procName(link.remote)} now fail`}`);
  }

  /** Whether a ring with `procId` was refused as corrupt: 'rx', 'tx', 'both' or undefined. */
  refusedRing(procId: number): 'rx' | 'tx' | 'both' | undefined {
    const l = this.links[procId];
    if (!l || (!l.rxRefused && !l.txRefused)) return undefined;
    return l.rxRefused && l.txRefused ? 'both' : l.rxRefused ? 'rx' : 'tx';
  }

  private drainRtos(link: Link, rx: VringDriver): void {
    for (let id = rx.getUsed(); id >= 0; id = rx.getUsed()) {
      const n = link.rxCount++;
      if (!TRACE.on) this.deliver(link, rx.ring, id, rx.lastLen);
      else {
        traceFlowIn(link.rxChannel, n, traceBegin(TN_RPMESSAGE_RX));
        this.deliver(link, rx.ring, id, rx.lastLen);
        traceEnd(TN_RPMESSAGE_RX);
      }
      rx.addAvail(id);
    }
  }

  private drainLinux(link: Link, rx: VringDevice): void {
    let any = false;
    for (let id = rx.getAvail(); id >= 0; id = rx.getAvail()) {
      const n = link.rxCount++;
      if (!TRACE.on) this.deliver(link, rx.ring, id, rx.ring.descLen(id));
      else {
        traceFlowIn(link.rxChannel, n, traceBegin(TN_RPMESSAGE_RX));
        this.deliver(link, rx.ring, id, rx.ring.descLen(id));
        traceEnd(TN_RPMESSAGE_RX);
      }
      rx.addUsed(id, RPMSG_BUF_SIZE);
      any = true;
    }
    if (any && rx.needsInterrupt()) this.deps.mailbox.send(link.remote, link.rxKick);
  }

  /** Delivers the message in descriptor `id` of `ring` (`usedLen` bytes written). Throws VringError on a bad address. */
  private deliver(link: Link, ring: Vring, id: number, usedLen: number): void {
    const win = link.rxBufs;
    const inWin = bufferOffset(ring, id, win, usedLen);
    const off = usedLen >= RPMSG_HDR_SIZE && usedLen <= RPMSG_BUF_SIZE ? inWin : -1;
    if (off < 0) {
      const addr = ring.descAddr(id);
      this.stats.droppedBad++;
      this.log.error(`message from ${this.procName(link.remote)} refused: descriptor ${id}: ${win.describe(addr, usedLen)} or length ${usedLen} not in ${RPMSG_HDR_SIZE}..${RPMSG_BUF_SIZE}`);
      return;
    }
    const hdr = link.rxHdr;
    const len = hdr.len(off);
    if (RPMSG_HDR_SIZE + len > usedLen) {
      this.stats.droppedBad++;
      this.log.error(`message from ${this.procName(link.remote)} refused: header length ${len} exceeds the ${usedLen - RPMSG_HDR_SIZE} bytes written`);
      return;
    }
    const dst = hdr.dst(off);
    const src = hdr.src(off);
    this.stats.received++;
    if (dst === IPC_CTRL_ENDPOINT_ID) {
      if (len === RPMSG_NS_MSG_SIZE) this.processAnnounce(link.remote, win.u8, off + RPMSG_HDR_SIZE);
      else this.log.warn(`control message of ${len} bytes from ${this.procName(link.remote)} ignored (expected ${RPMSG_NS_MSG_SIZE})`);
      return;
    }
    const ep = dst < MAXENDPOINTS ? this.endpoints[dst] : undefined;
    if (!ep) {
      this.stats.droppedNoEndpoint++;
      return;
    }
    if (ep.callback) {
      const at = off + RPMSG_HDR_SIZE;
      ep.callback(ep, ep.callbackArg, win.u8.subarray(at, at + len), len, src, link.remote);
    } else if (!ep.enqueue(win.u8, off + RPMSG_HDR_SIZE, len, src, link.remote, hdr.words)) {
      this.stats.droppedQueueFull++;
      return;
    }
    this.newMsgFxn?.(src, link.remote);
  }
}
