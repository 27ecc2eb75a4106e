// The mutation switch plants real bugs: two core threads hammering lockedAdd32 on one shared counter
// lose updates under HETSOC_MUTATION=spinlock-release-early and stay exact without it. The
// spin-hold perturbation point delays every increment (up to 150 µs) to widen the window.

import { expect } from 'chai';
import { Worker } from 'node:worker_threads';
import { ramRegion } from '../../shared/memory-map.js';
import { SpinlockBank } from '../../shared/spinlock.js';
import { GO_WORD, READY_WORD, type LockedAddWorkerData, type LockedAddWorkerResult } from '../fixtures/locked-add-worker.js';

const WORKERS = 2;
const ITERATIONS = 300;
const BASE = 0x7000_0000;
const COUNTER = BASE + 0x40;

async function hammer(mutation: string): Promise<{ counter: number; results: LockedAddWorkerResult[] }> {
  const bankSab = new SharedArrayBuffer(SpinlockBank.byteLength(256));
  const ram = ramRegion('msmc', BASE, 0x1000);
  const controlSab = new SharedArrayBuffer(8);
  const control = new Int32Array(controlSab);
  const done: Promise<LockedAddWorkerResult>[] = [];
  for (let coreId = 1; coreId <= WORKERS; coreId++) {
    const workerData: LockedAddWorkerData = {
      bankSab, bankCount: 256, ram, counterAddr: COUNTER, lockId: 12, coreId, workers: WORKERS,
      iterations: ITERATIONS, seed: 0x5eed + coreId, holdMaxUs: 150, controlSab,
    };
    const w = new Worker(new URL('../fixtures/locked-add-worker.js', import.meta.url), {
      workerData, env: { ...process.env, HETSOC_MUTATION: mutation },
    });
    done.push(new Promise((resolve, reject) => {
      let result: LockedAddWorkerResult | undefined;
      w.once('message', (m: LockedAddWorkerResult) => (result = m));
      w.once('error', reject);
      w.once('exit', (code) => (result && code === 0 ? resolve(result) : reject(new Error(`worker ${coreId} exited with code ${code}`))));
    }));
  }
  // Start barrier: both increment loops run at the same time.
  while (Atomics.load(control, READY_WORD) < WORKERS) await new Promise((r) => setTimeout(r, 1));
  Atomics.store(control, GO_WORD, 1);
  Atomics.notify(control, GO_WORD);
  const results = await Promise.all(done);
  return { counter: new DataView(ram.sab).getUint32(COUNTER - BASE, true), results };
}

describe('HETSOC_MUTATION in core threads', function () {
  this.timeout(20_000);

  it('without a mutation, concurrent lockedAdd32 increments are exact', async () => {
    const { counter, results } = await hammer('');
    for (const r of results) expect(r).to.include({ mutation: '', errors: 0, delayed: ITERATIONS });
    expect(counter).to.equal(WORKERS * ITERATIONS);
  });

  it('with spinlock-release-early, concurrent lockedAdd32 increments lose updates', async () => {
    const { counter, results } = await hammer('spinlock-release-early');
    for (const r of results) expect(r).to.include({ mutation: 'spinlock-release-early', errors: 0, delayed: ITERATIONS });
    expect(counter).to.be.below(WORKERS * ITERATIONS);
  });
});
