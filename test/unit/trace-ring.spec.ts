// The trace ring (shared/trace-ring.ts) in one thread: its byte layout, wrap-around, a full ring
// dropping and counting rather than overwriting, the string table; the core-side recorder
// (cores/trace.ts) writing into it; and the converter (soc/trace-convert.ts) pairing flows,
// repairing slices and leaving out what cannot be drawn.

import { expect } from 'chai';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  TRACE, installTrace, traceBegin, traceCounter, traceEnd, traceFlowIn, traceFlowOut, traceIsrBegin, traceIsrEnd, traceLabel, traceNow,
} from '../../cores/trace.js';
import {
  TK_BEGIN, TK_COUNTER, TK_END, TK_FLOW_IN, TK_FLOW_OUT, TN_ICBMSG_FREE_BLOCKS, TN_ISR_BASE, TN_RPMESSAGE_RX, TN_RPMESSAGE_SEND,
  TR_CAPACITY, TR_DROPPED, TR_HEAD, TR_HEADER_BYTES, TR_LABEL_FIRST, TR_MAGIC, TR_MAGIC_VALUE, TR_RECORD_BYTES, TR_RECORDS,
  TR_REC_A, TR_REC_B, TR_REC_KIND_NAME, TR_REC_TS, TR_REC_VALUE, TR_STRING_BYTES, TR_STRINGS, TR_TAIL, TraceRing, TraceRingError,
  traceRingBytes, type TraceRecord,
} from '../../shared/trace-ring.js';
import { RingState, TraceConverter } from '../../soc/trace-convert.js';

const rec = (): TraceRecord => ({ ts: 0, kind: 0, name: 0, a: 0, b: 0, value: 0 });

function drainAll(ring: TraceRing): TraceRecord[] {
  const out: TraceRecord[] = [];
  ring.drain(rec(), (r) => out.push({ ...r }));
  return out;
}

