// A stress campaign: many independent runs, one seed each, fanned out over a piscina pool (one
// task = one whole SoC in soc/stress/task.ts; its cores are worker threads inside the task), and
// the aggregation of their results into one report. Also: slicing a seed range into shards and
// merging the shards' reports, so a campaign can be spread over machines by any batch system.

import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { loadProfileFile } from '../profile-file.js';
import { findProfile, type SocProfile } from '../profile.js';
import { PROJECT_ROOT } from '../soc.js';
import type { CampaignReport, Failure, FaultKind, RunResult } from './schema.js';
import { removeBundles, type StressTaskInput } from './task.js';

/** A profile argument that names a file rather than a built-in profile (as `npm run soc` decides). */
export const isProfilePath = (profile: string): boolean => /[\\/]|\.json$/i.test(profile);

/** Loads a built-in profile by name or a profile file (ProfileError on either failing). */
export function loadProfile(profile: string): SocProfile {
  return isProfilePath(profile) ? loadProfileFile(profile, PROJECT_ROOT) : findProfile(profile);
}

/** What a campaign was run with; merged reports must agree on it. */
export interface CampaignSettings {
  durationMs: number;
  /** `--faults` as requested ("all", "none", "bit-flip,delayed-irq"). */
  faults: string;
  firewall: boolean;
}

/** The report `stress --json` prints: the campaign report and the settings it was run with. */
export type CampaignDocument = CampaignReport & { settings?: CampaignSettings };

export interface Progress {
  done: number;
  total: number;
  /** Runs that failed so far. */
  failed: number;
  messages: number;
  /** The run that just finished. */
  run: RunResult;
}

export interface CampaignOptions {
  /** Built-in profile name or the path of a profile file. */
  profile: string;
  seeds: number[];
  /** Pool size: SoCs run at the same time. */
  jobs?: number;
  durationMs: number;
  faults: FaultKind[];
  /** `--faults` as written (for replay commands); defaults to the list. */
  faultsSpec?: string;
  firewall: boolean;
  /** HETSOC_MUTATION for every run (planted in the pool's threads and the cores they spawn). */
  mutation?: string;
  shard?: { index: number; count: number };
  logLevel?: string;
  /** Trace the run of one seed into a Chrome/Perfetto JSON file (`--trace-seed N FILE`). */
  trace?: { seed: number; path: string };
  onProgress?: (p: Progress) => void;
}

const shellSafe = /^[A-Za-z0-9_./:@%+=,-]+$/;
/** Quotes a word for a POSIX shell when it needs it. */
export const shellQuote = (s: string): string => (shellSafe.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The faults list as `--faults` takes it. */
export const faultsArg = (faults: readonly string[]): string => (faults.length ? faults.join(',') : 'none');

export interface ReplayParams {
  profile: string;
  seed: number;
  durationMs: number;
  /** `--faults` as requested. */
  faults: string;
  firewall: boolean;
  mutation?: string;
}

/** The command that replays one seed exactly (same profile, duration, faults, firewalls, mutation). */
export function replayCommand(p: ReplayParams): string {
  const words = [
    ...(p.mutation ? [`HETSOC_MUTATION=${shellQuote(p.mutation)}`] : []),
    'npm', 'run', 'stress', '--', '--profile', shellQuote(p.profile), '--seed', String(p.seed),
    '--duration', String(p.durationMs), '--faults', shellQuote(p.faults), ...(p.firewall ? [] : ['--no-firewall']),
  ];
  return words.join(' ');
}

/**
 * The index-th (1-based) of `count` contiguous, near-equal slices of `seeds`. The slices of
 * 1..count partition the list: together they hold every seed exactly once.
 */
export function shardSeeds(seeds: readonly number[], index: number, count: number): number[] {
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`shard count ${count}: expected a positive integer`);
  if (!(Number.isInteger(index) && index >= 1 && index <= count)) throw new RangeError(`shard ${index}/${count}: the index must be 1..${count}`);
  const lo = Math.floor(((index - 1) * seeds.length) / count);
  const hi = Math.floor((index * seeds.length) / count);
  return seeds.slice(lo, hi);
}

/** A run that never produced a result (the pool thread died, the task threw outside its guard). */
function harnessFailure(seed: number, err: unknown, replay: string): RunResult {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    seed, ok: false, messages: 0, bytes: 0, faults: [], invariantsChecked: 0, wallMs: 0,
    failures: [{ seed, invariant: 'harness', cores: [], detail: `the run did not complete: ${e.stack ?? e.message}`, replay }],
  };
}

/** Sums run results into a campaign report (runs in seed order). */
export function aggregate(profile: string, runs: RunResult[], extra: { mutation?: string; shard?: { index: number; count: number }; wallMs: number }): CampaignReport {
  const faultsByKind: Record<string, number> = {};
  let messages = 0;
  let bytes = 0;
  let faults = 0;
  let invariantsChecked = 0;
  const failures: Failure[] = [];
  for (const r of runs) {
    messages += r.messages;
    bytes += r.bytes;
    invariantsChecked += r.invariantsChecked;
    for (const f of r.faults) {
      if (f.fired <= 0) continue;
      faults += f.fired;
      faultsByKind[f.kind] = (faultsByKind[f.kind] ?? 0) + f.fired;
    }
    failures.push(...r.failures);
  }
  return {
    ok: failures.length === 0 && runs.every((r) => r.ok), profile, ...(extra.mutation ? { mutation: extra.mutation } : {}),
    seeds: runs.map((r) => r.seed), ...(extra.shard ? { shard: extra.shard } : {}),
    runs: runs.length, messages, bytes, faults, faultsByKind, invariantsChecked, failures, wallMs: extra.wallMs,
  };
}

