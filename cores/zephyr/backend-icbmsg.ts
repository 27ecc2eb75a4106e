// Zephyr's ICBMsg backend ("zephyr,ipc-icbmsg") in its ICMsg-based design (Zephyr 3.6 up to the
// 2026 rework; subsys/ipc/ipc_service/backends/ipc_icbmsg.c @6e85928c, ipc_service_icbmsg.rst).
//
// Data travels in blocks (cores/zephyr/icbmsg-blocks.ts); ICMsg carries 3-byte control messages
// {u8 type, u8 ept_addr, u8 block_index}: MSG_DATA, MSG_RELEASE_DATA, MSG_BOUND, MSG_RELEASE_BOUND.
// Binding by name: the initiator (rx-region below tx-region) numbers its endpoints by registration
// and sends MSG_BOUND with the NUL-terminated name; the follower keeps each bound message until a
// local endpoint of that name registers, then calls bound() and answers MSG_RELEASE_BOUND; the
// initiator's bound() fires on MSG_RELEASE_BOUND or the first MSG_DATA for that address. Binding
// runs in the endpoint-bound work queue; control messages are handled in the ICMsg work queue.
//
// Everything from the peer is validated (length, endpoint address, block index, header size, and
// here also that the blocks are not already held or that a release names a block in flight); a bad
// message is dropped and counted (status().rejected), and reported to the endpoint's error() when
// the endpoint is known. It never faults the core, and never reads outside the RX blocks area.
//
// Stress hooks (shared/perturb.ts), before a filled block's MSG_DATA goes out: a bit-flip fault may
// hit the payload, PT_PUBLISH may delay the sender, and a corrupt-index fault replaces the block
// index in the control message with one outside the peer's RX blocks. The peer refuses it; the
// protocol has no recovery, so those blocks stay sent forever: status().tx.stranded counts them.
//
// Tracing (cores/trace.ts): each allocation attempt of ipc_service_get_tx_buffer and each run of
// the endpoint-bound work is a slice; every allocation and release samples the free TX blocks.
// Messages (MSG_DATA, releases, bound messages) are ICMsg packets: their flows come from ICMsg.

import {
  ICBMSG_CONTROL_MSG_LEN, ICBMSG_EPT_ADDR_INVALID, ICBMSG_MAX_BLOCKS, ICBMSG_MSG_BOUND, ICBMSG_MSG_DATA, ICBMSG_MSG_RELEASE_BOUND,
  ICBMSG_MSG_RELEASE_DATA,
} from '../../shared/icbmsg-layout.js';
import { PERTURB, PT_PUBLISH, flipPayloadBit, mix32, perturbAt, takeFault } from '../../shared/perturb.js';
import { TN_GET_TX_BUFFER, TN_ICBMSG_BOUND_WORK, TN_ICBMSG_FREE_BLOCKS } from '../../shared/trace-ring.js';
import { EAGAIN, EALREADY, EBUSY, EINVAL, ENOMEM, ENXIO } from '../../shared/zephyr-errno.js';
import type { CoreRuntime } from '../runtime.js';
import { Semaphore } from '../runtime.js';
import { TRACE, traceBegin, traceCounter, traceEnd, traceLabel } from '../trace.js';
import type { IpcBackend, IpcEptCfg, TxBufferRequest } from './backend.js';
import type { Icmsg } from './icmsg.js';
import {
  IcbmsgBlocks, type IcbmsgBlocksArea, IcbmsgRxBuffers, IcbmsgTxPool, RX_BOUND_WAIT, RX_DELIVERING, RX_HELD, RX_RELEASED, TX_OWNED,
  TX_SENT, blocksFor,
} from './icbmsg-blocks.js';
import { K_FOREVER, type KTimeout, Work, type WorkQueue, timeoutMs } from './kernel.js';

/** enum ept_bounding_state. */
export const EPT_UNCONFIGURED = 0;
export const EPT_CONFIGURED = 1;
/** Initiator only: MSG_BOUND sent, bound() not called yet. */
export const EPT_BOUNDING = 2;
export const EPT_READY = 3;
const EPT_STATE_NAMES = ['UNCONFIGURED', 'CONFIGURED', 'BOUNDING', 'READY'] as const;
/** enum ept_rebound_state. */
export const EPT_NORMAL = 0;
export const EPT_DEREGISTERED = 1;
export const EPT_REBOUNDING = 2;
const REBOUND_NAMES = ['NORMAL', 'DEREGISTERED', 'REBOUNDING'] as const;
/** waiting_bound[] entry with no bound message. */
const WAITING_BOUND_MSG_EMPTY = 0xFFFF;