describe('trace ring (shared/trace-ring.ts)', () => {
  it('lays out the header, the string table and 32-byte records as the constants say', () => {
    expect(TR_HEADER_BYTES).to.equal(64);
    expect(TR_STRINGS).to.equal(TR_HEADER_BYTES);
    expect(TR_RECORDS).to.equal(TR_STRINGS + 128 * TR_STRING_BYTES);
    expect(TR_RECORDS % 8).to.equal(0);
    expect(TR_RECORD_BYTES).to.equal(32);
    const sab = TraceRing.create(8);
    expect(sab.byteLength).to.equal(traceRingBytes(8)).and.equal(TR_RECORDS + 8 * 32);
    const dv = new DataView(sab);
    const le = true;
    expect(dv.getUint32(TR_MAGIC, le)).to.equal(TR_MAGIC_VALUE);
    expect(dv.getUint32(TR_CAPACITY, le)).to.equal(8);

    const ring = new TraceRing(sab);
    expect(ring.push(12.5, TK_FLOW_OUT | (7 << 16), 0xAA000000, 0xFFFF_FFFF, 3.25)).to.equal(true);
    expect(dv.getUint32(TR_HEAD, le)).to.equal(1);
    const r0 = TR_RECORDS;
    expect(dv.getFloat64(r0 + TR_REC_TS, le)).to.equal(12.5);
    expect(dv.getUint32(r0 + TR_REC_KIND_NAME, le)).to.equal(TK_FLOW_OUT | (7 << 16));
    expect(dv.getUint32(r0 + TR_REC_A, le)).to.equal(0xAA000000);
    expect(dv.getUint32(r0 + TR_REC_B, le)).to.equal(0xFFFF_FFFF);
    expect(dv.getUint32(r0 + 20, le)).to.equal(0);
    expect(dv.getFloat64(r0 + TR_REC_VALUE, le)).to.equal(3.25);

    const host = new TraceRing(sab);
    const [r] = drainAll(host);
    expect(r).to.deep.equal({ ts: 12.5, kind: TK_FLOW_OUT, name: 7, a: 0xAA000000, b: 0xFFFF_FFFF, value: 3.25 });
    expect(dv.getUint32(TR_TAIL, le)).to.equal(1);
  });

  it('refuses a capacity that is not a power of two and a buffer that is not a ring', () => {
    expect(() => TraceRing.create(100)).to.throw(TraceRingError, '100 events; expected a power of two');
    expect(() => new TraceRing(new SharedArrayBuffer(traceRingBytes(8)))).to.throw(TraceRingError, 'magic 0x0');
  });

  it('wraps around: records keep their order across the end of the ring', () => {
    const sab = TraceRing.create(4);
    const core = new TraceRing(sab);
    const host = new TraceRing(sab);
    const seen: number[] = [];
    for (let i = 0; i < 11; i++) {
      expect(core.push(i, TK_BEGIN | (1 << 16), i, 0, 0)).to.equal(true);
      if (i % 3 === 2) for (const r of drainAll(host)) seen.push(r.a);
    }
    for (const r of drainAll(host)) seen.push(r.a);
    expect(seen).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(host.dropped()).to.equal(0);
  });

  it('when full, drops the new event and counts it, never overwriting what the host has not read', () => {
    const sab = TraceRing.create(4);
    const core = new TraceRing(sab);
    const host = new TraceRing(sab);
    for (let i = 0; i < 4; i++) expect(core.push(i, TK_END | (2 << 16), i, 0, 0)).to.equal(true);
    expect(core.push(4, TK_END | (2 << 16), 4, 0, 0)).to.equal(false);
    expect(core.push(5, TK_END | (2 << 16), 5, 0, 0)).to.equal(false);
    expect(host.dropped()).to.equal(2);
    expect(new DataView(sab).getUint32(TR_DROPPED, true)).to.equal(2);
    expect(host.pending()).to.equal(4);
    expect(drainAll(host).map((r) => r.a)).to.deep.equal([0, 1, 2, 3]);
    // Room again once the host has read them.
    expect(core.push(6, TK_END | (2 << 16), 6, 0, 0)).to.equal(true);
    expect(drainAll(host).map((r) => r.a)).to.deep.equal([6]);
    expect(host.dropped()).to.equal(2);
  });

  it('a second producer on the same ring (a new incarnation) continues where the first stopped', () => {
    const sab = TraceRing.create(8);
    new TraceRing(sab).push(1, TK_BEGIN | (1 << 16), 1, 0, 0);
    const host = new TraceRing(sab);
    expect(drainAll(host).map((r) => r.a)).to.deep.equal([1]);
    new TraceRing(sab).push(2, TK_END | (1 << 16), 2, 0, 0);
    expect(drainAll(host).map((r) => r.a)).to.deep.equal([2]);
  });

  it('keeps names in the string table, truncated without cutting a UTF-8 sequence', () => {
    const ring = new TraceRing(TraceRing.create(4));
    ring.setString(3, 'mailbox c5u0');
    expect(ring.string(3)).to.equal('mailbox c5u0');
    expect(ring.string(4)).to.equal('');
    ring.setString(TR_LABEL_FIRST, 'é'.repeat(40));
    expect(ring.string(TR_LABEL_FIRST)).to.equal('é'.repeat(31));
    expect(() => ring.setString(128, 'x')).to.throw(TraceRingError, 'slot 128');
  });
});

