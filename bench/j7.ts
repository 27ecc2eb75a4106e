// The J7 scenarios of `npm run bench`: a booted j7 profile running the bench firmware of
// firmware/bench/ (one firmware per OS, the scenario in ctx.args.scenario). Round trips are timed
// by the firmware (ctx.now(), one read per round trip) and returned from main(); throughputs are
// counted in the bench control block in MSMC SRAM (firmware/bench/j7-common.ts), which the host
// samples per window as the MessagePort reference does. Every scenario shuts its SoC down, and
// throws an Error naming the scenario when a core faults, gets stuck or loses a message.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { CoreOutcome, SocOptions } from '../soc/soc.js';
import { PROJECT_ROOT, Soc } from '../soc/soc.js';
import type { LogSink } from '../soc/log.js';
import { findProfile, type SocProfile } from '../soc/profile.js';
import {
  CTRL_COUNTER, CTRL_GO, CTRL_MSGS, CTRL_READY, CTRL_SIZE, CTRL_STOP, CTRL_STRIDE,
} from '../firmware/bench/j7-common.js';
import { R, rateResult, timeResult, type BenchOptions, type BenchResult, type Scenario } from './harness.js';

const FW = {
  rtos: resolve(PROJECT_ROOT, 'firmware/bench/j7-rtos.ts'),
  linux: resolve(PROJECT_ROOT, 'firmware/bench/j7-linux.ts'),
  mailbox: resolve(PROJECT_ROOT, 'firmware/bench/j7-mailbox.ts'),
  spinlock: resolve(PROJECT_ROOT, 'firmware/bench/j7-spinlock.ts'),
};
/** The child process of the idle measurement (compiled next to this file). */
const IDLE_CHILD = resolve(dirname(fileURLToPath(import.meta.url)), 'idle-child.js');
/** How long soc.run may take beyond a scenario's own duration before a core counts as stuck. */
const WATCHDOG_MS = 60_000;
/** How long the host waits for every core to come up. */
const READY_LIMIT_MS = 20_000;
const PINO_ERROR = 50;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Bench firmware for every core of `profile`: `rtos` on RTOS cores, `linux` on Linux. */
export function benchFirmware(profile: SocProfile, rtos: string, linux: string): Record<string, string> {
  return Object.fromEntries(profile.cores.map((c) => [c.name, c.os === 'linux' ? linux : rtos]));
}

/** The IPC firmware (PDK on the RTOS cores, rpmsg_char on Linux). */
export const ipcFirmware = (profile: SocProfile): Record<string, string> => benchFirmware(profile, FW.rtos, FW.linux);

/**
 * A log sink for a bench SoC: warnings and errors of the cores go to the progress lines; the first
 * error lines are kept for the scenario's Error.
 */
export function benchSink(progress: (line: string) => void, level = 'warn'): LogSink & { errors: string[] } {
  const errors: string[] = [];
  const write = (line: string): void => {
    let text = line.trim();
    let isError = false;
    try {
      const o = JSON.parse(line) as { level?: number; msg?: string; core?: string };
      text = `${o.core ?? 'host'}: ${o.msg ?? ''}`;
      isError = (o.level ?? 0) >= PINO_ERROR;
    } catch {
      isError = true;
    }
    if (isError && errors.length < 5) errors.push(text);
    progress(`  [soc] ${text}`);
  };
  return { root: pino({ level, base: undefined }, { write }), level, write, errors };
}

/** Throws when a core did not finish: faulted, stuck, or its IPC stack counted a lost message. */
export function checkOutcomes(scenario: string, outcomes: CoreOutcome[], errors: readonly string[] = []): Map<string, CoreOutcome> {
  const problems: string[] = [];
  for (const o of outcomes) {
    if (o.state !== 'finished') {
      const where = o.error?.where ? ` (${o.error.where})` : '';
      const waits = o.waits?.length ? `; waiting on: ${o.waits.join(', ')}` : '';
      problems.push(`core ${o.name} ${o.state}${o.error ? `: ${o.error.message}${where}` : ''}${waits}`);
    }
    const rpmsg = (o.stats?.rpmsg ?? {}) as Record<string, unknown>;
    for (const k of ['sendNoBuffer', 'droppedNoEndpoint', 'droppedQueueFull', 'droppedBad', 'droppedNoRecipient', 'droppedTooBig', 'badBuffers', 'txTimeouts', 'refused']) {
      const v = rpmsg[k];
      if (typeof v === 'number' && v > 0) problems.push(`core ${o.name}: rpmsg stats ${k} = ${v} (messages dropped or a ring refused)`);
    }
  }
  if (problems.length > 0) {
    const logged = errors.length ? `; first errors logged: ${errors.join(' | ')}` : '';
    throw new Error(`bench ${scenario}: ${problems.join('; ')}${logged}`);
  }
  return new Map(outcomes.map((o) => [o.name, o]));
}