/** One endpoint slot (struct ept_data); it is the endpoint's token. */
interface IcbmsgEpt {
  readonly index: number;
  cfg: IpcEptCfg;
  readonly nameBytes: Uint8Array;
  state: number;
  rebound: number;
  addr: number;
}

export interface IcbmsgBackendOptions {
  name: string;
  rt: CoreRuntime;
  icmsg: Icmsg;
  /** Blocks area of the TX region (written by this core). */
  tx: IcbmsgBlocksArea;
  /** Blocks area of the RX region (written by the peer). */
  rx: IcbmsgBlocksArea;
  /** rx-region address < tx-region address. */
  initiator: boolean;
  /** ep_bound_work_q, shared by the core's ICBMsg instances. */
  boundWorkq: WorkQueue;
  /** CONFIG_IPC_SERVICE_BACKEND_ICBMSG_NUM_EP (1..254). */
  numEndpoints: number;
  /** Tracing: the TX region's address (key of the free-blocks counter). */
  txAddr?: number;
}

const utf8 = new TextEncoder();
/** get_tx_buffer's answer when a block was free at once. */
const RESOLVED_0: Promise<number> = Promise.resolve(0);

export class IcbmsgBackend implements IpcBackend {
  readonly compatible = 'zephyr,ipc-icbmsg';
  readonly name: string;
  readonly icmsg: Icmsg;
  readonly initiator: boolean;
  private readonly rt: CoreRuntime;
  private readonly tx: IcbmsgBlocks;
  private readonly rx: IcbmsgBlocks;
  private readonly pool: IcbmsgTxPool;
  private readonly numEp: number;
  private readonly epts: IcbmsgEpt[] = [];
  /** ept_map: endpoint address -> slot index. */
  private readonly eptMap: Uint8Array;
  /** waiting_bound: endpoint address -> RX block of a bound message not yet matched. */
  private readonly waitingBound: Uint16Array;
  private readonly rxBufs: IcbmsgRxBuffers;
  private readonly blockWaitSem: Semaphore;
  private readonly boundWork: Work;
  private readonly boundWorkq: WorkQueue;
  private readonly ctl = new Uint8Array(ICBMSG_CONTROL_MSG_LEN);
  private controlBound = false;
  /** The bound work found no block for a MSG_BOUND (K_FOREVER): it runs again on the next release. */
  private boundNeedsBlocks = false;
  /**
   * corruptIndexSent: MSG_DATA sent with a corrupted block index (stress corrupt-index fault);
   * txWaits: allocations that found no free block and waited on block_wait_sem.
   */
  private readonly counters = { rejected: 0, lastRejected: '', icmsgErrors: 0, corruptIndexSent: 0, txWaits: 0 };
  /** Tracing: counter key and label of the free-blocks counter. */
  private readonly traceKey: number;
  private readonly traceLabel: number;

  constructor(opts: IcbmsgBackendOptions) {
    this.name = opts.name;
    this.rt = opts.rt;
    this.icmsg = opts.icmsg;
    this.initiator = opts.initiator;
    this.tx = new IcbmsgBlocks(opts.tx, `${opts.name} tx`);
    this.rx = new IcbmsgBlocks(opts.rx, `${opts.name} rx`);
    if (!(Number.isInteger(opts.numEndpoints) && opts.numEndpoints >= 1 && opts.numEndpoints <= 254)) {
      throw new RangeError(`ICBMsg ${opts.name}: CONFIG_IPC_SERVICE_BACKEND_ICBMSG_NUM_EP = ${opts.numEndpoints} is outside 1..254`);
    }
    this.numEp = opts.numEndpoints;
    this.pool = new IcbmsgTxPool(this.tx.count);
    this.eptMap = new Uint8Array(this.numEp).fill(ICBMSG_EPT_ADDR_INVALID);
    this.waitingBound = new Uint16Array(this.numEp).fill(WAITING_BOUND_MSG_EMPTY);
    this.rxBufs = new IcbmsgRxBuffers(this.rx);
    this.blockWaitSem = new Semaphore(opts.rt, `icbmsg ${opts.name} block_wait_sem`);
    this.boundWorkq = opts.boundWorkq;
    this.boundWork = new Work(`icbmsg ${opts.name} ep bound`, () => this.boundProcess());
    this.traceKey = opts.txAddr ?? 0;
    this.traceLabel = TRACE.on ? traceLabel(opts.name) : 0;
  }

