// ICMsg (Zephyr subsys/ipc/ipc_service/lib/icmsg.c): one endpoint, a TX pbuf written by this core
// and an RX pbuf written by the peer, an MBOX channel each way. The devicetree's `unbound` picks
// how the two sides bond (doc ipc_service_icmsg.rst):
//
// "disable" (the v1 protocol, PR #52258): open resets both TX indexes and pushes the 13-byte magic,
// signals the peer, then checks the RX region whether or not a signal came (so the regions must
// start zeroed: hetsoc zeroes shared RAM at power-on), and re-sends the signal every
// CONFIG_IPC_SERVICE_ICMSG_BOND_NOTIFY_REPEAT_TO_MS until the peer's magic is read; then bound()
// runs and the peer is signalled once more. The peer is never told of a close.
//
// "enable" (the session protocol, Zephyr 4.1+): each pbuf's handshake word (@4, written by the
// region's reader) carries session ids: in my RX region `local_sid | remote_sid_ack << 16`, so in
// my TX region (written by the peer) low16 = the peer's session request, high16 = its ack of mine.
// open picks a new local sid (low16 of the TX handshake word + 1, skipping the peer's last ack and
// 0), writes it without an ack and signals. While initializing, each run reads the TX handshake
// word: a new non-zero peer sid resets my TX FIFO (pbuf_tx_init: the peer reads only after it sees
// my ack) and is acked; seeing my sid acked makes the instance CONNECTED and calls bound(). While
// connected, each run reads a packet and THEN checks that the peer's sid is unchanged: if not (the
// peer closed, re-opened or rebooted) the packet is discarded, the instance goes DISCONNECTED and
// unbound() is called; the application re-registers the endpoint to bond again. close writes 0 as
// my sid and signals. "detect": as "enable", but while the RX region holds a v1 magic packet the
// instance falls back to the v1 protocol (pushes its own magic and bonds the "disable" way).
//
// Receiving runs in the ICMsg work queue, one packet per work run, resubmitted while data remains
// (the MBOX only says "look"; signals coalesce).
// Stress hooks: every index ICMsg publishes after filling memory goes through Pbuf.write (the magic
// and every message), which carries PT_PUBLISH and the bit-flip fault. txInit's reset of both
// indexes covers no data; the handshake word is a plain atomic store with no perturbation point.
//
// Tracing (cores/trace.ts, one constant-false branch when off): reading a packet is a slice ("icmsg
// rx", around the received() callback). A packet's flow is keyed by (TX region address, running
// count of the packets written to / read from that pbuf since its last reset): the writer counts
// from its txInit (the v1 magic is packet 0), the reader from its rxInit. Only data packets (sent
// and read while bound) carry flow ends. Bound and unbound are instants.

import {
  ICMSG_BOND_NOTIFY_REPEAT_TO_MS, ICMSG_MAGIC, ICMSG_STATE_CONNECTED_SID_DISABLED, ICMSG_STATE_CONNECTED_SID_ENABLED,
  ICMSG_STATE_DISCONNECTED, ICMSG_STATE_INITIALIZING_SID_DETECT, ICMSG_STATE_INITIALIZING_SID_DISABLED,
  ICMSG_STATE_INITIALIZING_SID_ENABLED, ICMSG_STATE_NAMES, ICMSG_STATE_OFF, PBUF_RX_READ_BUF_SIZE, isIcmsgMagic,
} from '../../shared/icmsg-proto.js';
import type { Pbuf } from '../../shared/pbuf.js';
import { TN_ICMSG_BOUND, TN_ICMSG_RX, TN_ICMSG_UNBOUND } from '../../shared/trace-ring.js';
import { EALREADY, EBADMSG, EBUSY, EINVAL, ENODATA } from '../../shared/zephyr-errno.js';
import type { CoreRuntime } from '../runtime.js';
import { TRACE, traceBegin, traceEnd, traceFlowIn, traceFlowOut, traceInstant, traceNow } from '../trace.js';
import { DelayableWork, Work, type WorkQueue } from './kernel.js';
import type { NrfMbox } from './mbox.js';