/** The host's view of the bench control block in the SoC's MSMC SRAM. */
class ControlBlock {
  private readonly w: Int32Array;
  private readonly base: number;

  constructor(soc: Soc) {
    const r = soc.image.regions.find((x) => x.kind === 'ram' && x.base <= CTRL_READY && CTRL_READY + CTRL_SIZE <= x.base + x.size);
    if (!r) throw new Error(`bench: the SoC has no RAM at 0x${CTRL_READY.toString(16)} for the bench control block`);
    this.w = new Int32Array(r.sab, r.byteOffset, r.size >> 2);
    this.base = r.base;
  }

  read(addr: number): number {
    return Atomics.load(this.w, (addr - this.base) >> 2) >>> 0;
  }

  write(addr: number, v: number): void {
    Atomics.store(this.w, (addr - this.base) >> 2, v);
  }
}

/** A SoC with the given firmware, handed to `body`, shut down afterwards whatever happens. */
async function withSoc<T>(scenario: string, opts: BenchOptions, firmware: Record<string, string>, extra: Partial<SocOptions>,
  body: (soc: Soc, sink: ReturnType<typeof benchSink>) => Promise<T>): Promise<T> {
  const sink = benchSink(opts.progress);
  let soc: Soc;
  try {
    soc = await Soc.create(findProfile('j7'), { ...extra, sink, firmware });
  } catch (err) {
    throw new Error(`bench ${scenario}: the SoC did not build: ${(err as Error).message}`);
  }
  try {
    return await body(soc, sink);
  } finally {
    await soc.shutdown();
  }
}

/** The samples (a Float64Array) core `name` returned from main(). */
function samplesOf(scenario: string, byName: Map<string, CoreOutcome>, name: string): Float64Array {
  const r = byName.get(name)?.result as { samples?: unknown } | undefined;
  if (!(r?.samples instanceof Float64Array)) throw new Error(`bench ${scenario}: core ${name} returned no samples (${JSON.stringify(r)})`);
  return r.samples;
}

/**
 * Runs the SoC while the host drives it through the control block: waits until all cores have
 * come up, runs `body` (which writes go, samples, ...), then writes stop and waits for the cores.
 * If anything failed, the cores' own errors are reported first.
 */
async function hostDriven(scenario: string, soc: Soc, sink: ReturnType<typeof benchSink>, args: Record<string, string>, runMs: number,
  body: (ctl: ControlBlock) => Promise<void>): Promise<Map<string, CoreOutcome>> {
  const ctl = new ControlBlock(soc);
  const running = soc.run(args, runMs + WATCHDOG_MS);
  let failure: unknown;
  try {
    const deadline = performance.now() + READY_LIMIT_MS;
    const n = soc.coreNames.length;
    while (ctl.read(CTRL_READY) < n) {
      if (performance.now() > deadline) throw new Error(`bench ${scenario}: only ${ctl.read(CTRL_READY)} of ${n} cores came up within ${READY_LIMIT_MS} ms`);
      await sleep(1);
    }
    await body(ctl);
  } catch (err) {
    failure = err;
  } finally {
    ctl.write(CTRL_STOP, 1);
  }
  const byName = checkOutcomes(scenario, await running, sink.errors);
  if (failure) throw failure;
  return byName;
}

// ---- 1. mailbox round trip ----------------------------------------------------------------------

async function mailboxRtt(opts: BenchOptions): Promise<BenchResult[]> {
  const scenario = 'j7 mailbox';
  const samples = opts.quick ? 500 : 20_000;
  const warmup = opts.quick ? 100 : 2000;
  opts.progress(`j7: mailbox round trip mcu1_0 <-> mcu1_1 from the receive ISRs, ${warmup} + ${samples} round trips`);
  const profile = findProfile('j7');
  const fw = benchFirmware(profile, FW.mailbox, FW.mailbox);
  return withSoc(scenario, opts, fw, {}, async (soc, sink) => {
    const args = { client: 'mcu1_0', server: 'mcu1_1', warmup: String(warmup), samples: String(samples) };
    const byName = checkOutcomes(scenario, await soc.run(args, WATCHDOG_MS), sink.errors);
    return [timeResult(R.mailboxRtt, 'us', samplesOf(scenario, byName, 'mcu1_0'),
      'mcu1_0 -> mcu1_1 -> mcu1_0, 32-bit message, next sent from the receive ISR; 8 cores idle')];
  });
}