  /** TX blocks not allocated (read-only view of the allocator, for tests and status). */
  freeBlocks(): number {
    return this.pool.free;
  }

  // ---- instance and endpoints ----------------------------------------------------------------

  /** open: opens the internal ICMsg (-EALREADY the second time); binding starts at its bound(). */
  open_instance(): number {
    return this.icmsg.open({
      bound: () => {
        this.controlBound = true;
        this.boundWorkq.submit(this.boundWork);
      },
      received: (data, len) => this.controlReceived(data, len),
      error: () => {
        this.counters.icmsgErrors++;
      },
    });
  }

  /**
   * register_ept: a new slot (initiator: address = slot index), or, for a deregistered endpoint of
   * the same name, the same slot again (its bound() fires again locally). -ENOMEM when all
   * CONFIG_..._NUM_EP slots are taken. Binding continues in the bound work queue.
   */
  register_endpoint(cfg: IpcEptCfg, setToken: (token: unknown) => void): number {
    if (typeof cfg.name !== 'string') return -EINVAL;
    for (const e of this.epts) {
      if (e.rebound === EPT_DEREGISTERED && e.cfg.name === cfg.name) {
        e.cfg = cfg;
        e.rebound = EPT_REBOUNDING;
        setToken(e);
        this.boundWorkq.submit(this.boundWork);
        return 0;
      }
    }
    if (this.epts.length >= this.numEp) return -ENOMEM;
    const index = this.epts.length;
    const e: IcbmsgEpt = { index, cfg, nameBytes: utf8.encode(cfg.name), state: EPT_CONFIGURED, rebound: EPT_NORMAL, addr: ICBMSG_EPT_ADDR_INVALID };
    if (this.initiator) {
      e.addr = index;
      this.eptMap[index] = index;
    }
    this.epts.push(e);
    setToken(e);
    this.boundWorkq.submit(this.boundWork);
    return 0;
  }

  /** deregister_ept: local only (no wire message, no unbound on the peer). */
  deregister_endpoint(token: unknown): number {
    const e = token as IcbmsgEpt;
    if (e.rebound !== EPT_NORMAL) return -EINVAL;
    e.rebound = EPT_DEREGISTERED;
    return 0;
  }

  /** ept_bound_process, in the bound work queue. */
  private boundProcess(): void {
    if (!TRACE.on) return this.boundRun();
    traceBegin(TN_ICBMSG_BOUND_WORK);
    this.boundRun();
    traceEnd(TN_ICBMSG_BOUND_WORK);
  }

  private boundRun(): void {
    if (!this.controlBound) return;
    for (const e of this.epts) {
      if (e.rebound !== EPT_REBOUNDING) continue;
      e.rebound = EPT_NORMAL;
      // An endpoint deregistered before it was bound gets bound() from the normal path instead.
      if (e.state === EPT_READY) e.cfg.cb.bound?.(e.cfg.priv);
    }
    if (this.initiator) {
      this.boundNeedsBlocks = false;
      for (const e of this.epts) {
        if (e.state !== EPT_CONFIGURED) continue;
        if (!this.sendBound(e)) {
          this.boundNeedsBlocks = true;
          return;
        }
      }
    } else {
      for (let addr = 0; addr < this.numEp; addr++) {
        if (this.waitingBound[addr] !== WAITING_BOUND_MSG_EMPTY) this.matchBound(addr);
      }
    }
  }