/** The devicetree's `unbound` (enum icmsg_unbound_mode). */
export type IcmsgUnboundMode = 'disable' | 'enable' | 'detect';

/** SID_DISCONNECTED: the session id that means "no session" (also what close writes). */
export const ICMSG_SID_DISCONNECTED = 0;

/** MAKE_RX_HANDSHAKE: the word this core writes in its RX region. */
export const icmsgRxHandshake = (localSid: number, remoteSidAck: number): number => ((localSid & 0xFFFF) | ((remoteSidAck & 0xFFFF) << 16)) >>> 0;

export interface IcmsgCallbacks {
  bound?(): void;
  /** Session modes only: the peer closed, re-opened or rebooted. Re-open (re-register) to bond again. */
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
  /** Default "disable". Session modes need both pbufs built with a handshake word. */
  unbound?: IcmsgUnboundMode;
  bondNotifyRepeatMs?: number;
  rxReadBufSize?: number;
  /** Tracing: physical addresses of the TX and RX regions' pbufs (flow channels; default 0). */
  txAddr?: number;
  rxAddr?: number;
}

export class IcmsgError extends Error {
  override name = 'IcmsgError';
}

export class Icmsg {
  readonly name: string;
  readonly mode: IcmsgUnboundMode;
  private state = ICMSG_STATE_OFF;
  private cb: IcmsgCallbacks = {};
  private readonly rxBuf: Uint8Array;
  /** rxViews[n] = the first n bytes of rxBuf, made once so delivery allocates nothing. */
  private readonly rxViews: Uint8Array[];
  private readonly work: Work;
  private readonly notify: DelayableWork;
  private mboxReady = false;
  /** Session modes: the sid this core requested at its last open, and the peer's it acked (0: none). */
  private localSid = ICMSG_SID_DISCONNECTED;
  private remoteSid = ICMSG_SID_DISCONNECTED;
  readonly stats = { sent: 0, received: 0, bondSignals: 0, full: 0 };
  /**
   * Session modes: unbound() calls, packets read and then discarded because the peer's session had
   * changed, and times this core reset its TX FIFO for a new peer session.
   */
  readonly sessionStats = { unbounds: 0, discarded: 0, txResets: 0 };
  /** Packets written to the TX pbuf since its last txInit, read from the RX pbuf since rxInit. */
  private txCount = 0;
  private rxCount = 0;
  private readonly txAddr: number;
  private readonly rxAddr: number;

  constructor(private readonly cfg: IcmsgConfig) {
    this.name = cfg.name;
    this.mode = cfg.unbound ?? 'disable';
    if (this.mode !== 'disable' && !(cfg.tx.handshake && cfg.rx.handshake)) {
      const which = [cfg.tx.handshake ? '' : cfg.tx.name, cfg.rx.handshake ? '' : cfg.rx.name].filter(Boolean).join(' and ');
      throw new IcmsgError(`ICMsg ${this.name}: unbound = "${this.mode}" needs pbufs with a handshake word (dcache-alignment >= 8), but ${which} has none`);
    }
    const size = cfg.rxReadBufSize ?? PBUF_RX_READ_BUF_SIZE;
    this.rxBuf = new Uint8Array(size);
    this.rxViews = Array.from({ length: size + 1 }, (_, n) => this.rxBuf.subarray(0, n));
    this.work = new Work(`icmsg ${cfg.name} rx`, () => this.process());
    this.notify = new DelayableWork(cfg.rt, cfg.workq, `icmsg ${cfg.name} bond notify`, () => this.notifyProcess());
    this.txAddr = cfg.txAddr ?? 0;
    this.rxAddr = cfg.rxAddr ?? 0;
  }

  get stateName(): string {
    return ICMSG_STATE_NAMES[this.state] ?? String(this.state);
  }

  get isBound(): boolean {
    return this.state >= ICMSG_STATE_CONNECTED_SID_DISABLED;
  }

  /** Session modes: the local and remote session ids (0 = none), for status and tests. */
  get sessionIds(): { local: number; remote: number } {
    return { local: this.localSid, remote: this.remoteSid };
  }

