import { expect } from 'chai';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { SpinlockBank } from '../../shared/spinlock.js';
import {
  CONTROL_WORDS,
  COUNTER_WORD,
  GO_WORD,
  READY_WORD,
  type SpinlockWorkerData,
  type SpinlockWorkerResult,
} from '../fixtures/spinlock-worker.js';

const LOCK_ID = 42;
const BANK_COUNT = 256;

interface RunOptions {
  workers: number;
  iterations: number;
  useLock: boolean;
  spin: 'auto' | 'always';
  delay: number;
}

interface RunOutcome {
  counter: number;
  bank: SpinlockBank;
  results: SpinlockWorkerResult[];
}

/** Spawn the workers on one fresh bank, release them together, collect their reports. */
async function run(options: RunOptions): Promise<RunOutcome> {
  const bankSab = new SharedArrayBuffer(SpinlockBank.byteLength(BANK_COUNT));
  const controlSab = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT);
  const control = new Int32Array(controlSab);
  const workers: Worker[] = [];
  const done: Promise<SpinlockWorkerResult>[] = [];
  for (let coreId = 0; coreId < options.workers; coreId++) {
    const workerData: SpinlockWorkerData = {
      bankSab,
      bankCount: BANK_COUNT,
      controlSab,
      lockId: LOCK_ID,
      coreId,
      iterations: options.iterations,
      workers: options.workers,
      spin: options.spin,
      useLock: options.useLock,
      delay: options.delay,
    };
    const worker = new Worker(new URL('../fixtures/spinlock-worker.js', import.meta.url), { workerData });
    workers.push(worker);
    done.push(
      new Promise<SpinlockWorkerResult>((resolve, reject) => {
        let result: SpinlockWorkerResult | undefined;
        worker.once('message', (message: SpinlockWorkerResult) => (result = message));
        worker.once('error', reject);
        worker.once('exit', (code) =>
          result && code === 0 ? resolve(result) : reject(new Error(`worker ${coreId} exited with code ${code}`)),
        );
      }),
    );
  }
  try {
    while (Atomics.load(control, READY_WORD) < options.workers) await sleep(2);
    Atomics.store(control, GO_WORD, 1);
    Atomics.notify(control, GO_WORD);
    const results = await Promise.all(done);
    return { counter: Atomics.load(control, COUNTER_WORD), bank: new SpinlockBank(bankSab, 0, BANK_COUNT), results };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

describe('hardware spinlock under contention (8 worker threads)', function () {
  const WORKERS = 8;
  const ITERATIONS = 10_000;

  it('serialises 80,000 non-atomic increments from 8 cores and ends free', async function () {
    const { counter, bank, results } = await run({
      workers: WORKERS,
      iterations: ITERATIONS,
      useLock: true,
      spin: 'auto', // no spinning when 8 threads > CPUs
      delay: 20,
    });
    expect(results.map((r) => r.errors)).to.deep.equal(new Array(WORKERS).fill(0));
    expect(results.map((r) => r.holderMismatches)).to.deep.equal(new Array(WORKERS).fill(0));
    expect(results.map((r) => r.foreignUnlocks)).to.deep.equal(new Array(WORKERS).fill(0));
    expect(counter).to.equal(WORKERS * ITERATIONS);
    expect(bank.isLocked(LOCK_ID)).to.equal(false);
    expect(bank.holder(LOCK_ID)).to.equal(-1);
    expect(bank.waiters(LOCK_ID)).to.equal(0);
    expect(bank.acquisitions(LOCK_ID)).to.equal(WORKERS * ITERATIONS);
  });

  it('also serialises when every waiter spins before blocking', async function () {
    const workers = Math.min(WORKERS, Math.max(2, availableParallelism()));
    const { counter, bank, results } = await run({
      workers,
      iterations: ITERATIONS,
      useLock: true,
      spin: 'always',
      delay: 20,
    });
    expect(results.map((r) => r.errors + r.holderMismatches + r.foreignUnlocks)).to.deep.equal(
      new Array(workers).fill(0),
    );
    expect(counter).to.equal(workers * ITERATIONS);
    expect(bank.isLocked(LOCK_ID)).to.equal(false);
  });

  it('negative control: without the lock the same increments lose updates', async function () {
    // Lost updates depend on scheduling, so allow a few attempts; one loss proves the test can fail.
    const counters: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const { counter, bank } = await run({
        workers: WORKERS,
        iterations: ITERATIONS,
        useLock: false,
        spin: 'auto',
        delay: 200, // widen the read..write window
      });
      expect(bank.acquisitions(LOCK_ID)).to.equal(0);
      counters.push(counter);
      if (counter < WORKERS * ITERATIONS) break;
    }
    expect(Math.min(...counters)).to.be.below(WORKERS * ITERATIONS);
  });
});
