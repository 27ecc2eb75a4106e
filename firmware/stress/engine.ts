// The platform-independent part of hetsoc's stress firmware: seeded traffic generators, the
// receiver's checks (loss, duplication, reordering, payload integrity) and the end-of-flow
// handshake, plus the firmware-level faults of the plan (an exception, a write through the firewall).
// A platform file (j7-rtos.ts, j7-linux.ts, nrf.ts) supplies a Transport per channel and calls
// `onMessage` for everything that arrives.
//
// Flow protocol: the sender sends payloads seq 0, 1, 2... (shared/stress-payload.ts) in seeded
// bursts with seeded pauses for plan.durationMs, then FIN {sent} every FIN_RETRY_MS until the
// receiver answers ACK {received, corrupt}. Retransmitting the FIN is what lets a link recover from
// a dropped mailbox kick: every FIN is a new kick, and the vring still holds what was sent before.

import type { FirmwareContext } from '../../cores/context.js';
import {
  ACK_MAGIC, CONTROL_LEN, FIN_MAGIC, VERIFY_CORRUPT, VERIFY_OK, controlA, controlB, controlFlow, controlKind, encodeControl,
  encodePayload, lastSeenSeq, payloadByte, payloadLength, verifyPayload, STRESS_HDR,
} from '../../shared/stress-payload.js';
import { mulberry32 } from '../../shared/perturb.js';
import {
  type Detection, type FlowPlan, type FlowRxReport, type FlowTxReport, type Invariant, type StressCoreReport, type StressPlan,
  type Violation, faultingCores, flowOnIcbmsg, lossExempt,
} from '../../soc/stress/schema.js';

/** Transport result: sent. */
export const SENT = 0;
/** Transport result: no buffer / channel full right now; retry later. */
export const BUSY = 1;

export type Fill = (u8: Uint8Array, off: number) => void;

export interface Transport {
  /**
   * Sends `len` bytes on the flow's channel: obtains a buffer (a copy buffer, or a zero-copy TX
   * buffer), lets `fill` write the message at u8[off...], publishes it. Returns SENT, BUSY, or a
   * negative platform error code (the flow stops and the code is reported).
   */
  send(flow: FlowPlan, len: number, fill: Fill): number | Promise<number>;
}

/** Options of one sender (runSender); the defaults are the plain traffic phase. */
export interface SenderOptions {
  /** The traffic phase ends at this time (ms after t0) rather than plan.durationMs after the sender starts. */
  endMs?: number;
  /**
   * Asked when the traffic phase is over: a later end (ms after t0) to keep sending until, or
   * undefined to stop. Lets a platform keep a flow going until its link has carried traffic again
   * (an ICMsg session re-bonded after a peer reset). Called again at every new end.
   */
  extendTo?: () => number | undefined;
}

const FIN_RETRY_MS = 50;
/** How long a sender keeps retrying a BUSY channel before reporting the flow stuck. */
const BUSY_LIMIT_MS = 3000;
const MAX_VIOLATIONS_PER_FLOW = 3;


interface RxState {
  flow: FlowPlan;
  report: FlowRxReport;
  expected: number;
  exempt: boolean;
  /** The sender is reset during the run (core-reset): its new incarnation starts again at seq 0. */
  resettable: boolean;
  /** Sequence numbers skipped by a gap, to tell a late (reordered) message from a duplicate. */
  gaps: Set<number>;
  /** Corrupt payloads received in a row (a restarted flow's first payloads may be bit-flipped). */
  corruptRun: number;
  violations: number;
  fin: ReturnType<FirmwareContext['semaphore']>;
}

interface TxState {
  flow: FlowPlan;
  report: FlowTxReport;
  acked: ReturnType<FirmwareContext['semaphore']>;
}

/**
 * Flows whose ACK rides a link a corrupt-index fault breaks: the fault is on the flow's receiver
 * towards its sender, so the reverse direction of a loss-exempt link. Their data is checked as
 * usual; only a missing ACK is expected.
 */
