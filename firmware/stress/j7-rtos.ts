// Stress firmware of every J7 RTOS core (TI PDK IPC API). It runs the flows of the run's plan
// (ctx.args.plan) through the shared StressEngine (./engine.ts):
// - channel 'rpmsg': endpoint 20, announced as "hetsoc.stress" to every core. RTOS peers are found
//   with RPMessage_getRemoteEndPt; every message of the channel (data, FIN, ACK) goes from endpoint
//   20 to endpoint 20, so one receive task per endpoint sees all of it.
// - channel 'rpmsg-char': endpoint 14, announced as "rpmsg_chrdev" (what ti-rpmsg-char opens on
//   Linux). A flow towards Linux waits until Linux's rpmsg_char device exists, which the core
//   learns from the first message Linux sends on that endpoint (a HELLO) and its address; Linux
//   binds its devices to fixed addresses (J7Channel.linuxEndPt), so that a lost HELLO does not
//   stop the flow: after the startup deadline the core sends to the fixed address.
// - pairs with Linux late (Linux boots after the RTOS cores), as firmware/j7/echo-rtos.ts does.
// - spinlock contention: locked increments of shared counters (plan.spinlock), paced over the
//   traffic phase.
// main() returns the engine's StressCoreReport; the receive tasks keep answering afterwards (late
// FIN retransmissions of other cores get their ACK).
// - core-reset: a reset core's new incarnation (ctx.args.incarnation >= 2) runs this same code as
//   a fresh boot: Ipc_initVirtIO re-primes its TX rings to the RTOS peers, it pairs with Linux late
//   once Linux's recovery has created the virtio device again, announces, and its flows start
//   again at seq 0 (a fresh engine). TI's PDK has no recovery between RTOS cores: a peer that sees
//   the re-primed ring's indices jump refuses it (and the new incarnation may refuse a peer's ring
//   whose stale entries it finds), so a sender to the reset core gets no buffers back (BUSY) or
//   IPC_EFAIL and its flow stops; every flow to or from the reset core is loss-exempt.
//
// Every wait has a deadline (j7Deadlines), counted from when main() starts rather than from the
// run's t0: building and spawning the SoC before main() can take seconds on a loaded host. A host
// running this firmware should give main() at least STARTUP_MS + durationMs + FIN_GRACE_MS +
// FIN_WAIT_MARGIN_MS (+ Linux's boot delay) to return.

import type { FirmwareContext, PdkApi } from '../../cores/context.js';
import type { CoreInfo } from '../../cores/boot.js';
import type { RPMessage_Handle } from '../../cores/rtos/pdk-types.js';
import { CONTROL_LEN, encodeControl } from '../../shared/stress-payload.js';
import { lossExempt, type FlowPlan, type SpinlockPlan } from '../../soc/stress/schema.js';
import { BUSY, SENT, StressEngine, type Fill, type Transport } from './engine.js';

// ---- what the RTOS and the Linux stress firmware agree on ---------------------------------------

/** A stress channel of the J7: the RTOS endpoint it uses and the name announced for it. */
export interface J7Channel {
  channel: string;
  /** Fixed RTOS endpoint number. */
  endPt: number;
  /** Fixed local address of Linux's rpmsg_char device on this channel (>= 1024, per remote core). */
  linuxEndPt: number;
  /** Announced name (the rpmsg channel name Linux's rpmsg_char_open asks for). */
  name: string;
  /** Short tag for Linux's eptdev name. */
  tag: string;
}

export const J7_CHANNELS: readonly J7Channel[] = [
  { channel: 'rpmsg', endPt: 20, linuxEndPt: 1024 + 20, name: 'hetsoc.stress', tag: 'st' },
  { channel: 'rpmsg-char', endPt: 14, linuxEndPt: 1024 + 14, name: 'rpmsg_chrdev', tag: 'ch' },
];

export const j7Channel = (channel: string): J7Channel | undefined => J7_CHANNELS.find((c) => c.channel === channel);

/**
 * Linux's first message on each rpmsg_char device (16 bytes: HELLO_MAGIC, 0, 16, 0, 0): it only
 * tells the RTOS core the device's address; it belongs to no flow and is never given to the engine.
 */
