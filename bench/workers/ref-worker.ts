// Worker for the reference scenarios of `npm run bench` (bench/reference.ts): the raw Node primitives
// hetsoc is built on (SAB spinning, Atomics.wait/notify, MessagePort), measured without hetsoc.
// One file, one `mode` per scenario role; the parent picks it through workerData. Every mode reports
// its samples (if any) in exactly one message to the parent, then lets its event loop drain.
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';

/** Int32 words of the ping-pong SAB (spin and wait modes). */
export const PP_WORD = 0;   // sequence: the pinger writes odd values, the ponger answers with the next even one
export const PP_READY = 1; // ponger -> pinger: 1 once the ponger is in its loop
export const PP_WORDS = 2;
/** Written to PP_WORD by the pinger to stop the ponger. */
export const PP_STOP = -1;

/** Int32 words of the all-to-all control SAB. */
export const A2A_GO = 0;   // main -> workers: 1 = start pinging (barrier release)
export const A2A_STOP = 1; // main -> workers: 1 = pingers stop sending new pings
export const A2A_CTRL_WORDS = 2;
/** Int32 stride between per-worker counters in the all-to-all counter SAB (one 64-byte line each). */
export const A2A_COUNTER_STRIDE = 16;
/** Byte 0 of an all-to-all message. */
export const A2A_PING = 1;
export const A2A_PONG = 2;

/** Ack every this many stream messages; the sender keeps at most STREAM_WINDOW unacked. */
export const STREAM_ACK_EVERY = 256;
export const STREAM_WINDOW = 1024;
/** Ack value telling the stream sender to stop. */
export const STREAM_STOP = -1;

export type RefWorkerData =
  | { mode: 'empty' }
  | {
    mode: 'spin-ping' | 'wait-ping'; sab: SharedArrayBuffer; warmup: number; samples: number; batch: number;
    /** Stop early (fewer samples) once this much time has passed: pure spinning collapses to one
     * scheduler timeslice per hop when another runnable thread competes for the CPUs. */
    budgetMs: number;
  }
  | { mode: 'spin-pong' | 'wait-pong'; sab: SharedArrayBuffer }
  | { mode: 'port-ping'; port: MessagePort; bytes: number; warmup: number; samples: number }
  | { mode: 'port-pong'; port: MessagePort }
  | { mode: 'stream-send'; port: MessagePort; bytes: number }
  | { mode: 'stream-recv'; port: MessagePort; warmupWindows: number; windows: number; windowMs: number }
  | {
    mode: 'all-to-all'; index: number; bytes: number;
    /** One port per other worker, in the order of `peers`. */
    ports: MessagePort[]; peers: number[];
    ctrl: SharedArrayBuffer; counters: SharedArrayBuffer;
  };

/** What a sampling mode posts to the parent: µs per round trip, or MB/s per window. */
export interface RefSamples { samples: Float64Array }

function post(msg: unknown): void {
  parentPort!.postMessage(msg);
}

/** Pinger of the spin / wait ping-pong: `batch` round trips per sample, sample = µs per round trip. */
function pingSab(d: Extract<RefWorkerData, { mode: 'spin-ping' | 'wait-ping' }>): void {
  const w = new Int32Array(d.sab);
  const spin = d.mode === 'spin-ping';
  let seq = 0;
  const roundTrip = spin
    ? (): void => {
      Atomics.store(w, PP_WORD, ++seq);
      ++seq;
      while (Atomics.load(w, PP_WORD) !== seq) { /* spin */ }
    }
    : (): void => {
      Atomics.store(w, PP_WORD, ++seq);
      Atomics.notify(w, PP_WORD);
      ++seq;
      while (Atomics.load(w, PP_WORD) !== seq) Atomics.wait(w, PP_WORD, seq - 1);
    };
  Atomics.wait(w, PP_READY, 0);
  const deadline = performance.now() + d.budgetMs;
  for (let i = 0; i < d.warmup; i++) {
    roundTrip();
    if (i % 1000 === 999 && performance.now() > deadline) break;
  }
  const samples = new Float64Array(d.samples);
  const usPerMsPerRt = 1000 / d.batch;
  let s = 0;
  while (s < d.samples) {
    const t0 = performance.now();
    for (let i = 0; i < d.batch; i++) roundTrip();
    const t1 = performance.now();
    samples[s++] = (t1 - t0) * usPerMsPerRt;
    if (t1 > deadline) break;
  }
  Atomics.store(w, PP_WORD, PP_STOP);
  Atomics.notify(w, PP_WORD);
  post({ samples: samples.subarray(0, s) } satisfies RefSamples);
}

/** Ponger of the spin / wait ping-pong: answers odd `seq` with `seq + 1` until PP_STOP. */
function pongSab(d: Extract<RefWorkerData, { mode: 'spin-pong' | 'wait-pong' }>): void {
  const w = new Int32Array(d.sab);
  const spin = d.mode === 'spin-pong';
  Atomics.store(w, PP_READY, 1);
  Atomics.notify(w, PP_READY);
  for (let expect = 1; ; expect += 2) {
    let v: number;
    if (spin) {
      while ((v = Atomics.load(w, PP_WORD)) !== expect && v !== PP_STOP) { /* spin */ }
    } else {
      while ((v = Atomics.load(w, PP_WORD)) !== expect && v !== PP_STOP) Atomics.wait(w, PP_WORD, v);
    }
    if (v === PP_STOP) break;
    Atomics.store(w, PP_WORD, expect + 1);
    if (!spin) Atomics.notify(w, PP_WORD);
  }
  post('done');
}

