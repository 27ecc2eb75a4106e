// Matches the TI OMAP4-style mailbox IP (`ti,am654-mailbox`) as integrated in J721E MAIN NAVSS.
//
// Guest view, per cluster (MMIO, aligned 32-bit registers, window 0x200 bytes):
//   0x000          REVISION          read-only
//   0x010          SYSCONFIG         bit 0 SOFTRESET: writing 1 resets the cluster; reads back 0
//   0x040 + 4m     MESSAGE_m         read pops the head (0 when empty); write appends (dropped if full)
//   0x080 + 4m     FIFOSTATUS_m      read-only; bit 0 = FIFO full
//   0x0C0 + 4m     MSGSTATUS_m       read-only; number of messages in FIFO m
//   0x100 + 0x10u  IRQSTATUS_RAW_u   read raw status; write 1 sets bits (test)
//   0x104 + 0x10u  IRQSTATUS_CLR_u   read raw & enable; write 1 clears (re-fires if still true)
//   0x108 + 0x10u  IRQENABLE_SET_u   read enable mask; write 1 enables
//   0x10C + 0x10u  IRQENABLE_CLR_u   read enable mask; write 1 disables
//   0x140          IRQ_EOI           accepted, no effect
// Status/enable bits of user u: bit 2m = NEWMSG of FIFO m, bit 2m+1 = NOTFULL of FIFO m.
// Events: every accepted push sets NEWMSG_m for all 4 users; every pop sets NOTFULL_m for all 4
// users (a pop always leaves the FIFO not full). Status bits are sticky until cleared by CLR.
//
// Interrupt output: after an operation that set raw-status bits or enable bits of user u, the bank
// calls `output(cluster, u)` if one of the bits it set is both raw-set and enabled. The call is made
// after the cluster lock is released, on the thread that did the operation. It means "line (still)
// asserted", may repeat while the line stays asserted, and must not throw.
//
// SharedArrayBuffer layout (from `byteOffset`, little-endian Int32 words, byte offsets below):
//   header (MBOX_ST_HEADER_BYTES), then one block of MBOX_ST_CLUSTER_BYTES per cluster.
//   Cluster block: lock word, waiter count, SYSCONFIG, reserved, 4 user blocks (raw, enable),
//   reserved up to 0x40, then 16 FIFO blocks (head, count, drops, reserved, 4 slots, reserved to 0x40).
// Ownership: every word of a cluster block except LOCK (and the reserved WAITERS) is written only by a thread that
// holds that cluster's LOCK (any thread may; all are equal). COUNT, DROPS, RAW, ENABLE and
// SYSCONFIG are written with Atomics.store/add so that single-word getters may read them without the
// lock (Atomics.load); under the lock they are read with plain loads. HEAD and SLOT words are only
// ever touched under the lock (plain accesses; the lock's Atomics operations order them).
// Fast path: a driver sends with `offer` (FIFOSTATUS check and MESSAGE write in one lock hold) and
// its ISR drains a FIFO with `takeAll` (MESSAGE reads until empty, then the NEWMSG clear): one lock
// hold each instead of one per register access.

// ---- Hardware constants ----

/** FIFOs (message queues) per cluster (`ti,mbox-num-fifos`). */
export const MAILBOX_FIFOS = 16;
/** Users (interrupt output lines, each with its own status/enable bank) per cluster. */
export const MAILBOX_USERS = 4;
/** Messages (32-bit) one FIFO holds; a write to a full FIFO is discarded. */
export const MAILBOX_FIFO_DEPTH = 4;
/** Mailbox clusters in J721E MAIN NAVSS (`mailbox0_cluster0..11`). */
export const MAILBOX_J721E_CLUSTERS = 12;
/** Physical base of cluster 0 on J721E. */
export const MAILBOX_J721E_BASE = 0x31f80000;
/** Address distance between two clusters. */
export const MAILBOX_CLUSTER_STRIDE = 0x1000;
/** Size of one cluster's register window (devicetree `reg` size). */
export const MAILBOX_CLUSTER_REG_SIZE = 0x200;

