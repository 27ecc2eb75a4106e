// nRF5340 benchmark firmware over ICMsg (both cores; run by bench/nrf5340.ts on the nrf5340 profile,
// instance ipc1: 16 KiB pbuf each way, unbound = "enable"). The sender core (args.sender, default
// cpuapp) drives; the other core serves. args.mode picks the measurement:
//
//  rtt         The sender sends a 16-byte ping {u32 seq, 12 pattern bytes} and waits (semaphore given
//              by its received() callback) for the echo, which the peer's received() callback sends
//              straight back. One ctx.now() per round trip: sample i is the time between the echoes
//              of pings i-1 and i, which covers sending ping i. args.warmup round trips (default
//              2000) are not recorded, then args.samples (default 20000) are; every echo is checked
//              (length, sequence, pattern). A 4-byte DONE ends the serving core's main().
//  throughput  The sender sends 128-byte packets {u32 seq, pattern, u32 seq} as fast as ICMsg takes
//              them. -ENOMEM (the TX pbuf is full) is retried after ctx.yield(): ICMsg has no
//              "room again" notification, so this is a polling wait (the thread keeps running, as a
//              Zephyr thread retrying after k_yield() would). It also yields every 64 packets, as
//              Zephyr's ICMsg sample does. The receiver checks every packet's sequence (no loss, no
//              duplicate, in order) and both stamps, and measures (RateWindows) args.warmupMs of
//              warm-up then args.windows windows of args.windowMs; after the last window it sends
//              STOP, the sender stops and sends END {magic, packets, bytes}, and the receiver checks
//              that what it received equals what was sent.
//
// main() returns samples and counters; anything wrong is listed in `problems` (the bench throws).
// A stalled link makes main() throw (the core faults and the bench names it).
import type { FirmwareContext } from '../../cores/context.js';
import type { IpcEpt } from '../../cores/zephyr/backend.js';
import {
  BIND_TIMEOUT_MS, CTRL_LEN, MAGIC_END, MAX_PROBLEMS, StreamReceiver, StreamSender, bindEndpoint, getU32, intArg, setU32,
} from './nrf-common.js';

const PING_LEN = 16;
const DATA_LEN = 128;
const END_LEN = 16;
const MAGIC_DONE = 0x454e4f44; // "DONE"
/** How long one echo may take before the link is called stalled. */
const ECHO_TIMEOUT_MS = 5000;

const pattern = (seq: number, k: number): number => (seq * 7 + k) & 0xFF;

export default async function main(ctx: FirmwareContext) {
  const mode = ctx.args.mode ?? 'rtt';
  const sender = ctx.core.name === (ctx.args.sender ?? 'cpuapp');
  const instance = ctx.args.instance ?? 'ipc1';
  if (mode === 'rtt') return sender ? rttSender(ctx, instance) : rttEcho(ctx, instance);
  if (mode === 'throughput') return sender ? tputSender(ctx, instance) : tputReceiver(ctx, instance);
  throw new Error(`core ${ctx.core.name}: unknown mode "${mode}" (rtt or throughput)`);
}

async function rttSender(ctx: FirmwareContext, instance: string) {
  const z = ctx.zephyr!;
  const warmup = intArg(ctx, 'warmup', 2000);
  const samples = intArg(ctx, 'samples', 20000);
  const problems: string[] = [];
  const echoed = ctx.semaphore('echo');
  let echoSeq = -1;
  let echoBad = '';
  const ept: IpcEpt = {};
  await bindEndpoint(ctx, instance, 'bench', ept, {
    received: (data, len) => {
      echoSeq = len >= 4 ? getU32(data, 0) : -1;
      if (len !== PING_LEN) echoBad = `echo of ${len} bytes, expected ${PING_LEN}`;
      else for (let k = 4; k < PING_LEN; k++) if (data[k] !== pattern(echoSeq, k)) echoBad = `echo ${echoSeq}: byte ${k} is ${data[k]}, expected ${pattern(echoSeq, k)}`;
      echoed.give();
    },
    unbound: () => void problems.push(`${instance}: the peer's session ended during the round trips`),
  });
  const ping = new Uint8Array(PING_LEN);
  const rtt = new Float64Array(samples);
  const total = warmup + samples;
  let prev = ctx.now();
  for (let i = 0; i < total; i++) {
    setU32(ping, 0, i);
    for (let k = 4; k < PING_LEN; k++) ping[k] = pattern(i, k);
    const r = z.ipc_service_send(ept, ping);
    if (r !== PING_LEN) throw new Error(`${instance}: ping ${i}: ipc_service_send returned ${z.errName(r)}`);
    if (!(await echoed.take(ECHO_TIMEOUT_MS))) throw new Error(`${instance}: no echo of ping ${i} within ${ECHO_TIMEOUT_MS} ms`);
    if (echoSeq !== i) throw new Error(`${instance}: ping ${i} was answered with sequence ${echoSeq}`);
    if (echoBad) throw new Error(`${instance}: ${echoBad}`);
    const t = ctx.now();
    if (i >= warmup) rtt[i - warmup] = t - prev;
    prev = t;
  }
  const done = new Uint8Array(CTRL_LEN);
  setU32(done, 0, MAGIC_DONE);
  const r = z.ipc_service_send(ept, done);
  if (r !== CTRL_LEN) problems.push(`${instance}: DONE: ipc_service_send returned ${z.errName(r)}`);
  return { role: 'sender', rtt, roundTrips: total, problems };
}

