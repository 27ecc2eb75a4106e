// A per-core trace event ring in shared memory (emulator-private; no silicon counterpart: a software
// trace buffer such as a Linux ftrace ring buffer drained from user space). One producer, the core's
// thread, and one consumer, the host, which drains it periodically and converts the events to
// Chrome/Perfetto trace JSON (soc/trace.ts). Recording is a few plain typed-array writes and one
// Atomics.store; names are small integers from the static table below, never strings.
//
// Byte layout (native byte order, the same for every thread of the process):
//
//   0                     header (TR_HEADER_BYTES)
//     @0   magic          u32  TR_MAGIC_VALUE                          -- written by the host at init
//     @4   capacity       u32  records in the ring, a power of two     -- written by the host at init
//     @8   head           u32  records published (free-running)       -- written by the core, Atomics.store
//                                                                          AFTER the record it covers
//     @12  tail           u32  records consumed (free-running)        -- written by the host, Atomics.store
//                                                                          AFTER it has read them
//     @16  dropped        u32  records dropped because the ring was full -- written by the core
//   TR_STRINGS            TR_STRING_SLOTS slots of TR_STRING_BYTES: u8 length + UTF-8 bytes
//                         (slot = ISR line for 0..31, labels from TR_LABEL_FIRST)  -- written by the core
//                         before the first record that names the slot is published
//   TR_RECORDS            capacity records of TR_RECORD_BYTES:
//     @0   ts             f64  microseconds since the SoC's trace origin
//     @8   kind | name    u32  bits 0-7 the kind (TK_*), bits 16-31 the name id (TN_*)
//     @12  a              u32  channel id (flows), counter key, ISR line
//     @16  b              u32  running message count on the channel (flows), label slot (counters)
//     @20  reserved       u32  0
//     @24  value          f64  counter value
//
// When the ring is full the core drops the event and counts it (the host never loses what it has
// not read). The host reads `head` with Atomics.load before reading the records it covers.

export const TR_MAGIC_VALUE = 0x31435254; // "TRC1"
export const TR_MAGIC = 0;
export const TR_CAPACITY = 4;
export const TR_HEAD = 8;
export const TR_TAIL = 12;
export const TR_DROPPED = 16;
export const TR_HEADER_BYTES = 64;

/** String table: one slot per ISR line (0..31), then labels (ICBMsg instance names...). */
export const TR_STRINGS = TR_HEADER_BYTES;
export const TR_STRING_SLOTS = 128;
export const TR_STRING_BYTES = 64;
export const TR_LABEL_FIRST = 32;
export const TR_RECORDS = TR_STRINGS + TR_STRING_SLOTS * TR_STRING_BYTES;

export const TR_RECORD_BYTES = 32;
export const TR_REC_TS = 0;
export const TR_REC_KIND_NAME = 8;
export const TR_REC_A = 12;
export const TR_REC_B = 16;
export const TR_REC_VALUE = 24;

/**
 * Default ring size in records (8 MiB per core, committed only as it is written): about 100 ms of
 * a core's events at full ICMsg throughput, so the ring outlasts the host's thread being held up.
 */
export const TR_DEFAULT_EVENTS = 1 << 18;

/** Record kinds. */
export const TK_BEGIN = 1;
export const TK_END = 2;
export const TK_FLOW_OUT = 3;
export const TK_FLOW_IN = 4;
export const TK_COUNTER = 5;
export const TK_INSTANT = 6;

/** Name ids (slices, counters, instants). ISR slices are TN_ISR_BASE + line. */
export const TN_RPMESSAGE_SEND = 1;
export const TN_RPMESSAGE_RECV = 2;
export const TN_RPMESSAGE_RECVNB = 3;
export const TN_RPMESSAGE_RX = 4;
export const TN_RPMSG_CHAR_WRITE = 5;
export const TN_RPMSG_CHAR_READ = 6;
export const TN_RPMSG_SEND = 7;
export const TN_RPMSG_RECV_SINGLE = 8;
export const TN_IPC_SERVICE_SEND = 9;
export const TN_RECEIVED = 10;
export const TN_ICMSG_RX = 11;
export const TN_GET_TX_BUFFER = 12;
export const TN_SEND_NOCOPY = 13;
export const TN_RELEASE_RX_BUFFER = 14;
export const TN_ICBMSG_BOUND_WORK = 15;
export const TN_MAILBOX_DEPTH = 16;
export const TN_VRING_FREE = 17;
export const TN_ICBMSG_FREE_BLOCKS = 18;
export const TN_RING_REFUSED = 19;
export const TN_RPROC_CRASH = 20;
export const TN_RPROC_RECOVERED = 21;
export const TN_ICMSG_BOUND = 22;
export const TN_ICMSG_UNBOUND = 23;
export const TN_ISR_BASE = 0x100;

