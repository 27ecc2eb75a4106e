// The host side of tracing (`soc --trace FILE`): one trace ring per core incarnation in shared
// memory (shared/trace-ring.ts), handed to the core at spawn (CoreBoot.trace). While the SoC runs,
// the host's thread drains the rings every DRAIN_INTERVAL_MS by copying their records as they are
// into a spill file next to FILE (a few writes per ring, so the host takes little CPU from the
// cores and keeps up); once every core thread has ended, it streams the spill file through the
// converter (soc/trace-convert.ts) into FILE and deletes it. Memory stays bounded either way. The
// cores never wait for the host: a ring that fills drops events, which are counted. A core reset
// gives the new incarnation a ring of its own; the old one is drained to its end.
//
// Spill file: chunks of [u32 ring number, u32 record count, records as in the ring], native order.

import { accessSync, closeSync, constants, openSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { SocImage } from '../cores/boot.js';
import { J721E_RX_QUEUE } from '../shared/j721e.js';
import { MAILBOX_FIFOS } from '../shared/mailbox.js';
import {
  TR_DEFAULT_EVENTS, TR_RECORD_BYTES, TraceRing, readTraceRecord, type TraceBoot, type TraceRecord,
} from '../shared/trace-ring.js';
import { RingState, TraceConverter, type TraceSocInfo, type TraceSummary } from './trace-convert.js';

export type { TraceSummary } from './trace-convert.js';

/** How often the host drains the rings. */
export const DRAIN_INTERVAL_MS = 20;

export interface TraceOptions {
  /** The JSON file to write. */
  path: string;
  /** Events per core ring (a power of two; default TR_DEFAULT_EVENTS = 262144, 8 MiB per core). */
  ringEvents?: number;
}

interface LiveRing {
  index: number;
  generation: number;
  ring: TraceRing;
  state: RingState;
  retired: boolean;
}

const SPILL_HEADER_BYTES = 8;

/** "sender->receiver" per mailbox FIFO (cluster * 16 + fifo) of the J721E cores present. */
function j721eMailboxNames(image: SocImage): Map<number, string> {
  const byProc = new Map(image.cores.map((c) => [c.procId, c.name]));
  const out = new Map<number, { senders: string[]; receiver: string }>();
  J721E_RX_QUEUE.forEach((row, receiver) => {
    const rname = byProc.get(receiver);
    if (rname === undefined) return;
    row.forEach((q, sender) => {
      const sname = byProc.get(sender);
      if (!q || sname === undefined) return;
      const key = q.cluster * MAILBOX_FIFOS + q.fifo;
      const e = out.get(key);
      if (e) e.senders.push(sname);
      else out.set(key, { senders: [sname], receiver: rname });
    });
  });
  return new Map([...out].map(([k, e]) => [k, `${e.senders.join('+')}->${e.receiver}`]));
}

export class SocTrace {
  /** The SoC's trace origin on the process's monotonic clock, in ms. */
  readonly originMs: number;
  private readonly conv: TraceConverter;
  private readonly rings: LiveRing[] = [];
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly ringEvents: number;
  private readonly spillPath: string;
  private readonly spill: number;
  private readonly chunkHeader = new Uint32Array(SPILL_HEADER_BYTES / 4);
  private result: TraceSummary | undefined;

  /** Opens the file (throws the fs error when it cannot be written) and starts draining. */
  constructor(opts: TraceOptions, private readonly image: SocImage) {
    this.ringEvents = opts.ringEvents ?? TR_DEFAULT_EVENTS;
    // Fails now, before any core runs, on a bad ring size.
    TraceRing.checkCapacity(this.ringEvents);
    const info: TraceSocInfo = {
      profile: image.profile, platform: image.platform, cores: image.cores,
      mailboxNames: image.platform === 'j721e' ? j721eMailboxNames(image) : undefined,
    };
    this.conv = new TraceConverter(opts.path, info);
    this.spillPath = `${opts.path}.records.tmp`;
    this.spill = openSync(this.spillPath, 'w');
    this.originMs = Number(process.hrtime.bigint()) / 1e6;
    this.timer = setInterval(() => this.drain(), DRAIN_INTERVAL_MS);
    this.timer.unref();
  }

  /** A fresh ring for incarnation `generation` (0 at power-on) of core `index`. */
  ring(index: number, generation: number): TraceBoot {
    const sab = TraceRing.create(this.ringEvents);
    const ring = new TraceRing(sab);
    const core = this.image.cores[index]!.name;
    const state = new RingState({ tid: TraceConverter.tidOf(index), core, string: (slot) => ring.string(slot) });
    this.rings.push({ index, generation, ring, state, retired: false });
    return { sab, originMs: this.originMs };
  }

  /** The incarnation's thread has ended: the rest of its ring is final. */
  retire(index: number, generation: number): void {
    const r = this.rings.find((x) => x.index === index && x.generation === generation && !x.retired);
    if (!r || this.result) return;
    this.drainRing(r, this.rings.indexOf(r));
    r.retired = true;
  }

  /** Appends the ring's new records to the spill file. */
  private drainRing(r: LiveRing, n: number): void {
    const h = this.chunkHeader;
    r.ring.drainBytes((bytes, records) => {
      h[0] = n;
      h[1] = records;
      writeSync(this.spill, h);
      writeSync(this.spill, bytes);
    });
  }

  /** Moves what the cores recorded since the last drain to the spill file. */
  drain(): void {
    if (this.result) return;
    this.rings.forEach((r, n) => {
      if (!r.retired) this.drainRing(r, n);
    });
  }

  /** Streams the spill file through the converter, chunk by chunk. */
  private convertSpill(): void {
    const fd = openSync(this.spillPath, 'r');
    try {
      const rec: TraceRecord = { ts: 0, kind: 0, name: 0, a: 0, b: 0, value: 0 };
      const header = new Uint32Array(SPILL_HEADER_BYTES / 4);
      const headerBytes = new Uint8Array(header.buffer);
      let block = new ArrayBuffer(this.ringEvents * TR_RECORD_BYTES);
      for (let pos = 0; ;) {
        if (readSync(fd, headerBytes, 0, SPILL_HEADER_BYTES, pos) < SPILL_HEADER_BYTES) break;
        pos += SPILL_HEADER_BYTES;
        const [n, records] = [header[0]!, header[1]!];
        const bytes = records * TR_RECORD_BYTES;
        if (block.byteLength < bytes) block = new ArrayBuffer(bytes);
        if (readSync(fd, new Uint8Array(block, 0, bytes), 0, bytes, pos) < bytes) break;
        pos += bytes;
        const state = this.rings[n]!.state;
        const u32 = new Uint32Array(block, 0, bytes / 4);
        const f64 = new Float64Array(block, 0, bytes / 8);
        for (let i = 0; i < records; i++) {
          readTraceRecord(u32, f64, i, rec);
          this.conv.record(state, rec);
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Writes the trace file and deletes the spill file; call once every core thread has ended.
   * Returns the summary (the same one on later calls).
   */
  finish(): TraceSummary {
    if (this.result) return this.result;
    clearInterval(this.timer);
    let dropped = 0;
    this.rings.forEach((r, n) => {
      if (!r.retired) this.drainRing(r, n);
      r.retired = true;
      dropped += r.ring.dropped();
    });
    closeSync(this.spill);
    try {
      this.convertSpill();
    } finally {
      try {
        unlinkSync(this.spillPath);
      } catch {
        // already gone
      }
    }
    for (const r of this.rings) this.conv.closeRing(r.state);
    this.result = this.conv.finish(dropped, {
      ringEvents: this.ringEvents, rings: this.rings.length,
      droppedByCore: Object.fromEntries(this.image.cores.map((c, i) => [c.name, this.rings.filter((r) => r.index === i).reduce((n, r) => n + r.ring.dropped(), 0)])),
    });
    return this.result;
  }
}

/**
 * Checks a trace file path before a run: its directory must exist and be writable, and the path
 * must not be a directory. Returns the absolute path, or throws an Error saying what is wrong.
 */
export function checkTracePath(file: string): string {
  const path = resolve(file);
  const dir = dirname(path);
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new Error(`directory ${dir} does not exist`);
  }
  if (!isDir) throw new Error(`${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new Error(`directory ${dir} is not writable`);
  }
  let target: boolean;
  try {
    target = statSync(path).isDirectory();
  } catch {
    target = false;
  }
  if (target) throw new Error(`${path} is a directory; give a file name`);
  return path;
}

/** One line for the user: "trace: 123456 events, 8100 flows -> out.json (open in ui.perfetto.dev)". */
export function formatTraceSummary(s: TraceSummary): string {
  const mb = (s.bytes / 1e6).toFixed(1);
  const left: string[] = [];
  if (s.dropped) left.push(`${s.dropped} events dropped (rings full)`);
  if (s.orphanFlowEnds) {
    left.push(`${s.orphanFlowEnds} flow ends without a partner left out${s.backwardFlows ? ` (${s.backwardFlows} pairs received before sent)` : ''}`);
  }
  if (s.repairedSlices) left.push(`${s.repairedSlices} unbalanced slice ends repaired`);
  return `trace: ${s.events} events, ${s.flows} flows, ${s.counters} counter samples -> ${s.path} (${mb} MB; open in ui.perfetto.dev)` +
    (left.length ? `; ${left.join(', ')}` : '');
}
