// `npm run stress -- --profile j7 --seeds 64 --jobs 2`: many independent seeded runs of a SoC under
// random traffic, timing perturbation and faults, each a fresh SoC; a summary, every failure with
// the command that replays it. `npm run stress -- merge a.json b.json` merges shard reports.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { MUTATIONS, mutationError } from '../shared/mutation.js';
import { DevicetreeError } from '../soc/devicetree/errors.js';
import { LOG_LEVELS } from '../soc/log.js';
import { BUILTIN_PROFILES, ProfileError } from '../soc/profile.js';
import {
  type CampaignDocument, type Progress, loadProfile, MergeError, mergeReports, runCampaign, shardSeeds,
} from '../soc/stress/campaign.js';
import { FaultSpecError, MIN_DURATION_MS, PlanError, UNSUPPORTED_FAULTS, makePlan, parseFaults } from '../soc/stress/plan.js';
import { FAULT_KINDS, FAULT_PROMISES, INVARIANTS, type Failure, type RunResult } from '../soc/stress/schema.js';
import { checkTracePath, formatTraceSummary, type TraceSummary } from '../soc/trace.js';

const INVARIANT_TEXT: Record<string, string> = {
  'no-loss': 'every message sent arrives (sender and receiver counts agree at the end of each flow); flows of a core that faults or of a corrupted link are exempt',
  'no-duplicate': 'no message arrives twice',
  'in-order': 'each flow\'s messages arrive in the order they were sent',
  'payload-intact': 'every payload delivered as good is byte-exact (checksum and content); detected corruption is counted, never delivered',
  'spinlock-exclusive': 'counters incremented under a hardware spinlock by every RTOS core end at the exact total (J7)',
  'mailbox-fifo-depth': 'no mailbox FIFO ever holds more than its 4 messages (J7, watched during the run)',
  'vring-ownership': 'after the run every vring buffer is owned by exactly one side (J7)',
  'no-leak': 'after the run every buffer and ICBMsg block is back with its owner',
  'progress': 'every core finishes its run (none stuck, none faulted unless a fault of the plan says so)',
  'fault-promise': 'each injected fault had the effect its kind promises (survived, detected or reported)',
};

/** Wraps `text` to `width` columns, every line after the first indented by `indent` spaces. */
function wrap(text: string, width: number, indent: number): string {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(/\s+/)) {
    if (line && line.length + 1 + w.length > width - indent) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join('\n' + ' '.repeat(indent));
}

const COL = 24;
const item = (name: string, text: string): string => `  ${name.padEnd(COL - 2)}${wrap(text, 100, COL)}`;

const HELP = `hetsoc stress: many seeded runs of a SoC under random traffic, timing perturbation and faults

Usage: npm run stress -- [--profile NAME|FILE.json] [options]
       npm run stress -- merge REPORT.json... [--json]

Every run is a fresh SoC instance driven by one seed: the seed chooses the traffic between the
cores (lengths, bursts, pauses), the timing perturbation at the IPC primitives and the fault
schedule, so a failing seed replays exactly with the command printed next to it. Runs go to a pool
of --jobs threads, one whole SoC per thread (its cores are threads of their own).

Options:
${[
  item('--profile NAME|FILE', `SoC profile (default j7). Built-in: ${Object.keys(BUILTIN_PROFILES).join(', ')}; or your board's profile file (.json)`),
  item('--seeds N', 'run seeds 1..N (default 16)'),
  item('--seed N', 'run the one seed N (what a replay command does)'),
  item('--jobs N', `SoCs run at the same time (default: the available CPUs, ${availableParallelism()} here)`),
  item('--duration MS', `traffic phase of each run in ms (default 1000, at least ${MIN_DURATION_MS})`),
  item('--faults LIST', 'fault kinds a run may inject: all (default), none (traffic only), or a comma-separated list of the kinds below. Each run injects a seeded subset (at least one kind).'),
  item('--no-firewall', 'firewalls off (they are on by default; the firewall fault then never happens)'),
  item('--shard I/N', 'run only the I-th of N equal slices of the seeds (I is 1-based) and report on those; join the reports with `merge`. For Kubernetes indexed jobs, whose JOB_COMPLETION_INDEX is 0-based: --shard $((JOB_COMPLETION_INDEX + 1))/N'),
  item('--json', 'one JSON document on stdout: { ok, profile, mutation, seeds, shard, runs, messages, bytes, faults, faultsByKind, invariantsChecked, failures[{ seed, invariant, cores, endpoint, expected, seen, detail, replay }], wallMs, settings }'),
  item('--trace-seed N FILE', 'record a timeline of the run of seed N (one of the seeds run) and write it to FILE as Chrome/Perfetto trace JSON, to open in ui.perfetto.dev (README "Timeline (Perfetto)"); the other runs are not traced'),
  item('--log-level LEVEL', `the cores' log lines at LEVEL (${LOG_LEVELS.join(', ')}) to stderr as JSON lines tagged with the seed (default: none; a failing run's first error lines are attached to its failures)`),
  item('-h, --help', 'this text'),
].join('\n')}

