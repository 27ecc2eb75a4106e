// nRF5340 stress firmware (cpuapp and cpunet, both Zephyr): the run's flows over ipc_service,
// driven by the platform-independent StressEngine (./engine.ts).
//
// Each flow names an endpoint (FlowPlan.channel) of an instance (FlowPlan.instance): "ipc0" is
// ICBMsg (endpoints "stress0A", "stress0B"), "ipc1" is ICMsg (endpoint "stress1"). One endpoint
// carries at most one flow in each direction between the two cores. For every endpoint a flow to or
// from this core names, the firmware opens the instance (once), registers the endpoint, and waits
// (bounded) for bound(). Then it arms the plan's firmware-level faults, runs one sender task per
// outgoing flow, and hands everything received to engine.onMessage (ACKs go back on the endpoint).
//
// Transport per flow:
//  - copy: ipc_service_send from a per-flow scratch buffer; -ENOMEM (TX full) is BUSY.
//  - zero copy (flow.zeroCopy, ICBMsg only): ipc_service_get_tx_buffer(K_NO_WAIT), fill the block in
//    place, ipc_service_send_nocopy; no free block (-ENOMEM / -ENOBUFS / -EAGAIN) is BUSY.
//  -EBUSY (ICMsg not bonded, ICBMsg endpoint without an address) is BUSY too: after a peer reset
//  the link re-bonds and the sender resumes.
// Held RX buffers (flow.holdRx on the receiving side, ICBMsg only): after the engine checked a
// message, a seeded third of them are held (ipc_service_hold_rx_buffer; at most MAX_HELD at a time
// per endpoint) and released by a task after a seeded 0.1..2 ms, in whatever order they fall due.
// Before it is released, a held buffer is checked again against the hash taken when it was held: a
// change means the sender reused a block the receiver still held. Everything is released before
// main() returns.
// A block index the ICBMsg backend refuses (its error() callback) while the peer has a corrupt-index
// fault planned towards this core is reported as a detection of that fault; other backend errors
// are logged at error level.
// Lengths: flow.maxLen clamped to what the endpoint carries (ICBMsg: ipc_service_get_tx_buffer_size;
// ICMsg: the peer's CONFIG_PBUF_RX_READ_BUF_SIZE, 128 unless --arg icmsgMaxLen=N says otherwise).
// End: senders finish (FIN/ACK), FINs of incoming flows awaited, held buffers released, then, when
// the peer is alive, the firmware waits (bounded) until all of this core's ICBMsg TX blocks are free
// again, which it observes by asking for one buffer spanning every block (K_NO_WAIT) and dropping it.
// Every wait has a deadline.
//
// Core reset (core-reset fault; the plan schedules it only when every ICMsg instance runs the
// session protocol on both cores):
//  - ICMsg (session mode), either core: unbound() (the peer's session changed: it was reset) makes a
//    task register the endpoint again, as Zephyr's ipc_sessions tests do, and the handshake runs
//    with the peer's new incarnation; bound() again within REBOND_TIMEOUT_MS or it is logged. While
//    the link is down, sends are dropped (DISCONNECTED returns the length) or refused (-ENOMEM when
//    the dead peer's FIFO is full, -EBUSY while re-bonding): the surviving core's sender waits
//    (bounded) for the re-bond and keeps sending until AFTER_REBOND_MS past it, so traffic flows
//    again in the new session. Its receiver sees the new incarnation's flow start at seq 0
//    (engine `resettable`).
//  - ICBMsg, surviving core: Zephyr's ICBMsg has no reset detection, so nothing recovers: its senders
//    to the reset peer run out of blocks (the dead incarnation never releases them) and give up
//    after the engine's busy limit; FINs from the peer are not awaited, the TX drain is skipped, a
//    failed release of a held buffer is expected. These flows are loss-exempt (schema lossExempt).
//  - The reset core's new incarnation (args.incarnation >= 2) opens only its ICMsg instances: an
//    ICBMsg instance cannot bond with a peer still in its old session (its ICMsg control channel
//    runs the v1 protocol, which has no reset detection), so its ICBMsg flows do not run again (a
//    core-reset Detection says so). Its engine is fresh (sequence numbers from 0); its senders run
//    until the plan's traffic phase ends, at least AFTER_REBOND_MS past its bond.
//  - The returned report carries `sessions` (SessionReport per ICMsg endpoint) for the host checks.

