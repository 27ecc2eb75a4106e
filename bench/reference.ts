// Reference scenarios of `npm run bench`: the raw Node primitives hetsoc is built on, measured in the
// same process as the hetsoc scenarios so the ratios in scripts/bench.ts compare like with like.
// Worker roles live in bench/workers/ref-worker.ts; every scenario terminates its workers before it returns.
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageChannel, Worker, type MessagePort, type TransferListItem } from 'node:worker_threads';
import { R, rateResult, timeResult, type BenchOptions, type BenchResult, type Scenario } from './harness.js';
import {
  A2A_COUNTER_STRIDE,
  A2A_CTRL_WORDS,
  A2A_GO,
  A2A_STOP,
  PP_WORDS,
  type RefSamples,
  type RefWorkerData,
} from './workers/ref-worker.js';

const WORKER_URL = new URL('./workers/ref-worker.js', import.meta.url);

/** Thrown when a reference worker fails or exits before reporting. */
export class RefWorkerError extends Error {
  override name = 'RefWorkerError';
}

function spawn(data: RefWorkerData, transferList: TransferListItem[] = []): Worker {
  return new Worker(WORKER_URL, { workerData: data, transferList });
}

/** The worker's first message; rejects if it errors or exits first. */
function firstMessage<T>(w: Worker, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number): void =>
      reject(new RefWorkerError(`reference worker ${what} exited with code ${code} before reporting`));
    w.once('error', (e) => {
      w.off('exit', onExit);
      reject(new RefWorkerError(`reference worker ${what} failed: ${e instanceof Error ? e.message : String(e)}`));
    });
    w.once('exit', onExit);
    w.once('message', (m: T) => {
      w.off('exit', onExit);
      resolve(m);
    });
  });
}

async function terminateAll(ws: Worker[]): Promise<void> {
  await Promise.all(ws.map((w) => w.terminate()));
}

/** Runs `pinger` against `ponger` and returns the pinger's samples; both workers are gone afterwards. */
async function pingPong(
  ping: RefWorkerData, pong: RefWorkerData, transfer: [TransferListItem[], TransferListItem[]] = [[], []],
): Promise<Float64Array> {
  const ponger = spawn(pong, transfer[1]);
  const pinger = spawn(ping, transfer[0]);
  try {
    const [r] = await Promise.all([
      firstMessage<RefSamples>(pinger, ping.mode),
      firstMessage<unknown>(ponger, pong.mode),
    ]);
    return r.samples;
  } finally {
    await terminateAll([pinger, ponger]);
  }
}

async function spinPingPong(opts: BenchOptions): Promise<BenchResult[]> {
  const batch = opts.quick ? 100 : 1000;
  const warmup = opts.quick ? 2_000 : 20_000;
  const samples = opts.quick ? 200 : 1_000;
  const budgetMs = opts.quick ? 2_000 : 10_000;
  opts.progress(`ref: spin ping-pong, ${samples} x ${batch} round trips`);
  const sab = new SharedArrayBuffer(PP_WORDS * 4);
  const s = await pingPong(
    { mode: 'spin-ping', sab, warmup, samples, batch, budgetMs }, { mode: 'spin-pong', sab });
  const cut = s.length < samples ? `; stopped after ${budgetMs} ms (CPUs contended)` : '';
  return [timeResult(R.spinRtt, 'us', s,
    `2 workers, 1 SAB word, spinning on Atomics.load; sample = mean of ${batch} round trips${cut}`)];
}

async function waitPingPong(opts: BenchOptions): Promise<BenchResult[]> {
  const warmup = opts.quick ? 200 : 2_000;
  const samples = opts.quick ? 500 : 20_000;
  opts.progress(`ref: Atomics.wait/notify ping-pong, ${samples} round trips`);
  const sab = new SharedArrayBuffer(PP_WORDS * 4);
  const s = await pingPong(
    { mode: 'wait-ping', sab, warmup, samples, batch: 1, budgetMs: 60_000 }, { mode: 'wait-pong', sab });
  return [timeResult(R.waitRtt, 'us', s, '2 workers, 1 SAB word, Atomics.wait/notify, no spinning')];
}

