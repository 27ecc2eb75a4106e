import { expect } from 'chai';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { MailboxWiring } from '../../cores/drivers/mailbox.js';
import { CoreControl } from '../../shared/core-control.js';
import { InterruptController } from '../../shared/irq.js';
import { MailboxTxWait } from '../../shared/mailbox-txwait.js';
import { MAILBOX_FIFO_DEPTH, MAILBOX_J721E_CLUSTERS, MAILBOX_USERS, MailboxBank } from '../../shared/mailbox.js';
import type {
  MailboxDriverJob, MailboxDriverResult, MailboxDriverStatus, MailboxRoute,
} from '../fixtures/mailbox-driver-worker.js';

const CLUSTERS = MAILBOX_J721E_CLUSTERS;
/** The one FIFO every sender writes and core 0 reads: cluster 7, FIFO 0, receiver user 0, line 0. */
const CLUSTER = 7;
const FIFO = 0;
const RX_USER = 0;
const RX_LINE = 0;
/** Line on which a sender that owns a user hears that user's (NotFull) interrupt. */
const TX_LINE = 0;
const RECEIVER = 0;
/** Sends per rt.yield() in the senders (and size of the first, unyielding burst). */
const YIELD_EVERY = 64;
/** Diagnostic deadline: past it the run fails with every core's state (no speed is asserted). */
const STALL_MS = 50_000;

interface RunOptions {
  /** Messages per sender. */
  perSender: number;
  /** One entry per sender core (cores 1..n): the user it owns on CLUSTER, or undefined (doorbell path). */
  senderUsers: (number | undefined)[];
}

interface RunOutcome {
  receiver: MailboxDriverResult;
  senders: MailboxDriverResult[];
  bank: MailboxBank;
}