/** REVISION register offset (read-only). */
export const MAILBOX_REVISION = 0x000;
/** SYSCONFIG register offset. */
export const MAILBOX_SYSCONFIG = 0x010;
/** SYSCONFIG bit 0: soft reset of the cluster; completes at once and reads back 0. */
export const MAILBOX_SYSCONFIG_SOFTRESET = 1 << 0;
/** MESSAGE_0 offset; MESSAGE_m at MAILBOX_MESSAGE_BASE + 4m. */
export const MAILBOX_MESSAGE_BASE = 0x040;
/** FIFOSTATUS_0 offset; FIFOSTATUS_m at MAILBOX_FIFOSTATUS_BASE + 4m. */
export const MAILBOX_FIFOSTATUS_BASE = 0x080;
/** FIFOSTATUS bit 0: FIFO full. */
export const MAILBOX_FIFOSTATUS_FULL = 1 << 0;
/** MSGSTATUS_0 offset; MSGSTATUS_m at MAILBOX_MSGSTATUS_BASE + 4m (value = message count). */
export const MAILBOX_MSGSTATUS_BASE = 0x0c0;
/** IRQSTATUS_RAW_0 offset; user u at + MAILBOX_USER_STRIDE * u. */
export const MAILBOX_IRQSTATUS_RAW_BASE = 0x100;
/** IRQSTATUS_CLR_0 offset. */
export const MAILBOX_IRQSTATUS_CLR_BASE = 0x104;
/** IRQENABLE_SET_0 offset. */
export const MAILBOX_IRQENABLE_SET_BASE = 0x108;
/** IRQENABLE_CLR_0 offset. */
export const MAILBOX_IRQENABLE_CLR_BASE = 0x10c;
/** Distance between the register groups of two users. */
export const MAILBOX_USER_STRIDE = 0x10;
/** IRQ_EOI register offset (end of interrupt; accepted, no effect here). */
export const MAILBOX_IRQ_EOI = 0x140;

/**
 * Value read from REVISION. The J721E reset value is not in the reference material;
 * firmware must not depend on it.
 */
export const MAILBOX_REVISION_VALUE = 0;
/** Every NEWMSG bit (bits 2m) of a user's status word, as u32. */
export const MAILBOX_ALL_NEWMSG = 0x55555555;
/** Every NOTFULL bit (bits 2m+1) of a user's status word, as u32: the reset value of IRQSTATUS_RAW. */
export const MAILBOX_ALL_NOTFULL = 0xaaaaaaaa;

/** NEWMSG status/enable bit of FIFO m (u32). */
export function newMsgBit(m: number): number {
  return (1 << (2 * m)) >>> 0;
}
/** NOTFULL status/enable bit of FIFO m (u32; FIFO 15 gives 0x80000000). */
export function notFullBit(m: number): number {
  return (1 << (2 * m + 1)) >>> 0;
}
/** Physical base address of J721E mailbox cluster n. */
export function mailboxClusterBase(cluster: number): number {
  return MAILBOX_J721E_BASE + cluster * MAILBOX_CLUSTER_STRIDE;
}
/** Offset of MESSAGE_m. */
export const messageReg = (m: number): number => MAILBOX_MESSAGE_BASE + 4 * m;
/** Offset of FIFOSTATUS_m. */
export const fifoStatusReg = (m: number): number => MAILBOX_FIFOSTATUS_BASE + 4 * m;
/** Offset of MSGSTATUS_m. */
export const msgStatusReg = (m: number): number => MAILBOX_MSGSTATUS_BASE + 4 * m;
/** Offset of IRQSTATUS_RAW_u. */
export const irqStatusRawReg = (u: number): number => MAILBOX_IRQSTATUS_RAW_BASE + MAILBOX_USER_STRIDE * u;
/** Offset of IRQSTATUS_CLR_u. */
export const irqStatusClrReg = (u: number): number => MAILBOX_IRQSTATUS_CLR_BASE + MAILBOX_USER_STRIDE * u;
/** Offset of IRQENABLE_SET_u. */
export const irqEnableSetReg = (u: number): number => MAILBOX_IRQENABLE_SET_BASE + MAILBOX_USER_STRIDE * u;
/** Offset of IRQENABLE_CLR_u. */
export const irqEnableClrReg = (u: number): number => MAILBOX_IRQENABLE_CLR_BASE + MAILBOX_USER_STRIDE * u;

// ---- SharedArrayBuffer layout (byte offsets, in memory order) ----

/** Header: magic word, written last by MailboxBank.init. */
export const MBOX_ST_MAGIC = 0x00;
/** Header: cluster count the state was initialised for. */
export const MBOX_ST_CLUSTERS = 0x04;
/** Header size (one 64-byte line; rest reserved, zero). */
export const MBOX_ST_HEADER_BYTES = 0x40;
/** Magic value ("MBOX" in little-endian ASCII). */
export const MBOX_ST_MAGIC_VALUE = 0x584f424d;