export const HELLO_MAGIC = 0x4f4c4548; // "HELO"

export function isHello(u8: Uint8Array, len: number): boolean {
  return len === CONTROL_LEN && (u8[0]! | (u8[1]! << 8) | (u8[2]! << 16) | (u8[3]! << 24)) >>> 0 === HELLO_MAGIC;
}

export function encodeHello(u8: Uint8Array): void {
  encodeControl(u8, 0, HELLO_MAGIC, 0, 0, 0);
}

/** By then every sender has found its peer (or gives up). */
export const STARTUP_MS = 3000;
/** After the traffic phase: how long a sender retransmits its FIN. */
export const FIN_GRACE_MS = 2000;
/** Receivers wait for FINs this much longer than senders send them. */
export const FIN_WAIT_MARGIN_MS = 1000;

/** What a core's stress tasks share: the engine, the plan's expectations, the deadlines (ms after t0). */
export interface J7Run {
  engine: StressEngine;
  /** Flows whose loss the plan allows (schema lossExempt). */
  exempt: Map<number, string>;
  /**
   * Flows whose control traffic rides a link a corrupt-index fault breaks (the reverse direction of
   * a loss-exempt link): a lost announcement or ACK on them is expected.
   */
  reverseBroken: Set<number>;
  /** Senders must have found their peer by then. */
  startupMs: number;
  /** Senders retransmit their FIN until then. */
  finMs: number;
  /** Receivers wait for FINs until then. */
  finsMs: number;
}

/** The deadlines of this core's run, counted from now (main's start). */
export function j7Deadlines(engine: StressEngine): J7Run {
  const plan = engine.plan;
  const base = engine.elapsedMs();
  const finMs = base + STARTUP_MS + plan.durationMs + FIN_GRACE_MS;
  const reverseBroken = new Set<number>();
  for (const f of plan.faults) {
    if (f.kind !== 'corrupt-index') continue;
    for (const flow of plan.flows) if (flow.to === f.core && (f.peer === undefined || flow.from === f.peer)) reverseBroken.add(flow.id);
  }
  return { engine, exempt: lossExempt(plan), reverseBroken, startupMs: base + STARTUP_MS, finMs, finsMs: finMs + FIN_WAIT_MARGIN_MS };
}

/** Whether trouble setting up `flow` with `peer` is expected by the plan. */
export function excused(run: J7Run, flow: FlowPlan | undefined, peer: string): boolean {
  const e = run.engine;
  return e.diesAt(peer) !== undefined || e.diesAt(e.me) !== undefined
    || (flow !== undefined && (run.exempt.has(flow.id) || run.reverseBroken.has(flow.id)));
}

// ---- spinlock contention (shared with the Linux firmware) ---------------------------------------

const LOCK_TIMEOUT_MS = 200;
const LOCK_FAILURES_MAX = 3;
/** Most locked increments done in one turn when behind schedule. */
const LOCK_BATCH_MAX = 8;

/**
 * plan.spinlock.incrementsPerCore locked increments of each lock's counter (counterAddr + 4k for
 * locks[k]), interleaved over the locks and paced over plan.durationMs.
 */
