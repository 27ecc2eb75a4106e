// A PDK RPMessage endpoint on an RTOS core: a fixed queue of numBufs message elements (the PDK
// copies each payload out of the vring into the endpoint's heap and returns the vring buffer at
// once; when the heap is exhausted the message is dropped), a semaphore counting queued messages,
// or a callback that takes messages in interrupt context instead.

import { Semaphore, type CoreRuntime } from '../runtime.js';
import { IPC_MAX_DATA_PAYLOAD, type RPMessage_Callback, type RPMessage_Handle } from './pdk-types.js';

export class Endpoint implements RPMessage_Handle {
  readonly sem: Semaphore;
  private readonly data: Uint8Array;
  private readonly lens: Uint16Array;
  private readonly srcs: Uint32Array;
  private readonly procs: Uint8Array;
  private head = 0;
  private readonly slots: number;
  count = 0;
  /** Queued messages already promised to a task that was waiting in RPMessage_recv. */
  private handedOff = 0;
  unblocked = false;
  deleted = false;
  callback: RPMessage_Callback | undefined;
  callbackArg: unknown;
  /** Messages dropped because the queue was full. */
  drops = 0;

  constructor(rt: CoreRuntime, readonly endPt: number, readonly numBufs: number) {
    this.sem = new Semaphore(rt, `RPMessage endpoint ${endPt}`);
    // One slot more than numBufs: the PDK copies a message for a waiting RPMessage_recv straight
    // into the caller's buffer without using an element of the endpoint's heap.
    this.slots = numBufs + 1;
    this.data = new Uint8Array(this.slots * IPC_MAX_DATA_PAYLOAD);
    this.lens = new Uint16Array(this.slots);
    this.srcs = new Uint32Array(this.slots);
    this.procs = new Uint8Array(this.slots);
  }

  /** ISR context: takes a copy of the payload. False when the queue is full (message dropped). */
  enqueue(from: Uint8Array, off: number, len: number, src: number, procId: number): boolean {
    const toWaiter = this.sem.waiterCount > 0 && this.count < this.slots;
    if (!toWaiter && this.count - this.handedOff >= this.numBufs) {
      this.drops++;
      return false;
    }
    if (toWaiter) this.handedOff++;
    const slot = (this.head + this.count) % this.slots;
    const at = slot * IPC_MAX_DATA_PAYLOAD;
    for (let i = 0; i < len; i++) this.data[at + i] = from[off + i]!;
    this.lens[slot] = len;
    this.srcs[slot] = src;
    this.procs[slot] = procId;
    this.count++;
    this.sem.post();
    return true;
  }

  /** Moves the oldest message into `buf`; the caller has checked count > 0 and taken the semaphore. */
  dequeue(buf: Uint8Array, out: { len: number; rplyEndPt: number; fromProcId: number }): void {
    const slot = this.head;
    const len = this.lens[slot]!;
    buf.set(this.data.subarray(slot * IPC_MAX_DATA_PAYLOAD, slot * IPC_MAX_DATA_PAYLOAD + len));
    out.len = len;
    out.rplyEndPt = this.srcs[slot]!;
    out.fromProcId = this.procs[slot]!;
    this.head = (this.head + 1) % this.slots;
    this.count--;
    if (this.handedOff > 0) this.handedOff--;
  }

  /** Discards every queued message (RPMessage_delete). */
  clear(): void {
    this.head = 0;
    this.count = 0;
    this.handedOff = 0;
  }
}
