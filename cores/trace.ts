// The core side of tracing (`soc --trace FILE`): records what the core's IPC does into its trace
// ring (shared/trace-ring.ts), from which the host builds the Perfetto timeline (soc/trace.ts).
//
// Code on a hot path does `if (TRACE.on) traceBegin(TN_X)`: one property load when tracing is off.
// When on, an event is a performance.now() and a few typed-array writes published by one
// Atomics.store; no allocation, no string, no message to the host.
//
// Time: each thread's performance.now() is put on the process's monotonic clock (process.hrtime,
// the same clock in every thread) by an offset measured once here, then made relative to the SoC's
// trace origin, so that events of different cores are on one time line: a message's receive is
// never drawn before its send.
//
// Flows: a message's send and its receive are matched by (channel, n): the channel is the physical
// address of the one-way ring it travels on (a vring, an ICMsg TX pbuf), n the running count of
// messages put on it by the sender and taken from it by the receiver, which both count on their
// own. The sender records its end with a timestamp taken before it publishes the message
// (traceNow() before, traceFlowOut(..., ts) after), the receiver with one taken after it saw the
// message published (the begin of the slice that takes it off the ring). Sharing a timestamp among
// events that follow each other saves a clock read (~40 ns, most of an event's cost); the host
// keeps each track's events strictly ordered anyway.

import {
  TK_BEGIN, TK_COUNTER, TK_END, TK_FLOW_IN, TK_FLOW_OUT, TK_INSTANT, TN_ISR_BASE, TR_LABEL_FIRST, TR_STRING_SLOTS, TraceRing,
  type TraceBoot,
} from '../shared/trace-ring.js';

/** Hot-path guard: true while this thread records into a ring. */
export const TRACE = { on: false };

let ring: TraceRing | undefined;
/** ms to add to performance.now() to get ms since the SoC's trace origin. */
let base = 0;
let nextLabel = TR_LABEL_FIRST;
/** The ISR name last written to each line's string slot. */
const isrNames: (string | undefined)[] = [];

/** This thread's offset from performance.now() to process.hrtime, in ms (best of a few tries). */
function hrOffsetMs(): number {
  let best = Infinity;
  let off = 0;
  for (let i = 0; i < 16; i++) {
    const a = performance.now();
    const h = process.hrtime.bigint();
    const b = performance.now();
    if (b - a < best) {
      best = b - a;
      off = Number(h) / 1e6 - (a + b) / 2;
    }
  }
  return off;
}

/** Starts (or, with undefined, stops) recording into the ring the host gave this core. */
export function installTrace(boot: TraceBoot | undefined): void {
  if (!boot) {
    ring = undefined;
    TRACE.on = false;
    return;
  }
  ring = new TraceRing(boot.sab);
  base = hrOffsetMs() - boot.originMs;
  nextLabel = TR_LABEL_FIRST;
  isrNames.length = 0;
  TRACE.on = true;
}

/** Microseconds since the SoC's trace origin. */
export function traceNow(): number {
  return (performance.now() + base) * 1000;
}

/** Opens slice `name`; returns its timestamp, which events right after it may reuse. */
export function traceBegin(name: number): number {
  const ts = (performance.now() + base) * 1000;
  ring!.push(ts, TK_BEGIN | (name << 16), 0, 0, 0);
  return ts;
}

export function traceEnd(name: number): void {
  ring!.push((performance.now() + base) * 1000, TK_END | (name << 16), 0, 0, 0);
}

/** The sender's end of message `n` on `channel`; `ts` = traceNow() taken before publishing it. */
export function traceFlowOut(channel: number, n: number, ts: number): void {
  ring!.push(ts, TK_FLOW_OUT, channel >>> 0, n >>> 0, 0);
}

/**
 * The receiver's end of message `n` on `channel`, stamped `ts`: any time after the receiver saw the
 * message published (e.g. the begin of the slice that takes it, opened once the index was read).
 */
export function traceFlowIn(channel: number, n: number, ts: number): void {
  ring!.push(ts, TK_FLOW_IN, channel >>> 0, n >>> 0, 0);
}

/**
 * A counter sample: `name` (TN_*), `key` (which FIFO / ring / region), `label` (traceLabel id, a
 * proc id, or 0), stamped now or with `ts` (an event's just before: one clock read less).
 */
export function traceCounter(name: number, key: number, value: number, label = 0, ts = (performance.now() + base) * 1000): void {
  ring!.push(ts, TK_COUNTER | (name << 16), key >>> 0, label >>> 0, value);
}

/** A point event (ring refused, bound, crash...). */
export function traceInstant(name: number, a = 0, b = 0): void {
  ring!.push((performance.now() + base) * 1000, TK_INSTANT | (name << 16), a >>> 0, b >>> 0, 0);
}

/**
 * ISR entry on `line`; its slice is named after the ISR (written to the line's string slot the
 * first time this ISR name is seen on the line, a pointer comparison afterwards).
 */
export function traceIsrBegin(line: number, name: string): void {
  if (isrNames[line] !== name) {
    isrNames[line] = name;
    ring!.setString(line, name);
  }
  ring!.push((performance.now() + base) * 1000, TK_BEGIN | ((TN_ISR_BASE + line) << 16), line, 0, 0);
}

export function traceIsrEnd(line: number): void {
  ring!.push((performance.now() + base) * 1000, TK_END | ((TN_ISR_BASE + line) << 16), line, 0, 0);
}

/**
 * Registers a label (an instance name, for counter tracks) and returns its id for traceCounter;
 * 0 when tracing is off or the table is full. Call at setup, not per message.
 */
export function traceLabel(text: string): number {
  if (!ring || nextLabel >= TR_STRING_SLOTS) return 0;
  const id = nextLabel++;
  ring.setString(id, text);
  return id;
}
