// A PDK RPMessage endpoint on an RTOS core: a fixed queue of numBufs message elements (the PDK
// copies each payload out of the vring into the endpoint's heap and returns the vring buffer at
// once; when the heap is exhausted the message is dropped), a semaphore counting queued messages,
// or a callback that takes messages in interrupt context instead.
// Payloads are copied a 32-bit word at a time when the source is 4-byte aligned; dequeue keeps the
// view it copies from per slot (no allocation while a slot's message length repeats).

import { Semaphore, type CoreRuntime } from '../runtime.js';
import { IPC_MAX_DATA_PAYLOAD, type RPMessage_Callback, type RPMessage_Handle } from './pdk-types.js';

export class Endpoint implements RPMessage_Handle {
  readonly sem: Semaphore;
  private data: Uint8Array;
  /** The same bytes as `data`, by 32-bit word (slot starts are word-aligned: 496 = 4 * 124). */
  private data32: Int32Array;
  /** views[slot]: the last `data` view of that slot handed to dequeue's copy (reused while its length fits). */
  private views: (Uint8Array | undefined)[];
  private lens: Uint16Array;
  private srcs: Uint32Array;
  private procs: Uint8Array;
  private head = 0;
  private slots: number;
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
    // into the caller's buffer without using an element of the endpoint's heap. With several tasks
    // waiting on one endpoint, more messages can be handed off at once: the queue grows then.
    this.slots = numBufs + 1;
    const storage = new ArrayBuffer(this.slots * IPC_MAX_DATA_PAYLOAD);
    this.data = new Uint8Array(storage);
    this.data32 = new Int32Array(storage);
    this.views = new Array<Uint8Array | undefined>(this.slots).fill(undefined);
    this.lens = new Uint16Array(this.slots);
    this.srcs = new Uint32Array(this.slots);
    this.procs = new Uint8Array(this.slots);
  }

  /** Doubles the slots, keeping the queued messages in order (from slot 0). */
  private grow(): void {
    const slots = this.slots * 2;
    const storage = new ArrayBuffer(slots * IPC_MAX_DATA_PAYLOAD);
    const data = new Uint8Array(storage);
    const lens = new Uint16Array(slots);
    const srcs = new Uint32Array(slots);
    const procs = new Uint8Array(slots);
    for (let i = 0, slot = this.head; i < this.count; i++, slot = slot + 1 === this.slots ? 0 : slot + 1) {
      data.set(this.data.subarray(slot * IPC_MAX_DATA_PAYLOAD, (slot + 1) * IPC_MAX_DATA_PAYLOAD), i * IPC_MAX_DATA_PAYLOAD);
      lens[i] = this.lens[slot]!;
      srcs[i] = this.srcs[slot]!;
      procs[i] = this.procs[slot]!;
    }
    this.data = data;
    this.data32 = new Int32Array(storage);
    this.views = new Array<Uint8Array | undefined>(slots).fill(undefined);
    this.lens = lens;
    this.srcs = srcs;
    this.procs = procs;
    this.head = 0;
    this.slots = slots;
  }

  /**
   * ISR context: takes a copy of the payload `from[off, off + len)`. False when the queue is full
   * (message dropped). `from32`, if given, views the same memory as `from` by 32-bit word (same
   * start): an aligned payload is then copied word by word.
   */
  enqueue(from: Uint8Array, off: number, len: number, src: number, procId: number, from32?: Int32Array): boolean {
    const toWaiter = this.sem.waiterCount > 0;
    if (!toWaiter && this.count - this.handedOff >= this.numBufs) {
      this.drops++;
      return false;
    }
    if (toWaiter) this.handedOff++;
    if (this.count === this.slots) this.grow();
    // (head + count) % slots, without a division.
    let slot = this.head + this.count;
    while (slot >= this.slots) slot -= this.slots;
    const at = slot * IPC_MAX_DATA_PAYLOAD;
    const data = this.data;
    let i = 0;
    if (from32 !== undefined && (off & 3) === 0) {
      const d32 = this.data32;
      const words = len >>> 2;
      for (let w = 0, s = off >>> 2, d = at >>> 2; w < words; w++) d32[d + w] = from32[s + w]!;
      i = words << 2;
    }
    for (; i < len; i++) data[at + i] = from[off + i]!;
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
    let view = this.views[slot];
    if (view === undefined || view.length !== len) {
      view = this.data.subarray(slot * IPC_MAX_DATA_PAYLOAD, slot * IPC_MAX_DATA_PAYLOAD + len);
      this.views[slot] = view;
    }
    buf.set(view);
    out.len = len;
    out.rplyEndPt = this.srcs[slot]!;
    out.fromProcId = this.procs[slot]!;
    this.head = slot + 1 === this.slots ? 0 : slot + 1;
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
