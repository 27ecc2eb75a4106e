// The mailbox driver every J7 core runs, as TI's IPC document describes it:
// - receive: the ISR of each (cluster, user) line drains every FIFO with a new message, then clears
//   the NewMsg status (a message that arrives meanwhile re-fires the level interrupt);
// - send: if the FIFO has room the message is written; if it is full the message waits in a software
//   queue, the NotFull event is enabled, and the queue is drained from that interrupt.
// A sender that owns no user on the receiver's cluster gets its NotFull event through the
// emulator's doorbell (shared/mailbox-txwait.ts); see the README.
// Stress runs: a mailbox-drop fault (shared/perturb.ts) makes a send write the MESSAGE register
// without looking at FIFOSTATUS first, as firmware that skips the check does: a full FIFO then
// drops the message in hardware (MailboxBank counts it; see `txDrops`). Counted in
// stats.uncheckedWrites.
// Tracing (cores/trace.ts): every write to a FIFO and every drain of one samples the FIFO's depth.

import { type MailboxBank, newMsgBit, notFullBit, MAILBOX_FIFOS } from '../../shared/mailbox.js';
import type { MailboxTxWait } from '../../shared/mailbox-txwait.js';
import type { MailboxQueue } from '../../shared/j721e.js';
import { PERTURB, takeFault } from '../../shared/perturb.js';
import { TN_MAILBOX_DEPTH } from '../../shared/trace-ring.js';
import type { CoreRuntime } from '../runtime.js';
import { TRACE, traceCounter } from '../trace.js';

/** Interrupt line on which a core hears the NotFull doorbell. */
export const MAILBOX_TXREADY_LINE = 31;

/** How one core is wired to the mailboxes. */
export interface MailboxWiring {
  /** The (cluster, user) interrupt outputs this core owns and the line each one raises. */
  rxLines: readonly { cluster: number; user: number; line: number }[];
  /** rxQueue[sender]: where this core reads messages from `sender`. */
  rxQueue: readonly (MailboxQueue | undefined)[];
  /** txQueue[remote]: where this core writes messages for `remote` (= the remote's rxQueue[self]). */
  txQueue: readonly (MailboxQueue | undefined)[];
  /** peerNames[remote]: the core name of proc `remote` (fault hooks aimed at one peer). */
  peerNames?: readonly (string | undefined)[];
}

/** A growable FIFO of u32 values with no per-push allocation once grown. */
class U32Queue {
  private buf = new Uint32Array(8);
  private head = 0;
  length = 0;

  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Uint32Array(this.buf.length * 2);
      for (let i = 0; i < this.length; i++) next[i] = this.buf[(this.head + i) % this.buf.length]!;
      this.buf = next;
      this.head = 0;
    }
    this.buf[(this.head + this.length) % this.buf.length] = v;
    this.length++;
  }

  peek(): number {
    return this.buf[this.head]!;
  }

  shift(): void {
    this.head = (this.head + 1) % this.buf.length;
    this.length--;
  }
}

export class MailboxDriver {
  private readonly rx: ((value: number) => void)[] = [];
  /** Senders by cluster * 16 + fifo, for the FIFOs this core reads (usually one sender per FIFO). */
  private readonly sendersOf = new Map<number, number[]>();
  /** This core's user on each cluster where it owns one. */
  private readonly userOn = new Map<number, number>();
  /** Software queues by cluster * 16 + fifo (created on first use). */
  private readonly swq: (U32Queue | undefined)[] = [];
  /** The handler of each FIFO this core reads, by cluster * 16 + fifo (see handlerFor). */
  private readonly handlers: (((value: number) => void) | undefined)[] = [];
  /** Messages taken from a FIFO by one ISR pass. */
  private readonly taken = new Uint32Array(4);
  private readonly doorbellWaits = new Set<number>();
  /**
   * Messages written to a FIFO; messages that went through the software queue; its high-water mark;
   * writes made without checking FIFOSTATUS (mailbox-drop fault), whether or not the FIFO had room.
   */
  readonly stats = { sent: 0, received: 0, queued: 0, maxQueued: 0, uncheckedWrites: 0 };