function ackPathBroken(plan: StressPlan): Set<number> {
  const out = new Set<number>();
  for (const f of plan.faults) {
    if (f.kind !== 'corrupt-index') continue;
    for (const flow of plan.flows) {
      if (flow.to !== f.core || (f.peer !== undefined && flow.from !== f.peer)) continue;
      if (plan.platform === 'nrf5340' && flow.instance !== undefined && !flowOnIcbmsg(flow)) continue;
      out.add(flow.id);
    }
  }
  return out;
}

export class StressEngine {
  readonly plan: StressPlan;
  readonly me: string;
  readonly t0: number;
  readonly txFlows: FlowPlan[];
  readonly rxFlows: FlowPlan[];
  private readonly rx = new Map<number, RxState>();
  private readonly tx = new Map<number, TxState>();
  private readonly exempt: Map<number, string>;
  /** Flows whose ACKs travel a link broken by a corrupt-index fault (receiver -> sender). */
  private readonly ackLost: Set<number>;
  private readonly dying: Map<string, number>;
  readonly violations: Violation[] = [];
  readonly detected: Detection[] = [];
  readonly increments: Record<number, number> = {};

  constructor(readonly ctx: FirmwareContext) {
    const raw = ctx.args.plan;
    if (!raw) throw new Error(`${ctx.core.name}: stress firmware needs the run's plan (args.plan); run it with npm run stress`);
    this.plan = JSON.parse(raw) as StressPlan;
    this.t0 = Number(ctx.args.t0 ?? performance.timeOrigin + performance.now());
    this.me = ctx.core.name;
    this.txFlows = this.plan.flows.filter((f) => f.from === this.me);
    this.rxFlows = this.plan.flows.filter((f) => f.to === this.me);
    this.exempt = lossExempt(this.plan);
    this.ackLost = ackPathBroken(this.plan);
    this.dying = faultingCores(this.plan);
    const resetCores = new Set(this.plan.faults.filter((f) => f.kind === 'core-reset').map((f) => f.core));
    for (const f of this.rxFlows) {
      this.rx.set(f.id, {
        flow: f, expected: 0, exempt: this.exempt.has(f.id), resettable: resetCores.has(f.from), gaps: new Set(), corruptRun: 0, violations: 0, fin: ctx.semaphore(`fin of flow ${f.id}`),
        report: { id: f.id, received: 0, bytes: 0, corrupt: 0, skipped: 0 },
      });
    }
    for (const f of this.txFlows) {
      this.tx.set(f.id, { flow: f, acked: ctx.semaphore(`ack of flow ${f.id}`), report: { id: f.id, sent: 0, bytes: 0, busy: 0 } });
    }
  }

  /** Milliseconds since the run's start (t0), on the clock every core and the host share. */
  elapsedMs(): number {
    return performance.timeOrigin + performance.now() - this.t0;
  }

  /** When `core` stops on purpose (firmware-exception), in ms after t0. */
  diesAt(core: string): number | undefined {
    return this.dying.get(core);
  }

  violation(invariant: Invariant, v: Omit<Violation, 'invariant' | 'core'>): void {
    this.violations.push({ invariant, core: this.me, ...v });
  }

  // ---- receive side -------------------------------------------------------------------------