// ---- 2. RPMsg round trip R5F <-> R5F --------------------------------------------------------------

export interface RpmsgRttOptions {
  /**
   * Added to the Soc options (e.g. tracing, once Soc has it). With `resultName`, the same scenario
   * reports the traced run as R.rpmsgRttTraced.
   */
  extraSocOptions?: Partial<SocOptions>;
  /** Result name (default R.rpmsgRtt). */
  resultName?: string;
}

/** RPMsg 32-byte round trip mcu1_0 -> mcu1_1's echo endpoint on a booted j7 (the 8 other cores idle). */
export async function rpmsgRtt(opts: BenchOptions, o: RpmsgRttOptions = {}): Promise<BenchResult[]> {
  const name = o.resultName ?? R.rpmsgRtt;
  const scenario = `j7 ${name}`;
  const samples = opts.quick ? 500 : 20_000;
  const warmup = opts.quick ? 100 : 2000;
  opts.progress(`j7: RPMsg round trip mcu1_0 -> mcu1_1 echo, 32 bytes, ${warmup} + ${samples} round trips`);
  return withSoc(scenario, opts, ipcFirmware(findProfile('j7')), o.extraSocOptions ?? {}, async (soc, sink) => {
    const args = { scenario: 'rpmsg-rtt', client: 'mcu1_0', server: 'mcu1_1', warmup: String(warmup), samples: String(samples) };
    const byName = checkOutcomes(scenario, await soc.run(args, WATCHDOG_MS), sink.errors);
    return [timeResult(name, 'us', samplesOf(scenario, byName, 'mcu1_0'),
      'PDK RPMessage_send + RPMessage_recv, mcu1_0 -> mcu1_1 echo endpoint, 32 B; booted j7, 8 cores idle')];
  });
}

// ---- 3. RPMsg round trip Linux <-> R5F ----------------------------------------------------------------

async function linuxRtt(opts: BenchOptions): Promise<BenchResult[]> {
  const scenario = 'j7 linux rtt';
  const samples = opts.quick ? 500 : 20_000;
  const warmup = opts.quick ? 100 : 2000;
  opts.progress(`j7: rpmsg_char round trip mpu1_0 -> mcu1_0 echo, 32 bytes, ${warmup} + ${samples} round trips`);
  return withSoc(scenario, opts, ipcFirmware(findProfile('j7')), {}, async (soc, sink) => {
    const args = { scenario: 'linux-rtt', server: 'mcu1_0', warmup: String(warmup), samples: String(samples) };
    const byName = checkOutcomes(scenario, await soc.run(args, WATCHDOG_MS), sink.errors);
    return [timeResult(R.linuxRtt, 'us', samplesOf(scenario, byName, 'mpu1_0'),
      'rpmsg_char write + select + read, mpu1_0 -> mcu1_0 echo endpoint, 32 B; booted j7, 8 cores idle')];
  });
}

// ---- 4. hardware spinlock ---------------------------------------------------------------------------

const CONTENDERS = ['mcu1_0', 'mcu1_1', 'mcu2_0', 'mcu2_1', 'mcu3_0', 'mcu3_1', 'C66X_1', 'C66X_2'];

async function spinlockUncontended(opts: BenchOptions): Promise<BenchResult[]> {
  const scenario = 'j7 spinlock uncontended';
  const batch = 10_000;
  const samples = opts.quick ? 20 : 200;
  opts.progress(`j7: spinlock lock+unlock on mcu1_0 alone, ${samples} batches of ${batch}`);
  const fw = benchFirmware(findProfile('j7'), FW.spinlock, FW.spinlock);
  return withSoc(scenario, opts, fw, {}, async (soc, sink) => {
    const args = { mode: 'uncontended', cores: 'mcu1_0', batch: String(batch), samples: String(samples), warmup: opts.quick ? '2' : '20' };
    const byName = checkOutcomes(scenario, await soc.run(args, WATCHDOG_MS), sink.errors);
    return [timeResult(R.spinlock0, 'ns', samplesOf(scenario, byName, 'mcu1_0'),
      `ctx.spinlock lock(0) + unlock(0) on one core, batches of ${batch} pairs`)];
  });
}

/**
 * `n` cores take lock 0 and increment a shared counter under it, as fast as they can; the host
 * reads the counter per window: ns per acquisition = window / acquisitions in it.
 */
