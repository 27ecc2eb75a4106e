// ICMsg (Zephyr subsys/ipc/ipc_service/lib/icmsg.c) in the "unbound = disable" mode: one endpoint,
// a TX pbuf written by this core and an RX pbuf written by the peer, an MBOX channel each way.
//
// Bonding (doc ipc_service_icmsg.rst; PR #52258): open resets both TX indexes and pushes the
// 13-byte magic, signals the peer, then checks the RX region whether or not a signal came (so the
// regions must start zeroed: hetsoc zeroes shared RAM at power-on), and re-sends the signal every
// CONFIG_IPC_SERVICE_ICMSG_BOND_NOTIFY_REPEAT_TO_MS until the peer's magic is read; then bound()
// runs and the peer is signalled once more. Receiving runs in the ICMsg work queue, one packet per
// work run, resubmitted while data remains (the MBOX only says "look"; signals coalesce).
// Stress hooks: every index ICMsg publishes after filling memory goes through Pbuf.write (the magic
// and every message), which carries PT_PUBLISH and the bit-flip fault. txInit's reset of both
// indexes covers no data, and the session handshake word (unbound enable/detect) is not modelled.

import {
  ICMSG_BOND_NOTIFY_REPEAT_TO_MS, ICMSG_MAGIC, ICMSG_STATE_CONNECTED_SID_DISABLED, ICMSG_STATE_DISCONNECTED,
  ICMSG_STATE_INITIALIZING_SID_DISABLED, ICMSG_STATE_NAMES, ICMSG_STATE_OFF, PBUF_RX_READ_BUF_SIZE, isIcmsgMagic,
} from '../../shared/icmsg-proto.js';
import type { Pbuf } from '../../shared/pbuf.js';
import { EALREADY, EBADMSG, EBUSY, EINVAL, ENODATA } from '../../shared/zephyr-errno.js';
import type { CoreRuntime } from '../runtime.js';
import { DelayableWork, Work, type WorkQueue } from './kernel.js';
import type { NrfMbox } from './mbox.js';

export interface IcmsgCallbacks {
  bound?(): void;
  unbound?(): void;
  /** `data` is valid until the callback returns (it is the receive buffer). */
  received?(data: Uint8Array, len: number): void;
  error?(message: string): void;
}

export interface IcmsgConfig {
  /** Instance name for messages (the devicetree node, e.g. "ipc1"). */
  name: string;
  rt: CoreRuntime;
  tx: Pbuf;
  rx: Pbuf;
  mbox: NrfMbox;
  txChannel: number;
  rxChannel: number;
  workq: WorkQueue;
  bondNotifyRepeatMs?: number;
  rxReadBufSize?: number;
}

export class IcmsgError extends Error {
  override name = 'IcmsgError';
}

export class Icmsg {
  readonly name: string;
  private state = ICMSG_STATE_OFF;
  private cb: IcmsgCallbacks = {};
  private readonly rxBuf: Uint8Array;
  /** rxViews[n] = the first n bytes of rxBuf, made once so delivery allocates nothing. */
  private readonly rxViews: Uint8Array[];
  private readonly work: Work;
  private readonly notify: DelayableWork;
  private mboxReady = false;
  readonly stats = { sent: 0, received: 0, bondSignals: 0, full: 0 };

  constructor(private readonly cfg: IcmsgConfig) {
    this.name = cfg.name;
    const size = cfg.rxReadBufSize ?? PBUF_RX_READ_BUF_SIZE;
    this.rxBuf = new Uint8Array(size);
    this.rxViews = Array.from({ length: size + 1 }, (_, n) => this.rxBuf.subarray(0, n));
    this.work = new Work(`icmsg ${cfg.name} rx`, () => this.process());
    this.notify = new DelayableWork(cfg.rt, cfg.workq, `icmsg ${cfg.name} bond notify`, () => this.notifyProcess());
  }

  get stateName(): string {
    return ICMSG_STATE_NAMES[this.state] ?? String(this.state);
  }

  get isBound(): boolean {
    return this.state >= ICMSG_STATE_CONNECTED_SID_DISABLED;
  }