import type { FirmwareContext } from '../../cores/context.js';
import type { IpcDevice, IpcEpt, IpcEptCfg, TxBufferRequest } from '../../cores/zephyr/backend.js';
import type { ZephyrApi } from '../../cores/zephyr/api.js';
import { PBUF_RX_READ_BUF_SIZE } from '../../shared/icmsg-proto.js';
import { mix32 } from '../../shared/perturb.js';
import { CONTROL_LEN, controlKind } from '../../shared/stress-payload.js';
import type { FlowPlan } from '../../soc/stress/schema.js';
import { BUSY, type Fill, SENT, type SenderOptions, StressEngine, type Transport } from './engine.js';

const ICBMSG = 'zephyr,ipc-icbmsg';
/** How long the endpoints may take to bind. */
const BIND_TIMEOUT_MS = 5000;
/** After the traffic phase: how long FIN/ACK may take. */
const FIN_GRACE_MS = 3000;
/** After the FINs: how long the peer may take to give back this core's ICBMsg TX blocks. */
const TX_DRAIN_MS = 2000;
/** With a corrupt-index fault planned on this core some blocks may never come back: wait less. */
const TX_DRAIN_STRANDED_MS = 200;
/** Held RX buffers per endpoint at most (the peer's TX blocks are shared by its endpoints). */
const MAX_HELD = 4;
/** One message in HOLD_EVERY is held (seeded choice). */
const HOLD_EVERY = 3;
const HOLD_MIN_US = 100;
const HOLD_SPAN_US = 1900;
/** Detections (refused block indexes) reported at most. */
const MAX_DETECTIONS = 16;
/** After unbound(): how long the endpoint may take to bind again (the peer's new incarnation boots). */
const REBOND_TIMEOUT_MS = 5000;
/** A surviving sender keeps sending this long after its link re-bonded (traffic resumed). */
const AFTER_REBOND_MS = 50;
/** Poll interval of the re-bond task (it is woken by unbound(); the poll only bounds its waits). */
const REBOND_POLL_MS = 100;

/**
 * What an ICMsg (session mode) endpoint went through, returned in the report's `sessions` (read by
 * soc/stress/checks.ts): bound() and unbound() calls, re-bonds that timed out, and the data messages
 * of its flows since the last unbound() (all of them when it was never unbound).
 */
export interface SessionReport {
  instance: string;
  endpoint: string;
  bounds: number;
  unbounds: number;
  rebondTimeouts: number;
  /** ms after t0 of the last bound(), and of the last unbound(). */
  lastBoundMs?: number;
  lastUnboundMs?: number;
  /** Data messages received on the rx flow, and sent on the tx flow, since the last unbound(). */
  rxSinceUnbound: number;
  txSinceUnbound: number;
}

interface Held {
  data: Uint8Array;
  len: number;
  /** Core clock (µs) when it is due for release. */
  due: number;
  /** Hash of the bytes when held. */
  hash: number;
}