export async function spinlockTask(ctx: FirmwareContext, engine: StressEngine, sp: SpinlockPlan, deadlineMs: number): Promise<void> {
  const drv = ctx.spinlock;
  if (!drv) {
    engine.violation('progress', { expected: 'hardware spinlocks', seen: 'none on this core', detail: `${engine.me} is in the spinlock plan but has no spinlock driver` });
    return;
  }
  const n = sp.locks.length;
  const total = n * sp.incrementsPerCore;
  if (total <= 0) return;
  // A reset core may die holding a lock: its peers' timeouts are then expected.
  const resets = engine.plan.faults.some((f) => f.kind === 'core-reset' && sp.cores.includes(f.core));
  const start = engine.elapsedMs();
  const stepMs = engine.plan.durationMs / total;
  let failures = 0;
  let done = 0;
  while (done < total) {
    // Increment i is due at start + i * stepMs: sleep when ahead, catch up in small batches when
    // behind (one increment per event-loop turn would stretch the phase on a busy core).
    const now = engine.elapsedMs();
    const ahead = start + done * stepMs - now;
    if (ahead >= 1) await ctx.sleep(ahead);
    else await ctx.yield();
    if (engine.elapsedMs() > deadlineMs) {
      engine.violation('progress', {
        expected: `${total} locked increments`, seen: `${done} done by ${Math.round(deadlineMs)} ms`,
        detail: `${engine.me}: spinlock increments did not finish before the deadline`,
      });
      return;
    }
    const due = Math.max(done + 1, Math.min(total, Math.floor((engine.elapsedMs() - start) / stepMs) + 1));
    for (let b = 0; b < LOCK_BATCH_MAX && done < due; b++) {
      const k = done % n;
      const lock = sp.locks[k]!;
      let v: number;
      try {
        v = drv.lockedAdd32(lock, ctx.bus, sp.counterAddr + 4 * k, 1, LOCK_TIMEOUT_MS);
      } catch (err) {
        engine.violation('spinlock-exclusive', {
          expected: 'the counter to be writable', seen: (err as Error).message,
          detail: `${engine.me}: locked increment of lock ${lock} at 0x${(sp.counterAddr + 4 * k).toString(16)} failed: ${(err as Error).message}`,
        });
        return;
      }
      if (v >= 0) {
        engine.countIncrement(lock);
        done++;
        continue;
      }
      if (++failures >= LOCK_FAILURES_MAX) {
        if (!resets) {
          engine.violation('progress', {
            expected: `spinlock ${lock} within ${LOCK_TIMEOUT_MS} ms`, seen: `error ${v} (${failures} times)`,
            detail: `${engine.me}: could not take spinlock ${lock} (holder ${drv.holder(lock)}) after ${engine.increments[lock] ?? 0} increments`,
          });
        }
        return;
      }
      break; // retry this increment on the next turn
    }
  }
}

// ---- RTOS side ----------------------------------------------------------------------------------

const RECV_TIMEOUT_MS = 1000;
/** Endpoint queue per peer that may send to it: more than a ring's 256 buffers drained per interrupt. */
const QUEUE_PER_PEER = 512;
const POLL_MS = 5;

function must(ctx: FirmwareContext, what: string, status: number): void {
  if (status !== 0) throw new Error(`${ctx.core.name}: ${what} failed with status ${status}`);
}

/** One stress endpoint of this core and the flows it carries. */
interface ChannelEndpoint {
  ch: J7Channel;
  h: RPMessage_Handle;
  /** Per proc id: the flow from that core to this one on this channel, or -1. */
  rxFlow: Int32Array;
  /** Per proc id: the remote address learned from its first message (-1 until then). */
  learned: Int32Array;
}

async function receiveTask(ipc: PdkApi, engine: StressEngine, ep: ChannelEndpoint): Promise<void> {
  const buf = new Uint8Array(ipc.IPC_MAX_DATA_PAYLOAD);
  const ack = new Uint8Array(CONTROL_LEN);
  let replyProc = 0;
  let replyEndPt = 0;
  const reply = (fill: Fill): void => {
    fill(ack, 0);
    // No free buffer: the ACK is lost and the sender's FIN retransmission asks again.
    ipc.RPMessage_send(ep.h, replyProc, replyEndPt, ep.h.endPt, ack, CONTROL_LEN);
  };
  for (;;) {
    const r = await ipc.RPMessage_recv(ep.h, buf, RECV_TIMEOUT_MS);
    if (r.status === ipc.IPC_ETIMEOUT) continue;
    if (r.status !== ipc.IPC_SOK) return; // unblocked or deleted
    const from = r.fromProcId;
    if (ep.learned[from] !== r.rplyEndPt) ep.learned[from] = r.rplyEndPt;
    if (isHello(buf, r.len)) continue;
    replyProc = from;
    replyEndPt = r.rplyEndPt;
    engine.onMessage(ep.rxFlow[from]!, buf, 0, r.len, reply);
  }
}