  /** icmsg_open: 0, or -EALREADY when already open (or opening). bound() arrives later. */
  open(cb: IcmsgCallbacks): number {
    if (this.state !== ICMSG_STATE_OFF) return -EALREADY;
    this.state = ICMSG_STATE_INITIALIZING_SID_DISABLED;
    this.cb = cb;
    const { rx, tx, mbox } = this.cfg;
    rx.rxInit();
    tx.txInit();
    const w = tx.write(ICMSG_MAGIC);
    if (w !== ICMSG_MAGIC.length) {
      this.state = ICMSG_STATE_OFF;
      throw new IcmsgError(`ICMsg ${this.name}: the TX region cannot hold the ${ICMSG_MAGIC.length}-byte bonding magic (pbuf_write returned ${w})`);
    }
    if (!this.mboxReady) {
      let r = mbox.registerCallback(this.cfg.rxChannel, () => this.cfg.workq.submit(this.work));
      if (r < 0) return this.mboxFailure('register the RX channel callback', r);
      r = mbox.setEnabled(this.cfg.rxChannel, true);
      if (r < 0 && r !== -EALREADY) return this.mboxFailure('enable the RX channel', r);
      this.mboxReady = true;
    }
    const s = mbox.send(this.cfg.txChannel);
    if (s < 0) return this.mboxFailure('signal the TX channel', s);
    this.stats.bondSignals++;
    this.notify.schedule(this.cfg.bondNotifyRepeatMs ?? ICMSG_BOND_NOTIFY_REPEAT_TO_MS);
    // The peer may have bonded before we listened: look at the RX region without waiting for a signal.
    this.cfg.workq.submit(this.work);
    return 0;
  }

  private mboxFailure(what: string, code: number): number {
    this.state = ICMSG_STATE_OFF;
    if (code === -EINVAL) {
      throw new IcmsgError(`ICMsg ${this.name}: cannot ${what}: MBOX channel tx=${this.cfg.txChannel}/rx=${this.cfg.rxChannel} not in the controller's masks`);
    }
    return code;
  }

  /** icmsg_close: stops receiving; the peer is not told (the disabled mode has no unbound). */
  close(): number {
    if (this.state === ICMSG_STATE_OFF) return -EALREADY;
    this.notify.cancel();
    this.state = ICMSG_STATE_OFF;
    this.cb = {};
    return 0;
  }

  /**
   * icmsg_send: the byte count, -EBUSY before bonding, -ENODATA for an empty message, -ENOMEM when
   * the TX buffer is full, -EINVAL for a corrupt index or an oversize message, -EBADMSG on a short write.
   */
  send(data: Uint8Array, len: number = data.length): number {
    if (this.state < ICMSG_STATE_CONNECTED_SID_DISABLED) return this.state === ICMSG_STATE_DISCONNECTED ? len : -EBUSY;
    if (len === 0) return -ENODATA;
    const w = this.cfg.tx.write(data, len);
    if (w < 0) {
      this.stats.full++;
      return w;
    }
    if (w < len) return -EBADMSG;
    this.stats.sent++;
    const s = this.cfg.mbox.send(this.cfg.txChannel);
    return s < 0 ? s : w;
  }

  private notifyProcess(): void {
    if (this.state !== ICMSG_STATE_INITIALIZING_SID_DISABLED) return;
    this.cfg.mbox.send(this.cfg.txChannel);
    this.stats.bondSignals++;
    this.notify.schedule(this.cfg.bondNotifyRepeatMs ?? ICMSG_BOND_NOTIFY_REPEAT_TO_MS);
  }

  /** One work run: read one packet, act on it, resubmit while more is waiting. */
  private process(): void {
    if (this.state === ICMSG_STATE_OFF) return;
    const rx = this.cfg.rx;
    const len = rx.read(null);
    if (len <= 0) {
      if (len < 0) this.cb.error?.(`ICMsg ${this.name}: corrupt RX region (pbuf_read returned ${len})`);
      return;
    }
    if (len > this.rxBuf.length) {
      // Zephyr: __ASSERT_NO_MSG(len <= CONFIG_PBUF_RX_READ_BUF_SIZE); without asserts the channel stalls.
      throw new IcmsgError(
        `ICMsg ${this.name}: a ${len}-byte message arrived but the receive buffer (CONFIG_PBUF_RX_READ_BUF_SIZE) is ${this.rxBuf.length} bytes; Zephyr asserts here`,
      );
    }
    const n = rx.read(this.rxBuf, len);
    if (n !== len) {
      this.cb.error?.(`ICMsg ${this.name}: pbuf_read returned ${n} for a ${len}-byte packet`);
      return;
    }
    if (this.state === ICMSG_STATE_INITIALIZING_SID_DISABLED) {
      if (isIcmsgMagic(this.rxBuf, n)) {
        this.state = ICMSG_STATE_CONNECTED_SID_DISABLED;
        this.notify.cancel();
        this.cb.bound?.();
        // Tell the peer, which may be waiting for our magic's signal.
        this.cfg.mbox.send(this.cfg.txChannel);
      }
      // Anything else before the magic is a stale packet; it is dropped as Zephyr does.
    } else if (this.state >= ICMSG_STATE_CONNECTED_SID_DISABLED) {
      this.stats.received++;
      this.cb.received?.(this.rxViews[n]!, n);
    }
    if (this.state !== ICMSG_STATE_OFF && rx.read(null) > 0) this.cfg.workq.submit(this.work);
  }
}