Subcommand:
${item('merge REPORT.json...', 'merges the --json reports of shards (same profile, mutation and settings) into one report and prints its summary (or, with --json, the merged report); exit status as for a run')}

Environment:
${item('HETSOC_MUTATION=NAME', `plants a known concurrency bug so that the checks can be seen to catch it (${MUTATIONS.join(', ')}); replay commands carry it`)}

Fault kinds (promise: what the system does under it):
${FAULT_KINDS.map((k) => item(k, UNSUPPORTED_FAULTS[k] ? `(not supported yet) ${FAULT_PROMISES[k].promise}: ${FAULT_PROMISES[k].what}` : `${FAULT_PROMISES[k].promise}: ${FAULT_PROMISES[k].what}`)).join('\n')}

Invariants checked in every run:
${INVARIANTS.map((i) => item(i, INVARIANT_TEXT[i] ?? '')).join('\n')}

Exit status: 0 when every run passed every check; 1 when a run failed (each failure is printed with
the invariant, the cores and endpoint, expected vs seen, and the command that replays its seed);
2 for a usage error (option, profile, fault kind, mutation name, report file).
`;

class UsageError extends Error {}

function int(v: string, option: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!(Number.isInteger(n) && n >= min && n <= max)) throw new UsageError(`${option} ${v}: expected an integer ${min}..${max === Number.MAX_SAFE_INTEGER ? '' : max}`.replace(/\.\.$/, ' or more'));
  return n;
}

function parseShard(v: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  if (!m) throw new UsageError(`--shard ${v}: expected I/N, e.g. --shard 2/8 (I is 1-based)`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) throw new UsageError(`--shard ${v}: the number of shards must be at least 1`);
  if (index < 1 || index > count) {
    throw new UsageError(`--shard ${v}: I must be 1..${count} (it is 1-based; from Kubernetes' 0-based JOB_COMPLETION_INDEX use index + 1)`);
  }
  return { index, count };
}

// ---- output -------------------------------------------------------------------------------------

const thousands = (n: number): string => n.toLocaleString('en-US');
function short(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

/** "1..64", "1..8, 17, 20..24" (at most a few ranges, then "..."). */
function seedRanges(seeds: readonly number[]): string {
  const s = [...seeds].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(i === j ? String(s[i]) : `${s[i]}..${s[j]}`);
    i = j + 1;
  }
  return parts.length > 6 ? `${parts.slice(0, 6).join(', ')}, ...` : parts.join(', ');
}

class ProgressView {
  private drawn = false;
  constructor(private readonly tty: boolean, private readonly plain: boolean) {}

  /** Draws the empty bar (terminal only). */
  start(total: number): void {
    if (this.tty && total > 0) this.draw(0, total, 0, 0);
  }

  update(p: Progress): void {
    if (this.tty) {
      this.draw(p.done, p.total, p.failed, p.messages);
    } else if (this.plain) {
      process.stderr.write(runLine(p.run, p.done, p.total) + '\n');
    }
  }