async function spinlockContended(opts: BenchOptions, n: number, name: string): Promise<BenchResult[]> {
  const scenario = `j7 spinlock contended by ${n}`;
  const windows = 5;
  const windowMs = opts.quick ? 40 : 200;
  const cores = CONTENDERS.slice(0, n);
  opts.progress(`j7: spinlock contended by ${n} cores (${cores.join(', ')}), 1 + ${windows} windows of ${windowMs} ms`);
  const fw = benchFirmware(findProfile('j7'), FW.spinlock, FW.spinlock);
  return withSoc(scenario, opts, fw, {}, async (soc, sink) => {
    const samples = new Float64Array(windows);
    const byName = await hostDriven(scenario, soc, sink, { mode: 'contended', cores: cores.join(',') }, (windows + 1) * windowMs, async (ctl) => {
      ctl.write(CTRL_GO, 1);
      await sleep(windowMs); // warm-up window: every core has started
      let t0 = performance.now();
      let c0 = ctl.read(CTRL_COUNTER);
      for (let k = 0; k < windows; k++) {
        await sleep(windowMs);
        const t1 = performance.now();
        const c1 = ctl.read(CTRL_COUNTER);
        if (c1 === c0) throw new Error(`bench ${scenario}: no acquisition in window ${k} (${Math.round(t1 - t0)} ms)`);
        samples[k] = ((t1 - t0) * 1e6) / (c1 - c0);
        t0 = t1;
        c0 = c1;
      }
    });
    const final = new ControlBlock(soc).read(CTRL_COUNTER);
    let acquisitions = 0;
    for (const c of cores) {
      const a = (byName.get(c)?.result as { acquisitions?: unknown } | undefined)?.acquisitions;
      if (typeof a !== 'number' || !(a > 0)) throw new Error(`bench ${scenario}: core ${c} reports ${String(a)} acquisitions`);
      acquisitions += a;
    }
    if (final !== acquisitions) {
      throw new Error(`bench ${scenario}: the shared counter is ${final} but the cores took the lock ${acquisitions} times: ` +
        `${acquisitions - final} increments lost, the lock did not exclude`);
    }
    opts.progress(`  ${acquisitions} acquisitions, counter ${final}: consistent`);
    return [timeResult(name, 'ns', samples,
      `${n} cores: lock(0), counter++ in MSMC, unlock(0) in a loop; window / acquisitions of all cores, ${windowMs} ms windows`)];
  });
}

// ---- 5. all to all ----------------------------------------------------------------------------------

async function allToAll(opts: BenchOptions): Promise<BenchResult[]> {
  const scenario = 'j7 all-to-all';
  const durationMs = opts.quick ? 200 : 1000;
  const windows = 5;
  const windowMs = durationMs / windows;
  opts.progress(`j7: all-to-all, 10 cores each echoing and pinging the 9 others, ${durationMs} ms`);
  return withSoc(scenario, opts, ipcFirmware(findProfile('j7')), {}, async (soc, sink) => {
    const n = soc.coreNames.length;
    const samples = new Float64Array(windows);
    let sampled = 0;
    const total = (ctl: ControlBlock): number => {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += ctl.read(CTRL_MSGS + i * CTRL_STRIDE);
      return sum;
    };
    const byName = await hostDriven(scenario, soc, sink, { scenario: 'all-to-all' }, durationMs, async (ctl) => {
      ctl.write(CTRL_GO, 1);
      let t0 = performance.now();
      let c0 = total(ctl);
      for (let k = 0; k < windows; k++) {
        await sleep(windowMs);
        const t1 = performance.now();
        const c1 = total(ctl);
        samples[k] = (c1 - c0) / ((t1 - t0) / 1000);
        t0 = t1;
        c0 = c1;
      }
      sampled = c0;
    });
    // Each pinger counts what it completed: every one must have made progress, and the sum must
    // cover what the host saw.
    let roundTrips = 0;
    let slowest = { pair: '', n: Infinity };
    for (const [core, o] of byName) {
      const perPeer = (o.result as { roundTrips?: Record<string, unknown> } | undefined)?.roundTrips ?? {};
      if (Object.keys(perPeer).length !== n - 1) throw new Error(`bench ${scenario}: core ${core} pinged ${Object.keys(perPeer).length} peers, not ${n - 1}`);
      for (const [peer, r] of Object.entries(perPeer)) {
        if (typeof r !== 'number' || !(r > 0)) throw new Error(`bench ${scenario}: pinger ${core} -> ${peer} completed ${String(r)} round trips`);
        roundTrips += r;
        if (r < slowest.n) slowest = { pair: `${core} -> ${peer}`, n: r };
      }
    }
    if (2 * roundTrips < sampled) throw new Error(`bench ${scenario}: the cores report ${2 * roundTrips} messages but the host counted ${sampled}`);
    opts.progress(`  ${roundTrips} round trips (${2 * roundTrips} messages) by ${n * (n - 1)} pingers; slowest ${slowest.pair}: ${slowest.n}`);
    return [rateResult(R.allToAll, 'msg/s', samples,
      `10 cores, each: one echo responder, 9 serial pingers (PDK between RTOS cores, rpmsg_char on Linux), 32 B; ` +
      `pings + pongs delivered, ${windowMs} ms windows`)];
  });
}