/** Builds the SoC state (bank + control block), runs 1 receiver and the senders as workers. */
async function run(opts: RunOptions): Promise<RunOutcome> {
  const senders = opts.senderUsers.map((_, i) => i + 1);
  const cores = senders.length + 1;

  const mboxSab = new SharedArrayBuffer(MailboxBank.byteLength(CLUSTERS));
  MailboxBank.init(mboxSab, 0, CLUSTERS);
  const coreControl = 0;
  const irqOffset = coreControl + CoreControl.byteLength(cores);
  const txWait = irqOffset + InterruptController.byteLength(cores);
  const ctlSab = new SharedArrayBuffer(txWait + MailboxTxWait.byteLength(CLUSTERS));
  const control = new CoreControl(ctlSab, coreControl, cores);
  control.hostCpus = availableParallelism();
  const layout = { coreControl, irq: irqOffset, txWait };

  const route: (MailboxRoute | null)[] = new Array(CLUSTERS * MAILBOX_USERS).fill(null);
  route[CLUSTER * MAILBOX_USERS + RX_USER] = { core: RECEIVER, line: RX_LINE };
  opts.senderUsers.forEach((u, i) => {
    if (u !== undefined) route[CLUSTER * MAILBOX_USERS + u] = { core: i + 1, line: TX_LINE };
  });

  const queue = { cluster: CLUSTER, user: RX_USER, fifo: FIFO };
  const rxQueue: (typeof queue | undefined)[] = [];
  for (const s of senders) rxQueue[s] = queue;
  const wirings: MailboxWiring[] = [
    { rxLines: [{ cluster: CLUSTER, user: RX_USER, line: RX_LINE }], rxQueue, txQueue: [] },
    ...opts.senderUsers.map((u): MailboxWiring => ({
      rxLines: u === undefined ? [] : [{ cluster: CLUSTER, user: u, line: TX_LINE }],
      rxQueue: [],
      txQueue: [queue],
    })),
  ];

  const workers: Worker[] = [];
  /** Set before the workers are terminated (their exit code is then 1). */
  let over = false;
  const statuses: MailboxDriverStatus[] = [];
  let fail: (e: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => { fail = reject; });
  const ready: Promise<void>[] = [];
  const burst: Promise<void>[] = [];
  const results: Promise<MailboxDriverResult>[] = [];
  for (let index = 0; index < cores; index++) {
    const job: MailboxDriverJob = {
      mboxSab, clusters: CLUSTERS, ctlSab, layout, cores, index, role: index === RECEIVER ? 'receiver' : 'sender',
      wiring: wirings[index]!, route, cluster: CLUSTER, fifo: FIFO, perSender: opts.perSender, senders,
      receiver: RECEIVER, yieldEvery: YIELD_EVERY,
    };
    const w = new Worker(new URL('../fixtures/mailbox-driver-worker.js', import.meta.url), { workerData: job });
    workers.push(w);
    let onReady!: () => void;
    let onBurst!: () => void;
    let onResult!: (r: MailboxDriverResult) => void;
    ready.push(new Promise((r) => { onReady = r; }));
    if (index !== RECEIVER) burst.push(new Promise((r) => { onBurst = r; }));
    results.push(new Promise((r) => { onResult = r; }));
    w.on('message', (m: { kind: string; error?: string }) => {
      if (m.kind === 'ready') onReady();
      else if (m.kind === 'burst') onBurst();
      else if (m.kind === 'result') onResult(m as MailboxDriverResult);
      else if (m.kind === 'status') statuses.push(m as MailboxDriverStatus);
      else if (m.kind === 'fault') fail(new Error(`core ${index} faulted: ${m.error}`));
    });
    w.on('error', (e) => fail(e));
    w.on('exit', (code) => { if (code !== 0 && !over) fail(new Error(`core ${index} worker exited with code ${code}`)); });
  }

  let stall: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([Promise.all(ready), failed]);
    // Senders first: each fills the FIFO and its software queue before the receiver pops anything.
    for (const w of workers.slice(1)) w.postMessage('go');
    await Promise.race([Promise.all(burst), failed]);
    workers[RECEIVER]!.postMessage('go');
    const stalled = new Promise<never>((_, reject) => {
      stall = setTimeout(() => {
        for (const w of workers) w.postMessage('status');
        setTimeout(() => reject(new Error(`no result after ${STALL_MS} ms; core states: ` +
          JSON.stringify(statuses.sort((a, b) => a.index - b.index)))), 1000);
      }, STALL_MS);
    });
    const tx = await Promise.race([Promise.all(results.slice(1)), failed, stalled]);
    // Every sender's backlog is empty: the receiver reports as soon as the FIFO is empty too.
    workers[RECEIVER]!.postMessage('finish');
    const rx = await Promise.race([results[RECEIVER]!, failed, stalled]);
    const bank = new MailboxBank(mboxSab, 0, CLUSTERS, () => {});
    return { receiver: rx, senders: tx, bank };
  } finally {
    clearTimeout(stall);
    over = true;
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The checks every run must pass: nothing lost, nothing duplicated, per-sender order, FIFO <= 4. */
function expectLossless(out: RunOutcome, perSender: number, senders: number): void {
  const { receiver, senders: tx, bank } = out;
  expect(receiver.errors).to.deep.equal([]);
  for (const s of tx) {
    expect(s.errors, `sender ${s.index}`).to.deep.equal([]);
    expect(s.backlog, `sender ${s.index} backlog`).to.equal(0);
    expect(s.stats.sent, `sender ${s.index} messages written to the FIFO`).to.equal(perSender);
    // The first burst (64 sends) ran before the receiver popped anything: at least 60 were queued.
    expect(s.stats.queued, `sender ${s.index} software-queued messages`).to.be.at.least(YIELD_EVERY - MAILBOX_FIFO_DEPTH);
  }
  for (let s = 1; s <= senders; s++) {
    expect(receiver.perSender[s], `messages received from sender ${s}`).to.equal(perSender);
    expect(receiver.nextSeq[s], `last sequence number of sender ${s} + 1`).to.equal(perSender);
  }
  expect(receiver.stats.received).to.equal(perSender * senders);
  expect(Math.max(receiver.maxCount, ...tx.map((s) => s.maxCount))).to.be.at.most(MAILBOX_FIFO_DEPTH);
  expect(bank.count(CLUSTER, FIFO)).to.equal(0);
  // Drops are writes that lost the race for the last slot; each one stayed in its driver's queue,
  // so it cannot exceed the number of messages that went through a software queue.
  expect(bank.drops(CLUSTER, FIFO)).to.be.at.most(tx.reduce((n, s) => n + s.stats.queued, 0));
}

function summary(out: RunOutcome): string {
  const q = out.senders.map((s) => `core${s.index} queued ${s.stats.queued} (max ${s.stats.maxQueued})`).join(', ');
  return `drops ${out.bank.drops(CLUSTER, FIFO)}; ${q}; receiver ISRs ${out.receiver.isrs}`;
}

describe('mailbox driver: software TX queue under worker threads (mt)', function () {
  this.timeout(60_000);

  it('4 senders into one 4-deep FIFO lose nothing through the software queue (TX-ready doorbell)', async () => {
    const n = 20_000;
    const out = await run({ perSender: n, senderUsers: [undefined, undefined, undefined, undefined] });
    expectLossless(out, n, 4);
    // No sender owns a user on the cluster: every refill went through the doorbell line.
    for (const s of out.senders) expect(s.spurious, `core ${s.index} spurious interrupts`).to.equal(0);
    console.log(`      ${summary(out)}`);
  });

  it('a sender that owns a user on the cluster drains its queue from the real NotFull interrupt', async () => {
    const n = 20_000;
    const out = await run({ perSender: n, senderUsers: [1] });
    expectLossless(out, n, 1);
    // A single writer checks for room before every write: it never hits a full FIFO.
    expect(out.bank.drops(CLUSTER, FIFO)).to.equal(0);
    console.log(`      ${summary(out)}`);
  });

  it('3 NotFull senders (users 1..3) and 1 doorbell sender share one FIFO without loss', async () => {
    const n = 20_000;
    const out = await run({ perSender: n, senderUsers: [1, 2, 3, undefined] });
    expectLossless(out, n, 4);
    console.log(`      ${summary(out)}`);
  });
});