async function rttEcho(ctx: FirmwareContext, instance: string) {
  const z = ctx.zephyr!;
  const problems: string[] = [];
  const done = ctx.semaphore('done');
  let echoed = 0;
  const ept: IpcEpt = {};
  await bindEndpoint(ctx, instance, 'bench', ept, {
    received: (data, len) => {
      if (len === CTRL_LEN && getU32(data, 0) === MAGIC_DONE) return done.give();
      // Zephyr allows sending from received(): ICMsg copies the packet into the TX pbuf.
      const r = z.ipc_service_send(ept, data, len);
      if (r === len) echoed++;
      else if (problems.length < MAX_PROBLEMS) problems.push(`${instance}: echo of a ${len}-byte ping: ipc_service_send returned ${z.errName(r)}`);
    },
    unbound: () => void problems.push(`${instance}: the peer's session ended during the round trips`),
  });
  // The sender's last round trip plus boot skew: bounded, a stalled sender makes this core fault too.
  const limitMs = BIND_TIMEOUT_MS + 600_000;
  if (!(await done.take(limitMs))) throw new Error(`${instance}: no DONE from the sender within ${limitMs} ms (${echoed} pings echoed)`);
  return { role: 'echo', echoed, problems };
}

async function tputSender(ctx: FirmwareContext, instance: string) {
  const z = ctx.zephyr!;
  const tx = new StreamSender(ctx, instance);
  const { ept, problems } = tx;
  await tx.bind({ unbound: () => tx.note(`${instance}: the receiver's session ended during the run`) });
  const pkt = new Uint8Array(DATA_LEN);
  for (let k = 4; k < DATA_LEN - 4; k++) pkt[k] = k;
  let seq = 0;
  let busy = 0;
  const start = ctx.now();
  const deadline = start + tx.limitUs;
  while (!tx.stop) {
    setU32(pkt, 0, seq);
    setU32(pkt, DATA_LEN - 4, seq);
    const r = z.ipc_service_send(ept, pkt);
    if (r === -z.ENOMEM) {
      // TX pbuf full: let the receiver drain it. Polling: ICMsg gives no signal when room frees up.
      busy++;
      if ((busy & 1023) === 0 && ctx.now() > deadline) break;
      await ctx.yield();
      continue;
    }
    if (r !== DATA_LEN) throw new Error(`${instance}: packet ${seq}: ipc_service_send returned ${z.errName(r)}`);
    seq++;
    if ((seq & 63) === 0) {
      if (ctx.now() > deadline) break;
      await ctx.yield();
    }
  }
  const elapsedUs = ctx.now() - start;
  if (!tx.stop) throw new Error(`${instance}: no STOP from the receiver within ${Math.round(elapsedUs / 1000)} ms (${seq} packets sent)`);
  const bytes = seq * DATA_LEN;
  const end = new Uint8Array(END_LEN);
  setU32(end, 0, MAGIC_END);
  setU32(end, 4, seq);
  setU32(end, 8, bytes % 0x1_0000_0000);
  setU32(end, 12, Math.floor(bytes / 0x1_0000_0000));
  const endDeadline = ctx.now() + ECHO_TIMEOUT_MS * 1000;
  let r: number;
  while ((r = z.ipc_service_send(ept, end)) === -z.ENOMEM && ctx.now() < endDeadline) await ctx.yield();
  if (r !== END_LEN) throw new Error(`${instance}: END: ipc_service_send returned ${z.errName(r)}`);
  return { role: 'sender', packets: seq, bytes, busy, elapsedMs: elapsedUs / 1000, problems };
}

async function tputReceiver(ctx: FirmwareContext, instance: string) {
  const rx = new StreamReceiver(ctx, instance, 'packet');
  let end: { packets: number; bytes: number } | undefined;
  await bindEndpoint(ctx, instance, 'bench', rx.ept, {
    received: (data, len) => {
      if (len === DATA_LEN) {
        rx.data(data, len, ((rx.messages + 1) & 15) === 0);
      } else if (len === END_LEN && getU32(data, 0) === MAGIC_END) {
        end = { packets: getU32(data, 4), bytes: getU32(data, 8) + getU32(data, 12) * 0x1_0000_0000 };
        rx.end();
      } else {
        rx.unexpected(len);
      }
    },
    unbound: () => rx.note(`${instance}: the sender's session ended during the run`),
  });
  await rx.finish(ECHO_TIMEOUT_MS);
  if (end!.packets !== rx.messages || end!.bytes !== rx.bytes) {
    rx.note(`${instance}: the sender sent ${end!.packets} packets (${end!.bytes} bytes), the receiver got ${rx.messages} (${rx.bytes} bytes)`);
  }
  return rx.result('packets');
}