describe('trace recorder (cores/trace.ts)', () => {
  afterEach(() => installTrace(undefined));

  it('is off until installed, and records slices, flows, counters and ISRs on the trace origin\'s time line', () => {
    expect(TRACE.on).to.equal(false);
    const sab = TraceRing.create(64);
    const origin = Number(process.hrtime.bigint()) / 1e6;
    installTrace({ sab, originMs: origin });
    expect(TRACE.on).to.equal(true);
    traceBegin(TN_RPMESSAGE_SEND);
    const ts = traceNow();
    traceFlowOut(0xAA000000, 5, ts);
    traceEnd(TN_RPMESSAGE_SEND);
    traceIsrBegin(3, 'mailbox c7u0');
    traceFlowIn(0xAA000000, 5, traceNow());
    traceIsrEnd(3);
    const label = traceLabel('ipc0');
    traceCounter(TN_ICBMSG_FREE_BLOCKS, 0x20070000, 15, label);
    const after = (Number(process.hrtime.bigint()) / 1e6 - origin) * 1000;

    const host = new TraceRing(sab);
    const rs = drainAll(host);
    expect(rs.map((r) => [r.kind, r.name])).to.deep.equal([
      [TK_BEGIN, TN_RPMESSAGE_SEND], [TK_FLOW_OUT, 0], [TK_END, TN_RPMESSAGE_SEND],
      [TK_BEGIN, TN_ISR_BASE + 3], [TK_FLOW_IN, 0], [TK_END, TN_ISR_BASE + 3], [TK_COUNTER, TN_ICBMSG_FREE_BLOCKS],
    ]);
    expect(rs[1]).to.include({ a: 0xAA000000, b: 5, ts });
    expect(rs[6]).to.include({ a: 0x20070000, b: label, value: 15 });
    expect(host.string(3)).to.equal('mailbox c7u0');
    expect(host.string(label)).to.equal('ipc0');
    // Microseconds since the origin, in order, never ahead of the process clock.
    for (let i = 1; i < rs.length; i++) expect(rs[i]!.ts).to.be.at.least(rs[i - 1]!.ts);
    expect(rs[0]!.ts).to.be.at.least(0);
    expect(rs[6]!.ts).to.be.at.most(after + 1);
  });
});