/** MessagePort pinger: one `bytes`-byte Uint8Array out, wait for the echo, one sample per round trip (µs). */
function pingPort(d: Extract<RefWorkerData, { mode: 'port-ping' }>): void {
  const payload = new Uint8Array(d.bytes).fill(0x5a);
  const samples = new Float64Array(d.samples);
  const total = d.warmup + d.samples;
  let done = 0;
  let t0 = 0;
  d.port.on('message', () => {
    const t1 = performance.now();
    if (done >= d.warmup) samples[done - d.warmup] = (t1 - t0) * 1000;
    if (++done === total) {
      d.port.close();
      post({ samples } satisfies RefSamples);
      return;
    }
    t0 = performance.now();
    d.port.postMessage(payload);
  });
  t0 = performance.now();
  d.port.postMessage(payload);
}

/** MessagePort echo: posts every message back unchanged until the port closes. */
function pongPort(d: Extract<RefWorkerData, { mode: 'port-pong' }>): void {
  d.port.on('message', (m: Uint8Array) => d.port.postMessage(m));
  d.port.on('close', () => post('done'));
}

/** Stream sender: keeps at most STREAM_WINDOW messages unacked; stops on a STREAM_STOP ack. */
function streamSend(d: Extract<RefWorkerData, { mode: 'stream-send' }>): void {
  const payload = new Uint8Array(d.bytes).fill(0xa5);
  let sent = 0;
  let acked = 0;
  const pump = (): void => {
    while (sent - acked < STREAM_WINDOW) {
      d.port.postMessage(payload);
      sent++;
    }
  };
  d.port.on('message', (ack: number) => {
    if (ack === STREAM_STOP) {
      d.port.close();
      post('done');
      return;
    }
    acked = ack;
    pump();
  });
  pump();
}

/** Stream receiver: acks every STREAM_ACK_EVERY messages; at ack points closes a window once it lasted
 * `windowMs`; after `warmupWindows` discarded windows records `windows` samples (MB/s, MB = 1e6 B). */
function streamRecv(d: Extract<RefWorkerData, { mode: 'stream-recv' }>): void {
  const samples = new Float64Array(d.windows);
  let received = 0;
  let bytes = 0;
  let window = -d.warmupWindows;
  let t0 = performance.now();
  d.port.on('message', (m: Uint8Array) => {
    bytes += m.byteLength;
    if (++received % STREAM_ACK_EVERY !== 0) return;
    const t1 = performance.now();
    if (t1 - t0 >= d.windowMs) {
      if (window >= 0) samples[window] = bytes / ((t1 - t0) * 1000);
      window++;
      bytes = 0;
      t0 = t1;
      if (window === d.windows) {
        d.port.postMessage(STREAM_STOP);
        d.port.close();
        post({ samples } satisfies RefSamples);
        return;
      }
    }
    d.port.postMessage(received);
  });
}

/** All-to-all worker: on every port an echo responder (PING -> PONG on the same port) and one pinger
 * (one PING outstanding; the next goes out when its PONG arrives, until A2A_STOP). Every received
 * message (ping or pong) adds 1 to this worker's counter. Pinging starts at the A2A_GO barrier. */
function allToAll(d: Extract<RefWorkerData, { mode: 'all-to-all' }>): void {
  const ctrl = new Int32Array(d.ctrl);
  const counters = new Int32Array(d.counters);
  const slot = d.index * A2A_COUNTER_STRIDE;
  const pings = d.ports.map((port, k) => {
    const ping = new Uint8Array(d.bytes);
    ping[0] = A2A_PING;
    ping[1] = d.index;
    ping[2] = d.peers[k]!;
    port.on('message', (m: Uint8Array) => {
      Atomics.add(counters, slot, 1);
      if (m[0] === A2A_PING) {
        m[0] = A2A_PONG;
        port.postMessage(m);
      } else if (Atomics.load(ctrl, A2A_STOP) === 0) {
        port.postMessage(ping);
      }
    });
    return ping;
  });
  post('ready');
  Atomics.wait(ctrl, A2A_GO, 0);
  d.ports.forEach((port, k) => port.postMessage(pings[k]));
}

function main(d: RefWorkerData): void {
  switch (d.mode) {
    case 'empty': post('online'); return;
    case 'spin-ping': case 'wait-ping': pingSab(d); return;
    case 'spin-pong': case 'wait-pong': pongSab(d); return;
    case 'port-ping': pingPort(d); return;
    case 'port-pong': pongPort(d); return;
    case 'stream-send': streamSend(d); return;
    case 'stream-recv': streamRecv(d); return;
    case 'all-to-all': allToAll(d); return;
  }
}

if (!isMainThread) main(workerData as RefWorkerData);