  /** send_bound_message; false when no block is free now (the K_FOREVER wait: retried on release). */
  private sendBound(e: IcbmsgEpt): boolean {
    const len = e.nameBytes.length + 1;
    const i = this.tryAlloc(len);
    if (i === -EAGAIN) return false;
    if (i < 0) {
      e.state = EPT_UNCONFIGURED;
      e.cfg.cb.error?.(`ICBMsg ${this.name}: endpoint name "${e.cfg.name}" (${len} bytes) does not fit in the TX blocks`, e.cfg.priv);
      return true;
    }
    const off = this.tx.payloadOffset(i);
    this.tx.bytes.set(e.nameBytes, off);
    this.tx.bytes[off + len - 1] = 0;
    e.state = EPT_BOUNDING;
    if (this.sendBlock(ICBMSG_MSG_BOUND, e.addr, i, len) < 0) e.state = EPT_UNCONFIGURED;
    return true;
  }

  /** match_bound_msg (follower): binds the configured endpoint named by the bound message, if any. */
  private matchBound(addr: number): void {
    const blk = this.waitingBound[addr]!;
    const nameLen = this.rx.strlenAt(blk);
    if (nameLen < 0) return;
    const off = this.rx.payloadOffset(blk);
    const e = this.epts.find((x) => x.state === EPT_CONFIGURED && x.rebound !== EPT_DEREGISTERED && this.nameIs(x, off, nameLen));
    if (!e) return;
    this.waitingBound[addr] = WAITING_BOUND_MSG_EMPTY;
    e.addr = addr;
    this.eptMap[addr] = e.index;
    e.state = EPT_READY;
    e.cfg.cb.bound?.(e.cfg.priv);
    this.releaseRx(blk, ICBMSG_MSG_RELEASE_BOUND, addr);
  }

  private nameIs(e: IcbmsgEpt, off: number, len: number): boolean {
    const n = e.nameBytes;
    if (n.length !== len) return false;
    const b = this.rx.bytes;
    for (let k = 0; k < len; k++) if (b[off + k] !== n[k]) return false;
    return true;
  }

  // ---- TX ------------------------------------------------------------------------------------

  /**
   * One allocation attempt (alloc_tx_buffer without waiting): the start block, -ENOMEM when the
   * size can never fit, -EAGAIN when the blocks are busy now. The header gets the allocated size.
   */
  private tryAlloc(size: number): number {
    const n = blocksFor(size, this.tx.blockSize);
    if (n > this.tx.count) return -ENOMEM;
    const i = this.pool.alloc(n, size === 0);
    if (i < 0) return -EAGAIN;
    this.tx.setHeaderSize(i, this.pool.span[i]! * this.tx.blockSize - 4);
    if (TRACE.on) traceCounter(TN_ICBMSG_FREE_BLOCKS, this.traceKey, this.pool.free, this.traceLabel);
    return i;
  }

  /** One allocation attempt of get_tx_buffer (a trace slice when tracing). */
  private tryAllocForApp(size: number): number {
    if (!TRACE.on) return this.tryAlloc(size);
    traceBegin(TN_GET_TX_BUFFER);
    const r = this.tryAlloc(size);
    traceEnd(TN_GET_TX_BUFFER);
    return r;
  }

  /**
   * alloc_tx_buffer after a first attempt found no block (-EAGAIN): waits on block_wait_sem until
   * `wait` runs out (deadline, not per wake-up), trying again after each wake-up.
   */
  private async allocWait(size: number, wait: KTimeout): Promise<number> {
    let r = -EAGAIN;
    const ms = timeoutMs(wait);
    if (ms === 0) return -ENOMEM;
    this.counters.txWaits++;
    const deadline = this.rt.now() / 1000 + ms;
    let taken = false;
    for (;;) {
      const left = deadline - this.rt.now() / 1000;
      if (left <= 0 || !(await this.blockWaitSem.pend(left))) break;
      taken = true;
      r = this.tryAllocForApp(size);
      if (r !== -EAGAIN) break;
    }
    // This waiter may not have used all that was freed: pass the wake-up on.
    if (taken) this.giveBlockWait();
    return r;
  }

  /** k_sem_give on a semaphore of limit 1. */
  private giveBlockWait(): void {
    if (this.blockWaitSem.waiterCount > 0 || this.blockWaitSem.value === 0) this.blockWaitSem.post();
  }

  /** release_tx_blocks: keeps the first `keep` blocks (0: frees all) and wakes waiters. */
  private releaseTx(start: number, keep: number): void {
    if (this.pool.release(start, keep) === 0) return;
    if (TRACE.on) traceCounter(TN_ICBMSG_FREE_BLOCKS, this.traceKey, this.pool.free, this.traceLabel);
    this.giveBlockWait();
    if (this.boundNeedsBlocks) this.boundWorkq.submit(this.boundWork);
  }

