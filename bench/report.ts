// The ratios `npm run bench` reports (hetsoc against the references of the same run, with the
// project's targets) and the text tables.

import { R, type BenchRatio, type BenchResult } from './harness.js';

/** One target: a ratio of two results (or one result against a fixed bound). */
interface Target {
  name: string;
  /** numerator result, denominator result (or a constant). */
  of: string;
  over: string | number;
  cmp: '<=' | '>=';
  bound: number;
}

export const TARGETS: Target[] = [
  { name: 'rpmsg 32 B round trip / MessagePort round trip', of: R.rpmsgRtt, over: R.portRtt, cmp: '<=', bound: 1 / 20 },
  { name: 'ICMsg 16 B round trip / MessagePort round trip', of: R.icmsgRtt, over: R.portRtt, cmp: '<=', bound: 1 / 20 },
  { name: 'mailbox round trip / spinning floor', of: R.mailboxRtt, over: R.spinRtt, cmp: '<=', bound: 4 },
  { name: 'ICBMsg zero-copy 4 KiB / SAB copy rate', of: R.icbmsgZeroCopy, over: R.copy4k, cmp: '>=', bound: 1 / 4 },
  { name: 'j7 all-to-all / MessagePort all-to-all', of: R.allToAll, over: R.portAllToAll, cmp: '>=', bound: 1 },
  { name: 'j7 boot / 10 empty workers', of: R.boot, over: R.emptyWorkers, cmp: '<=', bound: 3 },
  { name: 'idle j7 CPU (% of one CPU)', of: R.idleCpu, over: 1, cmp: '<=', bound: 2 },
  { name: 'idle j7 resident memory (MB)', of: R.idleRss, over: 1, cmp: '<=', bound: 300 },
  { name: 'rpmsg round trip traced / untraced', of: R.rpmsgRttTraced, over: R.rpmsgRtt, cmp: '<=', bound: 2 },
];

/** The ratios whose results are all present. */
export function ratios(results: readonly BenchResult[]): BenchRatio[] {
  const by = new Map(results.map((r) => [r.name, r]));
  const out: BenchRatio[] = [];
  for (const t of TARGETS) {
    const a = by.get(t.of);
    const b = typeof t.over === 'number' ? t.over : by.get(t.over)?.median;
    if (!a || b === undefined || !Number.isFinite(a.median) || !Number.isFinite(b) || b === 0) continue;
    const value = a.median / b;
    const met = t.cmp === '<=' ? value <= t.bound : value >= t.bound;
    out.push({ name: t.name, value, target: `${t.cmp} ${fmtBound(t.bound)}`, met });
  }
  return out;
}

function fmtBound(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/0+$/, '');
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function render(results: readonly BenchResult[], rs: readonly BenchRatio[], failures: readonly string[]): string {
  const out: string[] = [];
  out.push(table([
    ['result', 'unit', 'median', 'p99', 'samples', 'what'],
    ...results.map((r) => [r.name, r.unit, fmt(r.median), fmt(r.p99), String(r.samples), r.note ?? '']),
  ]));
  if (rs.length) {
    out.push('');
    out.push(table([
      ['ratio', 'value', 'target', 'met'],
      ...rs.map((r) => [r.name, fmt(r.value), r.target, r.met ? 'yes' : 'NO']),
    ]));
  }
  for (const f of failures) out.push(`FAILED ${f}`);
  return out.join('\n');
}

