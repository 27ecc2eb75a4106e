// virtio split virtqueue, legacy layout (Linux include/uapi/linux/virtio_ring.h vring_init/vring_size).
//
// Byte layout of one vring (little-endian), relative to its first byte, for `num` entries and
// alignment `align` (TI J721E: num 256, align 4096):
//
//   0                      desc[num]     16 bytes each: addr u64 @0 (TI: u32 + zero pad), len u32 @8,
//                                        flags u16 @12, next u16 @14            -- written by the driver
//   16*num                 avail         flags u16 @0, idx u16 @2, ring[num] u16 @4,
//                                        used_event u16 @4+2*num                -- written by the driver
//   ALIGN(16*num+6+2*num)  used          flags u16 @0, idx u16 @2, ring[num] {id u32, len u32} @4,
//                                        avail_event u16 @4+8*num               -- written by the device
//
// For 256/4096: avail 0x1000 (idx 0x1002, used_event 0x1204), used 0x2000 (idx 0x2002,
// avail_event 0x2804), total 0x2806 = 10246 bytes.
//
// Memory ordering: avail.idx and used.idx are free-running u16 counters; the owner publishes with
// Atomics.store AFTER writing the ring slot / descriptor it covers, the peer reads with Atomics.load
// BEFORE reading the slot. The flags and event words are also accessed with Atomics.
// A side reading back the index it writes itself (the device's used.idx, the driver's avail.idx),
// or a peer index it has already read with Atomics.load, uses a plain read (`*Relaxed`): it sees
// that value or a later one, without a fence.

/** Size of one descriptor table entry in bytes. */
export const VRING_DESC_SIZE = 16;
/** Descriptor field offsets (addr is 64-bit: low u32 at 0, high u32 at 4). */
export const VRING_DESC_ADDR_OFF = 0;
export const VRING_DESC_ADDR_HI_OFF = 4;
export const VRING_DESC_LEN_OFF = 8;
export const VRING_DESC_FLAGS_OFF = 12;
export const VRING_DESC_NEXT_OFF = 14;

/** Descriptor flag: chain continues via `next`. */
export const VRING_DESC_F_NEXT = 1;
/** Descriptor flag: buffer is device-writable. */
export const VRING_DESC_F_WRITE = 2;
/** Descriptor flag: buffer holds an indirect descriptor table. */
export const VRING_DESC_F_INDIRECT = 4;

/** Avail ring field offsets, relative to the avail ring start. */
export const VRING_AVAIL_FLAGS_OFF = 0;
export const VRING_AVAIL_IDX_OFF = 2;
export const VRING_AVAIL_RING_OFF = 4;
/** avail.flags bit: the driver asks the device not to interrupt it. */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;

/** Used ring field offsets, relative to the used ring start. */
export const VRING_USED_FLAGS_OFF = 0;
export const VRING_USED_IDX_OFF = 2;
export const VRING_USED_RING_OFF = 4;
/** Size of one used ring element {id u32, len u32}. */
export const VRING_USED_ELEM_SIZE = 8;
export const VRING_USED_ELEM_ID_OFF = 0;
export const VRING_USED_ELEM_LEN_OFF = 4;
/** used.flags bit: the device asks the driver not to kick it. */
export const VRING_USED_F_NO_NOTIFY = 1;

/** TI J721E defaults (PDK ipc_rsctable.h / ipc_virtio.c). */
export const VRING_NUM = 256;
export const VRING_ALIGN = 4096;
/** virtio limit on the queue size. */
export const VRING_MAX_NUM = 32768;

const U16_MASK = 0xffff;
const TWO_POW_32 = 0x1_0000_0000;
/** Highest high word that keeps addr below 2^53. */
const MAX_ADDR_HI = 0x1f_ffff;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Round `x` up to a multiple of the power of two `a`. */
function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** Offset of the avail ring from the start of the vring. */
export function vringAvailOffset(num: number): number {
  return num * VRING_DESC_SIZE;
}

/** Offset of avail.used_event (the u16 after avail.ring[num]). */
export function vringUsedEventOffset(num: number): number {
  return vringAvailOffset(num) + VRING_AVAIL_RING_OFF + 2 * num;
}

/** Offset of the used ring: the next multiple of `align` after used_event, as vring_init does. */
export function vringUsedOffset(num: number, align: number): number {
  return alignUp(vringUsedEventOffset(num) + 2, align);
}