/** Cluster block: lock word, MBOX_LOCK_FREE, MBOX_LOCK_HELD or MBOX_LOCK_CONTENDED (compareExchange / exchange). */
export const MBOX_ST_LOCK = 0x00;
/** Cluster block: reserved, zero (was a count of threads sleeping on the lock; the lock word's
 * MBOX_LOCK_CONTENDED state says that now). */
export const MBOX_ST_WAITERS = 0x04;
/** Cluster block: SYSCONFIG as last written, SOFTRESET bit clear. */
export const MBOX_ST_SYSCONFIG = 0x08;
// 0x0C reserved
/** Cluster block: first user block (user u at MBOX_ST_USERS + u * MBOX_ST_USER_BYTES). */
export const MBOX_ST_USERS = 0x10;
/** User block: IRQSTATUS_RAW bits. */
export const MBOX_ST_USER_RAW = 0x00;
/** User block: IRQENABLE bits. */
export const MBOX_ST_USER_ENABLE = 0x04;
/** Size of a user block. */
export const MBOX_ST_USER_BYTES = 0x08;
// 0x30..0x3F reserved
/** Cluster block: first FIFO block (FIFO m at MBOX_ST_FIFOS + m * MBOX_ST_FIFO_BYTES). */
export const MBOX_ST_FIFOS = 0x40;
/** FIFO block: slot index (0..3) of the oldest message. */
export const MBOX_ST_FIFO_HEAD = 0x00;
/** FIFO block: number of messages held (0..MAILBOX_FIFO_DEPTH). */
export const MBOX_ST_FIFO_COUNT = 0x04;
/** FIFO block: messages dropped because the FIFO was full (u32, wraps; emulator statistic). */
export const MBOX_ST_FIFO_DROPS = 0x08;
// 0x0C reserved
/** FIFO block: the MAILBOX_FIFO_DEPTH message slots (ring, indexed from HEAD). */
export const MBOX_ST_FIFO_SLOTS = 0x10;
// 0x20..0x3F reserved: one FIFO per 64-byte cache line, so that two core pairs' FIFOs never share one.
/** Size of a FIFO block. */
export const MBOX_ST_FIFO_BYTES = 0x40;
/** Size of a cluster block (0x40 + 16 * 0x40). */
export const MBOX_ST_CLUSTER_BYTES = MBOX_ST_FIFOS + MAILBOX_FIFOS * MBOX_ST_FIFO_BYTES;

/** Lock word: free. */
export const MBOX_LOCK_FREE = 0;
/** Lock word: held by some thread. */
export const MBOX_LOCK_HELD = 1;
/** Lock word: held, and a thread sleeps (or is about to) on it: the release notifies one. */
export const MBOX_LOCK_CONTENDED = 2;
/** Attempts on a contended lock before sleeping on it. */
export const MBOX_LOCK_SPINS = 64;

// Word indices derived from the byte layout.
const W_MAGIC = MBOX_ST_MAGIC >> 2;
const W_CLUSTERS = MBOX_ST_CLUSTERS >> 2;
const W_HEADER = MBOX_ST_HEADER_BYTES >> 2;
const W_CLUSTER = MBOX_ST_CLUSTER_BYTES >> 2;
const W_LOCK = MBOX_ST_LOCK >> 2;
const W_SYSCONFIG = MBOX_ST_SYSCONFIG >> 2;
const W_USERS = MBOX_ST_USERS >> 2;
const W_USER = MBOX_ST_USER_BYTES >> 2;
const W_RAW = MBOX_ST_USER_RAW >> 2;
const W_ENABLE = MBOX_ST_USER_ENABLE >> 2;
const W_FIFOS = MBOX_ST_FIFOS >> 2;
const W_FIFO = MBOX_ST_FIFO_BYTES >> 2;
const W_HEAD = MBOX_ST_FIFO_HEAD >> 2;
const W_COUNT = MBOX_ST_FIFO_COUNT >> 2;
const W_DROPS = MBOX_ST_FIFO_DROPS >> 2;
const W_SLOTS = MBOX_ST_FIFO_SLOTS >> 2;
const SLOT_MASK = MAILBOX_FIFO_DEPTH - 1;
const ALL_USERS = (1 << MAILBOX_USERS) - 1;

/** Interrupt output wire of the bank: user `user` of `cluster` is asserted. */
export type MailboxIrqOutput = (cluster: number, user: number) => void;