  private draw(done: number, total: number, failed: number, messages: number): void {
    const width = 20;
    const filled = total ? Math.round((done / total) * width) : width;
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} runs  ${failed} failed  ${short(messages)} msgs`;
    process.stderr.write(`\r${bar}\x1b[K`);
    this.drawn = true;
  }

  end(): void {
    if (this.drawn) process.stderr.write('\n');
  }
}

function runLine(r: RunResult, done: number, total: number): string {
  const fired = r.faults.reduce((a, f) => a + f.fired, 0);
  const what = r.ok ? 'ok' : `FAILED (${[...new Set(r.failures.map((f) => f.invariant))].join(', ')})`;
  return `run ${done}/${total}  seed ${r.seed}: ${what}  ${thousands(r.messages)} msgs  ${fired} faults  ${r.invariantsChecked} checks  ${(r.wallMs / 1000).toFixed(1)} s`;
}

const MAX_PRINTED_FAILURES = 100;

function formatFailure(f: Failure): string {
  const lines = [`  seed ${f.seed}: ${f.invariant}`];
  const field = (name: string, v: string | undefined): void => {
    if (v !== undefined && v !== '') lines.push(`    ${(name + ':').padEnd(10)}${v.split('\n').join('\n' + ' '.repeat(14))}`);
  };
  field('cores', f.cores.join(', '));
  field('endpoint', f.endpoint);
  field('expected', f.expected);
  field('seen', f.seen);
  field('detail', f.detail);
  field('replay', f.replay);
  return lines.join('\n');
}

function formatSummary(r: CampaignDocument): string {
  const out: string[] = [];
  const s = r.settings;
  out.push(`profile ${r.profile}${r.mutation ? `, HETSOC_MUTATION=${r.mutation}` : ''}${r.shard ? `, shard ${r.shard.index}/${r.shard.count}` : ''}`
    + (s ? `: ${s.durationMs} ms per run, faults ${s.faults}, firewalls ${s.firewall ? 'on' : 'off'}` : ''));
  const failedRuns = new Set(r.failures.map((f) => f.seed)).size;
  const kinds = Object.entries(r.faultsByKind).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${thousands(n)}`).join(', ');
  const row = (k: string, v: string): string => `${k.padEnd(12)}${v}`;
  out.push(row('runs', `${r.runs}${r.runs ? ` (seeds ${seedRanges(r.seeds)})` : ''}${failedRuns ? `, ${failedRuns} failed` : ''}`));
  out.push(row('messages', `${thousands(r.messages)} (${mb(r.bytes)})`));
  out.push(row('faults', `${thousands(r.faults)} injected${kinds ? `: ${kinds}` : ''}`));
  out.push(row('invariants', `${thousands(r.invariantsChecked)} checked`));
  out.push(row('failures', thousands(r.failures.length)));
  out.push(row('wall time', `${(r.wallMs / 1000).toFixed(1)} s`));
  if (r.failures.length) {
    out.push('', 'FAILURES:');
    for (const f of r.failures.slice(0, MAX_PRINTED_FAILURES)) out.push(formatFailure(f));
    if (r.failures.length > MAX_PRINTED_FAILURES) out.push(`  ... and ${r.failures.length - MAX_PRINTED_FAILURES} more (--json lists every one)`);
    out.push('', `FAILED: ${r.failures.length} failure${r.failures.length === 1 ? '' : 's'} in ${failedRuns} of ${r.runs} runs`);
  } else if (!r.ok) {
    out.push('', 'FAILED: a run did not pass');
  } else {
    out.push('', r.runs ? `OK: ${r.runs}/${r.runs} runs passed every check` : 'OK: no runs (this shard has no seeds)');
  }
  return out.join('\n');
}

/** Writes to stdout and waits until it is flushed (a pipe is written asynchronously; exit would cut it). */
const out = (text: string): Promise<void> => new Promise((resolve, reject) => {
  process.stdout.write(text, (err) => (err ? reject(err) : resolve()));
});

// ---- merge --------------------------------------------------------------------------------------

