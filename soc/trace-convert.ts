// Turns the cores' trace records (shared/trace-ring.ts) into Chrome/Perfetto trace JSON, written as
// it goes (nothing but the flow ends still waiting for their partner is kept in memory):
//
// - one thread track per core (pid 1 = the SoC, tid = core index + 1: Perfetto treats tid 0 as the
//   idle thread, and before its 2025 fix merged it with tid 1), named by thread_name metadata;
// - B/E slices, nested per track. Each ring's timestamps are made strictly increasing (1 ns
//   apart at least), so that no two events of a track tie. An end that does not match the open
//   slice closes the slices opened inside it first; an end with no open slice is dropped; slices
//   still open when a ring ends (a core reset, a fault, the end of the run) are closed at its last
//   timestamp. Each such repair is counted;
// - flows (v1: "s" bound to the slice open at its time on the sender's track, "f" with bp "e" bound
//   to the enclosing slice on the receiver's): a send and a receive with the same (channel, n) are
//   paired and written together under a fresh id. An end whose partner never comes (dropped
//   events, messages lost to a reset or a fault), an end outside any slice, a second end of the
//   same side, and a pair whose receive would be earlier than its send are left out and counted,
//   so that every flow in the file has exactly one start and one end, the end not before the start;
// - counters (process counter tracks) and instants.

import { closeSync, openSync, writeSync } from 'node:fs';
import {
  TK_BEGIN, TK_COUNTER, TK_END, TK_FLOW_IN, TK_FLOW_OUT, TK_INSTANT, TN_ICBMSG_FREE_BLOCKS, TN_ISR_BASE, TN_MAILBOX_DEPTH,
  TN_VRING_FREE, TRACE_NAMES, type TraceRecord,
} from '../shared/trace-ring.js';

/** What the converter must know of the SoC to name tracks and counters. */
export interface TraceSocInfo {
  profile: string;
  platform: string;
  cores: readonly { name: string; procId: number }[];
  /** Counter key (cluster * 16 + fifo) -> "sender->receiver", for the mailbox FIFO depth counters. */
  mailboxNames?: ReadonlyMap<number, string>;
}

/** What a trace file holds, and what was left out of it. */
export interface TraceSummary {
  path: string;
  /** Events written (metadata included). */
  events: number;
  slices: number;
  /** Flows written (each one start and one end). */
  flows: number;
  counters: number;
  instants: number;
  /** Events the cores could not record because their ring was full. */
  dropped: number;
  /** Flow ends left out because their partner never came (or was left out). */
  orphanFlowEnds: number;
  /**
   * Of those, pairs left out because the receive was stamped before the send (the cores' clocks
   * disagreeing, or counts that restarted after a reset matching the wrong messages).
   */
  backwardFlows: number;
  /** Slice ends the converter added (slices left open) or dropped (no open slice). */
  repairedSlices: number;
  bytes: number;
}

/** Where a ring's records come from: its core's track, and the ring's string table. */
export interface TraceSource {
  tid: number;
  /** The core's name. */
  core: string;
  /** The string in the ring's slot `slot` (ISR names, labels). */
  string(slot: number): string;
}

interface FlowEnd {
  out: boolean;
  tid: number;
  ns: number;
  /** Outside any slice: the flow cannot be drawn; its partner is left out too. */
  dead: boolean;
}

const FLUSH_BYTES = 1 << 20;
const PID = 1;

