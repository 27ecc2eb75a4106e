// The planted bug HETSOC_MUTATION=pbuf-publish-early (shared/mutation.ts) on real threads: a writer
// worker publishes wr_idx before it copies the packet, with PT_PUBLISH perturbation (p = 0.2, up to
// 200 µs) widening the gap; a reader worker spinning on the same buffer must then read memory the
// writer has not filled yet. Without the variable the same perturbed traffic arrives intact.
// Both packed buffers are covered: ICMsg's pbuf and the generic spsc_pbuf.
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { Pbuf } from '../../shared/pbuf.js';
import { SpscPbuf } from '../../shared/spsc-pbuf.js';
import {
  CONTROL_WORDS, FILLER, GO_WORD, READY_WORD, STOP_WORD, type PbufMutationResult, type PbufMutationWorkerData,
} from '../fixtures/pbuf-mutation-worker.js';

interface Run {
  kind: 'pbuf' | 'spsc';
  mutation: boolean;
  size: number;
  durationMs: number;
}

/** The worker's environment: the parent's, with HETSOC_MUTATION set or removed. */
function envWith(mutation: string | undefined): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.HETSOC_MUTATION;
  if (mutation) env.HETSOC_MUTATION = mutation;
  return env;
}

function spawn(workerData: PbufMutationWorkerData, env: NodeJS.ProcessEnv): { worker: Worker; done: Promise<PbufMutationResult> } {
  const worker = new Worker(new URL('../fixtures/pbuf-mutation-worker.js', import.meta.url), { workerData, env });
  const done = new Promise<PbufMutationResult>((resolve, reject) => {
    let result: PbufMutationResult | undefined;
    worker.once('message', (m: PbufMutationResult) => (result = m));
    worker.once('error', reject);
    worker.once('exit', (code) => (result && code === 0 ? resolve(result) : reject(new Error(`${workerData.role} exited with code ${code}`))));
  });
  return { worker, done };
}

async function run(r: Run): Promise<{ writer: PbufMutationResult; reader: PbufMutationResult }> {
  const sab = new SharedArrayBuffer(r.size);
  new Uint32Array(sab).fill(FILLER);
  if (r.kind === 'pbuf') new Pbuf(sab, 0, r.size).txInit();
  else SpscPbuf.init(sab, 0, r.size);
  const controlSab = new SharedArrayBuffer(CONTROL_WORDS * 4);
  const ctl = new Int32Array(controlSab);
  const base = {
    kind: r.kind, sab, size: r.size, controlSab, flow: 3, flowSeed: 0x5eed_0b0b, minLen: 16, maxLen: 96, durationMs: r.durationMs,
    minPackets: MIN_PACKETS, publish: { p: 0.2, maxUs: 200 }, stopOnBad: r.mutation,
  };
  const writer = spawn({ role: 'writer', ...base }, envWith(r.mutation ? 'pbuf-publish-early' : undefined));
  const reader = spawn({ role: 'reader', ...base }, envWith(undefined));
  const hardStop = setTimeout(() => {
    Atomics.store(ctl, STOP_WORD, 1);
  }, r.durationMs + 2000);
  try {
    const early = Promise.race([writer.done, reader.done]).then(() => {
      throw new Error('a worker finished before GO');
    });
    early.catch(() => undefined);
    while (Atomics.load(ctl, READY_WORD) < 2) await Promise.race([sleep(2), early]);
    Atomics.store(ctl, GO_WORD, 1);
    Atomics.notify(ctl, GO_WORD);
    const [w, rd] = await Promise.all([writer.done, reader.done]);
    return { writer: w, reader: rd };
  } finally {
    clearTimeout(hardStop);
    await Promise.all([writer.worker.terminate(), reader.worker.terminate()]);
  }
}

const MIB4 = 4 << 20;
/** The writer writes at least this many packets whatever the machine's speed (1 KiB: ~30 laps). */
const MIN_PACKETS = 500;

describe('HETSOC_MUTATION=pbuf-publish-early: writer and reader workers on one packed buffer, PT_PUBLISH p=0.2 up to 200 µs', function () {
  this.timeout(15_000);

  for (const kind of ['pbuf', 'spsc'] as const) {
    const what = kind === 'pbuf' ? 'ICMsg pbuf' : 'spsc_pbuf';

    it(`${what}: with the mutation the reader gets a corrupt payload within 2 s (it reads the packet before the writer copied it)`, async function () {
      const { writer, reader } = await run({ kind, mutation: true, size: MIB4, durationMs: 2000 });
      expect(writer.mutation).to.equal('pbuf-publish-early');
      expect(writer.publishSeen, 'PT_PUBLISH occurrences').to.be.greaterThan(0);
      expect(reader.corrupt, `reader: ${JSON.stringify(reader)}`).to.be.greaterThan(0);
    });

    it(`${what}: without it the same perturbed traffic arrives intact, in order, none lost`, async function () {
      const { writer, reader } = await run({ kind, mutation: false, size: MIB4, durationMs: 700 });
      expect(writer.mutation).to.equal('');
      expect(writer.errors, writer.firstBad).to.equal(0);
      expect(writer.publishDelayed, 'some publishes were delayed').to.be.greaterThan(0);
      expect(reader.corrupt + reader.wrongSeq + reader.errors, reader.firstBad).to.equal(0);
      expect(reader.packets).to.equal(writer.packets);
    });

    it(`${what}: without it, on a 1 KiB region where packets wrap all the time, perturbed traffic arrives intact`, async function () {
      const { writer, reader } = await run({ kind, mutation: false, size: 1024, durationMs: 500 });
      expect(writer.errors, writer.firstBad).to.equal(0);
      expect(writer.publishDelayed).to.be.greaterThan(0);
      expect(reader.corrupt + reader.wrongSeq + reader.errors, reader.firstBad).to.equal(0);
      expect(reader.packets).to.equal(writer.packets);
      expect(writer.packets, 'many laps of the region').to.be.at.least(MIN_PACKETS);
    });
  }
});