/** Offset of used.avail_event (the u16 after used.ring[num]). */
export function vringAvailEventOffset(num: number, align: number): number {
  return vringUsedOffset(num, align) + VRING_USED_RING_OFF + VRING_USED_ELEM_SIZE * num;
}

/** Bytes occupied by a vring: ALIGN(16num + 2(3+num), align) + 2*3 + 8num (10246 for 256/4096). */
export function vringSize(num: number = VRING_NUM, align: number = VRING_ALIGN): number {
  return alignUp(VRING_DESC_SIZE * num + 2 * (3 + num), align) + 2 * 3 + VRING_USED_ELEM_SIZE * num;
}

function isPow2(x: number): boolean {
  return Number.isInteger(x) && x > 0 && (x & (x - 1)) === 0;
}

function hex(x: number): string {
  return '0x' + x.toString(16);
}

/** Thrown when a vring holds a corrupt index or descriptor id, or a ring is misused. */
export class VringError extends Error {
  override name = 'VringError';
  /**
   * @param message full description
   * @param ring name of the vring
   * @param slot ring slot concerned (-1 when not applicable)
   * @param value the offending value
   */
  constructor(
    message: string,
    readonly ring: string,
    readonly slot: number,
    readonly value: number,
  ) {
    super(message);
  }
}

/**
 * A view of one virtio split ring in a SharedArrayBuffer. Holds no ring state of its own: every
 * accessor reads or writes shared memory. Use {@link VringDriver} / {@link VringDevice} for the
 * two roles.
 */
export class Vring {
  /** Ring size (power of two). */
  readonly num: number;
  /** Used ring alignment. */
  readonly align: number;
  /** Byte offset of the vring within the SharedArrayBuffer. */
  readonly byteOffset: number;
  /** Bytes occupied (vringSize(num, align)). */
  readonly size: number;
  /** Offsets relative to the vring start. */
  readonly availOffset: number;
  readonly usedEventOffset: number;
  readonly usedOffset: number;
  readonly availEventOffset: number;
  /** Name used in error messages. */
  readonly name: string;

  private readonly mask: number;
  private readonly u8: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  // Element indices into u16 / u32.
  private readonly iAvailFlags: number;
  private readonly iAvailIdx: number;
  private readonly iAvailRing: number;
  private readonly iUsedEvent: number;
  private readonly iUsedFlags: number;
  private readonly iUsedIdx: number;
  private readonly iUsedRing32: number;
  private readonly iAvailEvent: number;

  /**
   * @param sab shared memory holding the ring
   * @param byteOffset start of the ring; multiple of 16
   * @param num ring size; power of two, at most 32768
   * @param align used ring alignment; power of two, at least 4
   * @param name label for error messages (default `vring@0x<byteOffset>`)
   */
  constructor(
    sab: SharedArrayBuffer,
    byteOffset: number,
    num: number = VRING_NUM,
    align: number = VRING_ALIGN,
    name?: string,
  ) {
    this.name = name ?? `vring@${hex(byteOffset)}`;
    if (!LITTLE_ENDIAN) {
      throw new VringError(`${this.name}: host is big-endian; vrings are little-endian`, this.name, -1, 0);
    }
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % VRING_DESC_SIZE !== 0) {
      throw new RangeError(`${this.name}: byteOffset ${byteOffset} must be a non-negative multiple of 16`);
    }
    if (!isPow2(num) || num > VRING_MAX_NUM) {
      throw new RangeError(`${this.name}: num ${num} must be a power of two in 1..${VRING_MAX_NUM}`);
    }
    if (!isPow2(align) || align < 4) {
      throw new RangeError(`${this.name}: align ${align} must be a power of two >= 4`);
    }
    const size = vringSize(num, align);
    if (byteOffset + size > sab.byteLength) {
      throw new RangeError(
        `${this.name}: ring of ${size} bytes at ${hex(byteOffset)} exceeds buffer of ${sab.byteLength} bytes`,
      );
    }
    this.num = num;
    this.align = align;
    this.byteOffset = byteOffset;
    this.size = size;
    this.mask = num - 1;
    this.availOffset = vringAvailOffset(num);
    this.usedEventOffset = vringUsedEventOffset(num);
    this.usedOffset = vringUsedOffset(num, align);
    this.availEventOffset = vringAvailEventOffset(num, align);

    this.u8 = new Uint8Array(sab, byteOffset, size);
    this.u16 = new Uint16Array(sab, byteOffset, size >>> 1);
    this.u32 = new Uint32Array(sab, byteOffset, size >>> 2);