/** ns as the JSON's microseconds with three decimals. */
function us(ns: number): string {
  const whole = Math.floor(ns / 1000);
  const frac = ns - whole * 1000;
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

const hex = (v: number): string => '0x' + (v >>> 0).toString(16).toUpperCase().padStart(8, '0');

/** Per-ring conversion state. */
export class RingState {
  /** Open slices (name ids), innermost last. */
  readonly stack: number[] = [];
  lastNs = -1;
  constructor(readonly source: TraceSource) {}
}

export class TraceConverter {
  private fd: number;
  private buf: string[] = [];
  private bufLen = 0;
  private first = true;
  private nextFlowId = 1;
  private readonly pending = new Map<number, Map<number, FlowEnd>>();
  private readonly names = new Map<string, string>();
  private readonly counterNames = new Map<number, string>();
  readonly summary: TraceSummary;
  private closed = false;

  /** Opens (creates or truncates) `path` and writes the metadata. Throws the fs error if it cannot. */
  constructor(path: string, private readonly soc: TraceSocInfo) {
    this.fd = openSync(path, 'w');
    this.summary = {
      path, events: 0, slices: 0, flows: 0, counters: 0, instants: 0, dropped: 0, orphanFlowEnds: 0, backwardFlows: 0, repairedSlices: 0,
      bytes: 0,
    };
    this.out('{"traceEvents":[\n');
    // No event uses tid 0 (see above), not even this one, whose tid does not matter.
    this.event(`{"ph":"M","pid":${PID},"tid":1,"name":"process_name","args":{"name":${JSON.stringify(`${soc.profile} (${soc.platform})`)}}}`);
    soc.cores.forEach((c, i) => {
      this.event(`{"ph":"M","pid":${PID},"tid":${i + 1},"name":"thread_name","args":{"name":${JSON.stringify(c.name)}}}`);
    });
  }

  /** The track of core `index`. */
  static tidOf(index: number): number {
    return index + 1;
  }

  private out(s: string): void {
    this.buf.push(s);
    this.bufLen += s.length;
    if (this.bufLen >= FLUSH_BYTES) this.flush();
  }

  private flush(): void {
    if (this.buf.length === 0) return;
    const s = this.buf.join('');
    this.buf = [];
    this.bufLen = 0;
    this.summary.bytes += writeSync(this.fd, s);
  }

  private event(json: string): void {
    this.out(this.first ? json : ',\n' + json);
    this.first = false;
    this.summary.events++;
  }

  /** JSON name (quoted) and category of name id `id` read from `src`. */
  private nameOf(id: number, src: TraceSource): string {
    if (id >= TN_ISR_BASE) {
      const line = id - TN_ISR_BASE;
      const isr = src.string(line) || `line ${line}`;
      const key = `isr:${isr}`;
      let j = this.names.get(key);
      if (!j) this.names.set(key, (j = `${JSON.stringify(`ISR ${isr}`)},"cat":"isr"`));
      return j;
    }
    const key = `n:${id}`;
    let j = this.names.get(key);
    if (!j) {
      const n = TRACE_NAMES[id] ?? { name: `event ${id}`, cat: 'ipc' };
      this.names.set(key, (j = `${JSON.stringify(n.name)},"cat":"${n.cat}"`));
    }
    return j;
  }

  /** One record of `ring`, in the ring's order. */
  record(ring: RingState, r: TraceRecord): void {
    let ns = Math.round(r.ts * 1000);
    if (!(ns > ring.lastNs)) ns = ring.lastNs + 1;
    if (ns < 0) ns = 0;
    ring.lastNs = ns;
    const tid = ring.source.tid;
    switch (r.kind) {
      case TK_BEGIN: {
        ring.stack.push(r.name);
        const args = r.name >= TN_ISR_BASE ? `,"args":{"line":${r.name - TN_ISR_BASE}}` : '';
        this.event(`{"ph":"B","pid":${PID},"tid":${tid},"ts":${us(ns)},"name":${this.nameOf(r.name, ring.source)}${args}}`);
        this.summary.slices++;
        return;
      }
      case TK_END: {
        const at = ring.stack.lastIndexOf(r.name);
        if (at < 0) {
          this.summary.repairedSlices++;
          return;
        }
        while (ring.stack.length > at + 1) {
          ring.stack.pop();
          this.summary.repairedSlices++;
          this.end(tid, ns);
          ns = ++ring.lastNs;
        }
        ring.stack.pop();
        this.end(tid, ns);
        return;
      }
      case TK_FLOW_OUT:
      case TK_FLOW_IN:
        this.flowEnd(r.kind === TK_FLOW_OUT, r.a, r.b, tid, ns, ring.stack.length === 0);
        return;
      case TK_COUNTER:
        this.counter(ring.source, r, ns);
        return;
      case TK_INSTANT: {
        const args = `,"args":{"a":"${hex(r.a)}","b":${r.b}}`;
        this.event(`{"ph":"i","s":"t","pid":${PID},"tid":${tid},"ts":${us(ns)},"name":${this.nameOf(r.name, ring.source)}${args}}`);
        this.summary.instants++;
        return;
      }
      default:
        return;
    }
  }

  private end(tid: number, ns: number): void {
    this.event(`{"ph":"E","pid":${PID},"tid":${tid},"ts":${us(ns)}}`);
  }

  /** Closes what `ring` left open (its core stopped recording), after its last event. */
  closeRing(ring: RingState): void {
    while (ring.stack.length > 0) {
      ring.stack.pop();
      this.summary.repairedSlices++;
      this.end(ring.source.tid, ++ring.lastNs);
    }
  }

  private flowEnd(out: boolean, channel: number, n: number, tid: number, ns: number, dead: boolean): void {
    let m = this.pending.get(channel);
    if (!m) this.pending.set(channel, (m = new Map()));
    const other = m.get(n);
    const mine: FlowEnd = { out, tid, ns, dead };
    if (other === undefined) {
      m.set(n, mine);
      return;
    }
    if (other.out === out) {
      // A second end of the same side (counts restarted after a reset): the older one is an orphan.
      this.summary.orphanFlowEnds++;
      m.set(n, mine);
      return;
    }
    m.delete(n);
    const s = out ? mine : other;
    const f = out ? other : mine;
    if (s.dead || f.dead || f.ns < s.ns) {
      this.summary.orphanFlowEnds += 2;
      if (!s.dead && !f.dead) this.summary.backwardFlows++;
      return;
    }
    const id = this.nextFlowId++;
    this.event(`{"ph":"s","id":${id},"pid":${PID},"tid":${s.tid},"ts":${us(s.ns)},"name":"message","cat":"flow"}`);
    this.event(`{"ph":"f","bp":"e","id":${id},"pid":${PID},"tid":${f.tid},"ts":${us(f.ns)},"name":"message","cat":"flow"}`);
    this.summary.flows++;
  }

  private procName(procId: number): string {
    return this.soc.cores.find((c) => c.procId === procId)?.name ?? `proc ${procId}`;
  }

  private counter(src: TraceSource, r: TraceRecord, ns: number): void {
    // Counter tracks are per process; the name says which FIFO / ring / region.
    const id = r.name * 0x1_0000_0000 + r.a;
    let name = this.counterNames.get(id);
    if (name === undefined) {
      let text: string;
      if (r.name === TN_MAILBOX_DEPTH) {
        text = `mailbox ${this.soc.mailboxNames?.get(r.a) ?? `c${r.a >>> 4} fifo ${r.a & 15}`}`;
      } else if (r.name === TN_VRING_FREE) {
        text = `vring ${src.core}->${this.procName(r.b)}`;
      } else if (r.name === TN_ICBMSG_FREE_BLOCKS) {
        text = `icbmsg ${src.core} ${src.string(r.b) || hex(r.a)} tx blocks`;
      } else {
        text = `${TRACE_NAMES[r.name]?.name ?? `counter ${r.name}`} ${hex(r.a)}`;
      }
      name = JSON.stringify(text);
      this.counterNames.set(id, name);
    }
    const key = r.name === TN_MAILBOX_DEPTH ? 'depth' : 'free';
    this.event(`{"ph":"C","pid":${PID},"tid":${src.tid},"ts":${us(ns)},"name":${name},"args":{"${key}":${r.value}}}`);
    this.summary.counters++;
  }

  /**
   * Ends the file: every flow end still waiting is an orphan; `dropped` and `extra` go into the
   * metadata. Returns the summary. Call once, after every ring was closed.
   */
  finish(dropped: number, extra: Record<string, unknown> = {}): TraceSummary {
    if (this.closed) return this.summary;
    this.closed = true;
    for (const m of this.pending.values()) this.summary.orphanFlowEnds += m.size;
    this.pending.clear();
    this.summary.dropped = dropped;
    const { path: _path, bytes: _bytes, ...counts } = this.summary;
    const meta = { hetsoc: { profile: this.soc.profile, platform: this.soc.platform, ...counts, ...extra } };
    this.out(`\n],"displayTimeUnit":"ns","metadata":${JSON.stringify(meta)}}\n`);
    this.flush();
    closeSync(this.fd);
    return this.summary;
  }
}