  /**
   * icmsg_open: 0, or -EALREADY when already open (or opening) in "disable" mode. In the session
   * modes opening again (after unbound(), or even while connected) starts a new session, as in
   * Zephyr. bound() arrives later.
   */
  open(cb: IcmsgCallbacks): number {
    if (this.mode === 'disable') return this.openLegacy(cb);
    this.state = this.mode === 'enable' ? ICMSG_STATE_INITIALIZING_SID_ENABLED : ICMSG_STATE_INITIALIZING_SID_DETECT;
    this.cb = cb;
    const { rx, tx, mbox } = this.cfg;
    rx.rxInit();
    this.rxCount = 0;
    // As coded in Zephyr: the seed is the low half of the TX word (the peer's request), and the new
    // sid must differ from the peer's ack of our previous one so the peer sees a change.
    const h = tx.handshakeRead();
    const ack = h >>> 16;
    let sid = h & 0xFFFF;
    do sid = (sid + 1) & 0xFFFF; while (sid === ack || sid === ICMSG_SID_DISCONNECTED);
    this.localSid = sid;
    this.remoteSid = ICMSG_SID_DISCONNECTED;
    rx.handshakeWrite(icmsgRxHandshake(sid, ICMSG_SID_DISCONNECTED));
    const r = this.mboxInit();
    if (r < 0) return r;
    const s = mbox.send(this.cfg.txChannel);
    if (s < 0) return this.mboxFailure('signal the TX channel', s);
    this.stats.bondSignals++;
    return 0;
  }

  private openLegacy(cb: IcmsgCallbacks): number {
    if (this.state !== ICMSG_STATE_OFF) return -EALREADY;
    this.state = ICMSG_STATE_INITIALIZING_SID_DISABLED;
    this.cb = cb;
    const { rx, tx, mbox } = this.cfg;
    rx.rxInit();
    this.rxCount = 0;
    this.pushMagic();
    const r = this.mboxInit();
    if (r < 0) return r;
    const s = mbox.send(this.cfg.txChannel);
    if (s < 0) return this.mboxFailure('signal the TX channel', s);
    this.stats.bondSignals++;
    this.notify.schedule(this.cfg.bondNotifyRepeatMs ?? ICMSG_BOND_NOTIFY_REPEAT_TO_MS);
    // The peer may have bonded before we listened: look at the RX region without waiting for a signal.
    this.cfg.workq.submit(this.work);
    return 0;
  }

  /** initialize_tx_with_sid_disabled: reset both TX indexes and push the magic. */
  private pushMagic(): void {
    const tx = this.cfg.tx;
    tx.txInit();
    this.txCount = 0;
    const w = tx.write(ICMSG_MAGIC);
    if (w !== ICMSG_MAGIC.length) {
      this.state = ICMSG_STATE_OFF;
      throw new IcmsgError(`ICMsg ${this.name}: the TX region cannot hold the ${ICMSG_MAGIC.length}-byte bonding magic (pbuf_write returned ${w})`);
    }
    this.txCount++;
  }

  /** The RX channel's callback and interrupt, set up on the first open only. 0 or an MBOX error. */
  private mboxInit(): number {
    if (this.mboxReady) return 0;
    const { mbox, rxChannel } = this.cfg;
    let r = mbox.registerCallback(rxChannel, () => this.cfg.workq.submit(this.work));
    if (r < 0) return this.mboxFailure('register the RX channel callback', r);
    r = mbox.setEnabled(rxChannel, true);
    if (r < 0 && r !== -EALREADY) return this.mboxFailure('enable the RX channel', r);
    this.mboxReady = true;
    return 0;
  }

  private mboxFailure(what: string, code: number): number {
    this.state = ICMSG_STATE_OFF;
    if (code === -EINVAL) {
      throw new IcmsgError(`ICMsg ${this.name}: cannot ${what}: MBOX channel tx=${this.cfg.txChannel}/rx=${this.cfg.rxChannel} not in the controller's masks`);
    }
    return code;
  }