    this.iAvailFlags = (this.availOffset + VRING_AVAIL_FLAGS_OFF) >>> 1;
    this.iAvailIdx = (this.availOffset + VRING_AVAIL_IDX_OFF) >>> 1;
    this.iAvailRing = (this.availOffset + VRING_AVAIL_RING_OFF) >>> 1;
    this.iUsedEvent = this.usedEventOffset >>> 1;
    this.iUsedFlags = (this.usedOffset + VRING_USED_FLAGS_OFF) >>> 1;
    this.iUsedIdx = (this.usedOffset + VRING_USED_IDX_OFF) >>> 1;
    this.iUsedRing32 = (this.usedOffset + VRING_USED_RING_OFF) >>> 2;
    this.iAvailEvent = this.availEventOffset >>> 1;
  }

  private checkDesc(i: number): void {
    if (!(i >= 0 && i < this.num && Number.isInteger(i))) {
      throw new VringError(`${this.name}: descriptor index ${i} out of range 0..${this.num - 1}`, this.name, -1, i);
    }
  }

  private checkSlot(slot: number, ring: string): void {
    if (!(slot >= 0 && slot < this.num && Number.isInteger(slot))) {
      throw new VringError(`${this.name}: ${ring} slot ${slot} out of range 0..${this.num - 1}`, this.name, slot, slot);
    }
  }

  // ---- descriptor table (written by the driver, or by the TX owner on TI RTOS links) ----

  /** desc[i].addr as a JS number (throws if the address is 2^53 or above). */
  descAddr(i: number): number {
    this.checkDesc(i);
    const w = (i * VRING_DESC_SIZE) >>> 2;
    const hi = this.u32[w + 1];
    if (hi > MAX_ADDR_HI) {
      throw new VringError(`${this.name}: desc[${i}].addr high word ${hex(hi)} exceeds 2^53`, this.name, i, hi);
    }
    return hi * TWO_POW_32 + this.u32[w];
  }

  /** Low 32 bits of desc[i].addr. */
  descAddrLo(i: number): number {
    this.checkDesc(i);
    return this.u32[(i * VRING_DESC_SIZE) >>> 2];
  }

  /**
   * @internal Low 32 bits of desc[i].addr as an int32 (`| 0`): stays a small integer in compiled code,
   * where an address of 2^31 or more would be a heap number.
   */
  descAddrLo32(i: number): number {
    this.checkDesc(i);
    return this.u32[(i * VRING_DESC_SIZE) >>> 2]! | 0;
  }

  /** High 32 bits of desc[i].addr (0 for TI's u32 addresses). */
  descAddrHi(i: number): number {
    this.checkDesc(i);
    return this.u32[((i * VRING_DESC_SIZE) >>> 2) + 1];
  }

  /** desc[i].len */
  descLen(i: number): number {
    this.checkDesc(i);
    return this.u32[((i * VRING_DESC_SIZE + VRING_DESC_LEN_OFF) >>> 2)];
  }

  /** desc[i].flags */
  descFlags(i: number): number {
    this.checkDesc(i);
    return this.u16[(i * VRING_DESC_SIZE + VRING_DESC_FLAGS_OFF) >>> 1];
  }

  /** desc[i].next */
  descNext(i: number): number {
    this.checkDesc(i);
    return this.u16[(i * VRING_DESC_SIZE + VRING_DESC_NEXT_OFF) >>> 1];
  }

  /**
   * Write desc[i]. `addr` is an integer in 0..2^53-1 (stored as low u32 + high u32),
   * `len` a u32, `flags` and `next` u16.
   */
  setDesc(i: number, addr: number, len: number, flags: number, next: number): void {
    // Common case, one test: a valid index, a 32-bit address, a u32 length, u16 flags and next.
    if ((i >>> 0) === i && i < this.num && (addr >>> 0) === addr && (len >>> 0) === len &&
        (flags & U16_MASK) === flags && (next & U16_MASK) === next) {
      this.writeDesc(i, addr | 0, 0, len, flags, next);
      return;
    }
    this.checkDesc(i);
    if (!Number.isSafeInteger(addr) || addr < 0) {
      throw new RangeError(`${this.name}: desc[${i}].addr ${addr} must be an integer in 0..2^53-1`);
    }
    if (!Number.isInteger(len) || len < 0 || len > 0xffffffff) {
      throw new RangeError(`${this.name}: desc[${i}].len ${len} must be a u32`);
    }
    if (!Number.isInteger(flags) || flags < 0 || flags > U16_MASK) {
      throw new RangeError(`${this.name}: desc[${i}].flags ${flags} must be a u16`);
    }
    if (!Number.isInteger(next) || next < 0 || next > U16_MASK) {
      throw new RangeError(`${this.name}: desc[${i}].next ${next} must be a u16`);
    }
    this.writeDesc(i, addr % TWO_POW_32, Math.floor(addr / TWO_POW_32), len, flags, next);
  }

  /**
   * @internal setDesc(i, addr, len, flags, next) for an address below 2^32 given as its int32 bit
   * pattern (`addr | 0`, which stays a small integer in compiled code). `len` a u32, `flags` and
   * `next` u16, as setDesc requires: only `i` is checked.
   */
  setDescLo32(i: number, addrLo32: number, len: number, flags: number, next: number): void {
    this.checkDesc(i);
    this.writeDesc(i, addrLo32, 0, len, flags, next);
  }

  /** Writes desc[i] (checked by the caller); `lo` may be a u32 or its int32 bit pattern. */
  private writeDesc(i: number, lo: number, hi: number, len: number, flags: number, next: number): void {
    const w = (i * VRING_DESC_SIZE) >>> 2;
    this.u32[w] = lo;
    this.u32[w + 1] = hi;
    this.u32[w + 2] = len;
    const h = (i * VRING_DESC_SIZE + VRING_DESC_FLAGS_OFF) >>> 1;
    this.u16[h] = flags;
    this.u16[h + 1] = next;
  }

  // ---- avail ring (written by the driver) ----

  /** avail.flags */
  availFlags(): number {
    return Atomics.load(this.u16, this.iAvailFlags);
  }
  /** Set avail.flags. */
  setAvailFlags(v: number): void {
    Atomics.store(this.u16, this.iAvailFlags, v);
  }
  /** avail.idx (free-running u16). */
  availIdx(): number {
    return Atomics.load(this.u16, this.iAvailIdx);
  }
  /** Publish avail.idx (taken mod 65536). */
  setAvailIdx(v: number): void {
    Atomics.store(this.u16, this.iAvailIdx, v & U16_MASK);
  }
  /** avail.ring[slot], slot in 0..num-1. */
  availRing(slot: number): number {
    this.checkSlot(slot, 'avail.ring');
    return this.u16[this.iAvailRing + slot];
  }
  /** Write avail.ring[slot]. */
  setAvailRing(slot: number, id: number): void {
    this.checkSlot(slot, 'avail.ring');
    this.u16[this.iAvailRing + slot] = id;
  }
  /** avail.used_event (only meaningful with VIRTIO_RING_F_EVENT_IDX). */
  usedEvent(): number {
    return Atomics.load(this.u16, this.iUsedEvent);
  }
  /** Write avail.used_event. */
  setUsedEvent(v: number): void {
    Atomics.store(this.u16, this.iUsedEvent, v & U16_MASK);
  }

  // ---- used ring (written by the device) ----

  /** used.flags */
  usedFlags(): number {
    return Atomics.load(this.u16, this.iUsedFlags);
  }
  /** Set used.flags. */
  setUsedFlags(v: number): void {
    Atomics.store(this.u16, this.iUsedFlags, v);
  }
  /** used.idx (free-running u16). */
  usedIdx(): number {
    return Atomics.load(this.u16, this.iUsedIdx);
  }
  /** Publish used.idx (taken mod 65536). */
  setUsedIdx(v: number): void {
    Atomics.store(this.u16, this.iUsedIdx, v & U16_MASK);
  }
  /** used.ring[slot].id */
  usedElemId(slot: number): number {
    this.checkSlot(slot, 'used.ring');
    return this.u32[this.iUsedRing32 + slot * 2];
  }
  /** used.ring[slot].len */
  usedElemLen(slot: number): number {
    this.checkSlot(slot, 'used.ring');
    return this.u32[this.iUsedRing32 + slot * 2 + 1];
  }
  /** Write used.ring[slot] = {id, len}. */
  setUsedElem(slot: number, id: number, len: number): void {
    this.checkSlot(slot, 'used.ring');
    const w = this.iUsedRing32 + slot * 2;
    this.u32[w] = id;
    this.u32[w + 1] = len;
  }
  /** used.avail_event (only meaningful with VIRTIO_RING_F_EVENT_IDX). */
  availEvent(): number {
    return Atomics.load(this.u16, this.iAvailEvent);
  }
  /** Write used.avail_event. */
  setAvailEvent(v: number): void {
    Atomics.store(this.u16, this.iAvailEvent, v & U16_MASK);
  }

  // ---- whole ring ----

  /** Zero the vring's own `size` bytes (nothing outside it). Not for use while a peer is active. */
  reset(): void {
    this.u8.fill(0);
    // Make the zeroed indices visible with the same ordering as any other publish.
    Atomics.store(this.u16, this.iAvailIdx, 0);
    Atomics.store(this.u16, this.iUsedIdx, 0);
  }

  /**
   * Fill every descriptor with its own buffer and offer them all in avail, as TI RTOS code does
   * for its own TX ring: desc[i] = {addr: bufferBase + i*bufferSize, len: bufferSize, flags, next: 0},
   * avail.ring[i] = i, then avail.idx = num. Call on a freshly reset ring.
   */
  prime(bufferBase: number, bufferSize: number, flags: number = VRING_DESC_F_WRITE): void {
    for (let i = 0; i < this.num; i++) {
      this.setDesc(i, bufferBase + i * bufferSize, bufferSize, flags, 0);
      this.u16[this.iAvailRing + i] = i;
    }
    Atomics.store(this.u16, this.iAvailIdx, this.num & U16_MASK);
  }

  /** @internal ring slot for a free-running index. */
  slotOf(idx: number): number {
    return idx & this.mask;
  }

  /** @internal avail.idx by a plain read (see the file header: the driver reading back its own index). */
  availIdxRelaxed(): number {
    return this.u16[this.iAvailIdx]!;
  }

  /** @internal used.idx by a plain read (see the file header: the device reading back its own index). */
  usedIdxRelaxed(): number {
    return this.u16[this.iUsedIdx]!;
  }

  /** @internal raw avail.ring write without range check (slot already masked). */
  rawSetAvailRing(slot: number, id: number): void {
    this.u16[this.iAvailRing + slot] = id;
  }

  /** @internal raw used element write without range check (slot already masked). */
  rawSetUsedElem(slot: number, id: number, len: number): void {
    const w = this.iUsedRing32 + slot * 2;
    this.u32[w] = id;
    this.u32[w + 1] = len;
  }

  /** @internal raw avail.ring read without range check (slot already masked). */
  rawAvailRing(slot: number): number {
    return this.u16[this.iAvailRing + slot];
  }

  /** @internal raw used element word (slot already masked; field 0 = id, 1 = len). */
  rawUsedWord(slot: number, field: number): number {
    return this.u32[this.iUsedRing32 + slot * 2 + field];
  }
}