/** Finds where to send on `ep` to `peer`: the announced endpoint (RTOS) or the learned address (Linux). */
async function peerAddress(ctx: FirmwareContext, ipc: PdkApi, engine: StressEngine, ep: ChannelEndpoint, peer: Readonly<CoreInfo>, untilMs: number): Promise<number> {
  const linux = peer.os === 'linux';
  if (linux) {
    while (ep.learned[peer.procId]! < 0 && engine.elapsedMs() < untilMs) await ctx.sleep(POLL_MS);
    if (ep.learned[peer.procId]! >= 0) return ep.learned[peer.procId]!;
  } else {
    const left = Math.max(1, Math.floor(untilMs - engine.elapsedMs()));
    const found = await ipc.RPMessage_getRemoteEndPt(peer.procId, ep.ch.name, left);
    if (found.status === ipc.IPC_SOK) return found.remoteEndPt;
  }
  const dies = engine.diesAt(peer.name);
  if (dies !== undefined && engine.elapsedMs() >= dies) return -1;
  // The announcement or the HELLO can be lost with the ring it travelled on (a corrupt-index
  // fault on the peer's link to this core): the address is fixed, so go on with it.
  const fixed = linux ? ep.ch.linuxEndPt : ep.ch.endPt;
  ctx.log.warn(`${linux ? `no HELLO from Linux on "${ep.ch.name}"` : `"${ep.ch.name}" of ${peer.name} not announced`} within ${Math.round(untilMs)} ms of the run's start; sending to its fixed address ${fixed}`);
  return fixed;
}

async function senderTask(ctx: FirmwareContext, ipc: PdkApi, run: J7Run, ep: ChannelEndpoint, flow: FlowPlan, peer: Readonly<CoreInfo>): Promise<void> {
  const { engine, startupMs, finMs } = run;
  const dst = await peerAddress(ctx, ipc, engine, ep, peer, Math.min(startupMs, engine.diesAt(peer.name) ?? Infinity));
  if (dst < 0) {
    if (!excused(run, flow, peer.name)) {
      engine.violation('progress', {
        flow: flow.id, peer: peer.name, endpoint: flow.channel, expected: `${peer.name}'s "${ep.ch.name}" address`, seen: `none within ${Math.round(startupMs)} ms of the run's start`,
        detail: `flow ${flow.id} ${engine.me}->${peer.name}: ${peer.os === 'linux' ? 'Linux never wrote to' : `${peer.name} never announced`} "${ep.ch.name}"; nothing sent`,
      });
    }
    return;
  }
  const scratch = new Uint8Array(ipc.IPC_MAX_DATA_PAYLOAD);
  const proc = peer.procId;
  const stats = ipc.stats;
  const transport: Transport = {
    send(_flow: FlowPlan, len: number, fill: Fill): number {
      fill(scratch, 0);
      const noBuffer = stats.sendNoBuffer;
      const st = ipc.RPMessage_send(ep.h, proc, dst, ep.h.endPt, scratch, len);
      if (st === ipc.IPC_SOK) return SENT;
      // No free vring buffer: retry later. Anything else (a refused ring, no link): the flow stops.
      return stats.sendNoBuffer !== noBuffer ? BUSY : st < 0 ? st : -1;
    },
  };
  await engine.runSender(flow, transport, finMs);
}

