// `npm run bench`: hetsoc's IPC paths measured side by side with references taken in the same run
// (the Atomics floor, SharedArrayBuffer copy rate, MessagePort), then the ratios the project targets.
// Prints a table, or one JSON document with --json ({results, ratios}). Progress goes to stderr.

import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { BenchOptions, BenchResult, Scenario } from '../bench/harness.js';
import { fmt, ratios, render } from '../bench/report.js';
import { j7Scenarios } from '../bench/j7.js';
import { nrfScenarios } from '../bench/nrf5340.js';
import { referenceScenarios } from '../bench/reference.js';

const HELP = `hetsoc bench: IPC round trips and throughputs against references measured in the same run

Usage: npm run bench -- [options]

Options:
  --json          print one JSON document ({results, ratios}) on stdout instead of the tables
  --quick         far fewer iterations (a smoke run; the figures are rough)
  --only LIST     run only these scenarios (comma-separated): a group (ref, j7, nrf5340), a
                  group/name as listed by --list, or a bare name (every group's)
  --list          list the scenarios and exit
  -h, --help      this text

Every round trip is a median and a 99th percentile over single round trips (or over batches where
one round trip is shorter than reading the clock); throughputs are medians over measurement
windows, with the slowest 1% as "p99". Ratios compare hetsoc with the references of the same run;
targets are for a 2-CPU machine with nothing else running. Exit status: 0 when every scenario ran
(met or not), 1 when a scenario failed, 2 for a usage error.`;

const ALL: Scenario[] = [...referenceScenarios, ...j7Scenarios, ...nrfScenarios];

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean', default: false },
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        list: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n(see --help)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (values.list) {
    for (const s of ALL) process.stdout.write(`${s.group}/${s.name}\n`);
    return 0;
  }
  let chosen = ALL;
  if (values.only !== undefined) {
    const want = values.only.split(',').map((s) => s.trim()).filter(Boolean);
    const known = new Set(ALL.flatMap((s) => [s.group, s.name, `${s.group}/${s.name}`]));
    const unknown = want.filter((w) => !known.has(w));
    if (unknown.length || want.length === 0) {
      process.stderr.write(`bench: --only ${values.only}: unknown scenario or group ${unknown.map((u) => `"${u}"`).join(', ') || '(empty list)'}; see --list\n`);
      return 2;
    }
    chosen = ALL.filter((s) => want.includes(s.group) || want.includes(s.name) || want.includes(`${s.group}/${s.name}`));
  }
  const progress = (line: string): void => {
    process.stderr.write(`bench: ${line}\n`);
  };
  const opts: BenchOptions = { quick: values.quick, progress };
  progress(`${chosen.length} scenarios on ${availableParallelism()} host CPUs, Node ${process.versions.node}${values.quick ? ' (quick)' : ''}`);
  const results: BenchResult[] = [];
  const failures: string[] = [];
  for (const s of chosen) {
    const t0 = performance.now();
    progress(`${s.group}/${s.name} ...`);
    try {
      const rs = await s.run(opts);
      results.push(...rs);
      progress(`${s.group}/${s.name}: ${rs.map((r) => `${r.name} ${fmt(r.median)} ${r.unit}`).join(', ')} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (err) {
      failures.push(`${s.group}/${s.name}: ${err instanceof Error ? err.message : String(err)}`);
      progress(`${s.group}/${s.name} FAILED: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const rs = ratios(results);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ...(values.quick ? { quick: true } : {}), results, ratios: rs, ...(failures.length ? { failures } : {}) }, null, 2)}\n`);
  } else {
    process.stdout.write(`${render(results, rs, failures)}\n`);
    if (values.quick) process.stdout.write('(--quick: a smoke run with short warm-ups and few samples; judge the targets from a full run)\n');
  }
  return failures.length ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