/** Bad index, bad register offset, or state not initialised. */
export class MailboxError extends Error {
  override name = 'MailboxError';
}

const hex = (v: number): string => (v < 0 ? '-0x' : '0x') + Math.abs(v).toString(16).padStart(3, '0');

/**
 * The mailbox clusters of one SoC, as seen by one thread. Every thread builds its own bank over the
 * same SharedArrayBuffer (after one MailboxBank.init) and passes its own output function.
 * Inputs are u32 (any number is truncated to 32 bits); every value returned is a u32 (>= 0).
 */
export class MailboxBank {
  /**
   * Value popped by the last successful pop on this instance (u32): set by `pop`, `receive` and
   * MESSAGE register reads. Per instance, so per thread.
   */
  lastValue = 0;

  private readonly w: Int32Array;

  /** Bytes of SharedArrayBuffer needed for `clusters` clusters. */
  static byteLength(clusters: number): number {
    return MBOX_ST_HEADER_BYTES + clusters * MBOX_ST_CLUSTER_BYTES;
  }

  /**
   * Puts every cluster in its reset state, zeroes the drop counters and writes the header.
   * Call once, before any MailboxBank is built over the region and before other threads use it.
   */
  static init(sab: SharedArrayBuffer, byteOffset: number, clusters: number = MAILBOX_J721E_CLUSTERS): void {
    const w = MailboxBank.view(sab, byteOffset, clusters);
    w.fill(0);
    for (let c = 0; c < clusters; c++) resetBlock(w, W_HEADER + c * W_CLUSTER);
    Atomics.store(w, W_CLUSTERS, clusters);
    Atomics.store(w, W_MAGIC, MBOX_ST_MAGIC_VALUE);
  }