async function sabCopy(opts: BenchOptions): Promise<BenchResult[]> {
  const size = 4 << 20;
  const chunk = 4096;
  const perCheck = 64; // chunks between clock reads (256 KiB)
  const windowMs = opts.quick ? 5 : 20;
  const windows = opts.quick ? 5 : 30;
  const warmupWindows = opts.quick ? 1 : 3;
  opts.progress(`ref: SAB -> SAB copy of 4 KiB chunks, ${windows} windows of ${windowMs} ms`);
  const src = new Uint8Array(new SharedArrayBuffer(size));
  const dst = new Uint8Array(new SharedArrayBuffer(size));
  for (let i = 0; i < size; i++) src[i] = (i * 31 + 7) & 0xff;
  const samples = new Float64Array(windows);
  let off = 0;
  for (let wnd = -warmupWindows; wnd < windows; wnd++) {
    let bytes = 0;
    const t0 = performance.now();
    let t1: number;
    do {
      for (let k = 0; k < perCheck; k++) {
        dst.set(src.subarray(off, off + chunk), off);
        off += chunk;
        if (off === size) off = 0;
      }
      bytes += perCheck * chunk;
    } while ((t1 = performance.now()) - t0 < windowMs);
    if (wnd >= 0) samples[wnd] = bytes / ((t1 - t0) * 1000);
  }
  if (dst[size - 1] !== src[size - 1]) throw new Error('ref sab-copy: destination does not match source after the copy');
  return [rateResult(R.copy4k, 'MB/s', samples,
    `1 thread, dst.set(src.subarray()) of 4 KiB chunks through two 4 MiB SABs; sample = ${windowMs} ms window`)];
}

async function portPingPong(opts: BenchOptions): Promise<BenchResult[]> {
  const warmup = opts.quick ? 200 : 2_000;
  const samples = opts.quick ? 500 : 20_000;
  opts.progress(`ref: MessagePort ping-pong, ${samples} round trips`);
  const { port1, port2 } = new MessageChannel();
  const s = await pingPong(
    { mode: 'port-ping', port: port1, bytes: 32, warmup, samples },
    { mode: 'port-pong', port: port2 },
    [[port1], [port2]],
  );
  return [timeResult(R.portRtt, 'us', s,
    '2 workers, MessageChannel between them, 32-byte Uint8Array (structured clone) echoed back')];
}

async function portStreamOne(bytes: number, opts: BenchOptions): Promise<Float64Array> {
  const windowMs = opts.quick ? 10 : 50;
  const windows = opts.quick ? 5 : 30;
  const warmupWindows = opts.quick ? 1 : 3;
  opts.progress(`ref: MessagePort stream of ${bytes}-byte messages, ${windows} windows of ${windowMs} ms`);
  const { port1, port2 } = new MessageChannel();
  const receiver = spawn({ mode: 'stream-recv', port: port2, warmupWindows, windows, windowMs }, [port2]);
  const sender = spawn({ mode: 'stream-send', port: port1, bytes }, [port1]);
  try {
    const [r] = await Promise.all([
      firstMessage<RefSamples>(receiver, 'stream-recv'),
      firstMessage<unknown>(sender, 'stream-send'),
    ]);
    return r.samples;
  } finally {
    await terminateAll([sender, receiver]);
  }
}

async function portStream(opts: BenchOptions): Promise<BenchResult[]> {
  const note = (n: number): string =>
    `worker -> worker over a MessageChannel, ${n}-byte Uint8Array per message, ack every 256, <= 1024 unacked; MB = 1e6 B`;
  const s128 = await portStreamOne(128, opts);
  const s4k = await portStreamOne(4096, opts);
  return [
    rateResult(R.portStream128, 'MB/s', s128, note(128)),
    rateResult(R.portStream4k, 'MB/s', s4k, note(4096)),
  ];
}