// ---- 6. boot ----------------------------------------------------------------------------------------

async function boot(opts: BenchOptions): Promise<BenchResult[]> {
  const scenario = 'j7 boot';
  const rounds = opts.quick ? 1 : 5;
  opts.progress(`j7: boot, Soc.create to every endpoint found, ${rounds} round(s)`);
  const profile = findProfile('j7');
  const samples = new Float64Array(rounds);
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    await withSoc(scenario, opts, ipcFirmware(profile), {}, async (soc, sink) => {
      checkOutcomes(scenario, await soc.run({ scenario: 'boot' }, WATCHDOG_MS), sink.errors);
      samples[r] = performance.now() - t0;
    });
  }
  return [timeResult(R.boot, 'ms', samples,
    'Soc.create (firmware bundled, 10 workers) + run until every RTOS core found every other one and Linux ' +
    'opened rpmsg_chrdev of each (Linux boots 50 ms late, bootDelayMs)')];
}

// ---- 7. idle ----------------------------------------------------------------------------------------

/** What dist/bench/idle-child.js prints (one JSON line). */
export interface IdleReport {
  cpuPercent: number;
  rssMb: number;
  windowMs: number;
  bootMs: number;
}

async function idle(opts: BenchOptions): Promise<BenchResult[]> {
  const scenario = 'j7 idle';
  const windowMs = opts.quick ? 500 : 2000;
  opts.progress(`j7: idle booted SoC in a child process, ${windowMs} ms`);
  const child = spawn(process.execPath, [IDLE_CHILD, String(windowMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const line of d.split('\n')) if (line.trim()) opts.progress(`  [idle-child] ${line}`);
  });
  const code = await new Promise<number | null>((res, rej) => {
    child.on('error', rej);
    child.on('close', res);
  });
  const line = out.trim().split('\n').pop() ?? '';
  let report: IdleReport;
  try {
    report = JSON.parse(line) as IdleReport;
  } catch {
    throw new Error(`bench ${scenario}: the child (${IDLE_CHILD}) exited with ${code} and printed no report: ${(err || out).trim().slice(-2000)}`);
  }
  if (code !== 0) throw new Error(`bench ${scenario}: the child exited with ${code}: ${(err || out).trim().slice(-2000)}`);
  opts.progress(`  booted in ${Math.round(report.bootMs)} ms; ${report.cpuPercent.toFixed(2)} % CPU, ${report.rssMb.toFixed(1)} MB RSS`);
  const what = `booted j7 (endpoints announced, cores waiting for interrupts), own process, ${report.windowMs} ms`;
  return [
    timeResult(R.idleCpu, '% CPU', [report.cpuPercent], `${what}; process.cpuUsage user+system / wall`),
    timeResult(R.idleRss, 'MB', [report.rssMb], `${what}; process RSS at the end`),
  ];
}

/** The J7 scenarios, group "j7". */
/** The same RPMsg round trip with the Perfetto timeline recording (--trace); the file is removed after. */
async function rpmsgRttTraced(opts: BenchOptions): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'hetsoc-bench-trace-'));
  try {
    const results = await rpmsgRtt(opts, { extraSocOptions: { trace: { path: join(dir, 'trace.json') } }, resultName: R.rpmsgRttTraced });
    for (const r of results) r.note = `${r.note ?? ''}; tracing on (--trace)`;
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const j7Scenarios: Scenario[] = [
  { group: 'j7', name: 'mailbox', run: mailboxRtt },
  { group: 'j7', name: 'rpmsg', run: (opts) => rpmsgRtt(opts) },
  { group: 'j7', name: 'rpmsg-traced', run: rpmsgRttTraced },
  { group: 'j7', name: 'linux', run: linuxRtt },
  { group: 'j7', name: 'spinlock-0', run: spinlockUncontended },
  { group: 'j7', name: 'spinlock-2', run: (opts) => spinlockContended(opts, 2, R.spinlock2) },
  { group: 'j7', name: 'spinlock-8', run: (opts) => spinlockContended(opts, 8, R.spinlock8) },
  { group: 'j7', name: 'all-to-all', run: allToAll },
  { group: 'j7', name: 'boot', run: boot },
  { group: 'j7', name: 'idle', run: idle },
];