  /** send_block: sets the header to `size`, sends the control message; frees the blocks on failure. */
  private sendBlock(type: number, addr: number, start: number, size: number): number {
    this.tx.setHeaderSize(start, size);
    this.pool.state[start] = TX_SENT;
    let index = start;
    if (PERTURB.on && type === ICBMSG_MSG_DATA) index = this.beforeDataPublish(start, size);
    const r = this.sendControl(type, addr, index);
    if (r < 0) this.releaseTx(start, 0);
    else if (index !== start) {
      this.pool.stranded[start] = 1;
      this.counters.corruptIndexSent++;
    }
    return r;
  }

  /**
   * Stress hooks between filling a block and announcing it: bit flip, publish delay, and the block
   * index to put in MSG_DATA (an out-of-range one when a corrupt-index fault fires).
   */
  private beforeDataPublish(start: number, size: number): number {
    flipPayloadBit(this.tx.bytes, this.tx.payloadOffset(start), size);
    perturbAt(PT_PUBLISH);
    // With 256 blocks every u8 is a valid index: no out-of-range value exists, the fault stays armed.
    const count = this.tx.count;
    if (count >= ICBMSG_MAX_BLOCKS) return start;
    const f = takeFault('corrupt-index');
    if (!f) return start;
    return count + (mix32(f.id, start) % (ICBMSG_MAX_BLOCKS - count));
  }

  private sendControl(type: number, addr: number, block: number): number {
    const c = this.ctl;
    c[0] = type;
    c[1] = addr;
    c[2] = block;
    return this.icmsg.send(c, ICBMSG_CONTROL_MSG_LEN);
  }

  /** An endpoint that has no address yet (follower before its bound message) cannot send. */
  private static noAddress(e: IcbmsgEpt): boolean {
    return e.addr === ICBMSG_EPT_ADDR_INVALID;
  }

  /** send: K_NO_WAIT allocation (-ENOMEM), copy, MSG_DATA; returns len. */
  send(token: unknown, data: Uint8Array, len: number): number {
    const e = token as IcbmsgEpt;
    if (IcbmsgBackend.noAddress(e)) return -EBUSY;
    const i = this.tryAlloc(len);
    if (i < 0) return -ENOMEM;
    this.tx.bytes.set(data.subarray(0, len), this.tx.payloadOffset(i));
    const r = this.sendBlock(ICBMSG_MSG_DATA, e.addr, i, len);
    return r < 0 ? r : len;
  }

  get_tx_buffer_size(): number {
    return this.tx.maxPayload;
  }

  /**
   * get_tx_buffer: req.size in (0 = the first free block and every free block after it), out the
   * allocated payload size; req.data a view onto the blocks. -ENOMEM when it can never fit (req.size
   * then holds the maximum) or nothing is free with K_NO_WAIT; -EAGAIN when K_MSEC(n) runs out.
   * When a block is free at once, the answer is a promise made once (no allocation per buffer);
   * otherwise the wait on block_wait_sem runs in waitTxBuffer.
   */
  get_tx_buffer(_token: unknown, req: TxBufferRequest, wait: KTimeout): Promise<number> {
    const size = req.size;
    if (!(Number.isInteger(size) && size >= 0)) return Promise.resolve(-EINVAL);
    if (!(wait === K_FOREVER || (Number.isFinite(wait) && wait >= 0))) return Promise.resolve(-EINVAL);
    if (size > this.tx.maxPayload) {
      req.size = this.tx.maxPayload;
      return Promise.resolve(-ENOMEM);
    }
    const i = this.tryAllocForApp(size);
    if (i === -EAGAIN) return wait === 0 ? Promise.resolve(-ENOMEM) : this.waitTxBuffer(req, size, wait);
    if (i < 0) return Promise.resolve(i);
    this.fillTxRequest(req, i);
    return RESOLVED_0;
  }

  /** get_tx_buffer when no block was free: alloc_tx_buffer's wait, then the request is filled. */
  private async waitTxBuffer(req: TxBufferRequest, size: number, wait: KTimeout): Promise<number> {
    const i = await this.allocWait(size, wait);
    if (i < 0) return i;
    this.fillTxRequest(req, i);
    return 0;
  }

