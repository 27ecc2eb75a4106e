// `npm run soc -- --trace FILE` and `npm run stress -- --trace-seed N FILE` as a user runs them: the
// compiled CLI in a child process, then the file read back as Perfetto reads Chrome trace JSON:
// tracks named per core, slices nested per track, every flow with one start and one end (the end
// not before the start, each inside a slice), counters.

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOC = fileURLToPath(new URL('../../scripts/soc.js', import.meta.url));
const STRESS = fileURLToPath(new URL('../../scripts/stress.js', import.meta.url));

function run(cli: string, ...args: string[]) {
  const env = { ...process.env };
  delete env.HETSOC_MUTATION;
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 180_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface TraceEvent {
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  name?: string;
  id?: number;
  bp?: string;
  args?: Record<string, unknown>;
}

interface TraceDoc {
  traceEvents: TraceEvent[];
  displayTimeUnit: string;
  metadata: { hetsoc: { flows: number; dropped: number; orphanFlowEnds: number; backwardFlows: number; rings: number } };
}

interface Checked {
  threads: Map<number, string>;
  /** Slice names, with how many. */
  slices: Map<string, number>;
  flows: number;
  /** "send slice -> receive slice" of every flow. */
  flowEnds: Set<string>;
  counters: Set<string>;
}

/**
 * Reads the file as Perfetto does (events sorted by time, file order for ties) and checks the
 * structure, throwing on the first problem: B/E balanced and nested per track, every flow id with
 * exactly one "s" and one "f" (bp "e"), the "f" not earlier, each inside a slice of its track.
 */
function check(doc: TraceDoc): Checked {
  expect(doc.displayTimeUnit).to.equal('ns');
  const threads = new Map<number, string>();
  const tracks = new Map<number, { e: TraceEvent; i: number }[]>();
  doc.traceEvents.forEach((e, i) => {
    expect(e.pid, JSON.stringify(e)).to.equal(1);
    if (e.ph === 'M') {
      if (e.name === 'thread_name') threads.set(e.tid, String(e.args!.name));
      return;
    }
    expect(e.ts, JSON.stringify(e)).to.be.a('number').and.at.least(0);
    if (!tracks.has(e.tid)) tracks.set(e.tid, []);
    tracks.get(e.tid)!.push({ e, i });
  });
  const slices = new Map<string, number>();
  const counters = new Set<string>();
  const starts = new Map<number, { ts: number; in: string }>();
  const ends = new Map<number, { ts: number; in: string }>();
  for (const [tid, list] of tracks) {
    expect(threads.has(tid), `track ${tid} has no thread_name`).to.equal(true);
    list.sort((a, b) => a.e.ts - b.e.ts || a.i - b.i);
    const open: string[] = [];
    for (const { e } of list) {
      if (e.ph === 'B') {
        open.push(e.name!);
        slices.set(e.name!, (slices.get(e.name!) ?? 0) + 1);
      } else if (e.ph === 'E') {
        expect(open.length, `E without B on ${threads.get(tid)} at ${e.ts}`).to.be.greaterThan(0);
        open.pop();
      } else if (e.ph === 's' || e.ph === 'f') {
        const at = open[open.length - 1];
        expect(at, `flow ${e.ph} ${e.id} outside any slice on ${threads.get(tid)} at ${e.ts}`).to.be.a('string');
        const side = e.ph === 's' ? starts : ends;
        expect(side.has(e.id!), `flow ${e.id} has two "${e.ph}"`).to.equal(false);
        side.set(e.id!, { ts: e.ts, in: at! });
        if (e.ph === 'f') expect(e.bp).to.equal('e');
      } else if (e.ph === 'C') {
        counters.add(`${e.name} ${Object.keys(e.args!)[0]}`);
      }
    }
    expect(open, `slices left open on ${threads.get(tid)}`).to.deep.equal([]);
  }
  const flowEnds = new Set<string>();
  for (const [id, s] of starts) {
    const f = ends.get(id);
    expect(f, `flow ${id} has no end`).to.not.equal(undefined);
    expect(f!.ts, `flow ${id} ends before it starts`).to.be.at.least(s.ts);
    flowEnds.add(`${s.in} -> ${f!.in}`);
  }
  for (const id of ends.keys()) expect(starts.has(id), `flow ${id} has no start`).to.equal(true);
  expect(doc.metadata.hetsoc.flows).to.equal(starts.size);
  return { threads, slices, flows: starts.size, flowEnds, counters };
}

const tmpFile = (name: string): string => join(mkdtempSync(join(tmpdir(), 'hetsoc-trace-')), name);
const read = (path: string): TraceDoc => JSON.parse(readFileSync(path, 'utf8')) as TraceDoc;

describe('npm run soc -- --trace (Perfetto timeline)', function () {
  this.timeout(180_000);

  it('j7: a track per core, ISR and IPC slices, an arrow per message from its send to its receive, FIFO and vring counters', () => {
    const path = tmpFile('j7.json');
    const r = run(SOC, '--profile', 'j7', '--messages', '20', '--trace', path);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(new RegExp(`trace: \\d+ events, \\d+ flows, \\d+ counter samples -> ${path.replace(/[.\\]/g, '\\$&')}`));
    expect(existsSync(`${path}.records.tmp`)).to.equal(false);
    const doc = read(path);
    const c = check(doc);
    expect([...c.threads.values()]).to.have.members([
      'mpu1_0', 'mcu1_0', 'mcu1_1', 'mcu2_0', 'mcu2_1', 'mcu3_0', 'mcu3_1', 'C66X_1', 'C66X_2', 'C7X_1',
    ]);
    expect([...c.threads.keys()].sort((a, b) => a - b)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const names = [...c.slices.keys()];
    expect(names.filter((n) => n.startsWith('ISR mailbox '))).to.not.be.empty;
    for (const n of ['RPMessage_send', 'RPMessage_recv', 'RPMessage rx', 'rpmsg_char write', 'rpmsg_send', 'rpmsg_recv_single', 'rpmsg_char read']) {
      expect(c.slices.get(n) ?? 0, n).to.be.greaterThan(0);
    }
    // Every ping and every pong of the 81 pairs has its arrow (announcements add more).
    expect(c.flows).to.be.at.least(2 * 81 * 20);
    expect([...c.flowEnds]).to.include.members([
      'RPMessage_send -> RPMessage rx', 'rpmsg_send -> RPMessage rx', 'RPMessage_send -> rpmsg_recv_single',
    ]);
    expect(c.counters).to.include('mailbox mcu1_0->mcu2_0 depth').and.include('vring mcu1_0->mcu2_0 free').and.include('vring mpu1_0->mcu2_0 free');
    expect(doc.metadata.hetsoc.dropped).to.equal(0);
    // The cores' clocks agree: no message was stamped as received before it was sent.
    expect(doc.metadata.hetsoc.backwardFlows).to.equal(0);
  });

  it('nrf5340: ipc_service slices, ICMsg and ICBMsg arrows, free ICBMsg TX blocks', () => {
    const path = tmpFile('nrf.json');
    const r = run(SOC, '--profile', 'nrf5340', '--duration', '50', '--trace', path, '--json');
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout).ok).to.equal(true);
    expect(r.stderr).to.include(`-> ${path}`);
    const doc = read(path);
    const c = check(doc);
    expect(doc.metadata.hetsoc.backwardFlows).to.equal(0);
    expect([...c.threads.values()]).to.have.members(['cpuapp', 'cpunet']);
    for (const n of ['ISR nrf-ipc0', 'ISR nrf-ipc1', 'ipc_service_send', 'icmsg rx', 'received']) expect(c.slices.get(n) ?? 0, n).to.be.greaterThan(0);
    // 100 ping-pong messages each way on each of the three endpoints, plus ICBMsg's releases.
    expect(c.flows).to.be.at.least(600);
    expect([...c.flowEnds]).to.include.members(['ipc_service_send -> icmsg rx', 'icmsg rx -> icmsg rx']);
    expect(c.counters).to.include('icbmsg cpuapp ipc0 tx blocks free').and.include('icbmsg cpunet ipc0 tx blocks free');
  });

  it('names a trace path whose directory does not exist, and lists --trace in --help', () => {
    const r = run(SOC, '--profile', 'j7', '--trace', '/nonexistent-hetsoc-dir/t.json');
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('--trace /nonexistent-hetsoc-dir/t.json: directory /nonexistent-hetsoc-dir does not exist');
    expect(run(SOC, '--help').stdout).to.include('--trace FILE');
  });
});

describe('npm run stress -- --trace-seed N FILE', function () {
  this.timeout(180_000);

  it('traces only seed N, across a core reset (the new incarnation gets a ring of its own)', () => {
    const path = tmpFile('stress.json');
    const r = run(STRESS, '--profile', 'j7', '--seeds', '2', '--jobs', '2', '--duration', '200', '--faults', 'core-reset', '--trace-seed', '2', path, '--json');
    expect(r.code, r.stderr).to.be.oneOf([0, 1]);
    expect(r.stderr.match(/^trace: /gm), r.stderr).to.have.length(1);
    expect(r.stderr).to.include(`-> ${path}`);
    const doc = read(path);
    check(doc);
    // Ten cores, one of them reset once: eleven rings.
    expect(doc.metadata.hetsoc.rings).to.equal(11);
    expect(existsSync(`${path}.records.tmp`)).to.equal(false);
  });

  it('refuses a seed the campaign does not run', () => {
    const r = run(STRESS, '--profile', 'j7', '--seeds', '4', '--trace-seed', '9', tmpFile('x.json'));
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('--trace-seed 9: seed 9 is not run here (seeds 1..4)');
  });
});