  /**
   * Everything that arrives on a stress channel. `flowId` is the flow the transport received it
   * on (its sender -> this core); control messages carry their own flow id. Returns a control
   * reply to send back (an ACK for a FIN) through `reply`, if any.
   */
  onMessage(flowId: number, u8: Uint8Array, off: number, len: number, reply?: (fill: Fill) => void): void {
    const kind = controlKind(u8, off, len);
    if (kind === FIN_MAGIC) {
      const id = controlFlow(u8, off);
      const st = this.rx.get(id);
      if (!st) {
        this.violation('payload-intact', { flow: id, expected: 'a FIN for a flow to this core', seen: `FIN for flow ${id}`, detail: 'FIN on an unknown flow' });
        return;
      }
      const sent = controlA(u8, off);
      if (st.report.finSent === undefined) {
        st.report.finSent = sent;
        st.fin.give();
      }
      const { received, corrupt } = st.report;
      reply?.((b, o) => encodeControl(b, o, ACK_MAGIC, id, received, corrupt));
      return;
    }
    if (kind === ACK_MAGIC) {
      const id = controlFlow(u8, off);
      const st = this.tx.get(id);
      if (st && st.report.ackedReceived === undefined) {
        st.report.ackedReceived = controlA(u8, off);
        st.report.ackedCorrupt = controlB(u8, off);
        st.acked.give();
      }
      return;
    }
    const st = this.rx.get(flowId);
    if (!st) return;
    this.check(st, u8, off, len);
  }

  private check(st: RxState, u8: Uint8Array, off: number, len: number): void {
    const r = st.report;
    const { flow } = st;
    const v = verifyPayload(u8, off, len, flow.id, flow.seed, st.expected);
    if (v === VERIFY_OK) {
      r.received++;
      r.bytes += len;
      st.expected++;
      st.corruptRun = 0;
      return;
    }
    if (v === VERIFY_CORRUPT) {
      // A short payload has no sequence number: see whether it is a neighbour of the one expected.
      if (len < STRESS_HDR) {
        for (const d of [1, 2, 3, -1, -2, -3]) {
          const s = st.expected + d;
          if (s < 0) continue;
          let same = true;
          for (let i = 0; same && i < len; i++) same = u8[off + i] === payloadByte(flow.seed, s, i);
          if (same && payloadLength(flow.seed, s, flow.minLen, flow.maxLen, flow.tinyPct) === len) {
            this.sequenceError(st, s, len);
            return;
          }
        }
      }
      r.corrupt++;
      st.expected++;
      st.corruptRun++;
      return;
    }
    this.sequenceError(st, lastSeenSeq, len);
    st.corruptRun = 0;
  }

  private sequenceError(st: RxState, seen: number, len: number): void {
    const r = st.report;
    const { flow } = st;
    const peer = flow.from;
    const endpoint = flow.instance ? `${flow.instance}/${flow.channel}` : flow.channel;
    if (seen > st.expected) {
      for (let s = st.expected; s < seen && st.gaps.size < 4096; s++) st.gaps.add(s);
      r.skipped += seen - st.expected;
      if (!st.exempt && st.violations++ < MAX_VIOLATIONS_PER_FLOW) {
        this.violation('no-loss', {
          flow: flow.id, peer, endpoint, expected: `seq ${st.expected}`, seen: `seq ${seen}`,
          detail: `flow ${flow.id} ${peer}->${this.me}: ${seen - st.expected} message(s) missing before seq ${seen}`,
        });
      }
      r.received++;
      r.bytes += len;
      st.expected = seen + 1;
      return;
    }
    if (st.resettable && seen <= st.corruptRun) {
      // The sender was reset and its new incarnation starts the flow again: seq 0, or seq n after
      // n payloads that arrived corrupt (seq 0..n-1 of the new incarnation, bit-flipped).
      r.restarts = (r.restarts ?? 0) + 1;
      r.received++;
      r.bytes += len;
      st.gaps.clear();
      st.expected = seen + 1;
      return;
    }
    const late = st.gaps.delete(seen);
    if (st.violations++ < MAX_VIOLATIONS_PER_FLOW) {
      this.violation(late ? 'in-order' : 'no-duplicate', {
        flow: flow.id, peer, endpoint, expected: `seq ${st.expected}`, seen: `seq ${seen}`,
        detail: late
          ? `flow ${flow.id} ${peer}->${this.me}: seq ${seen} arrived after seq ${st.expected - 1}`
          : `flow ${flow.id} ${peer}->${this.me}: seq ${seen} delivered again (next expected ${st.expected})`,
      });
    }
    if (late) {
      r.received++;
      r.bytes += len;
      r.skipped--;
    }
  }

