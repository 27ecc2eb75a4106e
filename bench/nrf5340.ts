// The nRF5340 scenarios of `npm run bench`: each boots a fresh SoC with the benchmark firmware of
// firmware/bench/ on cpuapp and cpunet, runs it, checks what the cores report and shuts the SoC
// down (also on failure).
//
//  icmsg-rtt         R.icmsgRtt: 16-byte ICMsg round trips on the nrf5340 profile's ipc1, echoed by
//                    cpunet's received() callback (firmware/bench/nrf-icmsg.ts, mode rtt).
//  icmsg-throughput  R.icmsgThroughput: 128-byte ICMsg packets cpuapp -> cpunet on ipc1, measured by
//                    the receiver in windows (nrf-icmsg.ts, mode throughput).
//  icbmsg-zero-copy  R.icbmsgZeroCopy: 4 KiB ICBMsg zero-copy buffers cpuapp -> cpunet on the bench
//                    board (firmware/bench/nrf5340-bench.json: ipc0 with 4456-byte blocks), measured
//                    by the receiver in windows (nrf-icbmsg.ts).
//
// Anything wrong (a core faulted or got stuck, bytes lost, a stamp or sequence mismatch, a firmware
// problem report) throws an Error naming the scenario and what went wrong.

import { resolve } from 'node:path';
import pino from 'pino';
import type { LogSink } from '../soc/log.js';
import { loadProfileFile } from '../soc/profile-file.js';
import { findProfile, type SocProfile } from '../soc/profile.js';
import { type CoreOutcome, PROJECT_ROOT, Soc } from '../soc/soc.js';
import { type BenchOptions, R, type Scenario, rateResult, timeResult } from './harness.js';

const GROUP = 'nrf5340';
const FW_ICMSG = 'firmware/bench/nrf-icmsg.ts';
const FW_ICBMSG = 'firmware/bench/nrf-icbmsg.ts';
const BENCH_PROFILE = 'firmware/bench/nrf5340-bench.json';
const SENDER = 'cpuapp';
const RECEIVER = 'cpunet';
/** Error log lines of the cores kept for a scenario's Error. */
const KEPT_ERROR_LINES = 3;
const PINO_ERROR = 50;

export class NrfBenchError extends Error {
  override name = 'NrfBenchError';
}

/**
 * The cores' log sink: warnings and errors become progress lines (nothing else is logged, so the
 * data path pays nothing); the first error lines are kept for the scenario's Error.
 */
function benchSink(progress: (line: string) => void): LogSink & { errors: string[] } {
  const errors: string[] = [];
  const write = (line: string): void => {
    let text = line.trim();
    let isError = true;
    try {
      const o = JSON.parse(line) as { level?: number; msg?: string; core?: string };
      text = `${o.core ?? 'host'}: ${o.msg ?? ''}`;
      isError = (o.level ?? 0) >= PINO_ERROR;
    } catch {
      // not JSON: keep it as it is
    }
    if (isError && errors.length < KEPT_ERROR_LINES) errors.push(text.slice(0, 300));
    progress(`  [soc] ${text}`);
  };
  return { root: pino({ level: 'warn', base: undefined }, { write }), level: 'warn', write, errors };
}

type CoreResults = Record<string, Record<string, unknown>>;

function describeOutcome(o: CoreOutcome): string {
  const where = o.error?.where ? ` (${o.error.where})` : '';
  const waits = o.waits?.length ? `; its tasks wait on: ${o.waits.join(', ')}` : '';
  return `core ${o.name} ${o.state}${o.error ? `: ${o.error.message}${where}` : ''}${waits}`;
}

/**
 * Boots `profile` (with `firmware` overrides: core -> absolute path), runs it with `args` until
 * every main() returns, checks that every core finished and reported no problems, and shuts the
 * SoC down. Returns each core's main() result by core name.
 */