export default async function main(ctx: FirmwareContext) {
  const ipc = ctx.ipc;
  if (!ipc) throw new Error(`${ctx.core.name}: j7-rtos stress firmware needs an RTOS core with the PDK IPC API`);
  const engine = new StressEngine(ctx);
  const plan = engine.plan;
  const run = j7Deadlines(engine);
  const { finMs, finsMs } = run;
  const self = ctx.core.procId;
  const others = ctx.cores.filter((c) => c.procId !== self);
  const linux = ctx.cores.find((c) => c.os === 'linux');
  const byName = new Map(ctx.cores.map((c) => [c.name, c]));
  const incarnation = Number(ctx.args.incarnation ?? 1);
  if (incarnation > 1) {
    ctx.log.warn(`incarnation ${incarnation}: booted again after a reset (${Math.round(engine.elapsedMs())} ms after the run's start); ` +
      'IPC set up as on a fresh boot, its flows start again at seq 0');
  }

  must(ctx, 'Ipc_mpSetConfig', ipc.Ipc_mpSetConfig(self, others.length, others.map((c) => c.procId)));
  must(ctx, 'Ipc_init', ipc.Ipc_init(null));
  if (linux) must(ctx, 'Ipc_loadResourceTable', ipc.Ipc_loadResourceTable());
  must(ctx, 'Ipc_initVirtIO', ipc.Ipc_initVirtIO({
    vringBaseAddr: ipc.VRING_BASE_ADDRESS, vringBufSize: ipc.IPC_VRING_BUFFER_SIZE, timeoutCnt: 100,
  }));
  must(ctx, 'RPMessage_init', ipc.RPMessage_init(ipc.RPMessageParams_init()));

  // Both endpoints exist on every core (a peer's plan may use either); each has its receive task.
  const endpoints = J7_CHANNELS.map((ch): ChannelEndpoint => {
    // Queue room for every core that sends to this endpoint (data, FINs, ACKs of my flows).
    const senders = new Set(plan.flows.filter((f) => f.channel === ch.channel && (f.to === engine.me || f.from === engine.me)).map((f) => (f.to === engine.me ? f.from : f.to)));
    const h = ipc.RPMessage_create({ ...ipc.RPMessageParams_init(), requestedEndpt: ch.endPt, numBufs: QUEUE_PER_PEER * Math.max(1, senders.size) });
    if (!h) throw new Error(`${ctx.core.name}: could not create stress endpoint ${ch.endPt} ("${ch.name}")`);
    const rxFlow = new Int32Array(ipc.IPC_MAX_PROCS).fill(-1);
    for (const f of engine.rxFlows) {
      const from = byName.get(f.from);
      if (from && f.channel === ch.channel) rxFlow[from.procId] = f.id;
    }
    return { ch, h, rxFlow, learned: new Int32Array(ipc.IPC_MAX_PROCS).fill(-1) };
  });
  for (const ep of endpoints) void ctx.task(`stress rx ${ep.ch.name}`, () => receiveTask(ipc, engine, ep));
  for (const ep of endpoints) ipc.RPMessage_announce(ipc.RPMESSAGE_ALL, ep.ch.endPt, ep.ch.name);

  if (linux && !ipc.Ipc_isRemoteVirtioCreated(linux.procId)) {
    void ctx.task('vdev monitor', async () => {
      while (!ipc.Ipc_isRemoteReady(linux.procId)) {
        if (engine.elapsedMs() > finsMs) return; // Linux never came up: its flows report it
        await ctx.sleep(10);
      }
      must(ctx, 'Ipc_lateVirtioCreate', ipc.Ipc_lateVirtioCreate(linux.procId));
      must(ctx, 'RPMessage_lateInit', ipc.RPMessage_lateInit(linux.procId));
      for (const ep of endpoints) ipc.RPMessage_announce(linux.procId, ep.ch.endPt, ep.ch.name);
      ctx.log.info(`paired with Linux late (${Math.round(engine.elapsedMs())} ms after the run's start) and announced the stress endpoints to it`);
    });
  }

  engine.armFaults();

  const work: Promise<void>[] = [];
  for (const flow of engine.txFlows) {
    const ep = endpoints.find((e) => e.ch.channel === flow.channel);
    const peer = byName.get(flow.to);
    if (!ep || !peer || peer.procId === self) {
      engine.violation('progress', {
        flow: flow.id, peer: flow.to, endpoint: flow.channel, expected: 'a J7 channel (rpmsg, rpmsg-char) to another core',
        seen: `channel "${flow.channel}" to "${flow.to}"`, detail: `flow ${flow.id}: ${engine.me} cannot run it`,
      });
      continue;
    }
    work.push(ctx.task(`stress tx flow ${flow.id} -> ${flow.to}`, () => senderTask(ctx, ipc, run, ep, flow, peer)));
  }
  const sp = plan.spinlock;
  if (sp && sp.cores.includes(engine.me)) work.push(ctx.task('stress spinlock', () => spinlockTask(ctx, engine, sp, finMs)));
  await Promise.all(work);
  await engine.awaitFins(finsMs);
  return engine.report();
}