function readReport(file: string): CampaignDocument {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`merge: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`merge: ${file} is not valid JSON (${(err as Error).message}); expected the output of npm run stress -- --json`);
  }
  const o = doc as Record<string, unknown>;
  const bad = (what: string): never => {
    throw new UsageError(`merge: ${file} is not a stress report: ${what} (expected the output of npm run stress -- --json)`);
  };
  if (typeof o !== 'object' || o === null || Array.isArray(o)) bad('the top level is not an object');
  if (typeof o.ok !== 'boolean') bad('"ok" is missing or not a boolean');
  if (typeof o.profile !== 'string') bad('"profile" is missing or not a string');
  if (!Array.isArray(o.seeds) || !o.seeds.every((s) => Number.isInteger(s))) bad('"seeds" is missing or not a list of integers');
  for (const k of ['runs', 'messages', 'bytes', 'faults', 'invariantsChecked', 'wallMs']) if (typeof o[k] !== 'number') bad(`"${k}" is missing or not a number`);
  if (typeof o.faultsByKind !== 'object' || o.faultsByKind === null) bad('"faultsByKind" is missing');
  if (!Array.isArray(o.failures)) bad('"failures" is missing or not a list');
  if (o.mutation !== undefined && typeof o.mutation !== 'string') bad('"mutation" is not a string');
  return o as unknown as CampaignDocument;
}

async function merge(files: string[], json: boolean): Promise<number> {
  if (files.length === 0) throw new UsageError('merge: give the report files to merge (npm run stress -- merge a.json b.json ...)');
  const reports = files.map(readReport);
  let merged: CampaignDocument;
  try {
    merged = mergeReports(reports);
  } catch (err) {
    if (err instanceof MergeError) {
      throw new UsageError(`merge: ${err.message.replace(/report (\d+)/g, (_m, n: string) => files[Number(n) - 1] ?? `report ${n}`)}`);
    }
    throw err;
  }
  await out(json ? JSON.stringify(merged, null, 2) + '\n' : formatSummary(merged) + '\n');
  return merged.ok ? 0 : 1;
}

// ---- main ---------------------------------------------------------------------------------------

/** Takes `--trace-seed N FILE` (an option with two values, which parseArgs cannot express) out of argv. */
function takeTraceSeed(argv: string[]): { rest: string[]; trace?: { seed: number; path: string } } {
  const i = argv.indexOf('--trace-seed');
  if (i < 0) return { rest: argv };
  const [n, file] = [argv[i + 1], argv[i + 2]];
  if (n === undefined || file === undefined || n.startsWith('--') || file.startsWith('--')) {
    throw new UsageError('--trace-seed takes a seed and a file: --trace-seed N FILE');
  }
  const rest = [...argv.slice(0, i), ...argv.slice(i + 3)];
  if (rest.includes('--trace-seed')) throw new UsageError('--trace-seed is given twice; one run can be traced');
  let path: string;
  try {
    path = checkTracePath(file);
  } catch (err) {
    throw new UsageError(`--trace-seed ${n} ${file}: ${(err as Error).message}`);
  }
  return { rest, trace: { seed: int(n, '--trace-seed', 0, 0xffffffff), path } };
}

async function main(args: string[]): Promise<number> {
  let values;
  let positionals: string[];
  const { rest: argv, trace } = takeTraceSeed(args);
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        profile: { type: 'string' },
        seeds: { type: 'string' },
        seed: { type: 'string' },
        jobs: { type: 'string' },
        duration: { type: 'string' },
        faults: { type: 'string' },
        'no-firewall': { type: 'boolean' },
        shard: { type: 'string' },
        json: { type: 'boolean' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  if (values.help) {
    await out(HELP);
    return 0;
  }
  if (positionals[0] === 'merge') {
    if (trace) throw new UsageError('merge takes only report files and --json; found --trace-seed');
    const others = Object.keys(values).filter((k) => k !== 'json');
    if (others.length) throw new UsageError(`merge takes only report files and --json; found --${others[0]}`);
    return merge(positionals.slice(1), values.json ?? false);
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (the only subcommand is merge)`);

  const mutation = process.env.HETSOC_MUTATION || undefined;
  const bad = mutationError(mutation);
  if (bad) throw new UsageError(bad);

  if (values.seed !== undefined && values.seeds !== undefined) throw new UsageError('--seed N runs one seed and --seeds N runs seeds 1..N: give one of them');
  if (values.seed !== undefined && values.shard !== undefined) throw new UsageError('--shard slices a range of seeds (--seeds N); with --seed there is only one');
  const all = values.seed !== undefined
    ? [int(values.seed, '--seed', 0, 0xffffffff)]
    : Array.from({ length: int(values.seeds ?? '16', '--seeds', 1, 1_000_000) }, (_, i) => i + 1);
  const shard = values.shard !== undefined ? parseShard(values.shard) : undefined;
  const seeds = shard ? shardSeeds(all, shard.index, shard.count) : all;
  if (trace && !seeds.includes(trace.seed)) {
    throw new UsageError(`--trace-seed ${trace.seed}: seed ${trace.seed} is not run here (seeds ${seedRanges(seeds)}${shard ? ` in shard ${shard.index}/${shard.count}` : ''})`);
  }
  const jobs = values.jobs !== undefined ? int(values.jobs, '--jobs', 1, 1024) : availableParallelism();
  const durationMs = values.duration !== undefined ? int(values.duration, '--duration', MIN_DURATION_MS, 3_600_000) : 1000;
  const faultsSpec = (values.faults ?? 'all').trim();
  let faults;
  try {
    faults = parseFaults(faultsSpec);
  } catch (err) {
    if (err instanceof FaultSpecError) throw new UsageError(`${err.message}`);
    throw err;
  }
  const firewall = !values['no-firewall'];
  if (!firewall && faultsSpec !== 'all' && faults.includes('firewall')) {
    throw new UsageError('--faults firewall needs the firewalls on: drop --no-firewall or the firewall fault');
  }
  const level = values['log-level'];
  if (level !== undefined && !LOG_LEVELS.includes(level)) throw new UsageError(`--log-level ${level}: use one of ${LOG_LEVELS.join(', ')}`);

  const profileArg = values.profile ?? 'j7';
  const profile = loadProfile(profileArg);
  // Checks the board can be planned for (devicetree, core set) before starting any run.
  await makePlan(profile, seeds[0] ?? all[0]!, { durationMs, faults, firewall });

  const tty = Boolean(process.stderr.isTTY);
  const json = values.json ?? false;
  const view = new ProgressView(tty, !json);
  if (!json && !tty) {
    process.stderr.write(`stress: profile ${profile.name}, ${seeds.length} runs, ${Math.min(jobs, Math.max(1, seeds.length))} at a time, ${durationMs} ms each, faults ${faultsSpec}, firewalls ${firewall ? 'on' : 'off'}\n`);
  }
  view.start(seeds.length);
  let traced: TraceSummary | undefined;
  const report = await runCampaign({
    profile: profileArg, seeds, jobs, durationMs, faults, faultsSpec, firewall, mutation, shard,
    ...(level ? { logLevel: level } : {}), ...(trace ? { trace } : {}),
    onProgress: (p) => {
      if (p.run.trace) traced = p.run.trace;
      view.update(p);
    },
  });
  view.end();
  await out(json ? JSON.stringify(report, null, 2) + '\n' : formatSummary(report) + '\n');
  if (trace) {
    const line = traced ? formatTraceSummary(traced) : `trace: seed ${trace.seed} did not produce ${trace.path} (its run failed before the SoC booted)`;
    if (json) process.stderr.write(line + '\n');
    else await out(line + '\n');
  }
  return report.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    const usage = err instanceof UsageError || err instanceof ProfileError || err instanceof DevicetreeError || err instanceof PlanError;
    process.stderr.write(`hetsoc: ${err.message}\n${usage ? 'Run with --help for usage.\n' : ''}`);
    process.exit(usage ? 2 : 1);
  },
);