interface Channel {
  instance: string;
  name: string;
  dev: IpcDevice;
  ept: IpcEpt;
  icbmsg: boolean;
  /** This core -> peer, and peer -> this core (at most one each). */
  txFlow?: FlowPlan;
  rxFlow?: FlowPlan;
  bound: ReturnType<FirmwareContext['semaphore']>;
  isBound: boolean;
  /** Largest message the endpoint carries. */
  maxLen: number;
  /** Copy mode: the payload is filled here, then ipc_service_send copies it. */
  scratch: Uint8Array;
  /** ACK replies (filled from the receive callback). */
  ackBuf: Uint8Array;
  /** Zero copy: get_tx_buffer's in/out argument, reused. */
  req: TxBufferRequest;
  /** Receive side: messages seen, held buffers, hold enabled. */
  rxCount: number;
  holdRx: boolean;
  held: Held[];
  reply: (fill: Fill) => void;
  /** ACKs the callback could not send (the FIN retransmission asks again). */
  ackFailed: number;
  /** RX buffers held so far. */
  holds: number;
  /** ICMsg in a session mode (re-bonds after unbound()); false for ICBMsg. */
  session: boolean;
  /** The endpoint's configuration (registered again after unbound()). */
  cfg?: IpcEptCfg;
  /** Session channels: bound() after unbound() is signalled here (the waiting senders). */
  rebound: ReturnType<FirmwareContext['semaphore']>;
  /** unbound() was called: the re-bond task registers the endpoint again. */
  needsRegister: boolean;
  registeredAtMs: number;
  everBound: boolean;
  timeoutCounted: boolean;
  /** rx / tx counts of the flows at the last unbound(). */
  rxAtUnbound: number;
  txAtUnbound: number;
  sr: SessionReport;
}

function hashBytes(u8: Uint8Array, len: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ u8[i]!, 0x01000193);
  return h >>> 0;
}