  /** The live receive report of flow `id` to this core (read only). */
  rxReport(id: number): Readonly<FlowRxReport> | undefined {
    return this.rx.get(id)?.report;
  }

  /** The live send report of flow `id` from this core (read only). */
  txReport(id: number): Readonly<FlowTxReport> | undefined {
    return this.tx.get(id)?.report;
  }

  /**
   * Waits until every flow to this core got its FIN, or its sender died, or `deadlineMs` (after t0).
   * `include` limits the wait to some flows (the others are not waited for and not reported).
   */
  async awaitFins(deadlineMs: number, include?: (flow: FlowPlan) => boolean): Promise<void> {
    for (const st of this.rx.values()) {
      if (st.report.finSent !== undefined) continue;
      if (include && !include(st.flow)) continue;
      const dies = this.diesAt(st.flow.from);
      const until = Math.min(deadlineMs, dies ?? Infinity);
      const left = until - this.elapsedMs();
      if (left > 0 && (await st.fin.take(left))) continue;
      if (dies === undefined && !st.exempt) {
        this.violation('no-loss', {
          flow: st.flow.id, peer: st.flow.from, expected: 'a FIN from the sender', seen: `no FIN within ${Math.round(deadlineMs)} ms of the run's start`,
          detail: `flow ${st.flow.id} ${st.flow.from}->${this.me}: the sender's end-of-flow message never arrived (${st.report.received} received)`,
        });
      }
    }
  }

  // ---- send side ----------------------------------------------------------------------------

  /**
   * Runs one flow's sender: seeded bursts and pauses for plan.durationMs (from when it starts),
   * then the FIN / ACK handshake. Stops early when the receiver is planned to die. `opts` may move
   * the end of the traffic phase (SenderOptions).
   */
  async runSender(flow: FlowPlan, t: Transport, finDeadlineMs: number, opts: SenderOptions = {}): Promise<void> {
    const st = this.tx.get(flow.id)!;
    const r = st.report;
    const rng = mulberry32(flow.seed ^ 0x5eed);
    const ctx = this.ctx;
    let len = 0;
    const fill: Fill = (u8, off) => encodePayload(u8, off, flow.id, flow.seed, r.sent, len);
    const peerDies = this.diesAt(flow.to);
    const end = opts.endMs ?? this.elapsedMs() + this.plan.durationMs;
    let stopAt = Math.min(end, peerDies ?? Infinity);
    let busySince = -1;
    for (;;) {
      if (this.elapsedMs() >= stopAt) {
        const more = opts.extendTo?.();
        if (more === undefined || Math.min(more, peerDies ?? Infinity) <= stopAt) break;
        stopAt = Math.min(more, peerDies ?? Infinity);
        continue;
      }
      const burst = 1 + Math.floor(rng() * flow.burstMax);
      for (let b = 0; b < burst && this.elapsedMs() < stopAt; b++) {
        len = payloadLength(flow.seed, r.sent, flow.minLen, flow.maxLen, flow.tinyPct);
        const res = await t.send(flow, len, fill);
        if (res === SENT) {
          r.sent++;
          r.bytes += len;
          busySince = -1;
          continue;
        }
        if (res === BUSY) {
          r.busy++;
          const now = this.elapsedMs();
          if (busySince < 0) busySince = now;
          else if (now - busySince > BUSY_LIMIT_MS) {
            if (!this.exempt.has(flow.id)) {
              this.violation('progress', {
                flow: flow.id, peer: flow.to, expected: 'the channel to drain', seen: `no free buffer for ${BUSY_LIMIT_MS} ms`,
                detail: `flow ${flow.id} ${this.me}->${flow.to}: the receiver stopped taking messages after ${r.sent}`,
              });
            }
            return;
          }
          b--;
          await ctx.sleep(1);
          continue;
        }
        if (!this.exempt.has(flow.id)) {
          this.violation('progress', {
            flow: flow.id, peer: flow.to, expected: 'send to succeed', seen: `error ${res}`,
            detail: `flow ${flow.id} ${this.me}->${flow.to}: send of seq ${r.sent} failed with ${res}`,
          });
        }
        return;
      }
      const gapUs = Math.floor(rng() * flow.gapMaxUs);
      if (gapUs >= 1000) await ctx.sleep(gapUs / 1000);
      else await ctx.yield();
    }
    if (peerDies !== undefined) return;
    // End of flow: FIN until ACK.
    const fin: Fill = (u8, off) => encodeControl(u8, off, FIN_MAGIC, flow.id, r.sent, 0);
    while (this.elapsedMs() < finDeadlineMs) {
      const res = await t.send(flow, CONTROL_LEN, fin);
      if (res < 0) break;
      if (await st.acked.take(FIN_RETRY_MS)) break;
    }
    if (r.ackedReceived === undefined && !this.exempt.has(flow.id) && !this.ackLost.has(flow.id)) {
      this.violation('progress', {
        flow: flow.id, peer: flow.to, expected: 'an ACK of the FIN', seen: 'none',
        detail: `flow ${flow.id} ${this.me}->${flow.to}: the receiver never acknowledged the end of the flow (${r.sent} sent)`,
      });
    }
  }