  private fillTxRequest(req: TxBufferRequest, i: number): void {
    const got = this.pool.span[i]! * this.tx.blockSize - 4;
    req.size = got;
    req.data = this.tx.view(i, got);
  }

  /** drop_tx_buffer: 0; -EINVAL not a TX payload pointer; -EALREADY dropped already; -ENXIO not obtained. */
  drop_tx_buffer(_token: unknown, data: Uint8Array): number {
    const i = this.tx.indexOf(data);
    if (i < 0) return -EINVAL;
    if (this.pool.state[i] === TX_OWNED) {
      this.releaseTx(i, 0);
      this.pool.dropped[i] = 1;
      return 0;
    }
    return this.pool.dropped[i] ? -EALREADY : -ENXIO;
  }

  /**
   * send_nocopy: shrinks the allocation to `len` (frees the tail blocks) and sends MSG_DATA; returns
   * len. -EINVAL for a buffer not obtained from get_tx_buffer, or a len larger than the allocation
   * (which, as in Zephyr, drops the buffer).
   */
  send_nocopy(token: unknown, data: Uint8Array, len: number): number {
    const e = token as IcbmsgEpt;
    const i = this.tx.indexOf(data);
    if (i < 0 || this.pool.state[i] !== TX_OWNED || !(Number.isInteger(len) && len >= 0)) return -EINVAL;
    const keep = blocksFor(len, this.tx.blockSize);
    if (keep > this.pool.span[i]!) {
      this.releaseTx(i, 0);
      return -EINVAL;
    }
    if (IcbmsgBackend.noAddress(e)) return -EBUSY;
    this.releaseTx(i, keep);
    const r = this.sendBlock(ICBMSG_MSG_DATA, e.addr, i, len);
    return r < 0 ? r : len;
  }

  // ---- RX ------------------------------------------------------------------------------------

  /** hold_rx_buffer, inside received(): 0; -EALREADY held already; -EINVAL not a buffer being delivered. */
  hold_rx_buffer(_token: unknown, data: Uint8Array): number {
    const i = this.rx.indexOf(data);
    if (i < 0) return -EINVAL;
    const s = this.rxBufs.state[i];
    if (s === RX_HELD) return -EALREADY;
    if (s !== RX_DELIVERING) return -EINVAL;
    this.rxBufs.state[i] = RX_HELD;
    return 0;
  }

  /** release_rx_buffer: sends MSG_RELEASE_DATA; -EALREADY released already; -ENXIO not held. */
  release_rx_buffer(_token: unknown, data: Uint8Array): number {
    const i = this.rx.indexOf(data);
    if (i < 0) return -EINVAL;
    const s = this.rxBufs.state[i];
    if (s === RX_RELEASED) return -EALREADY;
    if (s !== RX_HELD) return -ENXIO;
    const r = this.releaseRx(i, ICBMSG_MSG_RELEASE_DATA, 0);
    this.rxBufs.state[i] = RX_RELEASED;
    return r < 0 ? r : 0;
  }

  /** Frees an RX buffer locally and tells the peer. */
  private releaseRx(blk: number, type: number, addr: number): number {
    this.rxBufs.free(blk);
    return this.sendControl(type, addr, blk);
  }

  /** control_received, in the ICMsg work queue. */
  private controlReceived(d: Uint8Array, len: number): void {
    // Longer messages are a later protocol version: their first 3 bytes count.
    if (len < ICBMSG_CONTROL_MSG_LEN) return this.reject(`control message of ${len} bytes`);
    const type = d[0]!;
    const addr = d[1]!;
    const blk = d[2]!;
    if (addr >= this.numEp) return this.reject(`endpoint address ${addr} >= NUM_EP ${this.numEp} (type ${type})`);
    switch (type) {
      case ICBMSG_MSG_DATA:
        return this.receivedData(addr, blk);
      case ICBMSG_MSG_RELEASE_DATA:
      case ICBMSG_MSG_RELEASE_BOUND:
        return this.receivedRelease(type, addr, blk);
      case ICBMSG_MSG_BOUND:
        return this.receivedBound(addr, blk);
      default:
        // Unknown types are ignored (future protocol versions).
        return;
    }
  }