describe('trace converter (soc/trace-convert.ts)', () => {
  const soc = { profile: 'test', platform: 'j721e', cores: [{ name: 'mcu1_0', procId: 1 }, { name: 'mcu2_0', procId: 3 }] };

  function convert(feed: (c: TraceConverter, a: RingState, b: RingState) => void) {
    const path = join(mkdtempSync(join(tmpdir(), 'hetsoc-trace-')), 't.json');
    const c = new TraceConverter(path, soc);
    const a = new RingState({ tid: 1, core: 'mcu1_0', string: () => 'mailbox c5u0' });
    const b = new RingState({ tid: 2, core: 'mcu2_0', string: () => 'mailbox c7u0' });
    feed(c, a, b);
    c.closeRing(a);
    c.closeRing(b);
    const summary = c.finish(0);
    return { summary, doc: JSON.parse(readFileSync(path, 'utf8')) as { traceEvents: Record<string, unknown>[]; displayTimeUnit: string } };
  }
  const r = (ts: number, kind: number, name = 0, a = 0, b = 0, value = 0): TraceRecord => ({ ts, kind, name, a, b, value });

  it('writes one flow per (channel, n) pair, from the send slice to the receive slice, whatever the drain order', () => {
    const { summary, doc } = convert((c, a, b) => {
      c.record(b, r(1, TK_BEGIN, TN_RPMESSAGE_RX));
      c.record(b, r(20, TK_FLOW_IN, 0, 0xAA000000, 0)); // the receiver's ring drained first
      c.record(b, r(21, TK_END, TN_RPMESSAGE_RX));
      c.record(a, r(10, TK_BEGIN, TN_RPMESSAGE_SEND));
      c.record(a, r(11, TK_FLOW_OUT, 0, 0xAA000000, 0));
      c.record(a, r(12, TK_END, TN_RPMESSAGE_SEND));
    });
    expect(summary.flows).to.equal(1);
    expect(summary.orphanFlowEnds).to.equal(0);
    expect(doc.displayTimeUnit).to.equal('ns');
    const s = doc.traceEvents.find((e) => e.ph === 's')!;
    const f = doc.traceEvents.find((e) => e.ph === 'f')!;
    expect(s).to.include({ tid: 1, ts: 11, id: f.id });
    expect(f).to.include({ tid: 2, ts: 20, bp: 'e' });
    const names = doc.traceEvents.filter((e) => e.ph === 'M').map((e) => [e.tid, (e.args as { name: string }).name]);
    expect(names).to.deep.include.members([[1, 'mcu1_0'], [2, 'mcu2_0']]);
  });

  it('leaves out flow ends without a partner, outside any slice, repeated, or received before sent', () => {
    const { summary, doc } = convert((c, a, b) => {
      c.record(a, r(1, TK_BEGIN, TN_RPMESSAGE_SEND));
      c.record(a, r(2, TK_FLOW_OUT, 0, 0x100, 0)); // never received
      c.record(a, r(3, TK_FLOW_OUT, 0, 0x100, 1)); // sent twice (counts restarted)...
      c.record(a, r(4, TK_FLOW_OUT, 0, 0x100, 1)); // ...the newer one pairs
      c.record(a, r(50, TK_FLOW_OUT, 0, 0x100, 2)); // received "before" it was sent
      c.record(a, r(60, TK_END, TN_RPMESSAGE_SEND));
      c.record(b, r(5, TK_FLOW_IN, 0, 0x100, 3)); // outside any slice
      c.record(b, r(6, TK_BEGIN, TN_RPMESSAGE_RX));
      c.record(b, r(7, TK_FLOW_IN, 0, 0x100, 1));
      c.record(b, r(8, TK_FLOW_IN, 0, 0x100, 2));
      c.record(b, r(9, TK_END, TN_RPMESSAGE_RX));
      c.record(a, r(61, TK_BEGIN, TN_RPMESSAGE_SEND));
      c.record(a, r(62, TK_FLOW_OUT, 0, 0x100, 3));
      c.record(a, r(63, TK_END, TN_RPMESSAGE_SEND));
    });
    expect(summary.flows).to.equal(1);
    // n=0 (1 end), the older n=1 (1), n=2 backwards (2), n=3 dead (2).
    expect(summary.orphanFlowEnds).to.equal(6);
    expect(summary.backwardFlows).to.equal(1);
    expect(doc.traceEvents.filter((e) => e.ph === 's').map((e) => e.ts)).to.deep.equal([4]);
    expect(doc.traceEvents.filter((e) => e.ph === 'f').map((e) => e.ts)).to.deep.equal([7]);
  });

  it('keeps slices nested per track: closes inner slices an outer end leaves open, drops unmatched ends, closes what a ring leaves open', () => {
    const { summary, doc } = convert((c, a) => {
      c.record(a, r(1, TK_BEGIN, TN_ISR_BASE + 2));
      c.record(a, r(2, TK_BEGIN, TN_RPMESSAGE_RX)); // its end was dropped (ring full)
      c.record(a, r(3, TK_END, TN_ISR_BASE + 2));
      c.record(a, r(4, TK_END, TN_RPMESSAGE_SEND)); // no such slice open
      c.record(a, r(5, TK_BEGIN, TN_RPMESSAGE_SEND)); // the core stopped inside it
      c.record(a, r(5, TK_COUNTER, TN_ICBMSG_FREE_BLOCKS, 0x20070000, TR_LABEL_FIRST, 7));
    });
    expect(summary.repairedSlices).to.equal(3);
    const track = doc.traceEvents.filter((e) => e.tid === 1 && (e.ph === 'B' || e.ph === 'E'));
    expect(track.map((e) => e.ph)).to.deep.equal(['B', 'B', 'E', 'E', 'B', 'E']);
    const ts = track.map((e) => e.ts as number);
    for (let i = 1; i < ts.length; i++) expect(ts[i]).to.be.greaterThan(ts[i - 1]!);
    expect(track[0]!.name).to.equal('ISR mailbox c5u0');
    const counter = doc.traceEvents.find((e) => e.ph === 'C')!;
    expect(counter).to.deep.include({ name: 'icbmsg mcu1_0 mailbox c5u0 tx blocks', args: { free: 7 } });
  });
});