export default async function main(ctx: FirmwareContext) {
  const z = ctx.zephyr;
  if (!z) throw new Error(`core ${ctx.core.name}: firmware/stress/nrf.ts needs a Zephyr core (ctx.zephyr is missing)`);
  const engine = new StressEngine(ctx);
  const { plan, me } = engine;
  const log = ctx.log;
  const icmsgMaxLen = Number(ctx.args.icmsgMaxLen ?? PBUF_RX_READ_BUF_SIZE);
  const incarnation = Number(ctx.args.incarnation ?? 1);
  const reborn = incarnation >= 2;
  const myReset = plan.faults.find((f) => f.kind === 'core-reset' && f.core === me);

  // ---- endpoints named by flows to / from this core ------------------------------------------
  const channels = new Map<string, Channel>();
  /** New incarnation: ICBMsg instances left closed, with the flows they would carry. */
  const abandoned = new Map<string, number[]>();
  for (const f of [...engine.txFlows, ...engine.rxFlows]) {
    if (f.instance === undefined) throw new Error(`${me}: flow ${f.id} (${f.from}->${f.to}, endpoint "${f.channel}") names no ipc_service instance`);
    const key = `${f.instance}/${f.channel}`;
    let ch = channels.get(key);
    if (!ch) {
      const dev = z.DEVICE_DT_GET(f.instance);
      if (reborn && dev.compatible === ICBMSG) {
        abandoned.set(f.instance, [...(abandoned.get(f.instance) ?? []), f.id]);
        continue;
      }
      ch = {
        instance: f.instance, name: f.channel, dev, ept: {}, icbmsg: dev.compatible === ICBMSG,
        bound: ctx.semaphore(`${key} bound`), isBound: false, maxLen: 0, scratch: new Uint8Array(0), ackBuf: new Uint8Array(CONTROL_LEN),
        req: { size: 0 }, rxCount: 0, holdRx: false, held: [], reply: () => {}, ackFailed: 0, holds: 0,
        session: dev.compatible !== ICBMSG, rebound: ctx.semaphore(`${key} re-bound`), needsRegister: false, registeredAtMs: 0,
        everBound: false, timeoutCounted: false, rxAtUnbound: 0, txAtUnbound: 0,
        sr: { instance: f.instance, endpoint: f.channel, bounds: 0, unbounds: 0, rebondTimeouts: 0, rxSinceUnbound: 0, txSinceUnbound: 0 },
      };
      const c = ch;
      c.reply = (fill) => {
        fill(c.ackBuf, 0);
        if (z.ipc_service_send(c.ept, c.ackBuf, CONTROL_LEN) < 0) c.ackFailed++;
      };
      channels.set(key, ch);
    }
    const slot = f.from === me ? 'txFlow' : 'rxFlow';
    if (ch[slot]) throw new Error(`${me}: endpoint ${key} carries two flows ${f.from}->${f.to} (${ch[slot]!.id} and ${f.id}); one per direction is supported`);
    ch[slot] = f;
    if ((f.zeroCopy || f.holdRx) && !ch.icbmsg) {
      throw new Error(`${me}: flow ${f.id} asks for ${f.zeroCopy ? 'zero copy' : 'held RX buffers'} on ${key}, which is ${backendName(ch)} (only ICBMsg has them)`);
    }
  }

  for (const [inst, ids] of abandoned) {
    engine.detected.push({
      kind: 'core-reset', faultId: myReset?.id,
      detail: `${me} incarnation ${incarnation}: ${inst} (ICBMsg) not opened again: ICBMsg cannot bond with a peer still in its old session ` +
        `(Zephyr's ICBMsg has no reset detection); its flows ${ids.join(', ')} do not run in this incarnation`,
    });
  }

  const peer = ctx.cores.find((c) => c.name !== me)?.name;
  const peerDies = peer === undefined ? undefined : engine.diesAt(peer);
  const peerDead = (): boolean => peerDies !== undefined && engine.elapsedMs() >= peerDies;
  /** The peer's core-reset fault (this core survives it). */
  const peerReset = peer === undefined ? undefined : plan.faults.find((f) => f.kind === 'core-reset' && f.core === peer);
  /** The ICBMsg link is dead once the peer was reset (nothing recovers it) or died. */
  const icbmsgGone = (): boolean => peerDead() || (peerReset !== undefined && engine.elapsedMs() >= peerReset.atMs);
  /**
   * A session channel whose peer was reset and that has not bound with the new incarnation yet
   * (until REBOND_TIMEOUT_MS past the reset): a sender waits for the re-bond rather than spin.
   */
  const awaitingPeer = (ch: Channel): boolean => {
    if (!ch.session || peerReset === undefined || peerDead()) return false;
    const now = engine.elapsedMs();
    if (now < peerReset.atMs || now >= peerReset.atMs + REBOND_TIMEOUT_MS) return false;
    return !ch.isBound || (ch.sr.lastBoundMs ?? -1) < peerReset.atMs;
  };
  const rxNow = (ch: Channel): number => (ch.rxFlow ? engine.rxReport(ch.rxFlow.id)?.received ?? 0 : 0);
  const txNow = (ch: Channel): number => (ch.txFlow ? engine.txReport(ch.txFlow.id)?.sent ?? 0 : 0);
  const rebondWake = ctx.semaphore('ipc re-bond');
  // The peer's corrupt-index faults towards this core: what the backend's refusals are reported against.
  const corruptIndexFaults = plan.faults.filter((f) => f.kind === 'corrupt-index' && f.core === peer && (f.peer === undefined || f.peer === me));
  let refusals = 0;

  /** A backend error on an endpoint: a refused block index is the detection of a corrupt-index fault. */
  function backendError(ch: Channel, msg: string): void {
    const endpoint = `${ch.instance}/${ch.name}`;
    if (ch.icbmsg && /rejected MSG_DATA/.test(msg) && corruptIndexFaults.length > 0) {
      if (refusals++ < MAX_DETECTIONS) {
        const now = engine.elapsedMs();
        const f = corruptIndexFaults.find((x) => x.atMs <= now) ?? corruptIndexFaults[0]!;
        engine.detected.push({ kind: 'corrupt-index', faultId: f.id, detail: `${me} ${endpoint}: ${msg}` });
      }
      return;
    }
    log.error({ endpoint }, msg);
  }

  let holding = true;
  const holdWake = ctx.semaphore('held rx buffers');
  const opened = new Set<string>();
  for (const ch of channels.values()) {
    if (!opened.has(ch.instance)) {
      const r = z.ipc_service_open_instance(ch.dev);
      if (r < 0 && r !== -z.EALREADY) throw new Error(`${me}: ipc_service_open_instance(${ch.instance}) returned ${z.errName(r)}`);
      opened.add(ch.instance);
    }
    ch.holdRx = ch.rxFlow?.holdRx === true;
    const rxId = ch.rxFlow?.id ?? -1;
    const holdSeed = (ch.rxFlow?.seed ?? 0) ^ 0x686f6c64;
    ch.cfg = {
      name: ch.name,
      cb: {
        bound: () => {
          ch.sr.bounds++;
          ch.sr.lastBoundMs = Math.round(engine.elapsedMs());
          if (ch.everBound && ch.session) {
            engine.detected.push({
              kind: 'core-reset', faultId: peerReset?.id ?? myReset?.id,
              detail: `${me} ${ch.instance}/${ch.name}: bound again at ${ch.sr.lastBoundMs} ms (session ${ch.sr.bounds}, after ${ch.sr.unbounds} unbound())`,
            });
          }
          ch.everBound = true;
          ch.rebound.give();
          if (!ch.isBound) {
            ch.isBound = true;
            ch.bound.give();
          }
        },
        unbound: () => {
          ch.isBound = false;
          ch.sr.unbounds++;
          ch.sr.lastUnboundMs = Math.round(engine.elapsedMs());
          ch.rxAtUnbound = rxNow(ch);
          ch.txAtUnbound = txNow(ch);
          if (ch.session) {
            ch.needsRegister = true;
            rebondWake.give();
          }
        },
        received: (data, len) => {
          engine.onMessage(rxId, data, 0, len, ch.reply);
          const n = ch.rxCount++;
          if (!ch.holdRx || !holding || ch.held.length >= MAX_HELD || controlKind(data, 0, len) !== 0) return;
          const h = mix32(holdSeed, n);
          if (h % HOLD_EVERY !== 0) return;
          if (z.ipc_service_hold_rx_buffer(ch.ept, data) !== 0) return;
          ch.holds++;
          ch.held.push({ data, len, due: ctx.now() + HOLD_MIN_US + ((h >>> 8) % HOLD_SPAN_US), hash: hashBytes(data, len) });
          if (ch.held.length === 1) holdWake.give();
        },
        error: (msg) => backendError(ch, msg),
      },
    };
    const r = z.ipc_service_register_endpoint(ch.dev, ch.ept, ch.cfg);
    if (r < 0) throw new Error(`${me}: ipc_service_register_endpoint(${ch.instance}, "${ch.name}") returned ${z.errName(r)}`);
    ch.registeredAtMs = engine.elapsedMs();
  }

  // ---- re-bonding (session channels): register again after unbound(), bounded ----------------
  const sessionChannels = [...channels.values()].filter((c) => c.session);
  let running = true;
  const rebonder = sessionChannels.length === 0 ? Promise.resolve() : ctx.task('stress ipc re-bond', async () => {
    while (running) {
      await rebondWake.take(REBOND_POLL_MS);
      for (const ch of sessionChannels) {
        if (ch.needsRegister) {
          ch.needsRegister = false;
          ch.timeoutCounted = false;
          const r = z.ipc_service_register_endpoint(ch.dev, ch.ept, ch.cfg!);
          ch.registeredAtMs = engine.elapsedMs();
          if (r < 0) log.error({ endpoint: `${ch.instance}/${ch.name}` }, `stress: registering the endpoint again after unbound() returned ${z.errName(r)}`);
        }
        if (!ch.isBound && ch.sr.unbounds > 0 && !ch.timeoutCounted && engine.elapsedMs() - ch.registeredAtMs > REBOND_TIMEOUT_MS) {
          ch.timeoutCounted = true;
          ch.sr.rebondTimeouts++;
          log.warn({ endpoint: `${ch.instance}/${ch.name}` }, `stress: not bound again within ${REBOND_TIMEOUT_MS} ms of re-registering`);
        }
      }
    }
  });

  // ---- bound, lengths, transports -----------------------------------------------------------
  const bindUntil = ctx.now() / 1000 + BIND_TIMEOUT_MS;
  for (const ch of channels.values()) {
    if (ch.isBound) continue;
    const left = bindUntil - ctx.now() / 1000;
    if (!peerDead() && left > 0 && (await ch.bound.take(left))) continue;
    if (ch.isBound || peerDead()) continue;
    if (ch.icbmsg && peerReset !== undefined && icbmsgGone()) {
      log.warn({ endpoint: `${ch.instance}/${ch.name}` }, 'stress: ICBMsg endpoint never bound before the peer was reset (no recovery)');
      continue;
    }
    for (const f of [ch.txFlow, ch.rxFlow]) {
      if (!f) continue;
      engine.violation('progress', {
        flow: f.id, peer: f.from === me ? f.to : f.from, endpoint: `${ch.instance}/${ch.name}`, expected: 'the endpoint to bind',
        seen: `not bound within ${BIND_TIMEOUT_MS} ms`, detail: `${me}: endpoint ${ch.instance}/${ch.name} never bound, flow ${f.id} did not run`,
      });
    }
  }
  for (const ch of channels.values()) {
    const size = ch.icbmsg ? z.ipc_service_get_tx_buffer_size(ch.ept) : icmsgMaxLen;
    ch.maxLen = size > 0 ? size : icmsgMaxLen;
    const f = ch.txFlow;
    if (f && !f.zeroCopy) ch.scratch = new Uint8Array(Math.max(CONTROL_LEN, Math.min(f.maxLen, ch.maxLen)));
  }
  engine.armFaults();
  log.info({ endpoints: [...channels.keys()], tx: engine.txFlows.length, rx: engine.rxFlows.length }, 'stress: endpoints bound, traffic starts');

  const transportOf = (ch: Channel, zeroCopy: boolean): Transport => (zeroCopy ? zeroCopyTransport(z, ch) : copyTransport(z, ch));

  const finDeadline = engine.elapsedMs() + plan.durationMs + FIN_GRACE_MS;
  // Session links to a reset peer: the sender may go on until AFTER_REBOND_MS past the re-bond.
  const rebondDeadline = peerReset === undefined ? finDeadline : Math.max(finDeadline, peerReset.atMs + REBOND_TIMEOUT_MS + AFTER_REBOND_MS + FIN_GRACE_MS);
  // The new incarnation sends until the plan's traffic phase ends, and at least AFTER_REBOND_MS.
  const rebornEnd = reborn ? Math.max(plan.durationMs, engine.elapsedMs() + AFTER_REBOND_MS) : undefined;
  const rebornFinDeadline = rebornEnd === undefined ? finDeadline : rebornEnd + FIN_GRACE_MS;
  const senders: Promise<void>[] = [];
  for (const ch of channels.values()) {
    const f = ch.txFlow;
    if (!f || !(ch.isBound || (ch.session && ch.everBound))) continue;
    const maxLen = Math.min(f.maxLen, ch.maxLen);
    const flow: FlowPlan = maxLen === f.maxLen ? f : { ...f, maxLen, minLen: Math.min(f.minLen, maxLen) };
    let t = transportOf(ch, f.zeroCopy);
    let opts: SenderOptions = {};
    let deadline = reborn ? rebornFinDeadline : finDeadline;
    if (rebornEnd !== undefined) opts = { endMs: rebornEnd };
    else if (ch.session && peerReset !== undefined) {
      t = rebondingTransport(t, ch);
      deadline = rebondDeadline;
      opts = { extendTo: () => extendForRebond(ch) };
    }
    senders.push(ctx.task(`stress tx flow ${f.id} (${ch.instance}/${ch.name})`, () => engine.runSender(flow, t, deadline, opts)));
  }

  /** A BUSY send on a session link waiting for the reset peer waits (bounded) for the re-bond, then tries again. */
  function rebondingTransport(inner: Transport, ch: Channel): Transport {
    return {
      async send(flow, len, fill) {
        const r = await inner.send(flow, len, fill);
        if (r !== BUSY || !awaitingPeer(ch)) return r;
        while (awaitingPeer(ch)) {
          const left = peerReset!.atMs + REBOND_TIMEOUT_MS - engine.elapsedMs();
          if (left <= 0) break;
          await ch.rebound.take(Math.min(left, REBOND_POLL_MS));
        }
        return inner.send(flow, len, fill);
      },
    };
  }

  /** The survivor's traffic on a session link goes on until AFTER_REBOND_MS past the peer's re-bond. */
  function extendForRebond(ch: Channel): number | undefined {
    const now = engine.elapsedMs();
    if (peerReset === undefined || peerDead()) return undefined;
    if (now < peerReset.atMs) return peerReset.atMs + 1;
    if (awaitingPeer(ch)) return now + 10;
    const bondedAt = ch.sr.lastBoundMs;
    if (!ch.isBound || bondedAt === undefined || bondedAt < peerReset.atMs) return undefined;
    return bondedAt + AFTER_REBOND_MS;
  }

  // Releases held RX buffers when they fall due (all of them once `holding` is off).
  const holdChannels = [...channels.values()].filter((c) => c.holdRx);
  const releaser = holdChannels.length === 0 ? Promise.resolve() : ctx.task('stress rx release', async () => {
    for (;;) {
      const now = ctx.now();
      let next = Infinity;
      let left = 0;
      for (const ch of holdChannels) {
        for (let i = 0; i < ch.held.length;) {
          const h = ch.held[i]!;
          if (holding && h.due > now) {
            next = Math.min(next, h.due);
            i++;
            continue;
          }
          ch.held.splice(i, 1);
          release(ch, h);
        }
        left += ch.held.length;
      }
      if (!holding && left === 0) return;
      const waitMs = next === Infinity ? 10 : Math.max(1, (next - now) / 1000);
      await holdWake.take(waitMs);
    }
  });

  function release(ch: Channel, h: Held): void {
    if (hashBytes(h.data, h.len) !== h.hash) {
      const f = ch.rxFlow!;
      engine.violation('payload-intact', {
        flow: f.id, peer: f.from, endpoint: `${ch.instance}/${ch.name}`, expected: 'a held RX buffer to stay unchanged until released',
        seen: 'its bytes changed', detail: `${me}: a ${h.len}-byte buffer held on ${ch.instance}/${ch.name} changed before it was released (the sender reused a held block)`,
      });
    }
    const r = z!.ipc_service_release_rx_buffer(ch.ept, h.data);
    // A dead (or reset: ICBMsg does not recover) peer no longer drains the control channel: the
    // release message may not fit, and nobody is left to use the blocks anyway.
    if (r !== 0 && !(ch.icbmsg ? icbmsgGone() : peerDead())) {
      const f = ch.rxFlow!;
      engine.violation('no-leak', {
        flow: f.id, peer: f.from, endpoint: `${ch.instance}/${ch.name}`, expected: 'ipc_service_release_rx_buffer to return 0',
        seen: z!.errName(r), detail: `${me}: releasing a held ${h.len}-byte RX buffer on ${ch.instance}/${ch.name} failed with ${z!.errName(r)}`,
      });
    }
  }

  await Promise.all(senders);
  // FINs: a reset peer's ICBMsg flows never end (its new incarnation does not open ICBMsg); its
  // session flows end late (its new incarnation starts them again after the reset).
  const channelOf = (flow: FlowPlan): Channel | undefined => channels.get(`${flow.instance}/${flow.channel}`);
  const fromResetPeer = (flow: FlowPlan): boolean => peerReset !== undefined && flow.from === peerReset.core;
  await engine.awaitFins(reborn ? rebornFinDeadline : finDeadline, (flow) => channelOf(flow) !== undefined && !fromResetPeer(flow));
  if (peerReset !== undefined) await engine.awaitFins(rebondDeadline, (flow) => fromResetPeer(flow) && channelOf(flow)?.session === true);
  holding = false;
  holdWake.give();
  await releaser;
  running = false;
  rebondWake.give();
  await rebonder;

  // ---- wait (bounded) for the peer to give back every ICBMsg TX block -------------------------
  const stranded = plan.faults.some((f) => f.kind === 'corrupt-index' && f.core === me);
  const probes = new Map<string, Channel>();
  for (const ch of channels.values()) if (ch.icbmsg && ch.isBound && !probes.has(ch.instance)) probes.set(ch.instance, ch);
  const drained: Record<string, boolean> = {};
  // A reset peer never gives back the blocks its old incarnation held (ICBMsg does not recover).
  if (peerDies === undefined && peerReset === undefined) {
    const until = ctx.now() / 1000 + (stranded ? TX_DRAIN_STRANDED_MS : TX_DRAIN_MS);
    for (const [inst, ch] of probes) {
      drained[inst] = false;
      const req: TxBufferRequest = { size: ch.maxLen };
      for (;;) {
        req.size = ch.maxLen;
        req.data = undefined;
        const r = await z.ipc_service_get_tx_buffer(ch.ept, req, z.K_NO_WAIT);
        if (r === 0) {
          z.ipc_service_drop_tx_buffer(ch.ept, req.data!);
          drained[inst] = true;
          break;
        }
        if (ctx.now() / 1000 >= until) break;
        await ctx.sleep(1);
      }
      if (!drained[inst]) log.warn({ instance: inst, stranded }, 'stress: ICBMsg TX blocks still in use at the end of the run');
    }
  }
  const ackFailed = [...channels.values()].reduce((n, c) => n + c.ackFailed, 0);
  const held = Object.fromEntries(holdChannels.map((c) => [`${c.instance}/${c.name}`, c.holds]));
  const sessions: SessionReport[] = sessionChannels.map((ch) => ({
    ...ch.sr,
    rxSinceUnbound: rxNow(ch) - (ch.sr.unbounds > 0 ? ch.rxAtUnbound : 0),
    txSinceUnbound: txNow(ch) - (ch.sr.unbounds > 0 ? ch.txAtUnbound : 0),
  }));
  log.info({ drained, ackFailed, held, incarnation, sessions }, 'stress: done');
  return { ...engine.report(), incarnation, sessions };
}