  private static view(sab: SharedArrayBuffer, byteOffset: number, clusters: number): Int32Array {
    if (!Number.isInteger(clusters) || clusters < 1) {
      throw new MailboxError(`mailbox: cluster count ${clusters} invalid (expected an integer >= 1)`);
    }
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0) {
      throw new MailboxError(`mailbox: state byteOffset ${byteOffset} invalid (expected a multiple of 4)`);
    }
    const bytes = MailboxBank.byteLength(clusters);
    if (byteOffset + bytes > sab.byteLength) {
      throw new MailboxError(`mailbox: state of ${clusters} clusters needs ${bytes} bytes at offset ${byteOffset}, ` +
        `SharedArrayBuffer has ${sab.byteLength}`);
    }
    return new Int32Array(sab, byteOffset, bytes >> 2);
  }

  /**
   * @param sab shared state, initialised by MailboxBank.init with the same `clusters`
   * @param byteOffset start of the state in `sab` (multiple of 4)
   * @param clusters number of clusters (12 on J721E)
   * @param output this thread's interrupt output wire (see file header for when it is called)
   */
  constructor(sab: SharedArrayBuffer, byteOffset: number, readonly clusters: number = MAILBOX_J721E_CLUSTERS,
              private readonly output: MailboxIrqOutput) {
    this.w = MailboxBank.view(sab, byteOffset, clusters);
    const magic = Atomics.load(this.w, W_MAGIC);
    if (magic !== MBOX_ST_MAGIC_VALUE) {
      throw new MailboxError(`mailbox: state at byte offset ${byteOffset} not initialised ` +
        `(magic ${hex(magic)}, expected ${hex(MBOX_ST_MAGIC_VALUE)}); call MailboxBank.init first`);
    }
    const n = Atomics.load(this.w, W_CLUSTERS);
    if (n !== clusters) {
      throw new MailboxError(`mailbox: state at byte offset ${byteOffset} holds ${n} clusters, bank built for ${clusters}`);
    }
  }

  // ---- register interface ----

  /** Reads the 32-bit register at `offset` of `cluster`, with its side effects (MESSAGE pops). */
  readReg(cluster: number, offset: number): number {
    const b = this.base(cluster);
    this.checkOffset(cluster, offset);
    if (offset >= MAILBOX_MESSAGE_BASE && offset < MAILBOX_IRQSTATUS_RAW_BASE) {
      const m = (offset >> 2) & (MAILBOX_FIFOS - 1);
      if (offset < MAILBOX_FIFOSTATUS_BASE) return this.pop(cluster, m) ? this.lastValue : 0;
      const n = Atomics.load(this.w, b + W_FIFOS + m * W_FIFO + W_COUNT);
      if (offset < MAILBOX_MSGSTATUS_BASE) return n >= MAILBOX_FIFO_DEPTH ? MAILBOX_FIFOSTATUS_FULL : 0;
      return n;
    }
    if (offset >= MAILBOX_IRQSTATUS_RAW_BASE && offset < MAILBOX_IRQ_EOI) {
      const u = (offset - MAILBOX_IRQSTATUS_RAW_BASE) >> 4;
      const reg = offset & (MAILBOX_USER_STRIDE - 1);
      if (reg === (MAILBOX_IRQSTATUS_RAW_BASE & 0xf)) return this.rawStatus(cluster, u);
      if (reg === (MAILBOX_IRQSTATUS_CLR_BASE & 0xf)) return this.irqStatus(cluster, u);
      return this.enabled(cluster, u); // IRQENABLE_SET and IRQENABLE_CLR both read the mask
    }
    if (offset === MAILBOX_SYSCONFIG) return Atomics.load(this.w, b + W_SYSCONFIG) >>> 0;
    if (offset === MAILBOX_REVISION) return MAILBOX_REVISION_VALUE;
    return 0; // MAILBOX_IRQ_EOI
  }

  /**
   * Writes the 32-bit register at `offset` of `cluster`, with its side effects.
   * Writes to read-only registers (REVISION, FIFOSTATUS, MSGSTATUS) are ignored, as on the bus.
   */
  writeReg(cluster: number, offset: number, value: number): void {
    const b = this.base(cluster);
    this.checkOffset(cluster, offset);
    if (offset >= MAILBOX_MESSAGE_BASE && offset < MAILBOX_IRQSTATUS_RAW_BASE) {
      if (offset < MAILBOX_FIFOSTATUS_BASE) this.send(cluster, (offset >> 2) & (MAILBOX_FIFOS - 1), value);
      return;
    }
    if (offset >= MAILBOX_IRQSTATUS_RAW_BASE && offset < MAILBOX_IRQ_EOI) {
      const u = (offset - MAILBOX_IRQSTATUS_RAW_BASE) >> 4;
      const reg = offset & (MAILBOX_USER_STRIDE - 1);
      if (reg === (MAILBOX_IRQSTATUS_RAW_BASE & 0xf)) this.setRaw(cluster, u, value);
      else if (reg === (MAILBOX_IRQSTATUS_CLR_BASE & 0xf)) this.clear(cluster, u, value);
      else if (reg === (MAILBOX_IRQENABLE_SET_BASE & 0xf)) this.enable(cluster, u, value);
      else this.disable(cluster, u, value);
      return;
    }
    if (offset === MAILBOX_SYSCONFIG) {
      if ((value & MAILBOX_SYSCONFIG_SOFTRESET) !== 0) {
        this.reset(cluster);
      } else {
        this.lock(b);
        Atomics.store(this.w, b + W_SYSCONFIG, value & ~MAILBOX_SYSCONFIG_SOFTRESET);
        this.unlock(b);
      }
    }
    // REVISION, IRQ_EOI: accepted, no effect
  }

  // ---- fast path ----

  /**
   * Appends `msg` to FIFO `fifo`. Returns false if the FIFO was full: the message is dropped and
   * counted (see `drops`), as a bus write to a full MESSAGE register is.
   */
  send(cluster: number, fifo: number, msg: number): boolean {
    return this.push(cluster, fifo, msg, true);
  }

  /**
   * Appends `msg` to FIFO `fifo` if it has room; false (nothing written, no drop counted) when it is
   * full. What a driver does by reading FIFOSTATUS before writing MESSAGE, as one bank operation.
   */
  offer(cluster: number, fifo: number, msg: number): boolean {
    return this.push(cluster, fifo, msg, false);
  }

  private push(cluster: number, fifo: number, msg: number, countDrop: boolean): boolean {
    const b = this.base(cluster);
    const f = b + W_FIFOS + this.fifoIndex(cluster, fifo) * W_FIFO;
    const w = this.w;
    this.lock(b);
    const n = w[f + W_COUNT]!;
    if (n >= MAILBOX_FIFO_DEPTH) {
      if (countDrop) Atomics.add(w, f + W_DROPS, 1);
      this.unlock(b);
      return false;
    }
    w[f + W_SLOTS + ((w[f + W_HEAD]! + n) & SLOT_MASK)] = msg | 0;
    Atomics.store(w, f + W_COUNT, n + 1);
    const fire = this.setAllUsers(b, newMsgBit(fifo) | 0);
    this.unlock(b);
    if (fire !== 0) this.emit(cluster, fire);
    return true;
  }

  /**
   * Pops every message of FIFO `fifo` into `out` (in order; at most MAILBOX_FIFO_DEPTH) and clears
   * NEWMSG_m of `user`, as one bank operation: what an ISR does by reading MESSAGE_m until
   * MSGSTATUS_m is 0 and then writing NEWMSG_m to IRQSTATUS_CLR_u. A message pushed after this
   * sets NEWMSG_m again (and fires). Returns the number of messages taken.
   */
  takeAll(cluster: number, user: number, fifo: number, out: Uint32Array): number {
    const b = this.base(cluster);
    const f = b + W_FIFOS + this.fifoIndex(cluster, fifo) * W_FIFO;
    const u = b + W_USERS + this.userIndex(cluster, user) * W_USER;
    const w = this.w;
    this.lock(b);
    const n = w[f + W_COUNT]!;
    let head = w[f + W_HEAD]!;
    for (let i = 0; i < n; i++) {
      out[i] = w[f + W_SLOTS + head]!;
      head = (head + 1) & SLOT_MASK;
    }
    let fire = 0;
    if (n > 0) {
      w[f + W_HEAD] = head;
      Atomics.store(w, f + W_COUNT, 0);
      fire = this.setAllUsers(b, notFullBit(fifo) | 0);
    }
    const nm = newMsgBit(fifo) | 0;
    const raw = w[u + W_RAW]!;
    if ((raw & nm) !== 0) Atomics.store(w, u + W_RAW, raw & ~nm);
    this.unlock(b);
    if (fire !== 0) this.emit(cluster, fire);
    return n;
  }

  /**
   * Pops the head of FIFO `fifo`. Returns false if it was empty; otherwise true, with the message
   * in `this.lastValue`. Use this when a message of value 0 must be told apart from "empty".
   */
  pop(cluster: number, fifo: number): boolean {
    const b = this.base(cluster);
    const f = b + W_FIFOS + this.fifoIndex(cluster, fifo) * W_FIFO;
    const w = this.w;
    this.lock(b);
    const n = w[f + W_COUNT]!;
    if (n === 0) {
      this.unlock(b);
      return false;
    }
    const head = w[f + W_HEAD];
    const v = w[f + W_SLOTS + head];
    w[f + W_HEAD] = (head + 1) & SLOT_MASK;
    Atomics.store(w, f + W_COUNT, n - 1);
    const fire = this.setAllUsers(b, notFullBit(fifo) | 0);
    this.unlock(b);
    this.lastValue = v >>> 0;
    if (fire !== 0) this.emit(cluster, fire);
    return true;
  }

  /** Pops the head of FIFO `fifo`; 0 when empty (like a MESSAGE register read). */
  receive(cluster: number, fifo: number): number {
    return this.pop(cluster, fifo) ? this.lastValue : 0;
  }

  /** Messages in FIFO `fifo` (MSGSTATUS). */
  count(cluster: number, fifo: number): number {
    const b = this.base(cluster);
    return Atomics.load(this.w, b + W_FIFOS + this.fifoIndex(cluster, fifo) * W_FIFO + W_COUNT);
  }

  /** FIFO `fifo` holds MAILBOX_FIFO_DEPTH messages (FIFOSTATUS bit 0). */
  isFull(cluster: number, fifo: number): boolean {
    return this.count(cluster, fifo) >= MAILBOX_FIFO_DEPTH;
  }

  /** Messages dropped so far because FIFO `fifo` was full (u32; kept across SOFTRESET). */
  drops(cluster: number, fifo: number): number {
    const b = this.base(cluster);
    return Atomics.load(this.w, b + W_FIFOS + this.fifoIndex(cluster, fifo) * W_FIFO + W_DROPS) >>> 0;
  }

  /** IRQSTATUS_RAW of `user`. */
  rawStatus(cluster: number, user: number): number {
    const b = this.base(cluster);
    return Atomics.load(this.w, b + W_USERS + this.userIndex(cluster, user) * W_USER + W_RAW) >>> 0;
  }

  /** Enable mask of `user` (IRQENABLE_SET / IRQENABLE_CLR read value). */
  enabled(cluster: number, user: number): number {
    const b = this.base(cluster);
    return Atomics.load(this.w, b + W_USERS + this.userIndex(cluster, user) * W_USER + W_ENABLE) >>> 0;
  }

  /** Masked status of `user`: raw & enable (IRQSTATUS_CLR read value). Nonzero = line asserted. */
  irqStatus(cluster: number, user: number): number {
    const b = this.base(cluster);
    const u = b + W_USERS + this.userIndex(cluster, user) * W_USER;
    // Two single-word reads without the lock: a bit set after the first read fires the output again.
    return (Atomics.load(this.w, u + W_RAW) & Atomics.load(this.w, u + W_ENABLE)) >>> 0;
  }

  /** Enables `bits` for `user` (IRQENABLE_SET write). Fires the output if an enabled bit is pending. */
  enable(cluster: number, user: number, bits: number): void {
    const b = this.base(cluster);
    const u = b + W_USERS + this.userIndex(cluster, user) * W_USER;
    const w = this.w;
    this.lock(b);
    const en = Atomics.load(w, u + W_ENABLE) | bits;
    Atomics.store(w, u + W_ENABLE, en);
    const fire = (bits & Atomics.load(w, u + W_RAW)) !== 0;
    this.unlock(b);
    if (fire) this.output(cluster, user);
  }

  /** Disables `bits` for `user` (IRQENABLE_CLR write). */
  disable(cluster: number, user: number, bits: number): void {
    const b = this.base(cluster);
    const u = b + W_USERS + this.userIndex(cluster, user) * W_USER;
    this.lock(b);
    Atomics.store(this.w, u + W_ENABLE, Atomics.load(this.w, u + W_ENABLE) & ~bits);
    this.unlock(b);
  }

  /**
   * Clears status `bits` of `user` (IRQSTATUS_CLR write). A bit whose condition still holds
   * (NEWMSG_m: FIFO m not empty; NOTFULL_m: FIFO m not full) is set again at once, and the
   * output fires if such a re-fired bit is enabled.
   */
  clear(cluster: number, user: number, bits: number): void {
    const b = this.base(cluster);
    const u = b + W_USERS + this.userIndex(cluster, user) * W_USER;
    const w = this.w;
    this.lock(b);
    let cond = 0;
    for (let m = 0; m < MAILBOX_FIFOS; m++) {
      if (((bits >>> (2 * m)) & 3) === 0) continue;
      const n = Atomics.load(w, b + W_FIFOS + m * W_FIFO + W_COUNT);
      if (n > 0) cond |= 1 << (2 * m);
      if (n < MAILBOX_FIFO_DEPTH) cond |= 1 << (2 * m + 1);
    }
    const refired = bits & cond;
    Atomics.store(w, u + W_RAW, Atomics.load(w, u + W_RAW) & ~(bits & ~cond));
    const fire = (refired & Atomics.load(w, u + W_ENABLE)) !== 0;
    this.unlock(b);
    if (fire) this.output(cluster, user);
  }

  /** Sets status `bits` of `user` (IRQSTATUS_RAW write, test). Fires the output if one is enabled. */
  setRaw(cluster: number, user: number, bits: number): void {
    const b = this.base(cluster);
    const u = b + W_USERS + this.userIndex(cluster, user) * W_USER;
    const w = this.w;
    this.lock(b);
    Atomics.store(w, u + W_RAW, Atomics.load(w, u + W_RAW) | bits);
    const fire = (bits & Atomics.load(w, u + W_ENABLE)) !== 0;
    this.unlock(b);
    if (fire) this.output(cluster, user);
  }

  /**
   * Resets `cluster` (SYSCONFIG.SOFTRESET): FIFOs empty, enables 0, raw status = every NOTFULL bit,
   * SYSCONFIG 0. Drop counters are emulator statistics and are kept.
   */
  reset(cluster: number): void {
    const b = this.base(cluster);
    this.lock(b);
    resetBlock(this.w, b);
    this.unlock(b);
  }

  // ---- internals ----

  /** Word index of the cluster block; throws on a bad cluster. */
  private base(cluster: number): number {
    if (!(Number.isInteger(cluster) && cluster >= 0 && cluster < this.clusters)) {
      throw new MailboxError(`mailbox: cluster ${cluster} out of range (0..${this.clusters - 1})`);
    }
    return W_HEADER + cluster * W_CLUSTER;
  }

  private fifoIndex(cluster: number, fifo: number): number {
    if (!(Number.isInteger(fifo) && fifo >= 0 && fifo < MAILBOX_FIFOS)) {
      throw new MailboxError(`mailbox cluster ${cluster}: FIFO ${fifo} out of range (0..${MAILBOX_FIFOS - 1})`);
    }
    return fifo;
  }

  private userIndex(cluster: number, user: number): number {
    if (!(Number.isInteger(user) && user >= 0 && user < MAILBOX_USERS)) {
      throw new MailboxError(`mailbox cluster ${cluster}: user ${user} out of range (0..${MAILBOX_USERS - 1})`);
    }
    return user;
  }

  /** Throws unless `offset` is the offset of a register. */
  private checkOffset(cluster: number, offset: number): void {
    if (!Number.isInteger(offset)) {
      throw new MailboxError(`mailbox cluster ${cluster}: register offset ${offset} is not an integer`);
    }
    if ((offset & 3) !== 0) {
      throw new MailboxError(`mailbox cluster ${cluster}: misaligned register access at offset ${hex(offset)} ` +
        `(registers are 32-bit, offset must be a multiple of 4)`);
    }
    const ok = offset === MAILBOX_REVISION || offset === MAILBOX_SYSCONFIG || offset === MAILBOX_IRQ_EOI ||
      (offset >= MAILBOX_MESSAGE_BASE && offset < MAILBOX_IRQ_EOI);
    if (!ok) {
      throw new MailboxError(`mailbox cluster ${cluster}: no register at offset ${hex(offset)}`);
    }
  }

  /** Under the lock: ORs `bit` into the raw status of every user; returns the users it asserts. */
  private setAllUsers(b: number, bit: number): number {
    const w = this.w;
    let fire = 0;
    for (let u = 0, i = b + W_USERS; u < MAILBOX_USERS; u++, i += W_USER) {
      // Plain reads: RAW and ENABLE are written only under the lock, which this thread holds.
      const raw = w[i + W_RAW]!;
      if ((raw & bit) === 0) Atomics.store(w, i + W_RAW, raw | bit);
      if ((w[i + W_ENABLE]! & bit) !== 0) fire |= 1 << u;
    }
    return fire;
  }

  /** After the lock is released: calls the output for every user bit in `users`. */
  private emit(cluster: number, users: number): void {
    for (let u = 0; u < MAILBOX_USERS; u++) if ((users & (1 << u)) !== 0) this.output(cluster, u);
  }

  private lock(b: number): void {
    lockClusterWord(this.w, b + W_LOCK);
  }

  private unlock(b: number): void {
    unlockClusterWord(this.w, b + W_LOCK);
  }
}

