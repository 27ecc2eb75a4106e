// One stress run, as a piscina task: a fresh SoC instance driven by one seed. It expands the seed
// into the plan, boots the SoC with the stress firmware on every core (each core's perturbation
// and fault hooks installed from the plan), injects the host-side faults (spurious interrupts,
// core resets through Soc.resetCore), watches the mailbox FIFOs while the run goes on, then checks
// the invariants (soc/stress/checks.ts) and shuts the SoC down. Whatever goes wrong becomes a
// failure of the run, never an exception.

import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CoreOs } from '../../cores/boot.js';
import { InterruptController } from '../../shared/irq.js';
import pino from 'pino';
import { FIRMWARE_BUILD_DIR, prepareFirmware } from '../firmware.js';
import type { LogSink } from '../log.js';
import { PROJECT_ROOT, Soc } from '../soc.js';
import type { SocProfile } from '../profile.js';
import { faultsArg, loadProfile, replayCommand } from './campaign.js';
import { checkRun, FifoDepthMonitor } from './checks.js';
import { makePlan, startupAllowanceMs } from './plan.js';
import type { HookFault } from '../../shared/perturb.js';
import {
  FAULT_PROMISES, type Failure, type FaultEvent, type FaultKind, type FaultOutcome, type RunResult, type StressPlan, hookFaultsOf,
} from './schema.js';

export interface StressTaskInput {
  /** Built-in profile name, or the absolute path of a profile file. */
  profile: string;
  seed: number;
  durationMs: number;
  faults: FaultKind[];
  /** `--faults` as requested on the command line (for the replay command); defaults to the list. */
  faultsSpec?: string;
  firewall: boolean;
  /** Cores' log level; when given, their log lines also go to stderr (tagged with the seed). */
  logLevel?: string;
  /** Trace this run (`--trace-seed`): the Chrome/Perfetto JSON file to write (soc/trace.ts). */
  trace?: string;
}

/** Stress firmware per (platform, OS), relative to the project root. */
const STRESS_FIRMWARE: Record<string, Partial<Record<CoreOs, string>>> = {
  j721e: { rtos: 'firmware/stress/j7-rtos.ts', linux: 'firmware/stress/j7-linux.ts' },
  nrf5340: { zephyr: 'firmware/stress/nrf.ts' },
};

/** Time after the traffic phase for FIN/ACK exchanges and draining before the watchdog calls a core stuck. */
export const DRAIN_MS = 10_000;
/** Log lines of level error and above kept per run (attached to its failures). */
const KEPT_ERROR_LINES = 3;
const PINO_ERROR = 50;

const now = (): number => performance.timeOrigin + performance.now();

// The stress firmware is bundled once per pool thread and reused by every run of that thread (the
// same three files for every seed), rather than once per core per run: that is most of the time
// it takes to build a J7 SoC. The bundles are named by process and thread, so the threads of a
// pool never share (or delete) each other's files; the campaign removes them at the end.
const bundlePrefix = (pid: number): string => `stress-${pid}-`;
const bundles = new Map<string, Promise<string>>();

function bundled(core: string, source: string): Promise<string> {
  let p = bundles.get(source);
  if (!p) {
    p = prepareFirmware(core, source, PROJECT_ROOT, bundlePrefix(process.pid)).then((b) => b.path);
    p.catch(() => bundles.delete(source));
    bundles.set(source, p);
  }
  return p;
}

/** Removes the firmware bundles the pool threads of process `pid` made (after the pool is gone). */
export function removeBundles(pid = process.pid): void {
  let names: string[];
  try {
    names = readdirSync(FIRMWARE_BUILD_DIR);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(bundlePrefix(pid))) rmSync(join(FIRMWARE_BUILD_DIR, n), { force: true });
}

/** Each core's stress firmware (a bundled .mjs, which the SoC loads as it is). */
async function stressFirmware(profile: SocProfile): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const c of profile.cores) {
    const rel = STRESS_FIRMWARE[profile.platform]?.[c.os];
    if (!rel) throw new Error(`profile ${profile.name}: no stress firmware for a ${c.os} core on ${profile.platform} (core ${c.name})`);
    out[c.name] = await bundled(c.name, resolve(PROJECT_ROOT, rel));
  }
  return out;
}

/** A log sink that keeps the first error lines in memory (and echoes every line when asked). */
function memorySink(level: string, seed: number, echo: boolean): LogSink & { errors: string[] } {
  const errors: string[] = [];
  const write = (line: string): void => {
    if (echo) process.stderr.write(`{"seed":${seed},${line.trimEnd().slice(1)}\n`);
    if (errors.length >= KEPT_ERROR_LINES) return;
    try {
      const o = JSON.parse(line) as { level?: number; msg?: string; core?: string; err?: { message?: string } };
      if ((o.level ?? 0) >= PINO_ERROR) errors.push(`${o.core ?? 'host'}: ${o.msg ?? ''}${o.err?.message ? ` (${o.err.message})` : ''}`);
    } catch {
      errors.push(line.trim().slice(0, 300));
    }
  };
  const root = pino({ level, base: undefined }, { write });
  return { root, level, write, errors };
}