  // ---- firmware-level faults ------------------------------------------------------------------

  /** Starts the tasks that inject this core's firmware-level faults (exception, firewall write). */
  armFaults(): void {
    const ctx = this.ctx;
    for (const f of this.plan.faults) {
      if (f.core !== this.me) continue;
      if (f.kind === 'firmware-exception') {
        void ctx.task(`injected fault #${f.id}`, async () => {
          await ctx.sleep(Math.max(0, f.atMs - this.elapsedMs()));
          throw new Error(`injected firmware exception (fault #${f.id}, firmware-exception at ${f.atMs} ms)`);
        });
      } else if (f.kind === 'firewall') {
        const addr = (f as { addr?: number }).addr;
        if (addr === undefined) continue;
        void ctx.task(`rogue write #${f.id}`, async () => {
          await ctx.sleep(Math.max(0, f.atMs - this.elapsedMs()));
          const before = ctx.bus.read32(addr);
          const poison = (before ^ 0xdeadbeef) >>> 0;
          try {
            ctx.bus.write32(addr, poison);
          } catch (err) {
            const e = err as Error;
            if (e.name !== 'FirewallFault') throw err;
            const after = ctx.bus.read32(addr);
            if (after === poison) {
              this.violation('fault-promise', { expected: `0x${before.toString(16)} left alone`, seen: `0x${after.toString(16)}`, detail: `firewall fault raised but the write to 0x${addr.toString(16)} landed` });
            }
            this.detected.push({ kind: 'firewall', faultId: f.id, detail: e.message });
            return;
          }
          // The write went through: undo it at once and report the broken promise.
          ctx.bus.write32(addr, before);
          this.violation('fault-promise', {
            expected: 'a firewall fault', seen: 'the write landed',
            detail: `${this.me} wrote 0x${addr.toString(16)} (planted fault #${f.id}) and no firewall refused it`,
          });
        });
      }
    }
  }

  /** Counts a locked increment (spinlock plan). */
  countIncrement(lock: number): void {
    this.increments[lock] = (this.increments[lock] ?? 0) + 1;
  }

  report(): StressCoreReport {
    return {
      core: this.me,
      tx: [...this.tx.values()].map((s) => ({ ...s.report })),
      rx: [...this.rx.values()].map((s) => ({ ...s.report })),
      increments: Object.keys(this.increments).length ? { ...this.increments } : undefined,
      detected: this.detected,
      violations: this.violations,
    };
  }
}