/** Runs every seed as its own SoC on a pool of `jobs` threads and aggregates the results. */
export async function runCampaign(opts: CampaignOptions): Promise<CampaignDocument> {
  const profile = loadProfile(opts.profile);
  // Tasks get an absolute path: the pool threads and the replay command do not depend on the cwd.
  const profileArg = isProfilePath(opts.profile) ? profile.source ?? opts.profile : opts.profile;
  const faultsSpec = opts.faultsSpec ?? faultsArg(opts.faults);
  const jobs = Math.max(1, Math.min(opts.jobs ?? availableParallelism(), opts.seeds.length || 1));
  const env: Record<string, string | undefined> = { ...process.env };
  if (opts.mutation) env.HETSOC_MUTATION = opts.mutation;
  else delete env.HETSOC_MUTATION;

  const started = performance.now();
  const pool = new Piscina<StressTaskInput, RunResult>({
    filename: new URL('./task.js', import.meta.url).href,
    minThreads: jobs, maxThreads: jobs, idleTimeout: 1000, atomics: 'disabled',
    env: env as Record<string, string>,
  });
  const results = new Map<number, RunResult>();
  let failed = 0;
  let messages = 0;
  try {
    await Promise.all(opts.seeds.map(async (seed) => {
      const input: StressTaskInput = {
        profile: profileArg, seed, durationMs: opts.durationMs, faults: opts.faults, faultsSpec, firewall: opts.firewall,
        ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
        ...(opts.trace?.seed === seed ? { trace: opts.trace.path } : {}),
      };
      let r: RunResult;
      try {
        r = await pool.run(input);
      } catch (err) {
        r = harnessFailure(seed, err, replayCommand({ profile: profileArg, seed, durationMs: opts.durationMs, faults: faultsSpec, firewall: opts.firewall, mutation: opts.mutation }));
      }
      results.set(seed, r);
      if (!r.ok) failed++;
      messages += r.messages;
      opts.onProgress?.({ done: results.size, total: opts.seeds.length, failed, messages, run: r });
    }));
  } finally {
    await pool.destroy();
    removeBundles();
  }
  const runs = opts.seeds.map((s) => results.get(s)!);
  const report = aggregate(profile.name, runs, { mutation: opts.mutation, shard: opts.shard, wallMs: Math.round(performance.now() - started) });
  return { ...report, settings: { durationMs: opts.durationMs, faults: faultsSpec, firewall: opts.firewall } };
}

/** Merging reports that do not belong together. */
export class MergeError extends Error {
  override name = 'MergeError';
}

/**
 * Merges the reports of a campaign's shards (or of any runs of the same profile, mutation and
 * settings) into one: counts are summed, seeds and failures joined in seed order, the wall time is
 * the longest shard's. Refuses reports of different profiles, mutations or settings, and a seed
 * that appears twice (the same shard merged twice).
 */
export function mergeReports(reports: CampaignDocument[]): CampaignDocument {
  if (reports.length === 0) throw new MergeError('nothing to merge: no reports given');
  const first = reports[0]!;
  const seedOwner = new Map<number, number>();
  reports.forEach((r, i) => {
    if (r.profile !== first.profile) {
      throw new MergeError(`report ${i + 1} is of profile ${JSON.stringify(r.profile)}, report 1 of ${JSON.stringify(first.profile)}; reports of different profiles cannot be merged`);
    }
    if ((r.mutation ?? '') !== (first.mutation ?? '')) {
      throw new MergeError(`report ${i + 1} ran with ${r.mutation ? `HETSOC_MUTATION=${r.mutation}` : 'no mutation'}, report 1 with ${first.mutation ? `HETSOC_MUTATION=${first.mutation}` : 'no mutation'}; reports of different mutations cannot be merged`);
    }
    if (r.settings && first.settings) {
      for (const k of ['durationMs', 'faults', 'firewall'] as const) {
        if (r.settings[k] !== first.settings[k]) {
          throw new MergeError(`report ${i + 1} ran with ${k} = ${JSON.stringify(r.settings[k])}, report 1 with ${JSON.stringify(first.settings[k])}; reports of different settings cannot be merged`);
        }
      }
    }
    for (const s of r.seeds) {
      const prev = seedOwner.get(s);
      if (prev !== undefined) throw new MergeError(`seed ${s} is in report ${prev + 1} and in report ${i + 1} (the same shard given twice?)`);
      seedOwner.set(s, i);
    }
  });
  const faultsByKind: Record<string, number> = {};
  for (const r of reports) for (const [k, n] of Object.entries(r.faultsByKind)) faultsByKind[k] = (faultsByKind[k] ?? 0) + n;
  const sum = (f: (r: CampaignReport) => number): number => reports.reduce((a, r) => a + f(r), 0);
  const failures = reports.flatMap((r) => r.failures).sort((a, b) => a.seed - b.seed);
  return {
    ok: reports.every((r) => r.ok) && failures.length === 0,
    profile: first.profile, ...(first.mutation ? { mutation: first.mutation } : {}),
    seeds: reports.flatMap((r) => r.seeds).sort((a, b) => a - b),
    runs: sum((r) => r.runs), messages: sum((r) => r.messages), bytes: sum((r) => r.bytes), faults: sum((r) => r.faults),
    faultsByKind, invariantsChecked: sum((r) => r.invariantsChecked), failures,
    wallMs: Math.max(...reports.map((r) => r.wallMs)),
    ...(first.settings ? { settings: first.settings } : {}),
  };
}
