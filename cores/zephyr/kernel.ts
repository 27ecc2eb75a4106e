// The slice of the Zephyr kernel the IPC stack needs, on hetsoc's cooperative core runtime:
// timeouts (K_NO_WAIT, K_FOREVER, K_MSEC), work queues (k_work_q: one thread running submitted
// work items in order, each to completion) and delayable work (k_work_delayable).

import type { CoreRuntime } from '../runtime.js';
import { Semaphore } from '../runtime.js';

/** k_timeout_t as milliseconds: K_NO_WAIT = 0, K_FOREVER = -1, K_MSEC(n) = n. */
export type KTimeout = number;
export const K_NO_WAIT: KTimeout = 0;
export const K_FOREVER: KTimeout = -1;
export const K_MSEC = (ms: number): KTimeout => {
  if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError(`K_MSEC(${ms}): expected a finite number of milliseconds >= 0`);
  return ms;
};

/** Milliseconds to wait for a timeout (Infinity for K_FOREVER). */
export function timeoutMs(t: KTimeout): number {
  if (t === K_FOREVER) return Infinity;
  if (!(Number.isFinite(t) && t >= 0)) throw new RangeError(`timeout ${t}: expected K_NO_WAIT, K_FOREVER or K_MSEC(n)`);
  return t;
}

/** struct k_work. */
export class Work {
  /** @internal queued and not yet started */
  pending = false;
  constructor(readonly name: string, readonly handler: () => void) {}
}

/** struct k_work_q: a cooperative thread of the core that runs work items one after another. */
export class WorkQueue {
  private readonly queue: Work[] = [];
  private readonly sem: Semaphore;
  private started = false;
  /** Work items run so far. */
  runs = 0;

  constructor(private readonly rt: CoreRuntime, readonly name: string) {
    this.sem = new Semaphore(rt, `work queue "${name}"`);
  }

  /** k_work_submit_to_queue: 1 when queued, 0 when it already was. */
  submit(work: Work): number {
    if (work.pending) return 0;
    work.pending = true;
    this.queue.push(work);
    this.start();
    this.sem.post();
    return 1;
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    void this.rt.spawn(this.name, async () => {
      while (!this.rt.isStopped) {
        if (!(await this.sem.pend())) continue;
        // A core halted while this thread was being woken runs no more work.
        if (this.rt.isStopped) return;
        const w = this.queue.shift();
        if (!w) continue;
        w.pending = false;
        this.runs++;
        w.handler();
      }
    });
  }
}

/** struct k_work_delayable: submits its work to a queue after a delay. */
export class DelayableWork {
  private timer: ReturnType<typeof setTimeout> | undefined;
  readonly work: Work;

  constructor(private readonly rt: CoreRuntime, private readonly queue: WorkQueue, name: string, handler: () => void) {
    this.work = new Work(name, handler);
  }

  /** k_work_schedule: does nothing when already scheduled or queued. */
  schedule(delayMs: number): void {
    if (this.timer !== undefined || this.work.pending) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.rt.isStopped) this.queue.submit(this.work);
    }, delayMs);
  }

  /** k_work_cancel_delayable. */
  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