async function runSoc(
  scenario: string, profile: SocProfile, firmware: Record<string, string> | undefined, args: Record<string, string>, timeoutMs: number,
  opts: BenchOptions,
): Promise<CoreResults> {
  const sink = benchSink(opts.progress);
  const fail = (what: string): never => {
    const log = sink.errors.length ? `; first errors logged: ${sink.errors.join(' | ')}` : '';
    throw new NrfBenchError(`${scenario}: ${what}${log}`);
  };
  const t0 = performance.now();
  let soc: Soc;
  try {
    soc = await Soc.create(profile, { sink, ...(firmware ? { firmware } : {}) });
  } catch (err) {
    return fail(`the SoC (${profile.name}) did not boot: ${(err as Error).message}`);
  }
  try {
    opts.progress(`${scenario}: ${profile.name} up in ${Math.round(performance.now() - t0)} ms; running (${Object.entries(args).map(([k, v]) => `${k}=${v}`).join(' ')})`);
    const outcomes = await soc.run(args, timeoutMs);
    const bad = outcomes.filter((o) => o.state !== 'finished');
    if (bad.length) fail(bad.map(describeOutcome).join('; '));
    const results: CoreResults = {};
    for (const o of outcomes) {
      const r = o.result;
      if (typeof r !== 'object' || r === null) fail(`core ${o.name} returned ${JSON.stringify(r)}, not its measurements`);
      results[o.name] = r as Record<string, unknown>;
      const problems = (r as { problems?: unknown }).problems;
      if (Array.isArray(problems) && problems.length) fail(`core ${o.name} reported: ${problems.join('; ')}`);
    }
    for (const c of [SENDER, RECEIVER]) if (!results[c]) fail(`no result from core ${c}`);
    return results;
  } finally {
    await soc.shutdown();
  }
}

function samplesOf(scenario: string, core: string, r: Record<string, unknown>, key: string, expected: number): Float64Array {
  const v = r[key];
  if (!(v instanceof Float64Array)) throw new NrfBenchError(`${scenario}: core ${core} returned no ${key} samples`);
  if (v.length !== expected) throw new NrfBenchError(`${scenario}: core ${core} returned ${v.length} ${key} samples, expected ${expected}`);
  for (let i = 0; i < v.length; i++) {
    if (!(Number.isFinite(v[i]!) && v[i]! > 0)) throw new NrfBenchError(`${scenario}: core ${core}: ${key} sample ${i} is ${v[i]}`);
  }
  return v;
}

const num = (r: Record<string, unknown>, key: string): number => (typeof r[key] === 'number' ? (r[key] as number) : NaN);
const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toPrecision(3));
const fwPath = (rel: string): string => resolve(PROJECT_ROOT, rel);

/** Throughput windows for full and quick runs. */
function windowArgs(quick: boolean): { windows: number; windowMs: number; warmupMs: number } {
  return quick ? { windows: 3, windowMs: 50, warmupMs: 50 } : { windows: 10, windowMs: 100, warmupMs: 200 };
}

/** Checks sender/receiver agreement on a one-way throughput run and returns the receiver's windows. */
function throughputWindows(scenario: string, res: CoreResults, unit: string, windows: number): Float64Array {
  const tx = res[SENDER]!;
  const rx = res[RECEIVER]!;
  const sent = num(tx, 'bytes');
  const got = num(rx, 'bytes');
  if (!(sent > 0) || sent !== got) {
    throw new NrfBenchError(`${scenario}: ${SENDER} sent ${sent} bytes (${tx[unit]} ${unit}), ${RECEIVER} received ${got} (${rx[unit]} ${unit}): bytes lost or duplicated`);
  }
  if (num(rx, 'bad') !== 0) throw new NrfBenchError(`${scenario}: ${RECEIVER} counted ${num(rx, 'bad')} bad ${unit}`);
  return samplesOf(scenario, RECEIVER, rx, 'rates', windows);
}