/**
 * Driver role (Linux host; on TI RTOS links the receiver of the peer's TX ring): writes avail,
 * reads used. Keeps its own `lastUsed` counter. Construct one per side over the same memory.
 */
export class VringDriver {
  /** Free-running index of the next used element to reap. */
  lastUsed: number;
  /** Length of the element returned by the last successful {@link getUsed}. */
  lastLen = 0;

  /**
   * @param ring the shared vring
   * @param lastUsed starting value of the local used counter (0 after reset)
   */
  constructor(
    readonly ring: Vring,
    lastUsed = 0,
  ) {
    this.lastUsed = lastUsed & U16_MASK;
  }

  /**
   * Offer descriptor `id` to the device: write avail.ring[avail.idx & (num-1)], then publish
   * avail.idx + 1. Throws VringError if `id` is out of range or `num` buffers are already in flight.
   */
  addAvail(id: number): void {
    const r = this.ring;
    if (!(id >= 0 && id < r.num && Number.isInteger(id))) {
      throw new VringError(`${r.name}: addAvail id ${id} out of range 0..${r.num - 1}`, r.name, -1, id);
    }
    const idx = r.availIdxRelaxed();
    if (((idx - r.usedIdx()) & U16_MASK) >= r.num) {
      throw new VringError(
        `${r.name}: avail ring full (avail.idx ${idx}, used.idx ${r.usedIdx()}, num ${r.num})`,
        r.name,
        r.slotOf(idx),
        idx,
      );
    }
    r.rawSetAvailRing(r.slotOf(idx), id);
    r.setAvailIdx(idx + 1);
  }

