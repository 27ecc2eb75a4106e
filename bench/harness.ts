// The benchmark's contract: what a scenario returns, how samples become a median and a p99, and
// the names every scenario reports under (scripts/bench.ts computes the ratios from these names).

/** One measured quantity. `median` and `p99` are over per-operation samples (round trips) or over
 * repeated measurement windows (throughputs, rates). For rates, p99 is the 1st percentile (the
 * slow tail), so that "p99" is always the bad end. */
export interface BenchResult {
  name: string;
  unit: string;
  median: number;
  p99: number;
  /** Samples behind the figures (round trips, windows). */
  samples: number;
  /** What exactly was measured, in a few words (shown in the table). */
  note?: string;
}

export interface BenchRatio {
  name: string;
  value: number;
  /** e.g. "<= 0.05", ">= 1" */
  target: string;
  met: boolean;
}

export interface BenchOptions {
  /** Fewer iterations (for the e2e test of the CLI); figures are then rough. */
  quick: boolean;
  /** Progress lines go here (stderr), never stdout. */
  progress(line: string): void;
}

export interface Scenario {
  /** Group name for --only filtering (e.g. "ref", "j7", "nrf5340"). */
  group: string;
  /** Short name for --only filtering. */
  name: string;
  run(opts: BenchOptions): Promise<BenchResult[]>;
}

/** Result names (the ratios below refer to these). */
export const R = {
  spinRtt: 'ref.spin-pingpong.rtt',
  waitRtt: 'ref.wait-pingpong.rtt',
  copy4k: 'ref.sab-copy.4k',
  portRtt: 'ref.port-pingpong.32.rtt',
  portStream128: 'ref.port-stream.128',
  portStream4k: 'ref.port-stream.4k',
  portAllToAll: 'ref.port-all-to-all.10',
  emptyWorkers: 'ref.empty-workers.10.spawn',
  mailboxRtt: 'mailbox.rtt',
  rpmsgRtt: 'rpmsg.r5f-r5f.32.rtt',
  rpmsgRttTraced: 'rpmsg.r5f-r5f.32.rtt.traced',
  linuxRtt: 'rpmsg.linux-r5f.32.rtt',
  icmsgRtt: 'icmsg.16.rtt',
  icmsgThroughput: 'icmsg.128.throughput',
  icbmsgZeroCopy: 'icbmsg.4k.zero-copy',
  spinlock0: 'spinlock.uncontended',
  spinlock2: 'spinlock.contended-2',
  spinlock8: 'spinlock.contended-8',
  allToAll: 'j7.all-to-all',
  boot: 'j7.boot',
  idleCpu: 'j7.idle.cpu',
  idleRss: 'j7.idle.rss',
} as const;

/** Median and p99 (nearest rank) of samples where larger is worse (times). */
export function timeStats(samples: ArrayLike<number>): { median: number; p99: number } {
  const a = Float64Array.from(samples).sort();
  if (a.length === 0) return { median: NaN, p99: NaN };
  return { median: rank(a, 0.5), p99: rank(a, 0.99) };
}

/** Median and 1st percentile of samples where smaller is worse (rates). */
export function rateStats(samples: ArrayLike<number>): { median: number; p99: number } {
  const a = Float64Array.from(samples).sort();
  if (a.length === 0) return { median: NaN, p99: NaN };
  return { median: rank(a, 0.5), p99: rank(a, 0.01) };
}

function rank(sorted: Float64Array, p: number): number {
  const n = sorted.length;
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
}

export function timeResult(name: string, unit: string, samples: ArrayLike<number>, note?: string): BenchResult {
  return { name, unit, ...timeStats(samples), samples: samples.length, note };
}

export function rateResult(name: string, unit: string, samples: ArrayLike<number>, note?: string): BenchResult {
  return { name, unit, ...rateStats(samples), samples: samples.length, note };
}
