// Port of Zephyr's test_stress and test_stress_0cpy (tests/lib/spsc_pbuf): a writer thread and a
// reader thread on one spsc_pbuf in a SharedArrayBuffer, for about 500 ms per variant (and at least
// MIN_PACKETS packets, so the outcome does not depend on machine speed).
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { SpscPbuf, type SpscPbufOptions } from '../../shared/spsc-pbuf.js';
import {
  ABORT_WORD,
  CONTROL_WORDS,
  GO_WORD,
  READY_WORD,
  STOP_WORD,
  type SpscStressApi,
  type SpscStressResult,
  type SpscStressWorkerData,
} from '../fixtures/spsc-pbuf-worker.js';

const RUN_MS = 500;
const MIN_PACKETS = 2_000;
const MAX_PACKETS = 5_000_000;
const HARD_DEADLINE_MS = 20_000;

interface Variant {
  blen: number;
  byteOffset: number;
  opts: SpscPbufOptions;
  writerApi: SpscStressApi;
  readerApi: SpscStressApi;
  seed: number;
}

interface Outcome {
  writer: SpscStressResult;
  reader: SpscStressResult;
  pb: SpscPbuf;
}

function spawn(workerData: SpscStressWorkerData, control: Int32Array): { worker: Worker; done: Promise<SpscStressResult> } {
  const worker = new Worker(new URL('../fixtures/spsc-pbuf-worker.js', import.meta.url), { workerData });
  const done = new Promise<SpscStressResult>((resolve, reject) => {
    let result: SpscStressResult | undefined;
    worker.once('message', (message: SpscStressResult) => {
      result = message;
      if (message.error !== null) Atomics.store(control, ABORT_WORD, 1); // let the peer finish
    });
    worker.once('error', (err) => {
      Atomics.store(control, ABORT_WORD, 1);
      reject(err);
    });
    worker.once('exit', (code) =>
      result && code === 0 ? resolve(result) : reject(new Error(`${workerData.role} worker exited with code ${code}`)),
    );
  });
  return { worker, done };
}

async function run(v: Variant): Promise<Outcome> {
  const pbufSab = new SharedArrayBuffer(v.byteOffset + v.blen);
  const pb = SpscPbuf.init(pbufSab, v.byteOffset, v.blen, v.opts);
  const controlSab = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT);
  const control = new Int32Array(controlSab);
  const common = {
    pbufSab,
    byteOffset: v.byteOffset,
    blen: v.blen,
    opts: v.opts,
    controlSab,
    seed: v.seed,
    minPackets: MIN_PACKETS,
    maxPackets: MAX_PACKETS,
  };
  const writer = spawn({ ...common, role: 'writer', api: v.writerApi }, control);
  const reader = spawn({ ...common, role: 'reader', api: v.readerApi }, control);
  const deadline = setTimeout(() => Atomics.store(control, ABORT_WORD, 1), HARD_DEADLINE_MS);
  try {
    while (Atomics.load(control, READY_WORD) < 2) await sleep(2);
    Atomics.store(control, GO_WORD, 1);
    Atomics.notify(control, GO_WORD);
    await sleep(RUN_MS);
    Atomics.store(control, STOP_WORD, 1);
    const [w, r] = await Promise.all([writer.done, reader.done]);
    return { writer: w, reader: r, pb };
  } finally {
    clearTimeout(deadline);
    await Promise.all([writer.worker.terminate(), reader.worker.terminate()]);
  }
}

function expectClean({ writer, reader, pb }: Outcome, v: Variant): void {
  const ctx = `seed 0x${v.seed.toString(16)}: ${reader.firstMismatch ?? writer.firstMismatch ?? ''}`;
  expect(writer.error, `writer threw ${writer.error} (${ctx})`).to.equal(null);
  expect(reader.error, `reader threw ${reader.error} (${ctx})`).to.equal(null);
  expect(writer.negativeResults, `writer negative results (${ctx})`).to.equal(0);
  expect(reader.negativeResults, `reader negative results (${ctx})`).to.equal(0);
  expect(reader.mismatches, `mismatched packets (${ctx})`).to.equal(0);
  expect(writer.packets).to.be.at.least(MIN_PACKETS);
  expect(reader.packets, 'packets read == packets written').to.equal(writer.packets);
  expect(pb.rdIdx, 'drained: rd_idx == wr_idx').to.equal(pb.wrIdx);
}

describe('spsc_pbuf stress: writer and reader worker threads on one SharedArrayBuffer', function () {
  it('test_stress: write() vs read() on 128 B (no cache) delivers every packet, length and byte in order', async function () {
    const v: Variant = { blen: 128, byteOffset: 0, opts: {}, writerApi: 'copy', readerApi: 'copy', seed: 0x5eed0001 };
    expectClean(await run(v), v);
  });

  it('test_stress_0cpy: alloc/commit vs claim/free on 128 B (no cache) delivers every packet, length and byte in order', async function () {
    const v: Variant = { blen: 128, byteOffset: 0, opts: {}, writerApi: 'zerocopy', readerApi: 'zerocopy', seed: 0x5eed0002 };
    expectClean(await run(v), v);
  });

  it('mixed roles: write() vs claim/free on the 32-byte-line cache layout, utilization stays within capacity', async function () {
    const v: Variant = {
      blen: 256,
      byteOffset: 64,
      opts: { cache: true, utilization: true },
      writerApi: 'copy',
      readerApi: 'zerocopy',
      seed: 0x5eed0003,
    };
    const outcome = await run(v);
    expectClean(outcome, v);
    const util = outcome.reader.utilization;
    expect(util).to.be.above(0);
    expect(util).to.be.at.most(outcome.pb.capacity());
    expect(util % 4).to.equal(0);
    expect(outcome.pb.getUtilization()).to.equal(util);
  });

  it('mixed roles: alloc/commit vs read() on 216 B (no cache) delivers every packet, length and byte in order', async function () {
    const v: Variant = { blen: 216, byteOffset: 0, opts: {}, writerApi: 'zerocopy', readerApi: 'copy', seed: 0x5eed0004 };
    expectClean(await run(v), v);
  });
});