/** Raises each spurious-irq fault's line on its core `count` times, 1 ms apart, from its time on. */
function injectSpuriousIrqs(plan: StressPlan, soc: Soc, t0: number, timers: Set<NodeJS.Timeout>): Map<number, number> {
  const fired = new Map<number, number>();
  const { image } = soc;
  const irq = new InterruptController(image.controlSab, image.controlLayout.irq, image.cores.length);
  for (const f of plan.faults) {
    if (f.kind !== 'spurious-irq' || f.line === undefined) continue;
    const core = image.cores.findIndex((c) => c.name === f.core);
    if (core < 0) continue;
    const fire = (left: number): void => {
      irq.raise(core, f.line!);
      fired.set(f.id, (fired.get(f.id) ?? 0) + 1);
      if (left > 1) later(() => fire(left - 1), 1);
    };
    const later = (fn: () => void, ms: number): void => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    };
    later(() => fire(f.count), Math.max(0, t0 + f.atMs - now()));
  }
  return fired;
}

/** What the host did about the core-reset faults: resets done per fault id, and resets that failed. */
interface HostResets {
  fired: Map<number, number>;
  failures: { fault: FaultEvent; error: unknown }[];
  /** Resets started (awaited before the checks). */
  pending: Set<Promise<void>>;
}

/** Resets each core-reset fault's core at its time (t0 + atMs), through Soc.resetCore. */
function injectResets(plan: StressPlan, soc: Soc, t0: number, timers: Set<NodeJS.Timeout>): HostResets {
  const out: HostResets = { fired: new Map(), failures: [], pending: new Set() };
  for (const f of plan.faults) {
    if (f.kind !== 'core-reset') continue;
    const t = setTimeout(() => {
      timers.delete(t);
      const p = soc.resetCore(f.core).then(
        () => void out.fired.set(f.id, (out.fired.get(f.id) ?? 0) + 1),
        (error: unknown) => void out.failures.push({ fault: f, error }),
      );
      out.pending.add(p);
      void p.finally(() => out.pending.delete(p));
    }, Math.max(0, t0 + f.atMs - now()));
    timers.add(t);
  }
  return out;
}

/**
 * The hook faults a core's thread installs: all of its own at power-on; after a reset only those
 * not yet due when it was reset (the first incarnation had the earlier ones).
 */
function hookFaultsFor(plan: StressPlan, core: string, incarnation: number): HookFault[] {
  const all = hookFaultsOf(plan, core);
  if (incarnation <= 1) return all;
  const resetAt = Math.max(...plan.faults.filter((f) => f.kind === 'core-reset' && f.core === core).map((f) => f.atMs), 0);
  return all.filter((f) => f.atMs > resetAt);
}

/** The host raised the spurious interrupts: its count is the fault's. */
function withHostFired(faults: FaultOutcome[], plan: StressPlan, fired: Map<number, number>): FaultOutcome[] {
  const out = faults.map((f) => ({ ...f }));
  for (const ev of plan.faults) {
    if (ev.kind !== 'spurious-irq') continue;
    const n = fired.get(ev.id) ?? 0;
    const o = out.find((f) => f.id === ev.id);
    if (!o) {
      out.push({ id: ev.id, kind: ev.kind, core: ev.core, atMs: ev.atMs, fired: n, outcome: n > 0 ? FAULT_PROMISES[ev.kind].promise : 'not fired' });
    } else if (n > o.fired) {
      o.fired = n;
      if (o.outcome === 'not fired') o.outcome = FAULT_PROMISES[ev.kind].promise;
    }
  }
  return out;
}

/** The host did the resets: a core-reset fault fired as often as its reset went through. */
function withHostResets(faults: FaultOutcome[], plan: StressPlan, fired: Map<number, number>): FaultOutcome[] {
  return faults.map((o) => {
    const ev = plan.faults.find((f) => f.id === o.id);
    if (ev?.kind !== 'core-reset') return o;
    const n = fired.get(o.id) ?? 0;
    if (n <= o.fired) return o;
    return { ...o, fired: n, outcome: o.outcome === 'not fired' ? FAULT_PROMISES[ev.kind].promise : o.outcome };
  });
}

const describe = (err: unknown): string => (err instanceof Error ? err.stack ?? err.message : String(err));

