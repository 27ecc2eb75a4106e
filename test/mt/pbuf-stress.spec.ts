// Port of Zephyr's tests/subsys/ipc/pbuf test_stress on real threads: a writer worker and a reader
// worker on one SharedArrayBuffer. Zephyr runs a timer "ISR" against a thread for 1500 ms; here both
// sides are free-running threads for about 500 ms (and at least minPackets packets) per variant.
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { Pbuf } from '../../shared/pbuf.js';
import {
  CONTROL_WORDS,
  GO_WORD,
  READY_WORD,
  type PbufReaderResult,
  type PbufWorkerData,
  type PbufWriterResult,
} from '../fixtures/pbuf-worker.js';

interface Variant {
  sabBytes: number;
  byteOffset: number;
  size: number;
  dcacheAlignment: number;
  minLen: number;
  maxLen: number;
  seed: number;
}

interface Outcome {
  writer: PbufWriterResult;
  reader: PbufReaderResult;
  sab: SharedArrayBuffer;
  pb: Pbuf;
}

const DURATION_MS = 500;
const MIN_PACKETS = 500;
const GUARD = 0xc3;

function spawn<T>(workerData: PbufWorkerData): { worker: Worker; done: Promise<T> } {
  const worker = new Worker(new URL('../fixtures/pbuf-worker.js', import.meta.url), { workerData });
  const done = new Promise<T>((resolve, reject) => {
    let result: T | undefined;
    worker.once('message', (m: T) => (result = m));
    worker.once('error', reject);
    worker.once('exit', (code) =>
      result !== undefined && code === 0 ? resolve(result) : reject(new Error(`pbuf ${workerData.role} exited with code ${code}`)),
    );
  });
  return { worker, done };
}

async function run(v: Variant): Promise<Outcome> {
  const sab = new SharedArrayBuffer(v.sabBytes);
  new Uint8Array(sab).fill(GUARD);
  const controlSab = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT);
  const control = new Int32Array(controlSab);
  const base = {
    sab,
    byteOffset: v.byteOffset,
    size: v.size,
    dcacheAlignment: v.dcacheAlignment,
    controlSab,
    minLen: v.minLen,
    maxLen: v.maxLen,
    seed: v.seed,
    durationMs: DURATION_MS,
    minPackets: MIN_PACKETS,
  };
  // The writer must txInit before the reader reads; the reader waits for GO, which comes after both are ready.
  const writer = spawn<PbufWriterResult>({ role: 'writer', ...base });
  const reader = spawn<PbufReaderResult>({ role: 'reader', ...base });
  const workers = [writer.worker, reader.worker];
  try {
    const ready = Promise.race([writer.done, reader.done]).then(() => {
      throw new Error('a pbuf worker finished before GO');
    });
    ready.catch(() => undefined);
    while (Atomics.load(control, READY_WORD) < 2) await Promise.race([sleep(2), ready]);
    Atomics.store(control, GO_WORD, 1);
    Atomics.notify(control, GO_WORD);
    const [w, r] = await Promise.all([writer.done, reader.done]);
    return { writer: w, reader: r, sab, pb: new Pbuf(sab, v.byteOffset, v.size, { dcacheAlignment: v.dcacheAlignment }) };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function expectClean(o: Outcome, v: Variant): void {
  if (process.env.PBUF_STRESS_STATS) console.log(JSON.stringify({ writer: o.writer, reader: o.reader }));
  const { writer, reader } = o;
  expect(writer.unexpected, writer.firstUnexpected).to.equal(0);
  expect(reader.errors, reader.firstProblem).to.equal(0);
  expect(reader.mismatches, reader.firstProblem).to.equal(0);
  expect(reader.rdIdxMismatches, reader.firstProblem).to.equal(0);
  expect(writer.written).to.be.at.least(MIN_PACKETS);
  expect(reader.read, 'every packet written was read, once, in order').to.equal(writer.written);
  // Packet positions follow from the lengths alone, so this holds on any machine.
  expect(reader.splitPayloads, 'some payloads wrapped around the end').to.be.greaterThan(0);
  const { rd, wr } = o.pb.indexes();
  expect(rd, 'drained: rd_idx == wr_idx').to.equal(wr);
  const u8 = new Uint8Array(o.sab);
  expect(u8.subarray(0, v.byteOffset).every((b) => b === GUARD), 'memory below the region untouched').to.equal(true);
  expect(u8.subarray(v.byteOffset + v.size).every((b) => b === GUARD), 'memory above the region untouched').to.equal(true);
}

describe('pbuf stress: writer and reader in two worker threads (Zephyr tests/subsys/ipc/pbuf test_stress)', function () {
  this.timeout(30_000);

  it("Zephyr's config, 256 B at A=4: 20..63 B packets of a counter arrive intact, in order, none lost; write returns only len or -ENOMEM", async function () {
    const v: Variant = { sabBytes: 256, byteOffset: 0, size: 256, dcacheAlignment: 4, minLen: 20, maxLen: 63, seed: 0x5eed0001 };
    const o = await run(v);
    expect(o.pb.dataLen).to.equal(248);
    expectClean(o, v);
  });

  it('4 KiB region at offset 4 KiB, A=32: random 1..dataLen/4 B packets arrive intact, in order, none lost; nothing outside the region is written', async function () {
    const size = 0x1000;
    const dataLen = size - 36;
    const v: Variant = {
      sabBytes: 0x3000,
      byteOffset: 0x1000,
      size,
      dcacheAlignment: 32,
      minLen: 1,
      maxLen: Math.floor(dataLen / 4),
      seed: 0x5eed0002,
    };
    const o = await run(v);
    expect(o.pb.dataLen).to.equal(dataLen);
    expectClean(o, v);
  });
});
