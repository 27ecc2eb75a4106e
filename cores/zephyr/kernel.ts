// The slice of the Zephyr kernel the IPC stack needs, on hetsoc's cooperative core runtime:
// timeouts (K_NO_WAIT, K_FOREVER, K_MSEC), work queues (k_work_q: one thread running submitted
// work items in order, each to completion) and delayable work (k_work_delayable).

import type { CoreRuntime } from '../runtime.js';

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
  /** @internal the next item of the queue this one waits in */
  next: Work | undefined = undefined;
  constructor(readonly name: string, readonly handler: () => void) {}
}

/** Schedules microtasks without queueMicrotask's per-call async-context bookkeeping. */
const RESOLVED: Promise<void> = Promise.resolve();

/** Work items a queue runs back to back before it lets the core's other tasks and ISRs in. */
export const WORK_QUEUE_BATCH = 16;

/**
 * struct k_work_q: a cooperative thread of the core that runs work items one after another, each
 * to completion, never inside an ISR. Zephyr's work queues (ICMsg's at priority -1) are
 * cooperative threads above the application's, so items queued together run back to back; here a
 * turn of the queue runs up to WORK_QUEUE_BATCH items (resubmitted ones included) in one microtask,
 * then lets the core's tasks and its interrupt loop in before the next turn (bounded, so that a
 * peer that keeps an RX buffer fed cannot hold the core's other work off). Submitting to an idle
 * queue schedules a turn. The queue is a list threaded through the items (an item is queued at
 * most once), so a submission allocates nothing but a turn's microtask reaction. A handler that
 * throws faults the core as a throwing task does ("task <queue name>").
 */
export class WorkQueue {
  private head: Work | undefined = undefined;
  private tail: Work | undefined = undefined;
  /** A turn is scheduled or running: a submission needs no new one. */
  private scheduled = false;
  private started = false;
  private readonly runNext = (): void => this.run();
  /** Work items run so far. */
  runs = 0;

  constructor(private readonly rt: CoreRuntime, readonly name: string) {}

  /** k_work_submit_to_queue: 1 when queued, 0 when it already was. */
  submit(work: Work): number {
    if (work.pending) return 0;
    work.pending = true;
    work.next = undefined;
    if (this.tail) this.tail.next = work;
    else this.head = work;
    this.tail = work;
    if (!this.started) this.start();
    if (!this.scheduled) {
      this.scheduled = true;
      void RESOLVED.then(this.runNext);
    }
    return 1;
  }

  /** The queue's thread, as the core lists its tasks: it lives as long as the core runs. */
  private start(): void {
    this.started = true;
    if (!this.rt.isStopped) void this.rt.spawn(this.name, () => new Promise<void>(() => {}));
  }

  /** One turn: up to WORK_QUEUE_BATCH items; schedules the next turn if items remain. */
  private run(): void {
    for (let n = 0; n < WORK_QUEUE_BATCH; n++) {
      // A core halted while this thread was being woken (or by the item before) runs no more work.
      if (this.rt.isStopped) break;
      const w = this.head;
      if (!w) break;
      this.head = w.next;
      if (!this.head) this.tail = undefined;
      w.next = undefined;
      w.pending = false;
      this.runs++;
      try {
        w.handler();
      } catch (err) {
        this.rt.raiseFault(err, `task "${this.name}"`);
      }
    }
    if (this.head && !this.rt.isStopped) void RESOLVED.then(this.runNext);
    else this.scheduled = false;
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