/** Runs one seed on a fresh SoC; never throws. A traced run's result carries its trace summary. */
export default async function run(input: StressTaskInput): Promise<RunResult> {
  const made: { soc?: Soc } = {};
  const r = await runSeed(input, made);
  // The SoC is shut down by now, so its trace file is complete.
  const trace = made.soc?.traceSummary;
  return trace ? { ...r, trace } : r;
}

async function runSeed(input: StressTaskInput, made: { soc?: Soc }): Promise<RunResult> {
  const started = performance.now();
  const replay = replayCommand({
    profile: input.profile, seed: input.seed, durationMs: input.durationMs, faults: input.faultsSpec ?? faultsArg(input.faults),
    firewall: input.firewall, mutation: process.env.HETSOC_MUTATION || undefined,
  });
  const result = (failures: Failure[], r: Partial<RunResult> = {}): RunResult => ({
    seed: input.seed, ok: failures.length === 0, messages: 0, bytes: 0, faults: [], invariantsChecked: 0, ...r, failures,
    wallMs: Math.round(performance.now() - started),
  });
  const harness = (what: string, err: unknown, errors: string[] = []): RunResult => result([{
    seed: input.seed, invariant: 'harness', cores: [], detail: `${what}: ${describe(err)}${errors.length ? `\nfirst errors logged:\n  ${errors.join('\n  ')}` : ''}`, replay,
  }]);

  let profile: SocProfile;
  let plan: StressPlan;
  let firmware: Record<string, string>;
  try {
    profile = loadProfile(input.profile);
    plan = await makePlan(profile, input.seed, { durationMs: input.durationMs, faults: input.faults, firewall: input.firewall });
    firmware = await stressFirmware(profile);
  } catch (err) {
    return harness('planning the run failed', err);
  }

  const sink = memorySink(input.logLevel ?? 'error', input.seed, input.logLevel !== undefined);
  const timers = new Set<NodeJS.Timeout>();
  let soc: Soc | undefined;
  let monitor: FifoDepthMonitor | undefined;
  try {
    // t0 = the run's start (the cores apply it to their hooks when they start running).
    soc = await Soc.create(profile, {
      sink, firewall: plan.firewall, firmware, ...(input.trace ? { trace: { path: input.trace } } : {}),
      perturb: (i, incarnation) => ({
        seed: input.seed, core: i, t0: 0, points: plan.perturb, faults: hookFaultsFor(plan, profile.cores[i]!.name, incarnation),
      }),
    });
    made.soc = soc;
    const t0 = now();
    const hostFired = injectSpuriousIrqs(plan, soc, t0, timers);
    const resets = injectResets(plan, soc, t0, timers);
    monitor = new FifoDepthMonitor(soc.image, replay, input.seed); // no-op without a mailbox bank (nRF5340)
    monitor.start();
    // The watchdog: boot delays, the traffic phase, then FIN/ACK and draining. A reset core's new
    // incarnation runs a traffic phase of its own from its reset on.
    const bootMs = Math.max(0, ...profile.cores.map((c) => c.bootDelayMs ?? 0));
    const lastReset = Math.max(0, ...plan.faults.filter((f) => f.kind === 'core-reset').map((f) => f.atMs));
    const outcomes = await soc.run({ plan: JSON.stringify(plan), t0: String(t0) }, startupAllowanceMs(profile) + bootMs + lastReset + plan.durationMs + DRAIN_MS);
    // Faults not due by now never will be; run() waits for a reset core's new incarnation, but a
    // reset that failed may still be settling.
    for (const t of timers) clearTimeout(t);
    timers.clear();
    await Promise.all([...resets.pending]);
    const fifo = monitor?.stop() ?? { checked: 0, failures: [] };
    monitor = undefined;
    const check = checkRun({ plan, image: soc.image, outcomes, replay });
    const log = sink.errors.length ? `\nfirst errors logged:\n  ${sink.errors.join('\n  ')}` : '';
    const resetFailures: Failure[] = resets.failures.map(({ fault, error }) => ({
      seed: input.seed, invariant: 'harness', cores: [fault.core], detail: `core-reset #${fault.id} of ${fault.core} at ${fault.atMs} ms: ${describe(error)}`, replay,
    }));
    const failures = [...check.failures, ...fifo.failures, ...resetFailures].map((f) => ({ ...f, seed: input.seed, replay, detail: f.detail + log }));
    return result(failures, {
      messages: check.messages, bytes: check.bytes, faults: withHostResets(withHostFired(check.faults, plan, hostFired), plan, resets.fired),
      invariantsChecked: check.checked + fifo.checked,
    });
  } catch (err) {
    return harness('the run failed', err, sink.errors);
  } finally {
    for (const t of timers) clearTimeout(t);
    try {
      monitor?.stop();
    } catch {
      // already reported through the run's own failure
    }
    await soc?.shutdown().catch(() => undefined);
  }
}