  /**
   * icmsg_close: stops receiving. In the session modes it also writes "no session" as this core's
   * sid and signals, so a connected peer gets unbound(); the "disable" mode tells the peer nothing.
   */
  close(): number {
    if (this.state === ICMSG_STATE_OFF) return -EALREADY;
    this.notify.cancel();
    if (this.mode !== 'disable') {
      this.cfg.rx.handshakeWrite(icmsgRxHandshake(ICMSG_SID_DISCONNECTED, ICMSG_SID_DISCONNECTED));
      this.cfg.mbox.send(this.cfg.txChannel);
    }
    this.state = ICMSG_STATE_OFF;
    this.cb = {};
    return 0;
  }

  /**
   * icmsg_send: the byte count, -EBUSY before bonding, -ENODATA for an empty message, -ENOMEM when
   * the TX buffer is full, -EINVAL for a corrupt index or an oversize message, -EBADMSG on a short
   * write. After the peer's session ended (DISCONNECTED) the message is dropped and its length
   * returned, as Zephyr does for threads that have not seen unbound() yet.
   */
  send(data: Uint8Array, len: number = data.length): number {
    if (this.state < ICMSG_STATE_CONNECTED_SID_DISABLED) return this.state === ICMSG_STATE_DISCONNECTED ? len : -EBUSY;
    if (len === 0) return -ENODATA;
    const ts = TRACE.on ? traceNow() : 0;
    const w = this.cfg.tx.write(data, len);
    if (w < 0) {
      this.stats.full++;
      return w;
    }
    const n = this.txCount++;
    if (TRACE.on) traceFlowOut(this.txAddr, n, ts);
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

  /** One work run (callback_process). */
  private process(): void {
    switch (this.state) {
      case ICMSG_STATE_INITIALIZING_SID_DETECT:
        if (this.detectLegacyPeer()) return;
        this.handshake();
        return;
      case ICMSG_STATE_INITIALIZING_SID_ENABLED:
        this.handshake();
        return;
      case ICMSG_STATE_INITIALIZING_SID_DISABLED:
      case ICMSG_STATE_CONNECTED_SID_DISABLED:
      case ICMSG_STATE_CONNECTED_SID_ENABLED:
        this.receive();
        return;
      default:
        // OFF, DISCONNECTED: nothing to do until the application opens again.
        return;
    }
  }

  /**
   * Detect mode: when the RX region starts with a v1 magic packet the peer runs the "disable"
   * protocol; answer with our own magic and bond that way (the next run reads the peer's magic).
   */
  private detectLegacyPeer(): boolean {
    const first = this.cfg.rx.getInitialBuf();
    if (first === null || first.length !== ICMSG_MAGIC.length || !isIcmsgMagic(first, first.length)) return false;
    this.state = ICMSG_STATE_INITIALIZING_SID_DISABLED;
    this.pushMagic();
    this.cfg.mbox.send(this.cfg.txChannel);
    this.cfg.workq.submit(this.work);
    return true;
  }

  /** Session handshake while initializing: ack a new peer session; connect once ours is acked. */
  private handshake(): void {
    const { tx, rx } = this.cfg;
    const h = tx.handshakeRead();
    const remoteReq = h & 0xFFFF;
    const localAck = h >>> 16;
    let notifyPeer = false;
    let rerun = false;
    if (remoteReq !== this.remoteSid && remoteReq !== ICMSG_SID_DISCONNECTED) {
      // The peer reads its RX FIFO (our TX) only once it sees this session acked, and checks its
      // peer's session after every read: resetting both indexes now races with no reader.
      tx.txInit();
      this.txCount = 0;
      this.sessionStats.txResets++;
      this.remoteSid = remoteReq;
      rx.handshakeWrite(icmsgRxHandshake(this.localSid, this.remoteSid));
      notifyPeer = true;
    }
    if (localAck === this.localSid && this.remoteSid !== ICMSG_SID_DISCONNECTED) {
      this.state = ICMSG_STATE_CONNECTED_SID_ENABLED;
      if (TRACE.on) traceInstant(TN_ICMSG_BOUND, this.txAddr);
      this.cb.bound?.();
      // The peer may have sent something already.
      rerun = true;
      notifyPeer = true;
    }
    if (notifyPeer) this.cfg.mbox.send(this.cfg.txChannel);
    if (rerun) this.cfg.workq.submit(this.work);
  }

  /**
   * Session modes, connected: true (and unbound() called) when the peer's session request is no
   * longer the one this core acked.
   */
  private sessionLost(): boolean {
    if ((this.cfg.tx.handshakeRead() & 0xFFFF) === this.remoteSid) return false;
    this.state = ICMSG_STATE_DISCONNECTED;
    this.sessionStats.unbounds++;
    if (TRACE.on) traceInstant(TN_ICMSG_UNBOUND, this.txAddr);
    this.cb.unbound?.();
    return true;
  }

  /** Read one packet, act on it, resubmit while more is waiting. */
  private receive(): void {
    const rx = this.cfg.rx;
    // Session mode: whatever is read counts only if the peer's session is still the one acked,
    // which is checked after reading (and before any complaint about what was read).
    const session = this.state === ICMSG_STATE_CONNECTED_SID_ENABLED;
    const len = rx.read(null);
    if (len <= 0) {
      if (session && this.sessionLost()) return;
      if (len < 0) this.cb.error?.(`ICMsg ${this.name}: corrupt RX region (pbuf_read returned ${len})`);
      return;
    }
    if (len > this.rxBuf.length) {
      if (session && this.sessionLost()) return;
      // Zephyr: __ASSERT_NO_MSG(len <= CONFIG_PBUF_RX_READ_BUF_SIZE); without asserts the channel stalls.
      throw new IcmsgError(
        `ICMsg ${this.name}: a ${len}-byte message arrived but the receive buffer (CONFIG_PBUF_RX_READ_BUF_SIZE) is ${this.rxBuf.length} bytes; Zephyr asserts here`,
      );
    }
    if (!TRACE.on) {
      if (!this.receivePacket(rx, len, session)) return;
    } else {
      // The packet was seen published (read(null) above): the slice's begin stamps its arrival.
      const ts = traceBegin(TN_ICMSG_RX);
      const more = this.receivePacket(rx, len, session, ts);
      traceEnd(TN_ICMSG_RX);
      if (!more) return;
    }
    if (this.state !== ICMSG_STATE_OFF && this.state !== ICMSG_STATE_DISCONNECTED && rx.read(null) > 0) this.cfg.workq.submit(this.work);
  }

  /** Reads the `len`-byte packet and acts on it; false when the work must not look for more. */
  private receivePacket(rx: Pbuf, len: number, session: boolean, ts = 0): boolean {
    const bound = this.state >= ICMSG_STATE_CONNECTED_SID_DISABLED;
    const n = rx.read(this.rxBuf, len);
    if (n > 0) {
      const k = this.rxCount++;
      if (bound && TRACE.on) traceFlowIn(this.rxAddr, k, ts);
    }
    if (session && this.sessionLost()) {
      this.sessionStats.discarded++;
      return false;
    }
    if (n !== len) {
      this.cb.error?.(`ICMsg ${this.name}: pbuf_read returned ${n} for a ${len}-byte packet`);
      return false;
    }
    if (this.state === ICMSG_STATE_INITIALIZING_SID_DISABLED) {
      if (isIcmsgMagic(this.rxBuf, n)) {
        this.state = ICMSG_STATE_CONNECTED_SID_DISABLED;
        this.notify.cancel();
        if (TRACE.on) traceInstant(TN_ICMSG_BOUND, this.txAddr);
        this.cb.bound?.();
        // Tell the peer, which may be waiting for our magic's signal.
        this.cfg.mbox.send(this.cfg.txChannel);
      }
      // Anything else before the magic is a stale packet; it is dropped as Zephyr does.
    } else if (this.state >= ICMSG_STATE_CONNECTED_SID_DISABLED) {
      this.stats.received++;
      this.cb.received?.(this.rxViews[n]!, n);
    }
    return true;
  }
}
