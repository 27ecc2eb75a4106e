import { expect } from 'chai';
import { Worker } from 'node:worker_threads';
import { MAILBOX_USERS, MBOX_ST_CLUSTER_BYTES, MBOX_ST_HEADER_BYTES, MBOX_ST_LOCK, MBOX_ST_WAITERS, MailboxBank }
  from '../../shared/mailbox.js';
import type { MailboxFifoJob, MailboxFifoResult } from '../fixtures/mailbox-fifo-worker.js';

const CLUSTERS = 12;

function run(job: MailboxFifoJob): Promise<MailboxFifoResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('../fixtures/mailbox-fifo-worker.js', import.meta.url), { workerData: job });
    w.once('message', (r: MailboxFifoResult) => resolve(r));
    w.once('error', reject);
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`mailbox worker exited with code ${code}`)); });
  });
}

/** Runs one consumer and `producers` producers on (cluster, fifo); returns [consumer, ...producers]. */
async function hammer(cluster: number, fifo: number, producers: number, perProducer: number, via: 'fast' | 'reg') {
  const ctlOffset = MailboxBank.byteLength(CLUSTERS);
  const sab = new SharedArrayBuffer(ctlOffset + 4 * (1 + CLUSTERS * MAILBOX_USERS));
  MailboxBank.init(sab, 0, CLUSTERS);
  const base = { sab, mboxOffset: 0, clusters: CLUSTERS, ctlOffset, workers: producers + 1, via, cluster, fifo,
    perProducer, producers } as const;
  // Consumer is user 1; producers take users 0, 2, 3.
  const producerUsers = [0, 2, 3];
  const results = await Promise.all([
    run({ ...base, role: 'consumer', user: 1, id: 0 }),
    ...Array.from({ length: producers }, (_, i) => run({ ...base, role: 'producer', user: producerUsers[i], id: i + 1 })),
  ]);
  const bank = new MailboxBank(sab, 0, CLUSTERS, () => {});
  const i32 = new Int32Array(sab);
  const cl = (MBOX_ST_HEADER_BYTES + cluster * MBOX_ST_CLUSTER_BYTES) >> 2;
  return { results, bank, lock: i32[cl + (MBOX_ST_LOCK >> 2)], waiters: i32[cl + (MBOX_ST_WAITERS >> 2)] };
}

describe('mailbox FIFO under worker threads (mt)', () => {
  it('delivers every message of one producer in order through the registers, never holding more than 4', async () => {
    const n = 20000;
    const { results, bank, lock, waiters } = await hammer(5, 3, 1, n, 'reg');
    const [consumer, producer] = results;
    expect(consumer.errors).to.deep.equal([]);
    expect(producer.errors).to.deep.equal([]);
    expect(producer.sent).to.equal(n);
    expect(consumer.received).to.equal(n);
    expect(Math.max(consumer.maxCount, producer.maxCount)).to.be.at.most(4);
    // The producer checks FIFOSTATUS before writing and is the only writer: nothing is dropped.
    expect(bank.drops(5, 3)).to.equal(0);
    expect(bank.count(5, 3)).to.equal(0);
    expect([lock, waiters]).to.deep.equal([0, 0]);
  });

  it('delivers every message of three racing producers in per-producer order and counts each drop', async () => {
    const n = 20000;
    const { results, bank, lock, waiters } = await hammer(0, 15, 3, n, 'fast');
    const [consumer, ...producers] = results;
    expect(consumer.errors).to.deep.equal([]);
    for (const p of producers) {
      expect(p.errors).to.deep.equal([]);
      expect(p.sent).to.equal(n);
    }
    expect(consumer.received).to.equal(3 * n);
    expect(Math.max(...results.map((r) => r.maxCount))).to.be.at.most(4);
    // Every failed send is a write to a full FIFO, dropped and counted once.
    expect(bank.drops(0, 15)).to.equal(producers.reduce((s, p) => s + p.failedSends, 0));
    expect(bank.count(0, 15)).to.equal(0);
    expect([lock, waiters]).to.deep.equal([0, 0]);
  });
});
