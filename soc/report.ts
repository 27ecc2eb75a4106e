// Turns what the cores returned into the run report: a table per core pair (or one JSON document),
// the state of every core, and the verdict.

import type { CoreOutcome } from './soc.js';

export interface PairReport {
  from: string;
  to: string;
  expected: number;
  sent: number;
  received: number;
  corrupt: number;
  rttP50Us: number;
  rttP99Us: number;
  error?: string;
}

/** One ipc_service endpoint as the core's service layer counted it (Zephyr cores). */
export interface EndpointReport {
  core: string;
  instance: string;
  name: string;
  backend: string;
  bound: boolean;
  sent: number;
  received: number;
  bytesSent: number;
  bytesReceived: number;
  /** Bytes sent per second, between the endpoint's first and last send. */
  bytesPerSec: number;
}

/** One direction of a throughput phase, as the firmware measured and checked it. */
export interface ThroughputReport {
  from: string;
  to: string;
  instance: string;
  durationMs: number;
  messages: number;
  bytes: number;
  bytesPerSec: number;
  /** -ENOMEM answers while the TX buffer was full. */
  busy?: number;
  errors: number;
}

export interface RunReport {
  ok: boolean;
  profile: string;
  durationMs: number;
  cores: { name: string; state: string; error?: string; where?: string; at?: string; waits?: string[]; result?: unknown }[];
  pairs: PairReport[];
  endpoints: EndpointReport[];
  throughput: ThroughputReport[];
  problems: string[];
}

function endpointsOf(o: CoreOutcome): EndpointReport[] {
  const list = (o.stats as { endpoints?: unknown } | undefined)?.endpoints;
  if (!Array.isArray(list)) return [];
  return list.map((e: Record<string, number & string & boolean>) => {
    const span = (e.lastSendUs - e.firstSendUs) / 1e6;
    return {
      core: o.name, instance: e.instance, name: e.name, backend: e.backend, bound: e.bound, sent: e.sent, received: e.received,
      bytesSent: e.bytesSent, bytesReceived: e.bytesReceived, bytesPerSec: span > 0 ? Math.round(e.bytesSent / span) : 0,
    };
  });
}

function isPair(p: unknown): p is PairReport {
  const o = p as Record<string, unknown>;
  return typeof o === 'object' && o !== null && typeof o.from === 'string' && typeof o.to === 'string' && typeof o.sent === 'number' && typeof o.received === 'number';
}

/** The first stack frame outside hetsoc's own runtime: where the firmware threw. */
export function faultLocation(stack: string | undefined): string | undefined {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?[^\s()]+):(\d+):(\d+)\)?\s*$/.exec(line.trim());
    if (!m || m[1]!.startsWith('node:') || /[\\/](cores|shared|soc)[\\/][^\\/]+\.(ts|js)$/.test(m[1]!) && !/firmware/.test(m[1]!)) continue;
    return `${m[1]}:${m[2]}:${m[3]}`;
  }
  return undefined;
}

export function buildReport(profile: string, outcomes: CoreOutcome[], durationMs: number): RunReport {
  const problems: string[] = [];
  const pairs: PairReport[] = [];
  const endpoints: EndpointReport[] = [];
  const throughput: ThroughputReport[] = [];
  for (const o of outcomes) {
    endpoints.push(...endpointsOf(o));
    const res = o.result as { problems?: unknown; throughput?: unknown } | undefined;
    if (Array.isArray(res?.problems)) for (const p of res.problems) problems.push(`core ${o.name}: ${String(p)}`);
    if (Array.isArray(res?.throughput)) throughput.push(...(res.throughput as ThroughputReport[]));
    if (o.state !== 'finished') {
      const waits = o.waits?.length ? `; waiting on: ${o.waits.join(', ')}` : '';
      const at = faultLocation(o.error?.stack);
      problems.push(`core ${o.name} ${o.state}${o.error?.where ? ` in ${o.error.where}` : ''}${at ? ` at ${at}` : ''}: ${o.error?.message ?? 'no error recorded'}${waits}`);
    }
    const list = (o.result as { pairs?: unknown } | undefined)?.pairs;
    if (Array.isArray(list)) {
      for (const p of list) {
        if (!isPair(p)) continue;
        const pair: PairReport = {
          from: p.from, to: p.to, expected: p.expected ?? p.sent, sent: p.sent, received: p.received,
          corrupt: p.corrupt ?? 0, rttP50Us: round(p.rttP50Us), rttP99Us: round(p.rttP99Us),
          ...(p.error ? { error: p.error } : {}),
        };
        pairs.push(pair);
        if (pair.sent !== pair.expected || pair.received !== pair.expected) {
          problems.push(`${pair.from} -> ${pair.to}: ${pair.received}/${pair.expected} answered (${pair.sent} sent, ${pair.corrupt} corrupt)${pair.error ? `: ${pair.error}` : ''}`);
        }
      }
    }
  }
  return {
    ok: problems.length === 0,
    profile,
    durationMs: Math.round(durationMs),
    cores: outcomes.map((o) => ({
      name: o.name, state: o.state,
      ...(o.error ? { error: o.error.message, where: o.error.where, at: faultLocation(o.error.stack) } : {}),
      ...(o.waits ? { waits: o.waits } : {}),
      ...(o.result !== undefined && !Array.isArray((o.result as { pairs?: unknown })?.pairs) ? { result: o.result } : {}),
    })),
    pairs,
    endpoints,
    throughput,
    problems,
  };
}