  /**
   * Reap one used element: returns its descriptor id and leaves its length in {@link lastLen},
   * or returns -1 when the device has returned nothing new. Throws VringError on a corrupt
   * used.idx or id.
   */
  getUsed(): number {
    const r = this.ring;
    const usedIdx = r.usedIdx();
    const pending = (usedIdx - this.lastUsed) & U16_MASK;
    if (pending === 0) return -1;
    if (pending > r.num) {
      throw new VringError(
        `${r.name}: used.idx ${usedIdx} is ${pending} ahead of last seen ${this.lastUsed} (num ${r.num})`,
        r.name,
        -1,
        usedIdx,
      );
    }
    const slot = r.slotOf(this.lastUsed);
    const id = r.rawUsedWord(slot, 0);
    if (id >= r.num) {
      throw new VringError(
        `${r.name}: used.ring[${slot}].id = ${id}, expected < ${r.num}`,
        r.name,
        slot,
        id,
      );
    }
    this.lastLen = r.rawUsedWord(slot, 1);
    this.lastUsed = (this.lastUsed + 1) & U16_MASK;
    return id;
  }

  /** Number of used elements not yet reaped. */
  pendingUsed(): number {
    return (this.ring.usedIdx() - this.lastUsed) & U16_MASK;
  }

  /** True unless the device set VRING_USED_F_NO_NOTIFY: whether to kick after addAvail. */
  needsKick(): boolean {
    return (this.ring.usedFlags() & VRING_USED_F_NO_NOTIFY) === 0;
  }