const icmsgRtt: Scenario = {
  group: GROUP,
  name: 'icmsg-rtt',
  async run(opts) {
    const scenario = `${GROUP}/icmsg-rtt`;
    const warmup = opts.quick ? 200 : 2000;
    const samples = opts.quick ? 500 : 20000;
    const res = await runSoc(
      scenario, findProfile('nrf5340'), { [SENDER]: fwPath(FW_ICMSG), [RECEIVER]: fwPath(FW_ICMSG) },
      { mode: 'rtt', warmup: String(warmup), samples: String(samples) }, 300_000, opts,
    );
    const rtt = samplesOf(scenario, SENDER, res[SENDER]!, 'rtt', samples);
    const echoed = num(res[RECEIVER]!, 'echoed');
    if (echoed !== warmup + samples) throw new NrfBenchError(`${scenario}: ${RECEIVER} echoed ${echoed} pings, ${SENDER} sent ${warmup + samples}`);
    const r = timeResult(R.icmsgRtt, 'us', rtt, `ICMsg ipc1 16 B cpuapp->cpunet->cpuapp, echoed from received(); ${warmup} warm-up`);
    opts.progress(`${scenario}: ${samples} round trips: median ${fmt(r.median)} us, p99 ${fmt(r.p99)} us`);
    return [r];
  },
};

const icmsgThroughput: Scenario = {
  group: GROUP,
  name: 'icmsg-throughput',
  async run(opts) {
    const scenario = `${GROUP}/icmsg-throughput`;
    const w = windowArgs(opts.quick);
    const res = await runSoc(
      scenario, findProfile('nrf5340'), { [SENDER]: fwPath(FW_ICMSG), [RECEIVER]: fwPath(FW_ICMSG) },
      { mode: 'throughput', windows: String(w.windows), windowMs: String(w.windowMs), warmupMs: String(w.warmupMs) },
      w.warmupMs + w.windows * w.windowMs + 60_000, opts,
    );
    const rates = throughputWindows(scenario, res, 'packets', w.windows);
    const r = rateResult(
      R.icmsgThroughput, 'MB/s', rates,
      `ICMsg ipc1 128 B packets cpuapp->cpunet, ${w.windowMs} ms windows; -ENOMEM retried after yield (polling)`,
    );
    opts.progress(`${scenario}: ${num(res[SENDER]!, 'packets')} packets (${num(res[SENDER]!, 'busy')} -ENOMEM retries): median ${fmt(r.median)} MB/s, p1 ${fmt(r.p99)} MB/s`);
    return [r];
  },
};

const icbmsgZeroCopy: Scenario = {
  group: GROUP,
  name: 'icbmsg-zero-copy',
  async run(opts) {
    const scenario = `${GROUP}/icbmsg-zero-copy`;
    const w = windowArgs(opts.quick);
    let profile: SocProfile;
    try {
      profile = loadProfileFile(fwPath(BENCH_PROFILE), PROJECT_ROOT);
    } catch (err) {
      throw new NrfBenchError(`${scenario}: ${(err as Error).message}`);
    }
    const res = await runSoc(
      scenario, profile, { [SENDER]: fwPath(FW_ICBMSG), [RECEIVER]: fwPath(FW_ICBMSG) },
      { windows: String(w.windows), windowMs: String(w.windowMs), warmupMs: String(w.warmupMs) },
      w.warmupMs + w.windows * w.windowMs + 60_000, opts,
    );
    const rates = throughputWindows(scenario, res, 'buffers', w.windows);
    const r = rateResult(
      R.icbmsgZeroCopy, 'MB/s', rates,
      `ICBMsg 4 KiB get_tx_buffer/send_nocopy cpuapp->cpunet, stamps checked, released on return; ${w.windowMs} ms windows`,
    );
    opts.progress(`${scenario}: ${num(res[SENDER]!, 'buffers')} buffers: median ${fmt(r.median)} MB/s, p1 ${fmt(r.p99)} MB/s`);
    return [r];
  },
};

/** The nRF5340 scenarios, in the order they run. */
export const nrfScenarios: Scenario[] = [icmsgRtt, icmsgThroughput, icbmsgZeroCopy];