  constructor(private readonly rt: CoreRuntime, private readonly bank: MailboxBank,
              private readonly txwait: MailboxTxWait, private readonly wiring: MailboxWiring) {
    wiring.rxQueue.forEach((q, sender) => {
      if (!q) return;
      const key = q.cluster * MAILBOX_FIFOS + q.fifo;
      const list = this.sendersOf.get(key);
      if (list) list.push(sender);
      else this.sendersOf.set(key, [sender]);
    });
    for (const { cluster, user, line } of wiring.rxLines) {
      this.userOn.set(cluster, user);
      rt.registerIsr(line, `mailbox c${cluster}u${user}`, () => this.isr(cluster, user));
    }
    rt.registerIsr(MAILBOX_TXREADY_LINE, 'mailbox tx-ready', () => this.txReady());
  }

  /**
   * Installs the handler of messages from `sender` and enables their NewMsg interrupt.
   * Runs in ISR context.
   */
  onReceive(sender: number, handler: (value: number) => void): void {
    const q = this.wiring.rxQueue[sender];
    if (!q) throw new Error(`core ${this.rt.name}: no mailbox queue from proc ${sender} in the queue table`);
    this.rx[sender] = handler;
    this.handlers[q.cluster * MAILBOX_FIFOS + q.fifo] = this.handlerFor(q.cluster, q.fifo);
    this.bank.enable(q.cluster, q.user, newMsgBit(q.fifo));
  }

  /** Stops taking messages from `sender` (disables its NewMsg interrupt). */
  offReceive(sender: number): void {
    const q = this.wiring.rxQueue[sender];
    if (!q) return;
    delete this.rx[sender];
    const handler = this.handlerFor(q.cluster, q.fifo);
    this.handlers[q.cluster * MAILBOX_FIFOS + q.fifo] = handler;
    if (!handler) this.bank.disable(q.cluster, q.user, newMsgBit(q.fifo));
  }

  hasQueueTo(remote: number): boolean {
    return this.wiring.txQueue[remote] !== undefined;
  }

  /**
   * Sends a 32-bit message to `remote`. Never blocks and never loses the message, except under an
   * armed mailbox-drop fault (see the file header).
   */
  send(remote: number, value: number): void {
    const q = this.wiring.txQueue[remote];
    if (!q) throw new Error(`core ${this.rt.name}: no mailbox queue to proc ${remote} in the queue table`);
    if (PERTURB.on && takeFault('mailbox-drop', this.wiring.peerNames?.[remote])) {
      // Firmware that does not read FIFOSTATUS: the write lands, or a full FIFO drops it.
      this.stats.uncheckedWrites++;
      if (this.bank.send(q.cluster, q.fifo, value)) this.stats.sent++;
      if (TRACE.on) this.traceDepth(q.cluster, q.fifo);
      return;
    }
    const key = q.cluster * MAILBOX_FIFOS + q.fifo;
    const pending = this.swq[key];
    if ((!pending || pending.length === 0) && this.bank.offer(q.cluster, q.fifo, value)) {
      this.stats.sent++;
      if (TRACE.on) this.traceDepth(q.cluster, q.fifo);
      return;
    }
    let sq = pending;
    if (!sq) {
      sq = new U32Queue();
      this.swq[key] = sq;
    }
    sq.push(value);
    this.stats.queued++;
    if (sq.length > this.stats.maxQueued) this.stats.maxQueued = sq.length;
    // Arm once per backlog: the NotFull ISR / doorbell re-arms itself while the queue is not empty.
    if (sq.length === 1) this.armNotFull(q.cluster, q.fifo);
  }

  /**
   * Messages the hardware dropped on the FIFOs this core writes (MailboxBank drop counters; a FIFO
   * shared with another sender counts that sender's drops too).
   */
  get txDrops(): number {
    let n = 0;
    const seen = new Set<number>();
    for (const q of this.wiring.txQueue) {
      if (!q) continue;
      const key = q.cluster * MAILBOX_FIFOS + q.fifo;
      if (seen.has(key)) continue;
      seen.add(key);
      n += this.bank.drops(q.cluster, q.fifo);
    }
    return n;
  }