  /** Set or clear VRING_AVAIL_F_NO_INTERRUPT in avail.flags. */
  setInterruptSuppressed(suppress: boolean): void {
    const f = this.ring.availFlags();
    this.ring.setAvailFlags(suppress ? f | VRING_AVAIL_F_NO_INTERRUPT : f & ~VRING_AVAIL_F_NO_INTERRUPT);
  }
}

/**
 * Device role (TI remote core; on TI RTOS links the owner/sender of its TX ring): reads avail,
 * writes used. Keeps its own `lastAvail` counter. Construct one per side over the same memory.
 */
export class VringDevice {
  /** Free-running index of the next avail entry to consume. */
  lastAvail: number;

  /**
   * @param ring the shared vring
   * @param lastAvail starting value of the local avail counter (0 after reset)
   */
  constructor(
    readonly ring: Vring,
    lastAvail = 0,
  ) {
    this.lastAvail = lastAvail & U16_MASK;
  }

  /**
   * Take the next available descriptor id, or -1 when none. Throws VringError on a corrupt
   * avail.idx or id.
   */
  getAvail(): number {
    const r = this.ring;
    const availIdx = r.availIdx();
    const count = (availIdx - this.lastAvail) & U16_MASK;
    if (count === 0) return -1;
    if (count > r.num) {
      throw new VringError(
        `${r.name}: avail.idx ${availIdx} is ${count} ahead of last seen ${this.lastAvail} (num ${r.num})`,
        r.name,
        -1,
        availIdx,
      );
    }
    const slot = r.slotOf(this.lastAvail);
    const id = r.rawAvailRing(slot);
    if (id >= r.num) {
      throw new VringError(`${r.name}: avail.ring[${slot}] = ${id}, expected < ${r.num}`, r.name, slot, id);
    }
    this.lastAvail = (this.lastAvail + 1) & U16_MASK;
    return id;
  }

  /**
   * Return descriptor `id` with `len` bytes written: write used.ring[used.idx & (num-1)], then
   * publish used.idx + 1.
   */
  addUsed(id: number, len: number): void {
    const r = this.ring;
    if (!(id >= 0 && id < r.num && Number.isInteger(id))) {
      throw new VringError(`${r.name}: addUsed id ${id} out of range 0..${r.num - 1}`, r.name, -1, id);
    }
    // (len >>> 0) === len: len is an integer in 0..2^32-1.
    if ((len >>> 0) !== len) {
      throw new RangeError(`${r.name}: addUsed len ${len} must be a u32`);
    }
    const idx = r.usedIdxRelaxed();
    r.rawSetUsedElem(r.slotOf(idx), id, len);
    r.setUsedIdx(idx + 1);
  }

  /** Number of avail entries not yet consumed. */
  availableCount(): number {
    return (this.ring.availIdx() - this.lastAvail) & U16_MASK;
  }

  /** True unless the driver set VRING_AVAIL_F_NO_INTERRUPT: whether to interrupt after addUsed. */
  needsInterrupt(): boolean {
    return (this.ring.availFlags() & VRING_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** Set or clear VRING_USED_F_NO_NOTIFY in used.flags. */
  setNotifySuppressed(suppress: boolean): void {
    const f = this.ring.usedFlags();
    this.ring.setUsedFlags(suppress ? f | VRING_USED_F_NO_NOTIFY : f & ~VRING_USED_F_NO_NOTIFY);
  }
}