  private reject(what: string, e?: IcbmsgEpt): void {
    this.counters.rejected++;
    this.counters.lastRejected = what;
    e?.cfg.cb.error?.(`ICBMsg ${this.name}: rejected ${what}`, e.cfg.priv);
  }

  /** get_ept_and_rx_validate: the endpoint at `addr` if it may receive (calls a pending initiator bound()). */
  private eptForRx(addr: number): IcbmsgEpt | undefined {
    const e = this.epts[this.eptMap[addr]!];
    if (!e) return undefined;
    if (e.state === EPT_BOUNDING) {
      e.state = EPT_READY;
      if (e.rebound !== EPT_NORMAL) return undefined;
      e.cfg.cb.bound?.(e.cfg.priv);
      return e;
    }
    return e.state === EPT_READY && e.rebound === EPT_NORMAL ? e : undefined;
  }

  private receivedData(addr: number, blk: number): void {
    const e = this.eptForRx(addr);
    const size = this.rxBufs.claim(blk);
    if (size < 0) return this.reject(`MSG_DATA for endpoint ${addr}: ${this.rx.describeRefusal(blk, size)}`, e);
    if (!e) {
      // Nobody to deliver to (not bound, deregistered): give the blocks back rather than leak them.
      this.reject(`MSG_DATA for endpoint address ${addr}, which has no ready local endpoint`);
      this.releaseRx(blk, ICBMSG_MSG_RELEASE_DATA, 0);
      return;
    }
    this.rxBufs.state[blk] = RX_DELIVERING;
    e.cfg.cb.received?.(this.rx.view(blk, size), size, e.cfg.priv);
    if (this.rxBufs.state[blk] === RX_DELIVERING) this.releaseRx(blk, ICBMSG_MSG_RELEASE_DATA, 0);
  }

  private receivedRelease(type: number, addr: number, blk: number): void {
    if (!(blk < this.tx.count && this.pool.state[blk] === TX_SENT)) {
      return this.reject(`release of TX block ${blk}, which is not in flight`);
    }
    this.releaseTx(blk, 0);
    if (type === ICBMSG_MSG_RELEASE_BOUND && !this.eptForRx(addr)) {
      this.reject(`MSG_RELEASE_BOUND for endpoint address ${addr}, which is not bounding`);
    }
  }

  private receivedBound(addr: number, blk: number): void {
    if (this.initiator) return this.reject(`MSG_BOUND received by the initiator (endpoint ${addr})`);
    const old = this.waitingBound[addr]!;
    if (old !== WAITING_BOUND_MSG_EMPTY) {
      // A newer bound message for the same address replaces the old one (as in Zephyr).
      this.rxBufs.free(old);
      this.waitingBound[addr] = WAITING_BOUND_MSG_EMPTY;
    }
    const size = this.rxBufs.claim(blk);
    if (size < 0) return this.reject(`MSG_BOUND for endpoint ${addr}: ${this.rx.describeRefusal(blk, size)}`);
    this.rxBufs.state[blk] = RX_BOUND_WAIT;
    this.waitingBound[addr] = blk;
    this.boundWorkq.submit(this.boundWork);
  }

  // ---- report --------------------------------------------------------------------------------

  status(): Record<string, unknown> {
    const held = this.rxBufs.count(RX_HELD);
    let waiting = 0;
    for (const w of this.waitingBound) if (w !== WAITING_BOUND_MSG_EMPTY) waiting++;
    return {
      role: this.initiator ? 'initiator' : 'follower',
      control: this.icmsg.stateName,
      // free + owned + inFlight == blocks; stranded (part of inFlight) are never coming back.
      tx: {
        blockSize: this.tx.blockSize, blocks: this.tx.count, free: this.pool.free, maxPayload: this.tx.maxPayload,
        owned: this.pool.blocksIn(TX_OWNED), inFlight: this.pool.blocksIn(TX_SENT), stranded: this.pool.strandedBlocks(),
      },
      rx: { blockSize: this.rx.blockSize, blocks: this.rx.count, held },
      endpoints: this.epts.map((e) => ({
        name: e.cfg.name, addr: e.addr, state: EPT_STATE_NAMES[e.state], rebound: REBOUND_NAMES[e.rebound],
      })),
      waitingBound: waiting,
      ...this.counters,
      ...this.icmsg.stats,
    };
  }
}