/** Name and category of each static name id (index = id). */
export const TRACE_NAMES: readonly { name: string; cat: string }[] = [
  { name: '', cat: '' },
  { name: 'RPMessage_send', cat: 'pdk' },
  { name: 'RPMessage_recv', cat: 'pdk' },
  { name: 'RPMessage_recvNb', cat: 'pdk' },
  { name: 'RPMessage rx', cat: 'pdk' },
  { name: 'rpmsg_char write', cat: 'linux' },
  { name: 'rpmsg_char read', cat: 'linux' },
  { name: 'rpmsg_send', cat: 'linux' },
  { name: 'rpmsg_recv_single', cat: 'linux' },
  { name: 'ipc_service_send', cat: 'zephyr' },
  { name: 'received', cat: 'zephyr' },
  { name: 'icmsg rx', cat: 'zephyr' },
  { name: 'ipc_service_get_tx_buffer', cat: 'zephyr' },
  { name: 'ipc_service_send_nocopy', cat: 'zephyr' },
  { name: 'ipc_service_release_rx_buffer', cat: 'zephyr' },
  { name: 'icbmsg bound work', cat: 'zephyr' },
  { name: 'mailbox fifo depth', cat: 'counter' },
  { name: 'vring free buffers', cat: 'counter' },
  { name: 'icbmsg free tx blocks', cat: 'counter' },
  { name: 'ring refused', cat: 'ipc' },
  { name: 'rproc crash', cat: 'linux' },
  { name: 'rproc recovered', cat: 'linux' },
  { name: 'icmsg bound', cat: 'zephyr' },
  { name: 'icmsg unbound', cat: 'zephyr' },
];

/** What the host hands a core to trace into (structured-clone safe: the SAB is shared). */
export interface TraceBoot {
  sab: SharedArrayBuffer;
  /** The SoC's trace origin on the process's monotonic clock (process.hrtime), in ms. */
  originMs: number;
}

/** One record as the consumer reads it (a reused object). */
export interface TraceRecord {
  ts: number;
  kind: number;
  name: number;
  a: number;
  b: number;
  value: number;
}

export class TraceRingError extends Error {
  override name = 'TraceRingError';
}

/** Bytes of a ring of `capacity` records. */
export function traceRingBytes(capacity: number): number {
  return TR_RECORDS + capacity * TR_RECORD_BYTES;
}

/**
 * Reads record `i` of a block of records laid out as in the ring (`u32` and `f64` views from the
 * block's first byte) into `out`.
 */
export function readTraceRecord(u32: Uint32Array, f64: Float64Array, i: number, out: TraceRecord): void {
  const w = i * (TR_RECORD_BYTES / 4);
  const d = i * (TR_RECORD_BYTES / 8);
  const kn = u32[w + TR_REC_KIND_NAME / 4]!;
  out.ts = f64[d + TR_REC_TS / 8]!;
  out.kind = kn & 0xFF;
  out.name = kn >>> 16;
  out.a = u32[w + TR_REC_A / 4]!;
  out.b = u32[w + TR_REC_B / 4]!;
  out.value = f64[d + TR_REC_VALUE / 8]!;
}

/** One core's ring; the core calls push/setString, the host drain/string/dropped. */
export class TraceRing {
  readonly capacity: number;
  private readonly mask: number;
  private readonly words: Int32Array;
  private readonly u32: Uint32Array;
  private readonly f64: Float64Array;
  private readonly u8: Uint8Array;
  /** Producer: records published, and the consumer's tail as last seen. */
  private head: number;
  private tailSeen: number;
  private droppedCount: number;
  /** Consumer: records consumed. */
  private tail: number;

  /** Throws TraceRingError unless `capacity` is a power of two from 2 to 2^24. */
  static checkCapacity(capacity: number): void {
    if (!(Number.isInteger(capacity) && capacity >= 2 && (capacity & (capacity - 1)) === 0 && capacity <= 1 << 24)) {
      throw new TraceRingError(`trace ring: ${capacity} events; expected a power of two from 2 to ${1 << 24}`);
    }
  }

  /** Allocates and initialises a ring of `capacity` records (a power of two, at least 2). */
  static create(capacity: number = TR_DEFAULT_EVENTS): SharedArrayBuffer {
    TraceRing.checkCapacity(capacity);
    const sab = new SharedArrayBuffer(traceRingBytes(capacity));
    const u32 = new Uint32Array(sab, 0, TR_HEADER_BYTES / 4);
    u32[TR_CAPACITY / 4] = capacity;
    u32[TR_MAGIC / 4] = TR_MAGIC_VALUE;
    return sab;
  }