function backendName(ch: Channel): string {
  return ch.icbmsg ? 'ICBMsg' : 'ICMsg';
}

/** Copy mode: fill the scratch buffer, ipc_service_send. */
function copyTransport(z: ZephyrApi, ch: Channel): Transport {
  const ENOMEM = -z.ENOMEM;
  const EBUSY = -z.EBUSY;
  return {
    send(_flow, len, fill) {
      const buf = ch.scratch;
      fill(buf, 0);
      const r = z.ipc_service_send(ch.ept, buf, len);
      if (r >= 0) return SENT;
      return r === ENOMEM || r === EBUSY ? BUSY : r;
    },
  };
}

/** Zero copy: a TX block with K_NO_WAIT, filled in place, ipc_service_send_nocopy. */
function zeroCopyTransport(z: ZephyrApi, ch: Channel): Transport {
  const NO_BLOCK = new Set([-z.ENOMEM, -z.ENOBUFS, -z.EAGAIN, -z.EBUSY]);
  const req = ch.req;
  return {
    async send(_flow, len, fill) {
      req.size = len;
      req.data = undefined;
      const r = await z.ipc_service_get_tx_buffer(ch.ept, req, z.K_NO_WAIT);
      if (r < 0) return NO_BLOCK.has(r) ? BUSY : r;
      const data = req.data!;
      fill(data, 0);
      const s = z.ipc_service_send_nocopy(ch.ept, data, len);
      if (s >= 0) return SENT;
      // A failed send_nocopy may leave the buffer with us (-EBUSY) or have freed it: drop is harmless.
      z.ipc_service_drop_tx_buffer(ch.ept, data);
      return NO_BLOCK.has(s) ? BUSY : s;
    },
  };
}