  /** Messages waiting in the software queues. */
  get backlog(): number {
    let n = 0;
    for (const q of this.swq) if (q) n += q.length;
    return n;
  }

  private armNotFull(cluster: number, fifo: number): void {
    const user = this.userOn.get(cluster);
    if (user !== undefined) {
      // The bank raises our line at once if the FIFO already has room.
      this.bank.enable(cluster, user, notFullBit(fifo));
      return;
    }
    this.doorbellWaits.add(cluster * MAILBOX_FIFOS + fifo);
    this.txwait.register(cluster, fifo, this.rt.index);
    // Room may have appeared before we registered: look again.
    if (!this.bank.isFull(cluster, fifo)) this.rt.irq.raise(this.rt.index, MAILBOX_TXREADY_LINE);
  }

  /** Moves queued messages into the FIFO while it has room; true when the queue is empty. */
  private drain(cluster: number, fifo: number): boolean {
    const sq = this.swq[cluster * MAILBOX_FIFOS + fifo];
    if (!sq) return true;
    let moved = false;
    while (sq.length > 0 && this.bank.offer(cluster, fifo, sq.peek())) {
      sq.shift();
      this.stats.sent++;
      moved = true;
    }
    if (moved && TRACE.on) this.traceDepth(cluster, fifo);
    return sq.length === 0;
  }

  /** Tracing: the FIFO's message count now (counter key cluster * 16 + fifo). */
  private traceDepth(cluster: number, fifo: number): void {
    traceCounter(TN_MAILBOX_DEPTH, cluster * MAILBOX_FIFOS + fifo, this.bank.count(cluster, fifo));
  }

  private isr(cluster: number, user: number): void {
    const status = this.bank.irqStatus(cluster, user);
    // Visits only the FIFOs with a status bit set, lowest FIFO first (as a scan of 0..15 would).
    for (let rest = status | 0; rest !== 0;) {
      const fifo = (31 - Math.clz32(rest & -rest)) >>> 1;
      rest &= ~(3 << (2 * fifo));
      const nm = newMsgBit(fifo);
      if (status & nm) {
        const handler = this.handlers[cluster * MAILBOX_FIFOS + fifo];
        if (!handler) {
          // Nobody takes this FIFO's messages any more: leave them in the FIFO, stop its interrupt.
          this.bank.disable(cluster, user, nm);
          this.bank.clear(cluster, user, nm);
          continue;
        }
        const taken = this.taken;
        const n = this.bank.takeAll(cluster, user, fifo, taken);
        this.stats.received += n;
        for (let i = 0; i < n; i++) handler(taken[i]!);
        if (TRACE.on) this.traceDepth(cluster, fifo);
        const waiters = this.txwait.take(cluster, fifo);
        if (waiters !== 0) this.ringDoorbells(waiters);
      }
      const nf = notFullBit(fifo);
      if (status & nf) {
        if (this.drain(cluster, fifo)) this.bank.disable(cluster, user, nf);
        this.bank.clear(cluster, user, nf);
      }
    }
  }

  /** The handler of a FIFO: the first of its senders with one installed. */
  private handlerFor(cluster: number, fifo: number): ((value: number) => void) | undefined {
    for (const sender of this.sendersOf.get(cluster * MAILBOX_FIFOS + fifo) ?? []) {
      const h = this.rx[sender];
      if (h) return h;
    }
    return undefined;
  }

  private ringDoorbells(mask: number): void {
    while (mask !== 0) {
      const bit = mask & -mask;
      mask ^= bit;
      this.rt.irq.raise(31 - Math.clz32(bit), MAILBOX_TXREADY_LINE);
    }
  }

  private txReady(): void {
    for (const key of [...this.doorbellWaits]) {
      const cluster = Math.floor(key / MAILBOX_FIFOS);
      const fifo = key % MAILBOX_FIFOS;
      if (this.drain(cluster, fifo)) this.doorbellWaits.delete(key);
      else this.armNotFull(cluster, fifo);
    }
  }
}