  constructor(readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab, 0, TR_HEADER_BYTES / 4);
    const magic = this.words[TR_MAGIC / 4]! >>> 0;
    const capacity = this.words[TR_CAPACITY / 4]! >>> 0;
    if (magic !== TR_MAGIC_VALUE || sab.byteLength !== traceRingBytes(capacity)) {
      throw new TraceRingError(`trace ring: magic 0x${magic.toString(16)} and capacity ${capacity} do not describe a ring of ${sab.byteLength} bytes`);
    }
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.u32 = new Uint32Array(sab, TR_RECORDS, (capacity * TR_RECORD_BYTES) / 4);
    this.f64 = new Float64Array(sab, TR_RECORDS, (capacity * TR_RECORD_BYTES) / 8);
    this.u8 = new Uint8Array(sab, TR_STRINGS, TR_STRING_SLOTS * TR_STRING_BYTES);
    // A producer continues where the ring is (a ring is written by one thread at a time).
    this.head = Atomics.load(this.words, TR_HEAD / 4) >>> 0;
    this.tail = Atomics.load(this.words, TR_TAIL / 4) >>> 0;
    this.tailSeen = this.tail;
    this.droppedCount = this.words[TR_DROPPED / 4]! >>> 0;
  }

  // ---- producer (the core) -------------------------------------------------------------------

  /**
   * Appends one record; false (and counted as dropped) when the ring is full. `kindName` is
   * kind | name << 16.
   */
  push(ts: number, kindName: number, a: number, b: number, value: number): boolean {
    const head = this.head;
    if (((head - this.tailSeen) >>> 0) >= this.capacity) {
      this.tailSeen = Atomics.load(this.words, TR_TAIL / 4) >>> 0;
      if (((head - this.tailSeen) >>> 0) >= this.capacity) {
        this.droppedCount = (this.droppedCount + 1) >>> 0;
        Atomics.store(this.words, TR_DROPPED / 4, this.droppedCount | 0);
        return false;
      }
    }
    const w = (head & this.mask) * (TR_RECORD_BYTES / 4);
    const d = (head & this.mask) * (TR_RECORD_BYTES / 8);
    this.f64[d] = ts;
    const u32 = this.u32;
    u32[w + TR_REC_KIND_NAME / 4] = kindName;
    u32[w + TR_REC_A / 4] = a;
    u32[w + TR_REC_B / 4] = b;
    this.f64[d + TR_REC_VALUE / 8] = value;
    this.head = (head + 1) >>> 0;
    Atomics.store(this.words, TR_HEAD / 4, this.head | 0);
    return true;
  }

  /** Writes string slot `slot` (truncated to TR_STRING_BYTES - 1 UTF-8 bytes). Not for hot paths. */
  setString(slot: number, text: string): void {
    if (!(Number.isInteger(slot) && slot >= 0 && slot < TR_STRING_SLOTS)) {
      throw new TraceRingError(`trace ring: string slot ${slot} outside 0..${TR_STRING_SLOTS - 1}`);
    }
    const at = slot * TR_STRING_BYTES;
    const bytes = new TextEncoder().encode(text);
    let n = Math.min(bytes.length, TR_STRING_BYTES - 1);
    // Never cut a UTF-8 sequence in two.
    while (n > 0 && n < bytes.length && (bytes[n]! & 0xC0) === 0x80) n--;
    this.u8.set(bytes.subarray(0, n), at + 1);
    this.u8[at] = n;
  }

  // ---- consumer (the host) -------------------------------------------------------------------

  /** Records published and not consumed yet. */
  pending(): number {
    return ((Atomics.load(this.words, TR_HEAD / 4) >>> 0) - this.tail) >>> 0;
  }

  /** Records the producer dropped because the ring was full. */
  dropped(): number {
    return Atomics.load(this.words, TR_DROPPED / 4) >>> 0;
  }

  /**
   * Reads every published record in order into `rec` and calls `visit` with it, then frees their
   * space. At most `max` records; returns how many were read.
   */
  drain(rec: TraceRecord, visit: (r: TraceRecord) => void, max = Infinity): number {
    const head = Atomics.load(this.words, TR_HEAD / 4) >>> 0;
    let n = 0;
    let tail = this.tail;
    while (tail !== head && n < max) {
      readTraceRecord(this.u32, this.f64, tail & this.mask, rec);
      visit(rec);
      tail = (tail + 1) >>> 0;
      n++;
    }
    this.tail = tail;
    Atomics.store(this.words, TR_TAIL / 4, tail | 0);
    return n;
  }

  /**
   * Hands every published record over as raw bytes (one view of the ring, or two when they wrap
   * around its end; `records` in each), then frees their space. The views are only valid during
   * the call. Returns the number of records.
   */
  drainBytes(visit: (bytes: Uint8Array, records: number) => void): number {
    const head = Atomics.load(this.words, TR_HEAD / 4) >>> 0;
    const total = (head - this.tail) >>> 0;
    let left = total;
    let at = this.tail & this.mask;
    while (left > 0) {
      const n = Math.min(left, this.capacity - at);
      visit(new Uint8Array(this.sab, TR_RECORDS + at * TR_RECORD_BYTES, n * TR_RECORD_BYTES), n);
      left -= n;
      at = (at + n) & this.mask;
    }
    this.tail = head;
    Atomics.store(this.words, TR_TAIL / 4, head | 0);
    return total;
  }

  /** String slot `slot` (empty when never written). */
  string(slot: number): string {
    if (!(Number.isInteger(slot) && slot >= 0 && slot < TR_STRING_SLOTS)) return '';
    const at = slot * TR_STRING_BYTES;
    return new TextDecoder().decode(this.u8.slice(at + 1, at + 1 + this.u8[at]!));
  }
}