/**
 * Takes the cluster lock word `w[l]`: compareExchange FREE -> HELD, a few more tries while it is
 * held, then marks it CONTENDED and sleeps on it (each sleep at most `sleepMs`: the host's main
 * thread, which must not block for long, passes a small value).
 */
export function lockClusterWord(w: Int32Array, l: number, sleepMs = Infinity): void {
  if (Atomics.compareExchange(w, l, MBOX_LOCK_FREE, MBOX_LOCK_HELD) === MBOX_LOCK_FREE) return;
  for (let i = 0; i < MBOX_LOCK_SPINS; i++) {
    if (Atomics.load(w, l) === MBOX_LOCK_FREE &&
        Atomics.compareExchange(w, l, MBOX_LOCK_FREE, MBOX_LOCK_HELD) === MBOX_LOCK_FREE) return;
  }
  // Mark the lock contended, so that its holder notifies on release; sleep while it stays taken.
  while (Atomics.exchange(w, l, MBOX_LOCK_CONTENDED) !== MBOX_LOCK_FREE) Atomics.wait(w, l, MBOX_LOCK_CONTENDED, sleepMs);
}

/** Releases the cluster lock word `w[l]`, waking one sleeper if it was contended. */
export function unlockClusterWord(w: Int32Array, l: number): void {
  if (Atomics.exchange(w, l, MBOX_LOCK_FREE) === MBOX_LOCK_CONTENDED) Atomics.notify(w, l, 1);
}

/** Reset values of a cluster block at word `b` (lock and drop counters untouched). */
function resetBlock(w: Int32Array, b: number): void {
  Atomics.store(w, b + W_SYSCONFIG, 0);
  for (let u = 0, i = b + W_USERS; u < MAILBOX_USERS; u++, i += W_USER) {
    Atomics.store(w, i + W_RAW, MAILBOX_ALL_NOTFULL | 0);
    Atomics.store(w, i + W_ENABLE, 0);
  }
  for (let m = 0, f = b + W_FIFOS; m < MAILBOX_FIFOS; m++, f += W_FIFO) {
    w[f + W_HEAD] = 0;
    Atomics.store(w, f + W_COUNT, 0);
    for (let s = 0; s < MAILBOX_FIFO_DEPTH; s++) w[f + W_SLOTS + s] = 0;
  }
}