function round(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.round(v * 10) / 10 : 0;
}

function table(head: string[], rows: string[][], leftCols: number): string[] {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < leftCols ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ');
  return [line(head), line(width.map((w) => '-'.repeat(w))), ...rows.map(line), ''];
}

function formatZephyr(r: RunReport): string[] {
  const out: string[] = [];
  if (r.endpoints.length) {
    out.push(...table(['core', 'instance', 'endpoint', 'backend', 'sent', 'received', 'bytes sent', 'bytes received', 'B/s sent'],
      r.endpoints.map((e) => [e.core, e.instance, e.name, e.backend.replace('zephyr,ipc-', ''), String(e.sent), String(e.received),
        String(e.bytesSent), String(e.bytesReceived), String(e.bytesPerSec)]), 4));
  }
  if (r.throughput.length) {
    out.push(...table(['from', 'to', 'instance', 'ms', 'messages', 'bytes', 'B/s', 'busy', 'errors'],
      r.throughput.map((t) => [t.from, t.to, t.instance, String(t.durationMs), String(t.messages), String(t.bytes), String(t.bytesPerSec),
        String(t.busy ?? 0), String(t.errors)]), 3));
  }
  return out;
}

export function formatReport(r: RunReport): string {
  if (r.endpoints.length || r.throughput.length) {
    const out = formatZephyr(r);
    out.push(`cores: ${r.cores.map((c) => `${c.name} ${c.state}`).join(', ')}`);
    out.push(`${r.endpoints.length} endpoints, ${r.throughput.length} throughput directions, ${r.durationMs} ms`);
    const bound = r.endpoints.filter((e) => e.bound).length;
    if (r.ok) out.push(`OK: every core finished, ${bound}/${r.endpoints.length} endpoints bound, no firmware check failed`);
    else out.push('FAILED:', ...r.problems.map((p) => `  - ${p}`));
    return out.join('\n');
  }
  const head = ['from', 'to', 'sent', 'received', 'lost', 'rtt p50 us', 'rtt p99 us'];
  const rows = r.pairs.map((p) => [p.from, p.to, String(p.sent), String(p.received), String(p.expected - p.received),
    p.rttP50Us.toFixed(1), p.rttP99Us.toFixed(1)]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ');
  const out = r.pairs.length ? [line(head), line(width.map((w) => '-'.repeat(w))), ...rows.map(line), ''] : [];
  for (const c of r.cores) if (c.result !== undefined) out.push(`${c.name} returned ${JSON.stringify(c.result)}`);
  out.push(`cores: ${r.cores.map((c) => `${c.name} ${c.state}`).join(', ')}`);
  const sent = r.pairs.reduce((a, p) => a + p.sent, 0);
  const got = r.pairs.reduce((a, p) => a + p.received, 0);
  out.push(`${r.pairs.length} pairs, ${got}/${sent} messages answered, ${r.durationMs} ms`);
  if (r.ok) out.push(r.pairs.length ? 'OK: every ping got its pong' : 'OK: every core finished');
  else out.push('FAILED:', ...r.problems.map((p) => `  - ${p}`));
  return out.join('\n');
}