async function portAllToAll(opts: BenchOptions): Promise<BenchResult[]> {
  const n = 10;
  const durationMs = opts.quick ? 200 : 1000;
  const windows = 5;
  const windowMs = durationMs / windows;
  opts.progress(`ref: MessagePort all-to-all, ${n} workers, ${durationMs} ms`);
  const ctrl = new Int32Array(new SharedArrayBuffer(A2A_CTRL_WORDS * 4));
  const counters = new Int32Array(new SharedArrayBuffer(n * A2A_COUNTER_STRIDE * 4));
  // ports[i][j]: worker i's end of the channel between i and j.
  const ports: (MessagePort | undefined)[][] = Array.from({ length: n }, () => new Array<MessagePort | undefined>(n));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const { port1, port2 } = new MessageChannel();
      ports[i]![j] = port1;
      ports[j]![i] = port2;
    }
  }
  const workers: Worker[] = [];
  try {
    const ready: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const peers = Array.from({ length: n }, (_, j) => j).filter((j) => j !== i);
      const mine = peers.map((j) => ports[i]![j]!);
      const w = spawn({
        mode: 'all-to-all', index: i, bytes: 32, ports: mine, peers, ctrl: ctrl.buffer as SharedArrayBuffer,
        counters: counters.buffer as SharedArrayBuffer,
      }, mine);
      workers.push(w);
      ready.push(firstMessage<unknown>(w, `all-to-all #${i}`));
    }
    await Promise.all(ready);
    const total = (): number => {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += Atomics.load(counters, i * A2A_COUNTER_STRIDE);
      return sum;
    };
    const samples = new Float64Array(windows);
    Atomics.store(ctrl, A2A_GO, 1);
    Atomics.notify(ctrl, A2A_GO);
    let t0 = performance.now();
    let c0 = total();
    for (let k = 0; k < windows; k++) {
      await sleep(windowMs);
      const t1 = performance.now();
      const c1 = total();
      samples[k] = (c1 - c0) / ((t1 - t0) / 1000);
      t0 = t1;
      c0 = c1;
    }
    Atomics.store(ctrl, A2A_STOP, 1);
    return [rateResult(R.portAllToAll, 'msg/s', samples,
      `${n} workers, a MessageChannel per pair; each worker echoes pings and pings all ${n - 1} others ` +
      `(one outstanding 32-byte Uint8Array per peer, next on echo); pings + pongs delivered, ${windowMs} ms windows`)];
  } finally {
    await terminateAll(workers);
  }
}

async function emptyWorkers(opts: BenchOptions): Promise<BenchResult[]> {
  const n = 10;
  const rounds = opts.quick ? 2 : 7;
  opts.progress(`ref: spawn ${n} empty workers, ${rounds} rounds (+1 warm-up)`);
  const samples = new Float64Array(rounds);
  for (let r = -1; r < rounds; r++) {
    const ws: Worker[] = [];
    try {
      const t0 = performance.now();
      const online: Promise<unknown>[] = [];
      for (let i = 0; i < n; i++) {
        const w = spawn({ mode: 'empty' });
        ws.push(w);
        online.push(firstMessage<unknown>(w, `empty #${i}`));
      }
      await Promise.all(online);
      if (r >= 0) samples[r] = performance.now() - t0;
    } finally {
      await terminateAll(ws);
    }
  }
  return [timeResult(R.emptyWorkers, 'ms', samples,
    `${n} workers (ESM file posting one message) spawned until all have posted; terminate not timed`)];
}

/** The reference scenarios, group "ref". */
export const referenceScenarios: Scenario[] = [
  { group: 'ref', name: 'spin', run: spinPingPong },
  { group: 'ref', name: 'wait', run: waitPingPong },
  { group: 'ref', name: 'copy', run: sabCopy },
  { group: 'ref', name: 'port', run: portPingPong },
  { group: 'ref', name: 'port-stream', run: portStream },
  { group: 'ref', name: 'all-to-all', run: portAllToAll },
  { group: 'ref', name: 'spawn', run: emptyWorkers },
];
