// The blocks area of one ICBMsg region (legacy design, subsys/ipc/ipc_service/backends/ipc_icbmsg.c
// @6e85928c): `blocks` equal blocks of `blockSize` bytes. A buffer spans N contiguous blocks and
// starts with a u32 little-endian header holding the payload size, then the payload.
//
//   block i @ i*blockSize:  [u32 LE size | payload[size] ... | padding to the end of the last block]
//
// Ownership: the TX area (and every header in it) is written only by this core; the RX area only by
// the peer, read here. Blocks are published by the ICMsg control message that names them, which is
// written to the pbuf (Atomics.store of wr_idx) after the block, and read after Atomics.load of it.

import { ICBMSG_BLOCK_HEADER_SIZE } from '../../shared/icbmsg-layout.js';

/** Where one direction's blocks live, as cores/zephyr/instances.ts passes them. */
export interface IcbmsgBlocksArea {
  sab: SharedArrayBuffer;
  byteOffset: number;
  blockSize: number;
  blocks: number;
}

/** A block index the peer named is not one of the area's blocks. */
export const BLOCK_OUT_OF_RANGE = -1;
/** The block's header announces a buffer that runs past the area. */
export const BLOCK_CORRUPT = -2;
/** The buffer overlaps one this core has not released yet. */
export const BLOCK_IN_USE = -3;

/** Blocks needed for a payload of `size` bytes: DIV_ROUND_UP(size + 4, blockSize). */
export const blocksFor = (size: number, blockSize: number): number => Math.ceil((size + ICBMSG_BLOCK_HEADER_SIZE) / blockSize);

/** Access to one blocks area: headers, payload views, and the way back from a view to its block. */
export class IcbmsgBlocks {
  readonly sab: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly blockSize: number;
  readonly count: number;
  /** blockSize * count. */
  readonly areaSize: number;
  readonly bytes: Uint8Array;
  private readonly dv: DataView;
  /** The last payload view handed out per start block, reused while the size stays the same. */
  private readonly views: (Uint8Array | undefined)[];

  constructor(area: IcbmsgBlocksArea, readonly what: string) {
    this.sab = area.sab;
    this.byteOffset = area.byteOffset;
    this.blockSize = area.blockSize;
    this.count = area.blocks;
    this.areaSize = area.blockSize * area.blocks;
    if (!(this.blockSize > ICBMSG_BLOCK_HEADER_SIZE && this.blockSize % 4 === 0 && this.count >= 1)) {
      throw new RangeError(`ICBMsg ${what}: ${this.count} blocks of ${this.blockSize} bytes is not a valid blocks area`);
    }
    this.bytes = new Uint8Array(area.sab, area.byteOffset, this.areaSize);
    this.dv = new DataView(area.sab, area.byteOffset, this.areaSize);
    this.views = new Array(this.count).fill(undefined);
  }

  /** Largest payload of one buffer: blockSize * count - 4 (get_tx_buffer_size). */
  get maxPayload(): number {
    return this.areaSize - ICBMSG_BLOCK_HEADER_SIZE;
  }

  /** Offset of block i's payload within the area. */
  payloadOffset(i: number): number {
    return i * this.blockSize + ICBMSG_BLOCK_HEADER_SIZE;
  }

  headerSize(i: number): number {
    return this.dv.getUint32(i * this.blockSize, true);
  }

  setHeaderSize(i: number, size: number): void {
    this.dv.setUint32(i * this.blockSize, size, true);
  }

  /**
   * buffer_from_index_validate: the payload size the header of block i announces, or
   * BLOCK_OUT_OF_RANGE (nothing is read then) or BLOCK_CORRUPT when the buffer would not fit in the
   * area ("Block corrupted").
   */
  validatedSize(i: number): number {
    if (!(Number.isInteger(i) && i >= 0 && i < this.count)) return BLOCK_OUT_OF_RANGE;
    const size = this.headerSize(i);
    if (size > this.maxPayload || this.payloadOffset(i) + size > this.areaSize) return BLOCK_CORRUPT;
    return size;
  }

  /** Why a block the peer named (an RX block) was refused; on the rejection path only (builds a string). */
  describeRefusal(i: number, code: number): string {
    if (code === BLOCK_OUT_OF_RANGE) return `block index ${i} is outside the RX blocks 0..${this.count - 1}`;
    if (code === BLOCK_CORRUPT) {
      return `block ${i}: header size ${this.headerSize(i)} runs past the ${this.areaSize}-byte RX blocks area (max payload from there ${this.areaSize - this.payloadOffset(i)})`;
    }
    return `block ${i} overlaps an RX buffer not released yet`;
  }

  /** A view of block i's payload, `size` bytes long, onto the shared memory (zero copy). */
  view(i: number, size: number): Uint8Array {
    const v = this.views[i];
    if (v !== undefined && v.length === size) return v;
    const nv = new Uint8Array(this.sab, this.byteOffset + this.payloadOffset(i), size);
    this.views[i] = nv;
    return nv;
  }

  /** buffer_to_index_validate: the block whose payload `data` starts at, or -1 ("Pointer invalid"). */
  indexOf(data: Uint8Array): number {
    if (!(data instanceof Uint8Array)) return -1;
    // The view this area handed out for a block is recognised without reading its buffer.
    const at = (data.byteOffset - this.byteOffset - ICBMSG_BLOCK_HEADER_SIZE) / this.blockSize;
    if (at >= 0 && at < this.count && this.views[at] === data) return at;
    if (data.buffer !== this.sab) return -1;
    const off = data.byteOffset - this.byteOffset - ICBMSG_BLOCK_HEADER_SIZE;
    if (off < 0 || off % this.blockSize !== 0) return -1;
    const i = off / this.blockSize;
    return i < this.count ? i : -1;
  }

  /** Length of the NUL-terminated string at block i's payload (strnlen up to the area's end), -1 if none. */
  strlenAt(i: number): number {
    const start = this.payloadOffset(i);
    const end = this.bytes.indexOf(0, start);
    return end < 0 ? -1 : end - start;
  }
}

/** Per-start-block state of a TX allocation. */
export const TX_FREE = 0;
/** Obtained by get_tx_buffer (or being filled by send); the application may write it. */
export const TX_OWNED = 1;
/** Named in a MSG_DATA/MSG_BOUND; waits for the peer's release. */
export const TX_SENT = 2;

/**
 * The sender's bookkeeping of its TX blocks (tx_usage_bitmap, sys_bitarray first fit), plus what the
 * legacy code reads back from its own headers, kept locally here so that a peer scribbling on the TX
 * area cannot make this core free blocks it does not own.
 */
export class IcbmsgTxPool {
  readonly used: Uint8Array;
  /** TX_FREE / TX_OWNED / TX_SENT, meaningful at the first block of an allocation. */
  readonly state: Uint8Array;
  /** Blocks of the allocation starting at a block. */
  readonly span: Uint16Array;
  /** Set when the allocation starting here was dropped; cleared when the block is allocated again. */
  readonly dropped: Uint8Array;
  /**
   * Set while the allocation starting here was announced with a corrupted block index (stress
   * corrupt-index fault): the peer never learns which blocks it holds, so it never releases them.
   */
  readonly stranded: Uint8Array;
  free: number;

  constructor(readonly count: number) {
    this.used = new Uint8Array(count);
    this.state = new Uint8Array(count);
    this.span = new Uint16Array(count);
    this.dropped = new Uint8Array(count);
    this.stranded = new Uint8Array(count);
    this.free = count;
  }

  /** Blocks in allocations in `state` (TX_OWNED: with the application; TX_SENT: waiting for the peer). */
  blocksIn(state: number): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) if (this.used[i] && this.state[i] === state) n += this.span[i]!;
    return n;
  }

  /** Blocks of allocations announced with a corrupted index (never released by the peer). */
  strandedBlocks(): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) if (this.stranded[i]) n += this.span[i]!;
    return n;
  }

  /**
   * sys_bitarray_alloc: the first run of `n` free blocks, marked used and TX_OWNED; with `extend`
   * (size 0 requests) the run also takes every free block that follows. -1 when there is none.
   */
  alloc(n: number, extend: boolean): number {
    const used = this.used;
    let run = 0;
    for (let i = 0; i < this.count; i++) {
      run = used[i] ? 0 : run + 1;
      if (run < n) continue;
      const start = i - n + 1;
      let end = i + 1;
      if (extend) while (end < this.count && !used[end]) end++;
      for (let b = start; b < end; b++) {
        used[b] = 1;
        this.dropped[b] = 0;
      }
      this.state[start] = TX_OWNED;
      this.span[start] = end - start;
      this.free -= end - start;
      return start;
    }
    return -1;
  }

  /** Frees blocks [start + keep, start + span) of the allocation at `start`; keep 0 frees it all. */
  release(start: number, keep: number): number {
    const span = this.span[start]!;
    for (let b = start + keep; b < start + span; b++) this.used[b] = 0;
    this.free += span - keep;
    if (keep === 0) {
      this.state[start] = TX_FREE;
      this.span[start] = 0;
      this.stranded[start] = 0;
    } else {
      this.span[start] = keep;
    }
    return span - keep;
  }
}

/** RX buffer states, per start block. */
export const RX_IDLE = 0;
/** Being passed to received(); hold_rx_buffer may keep it. */
export const RX_DELIVERING = 1;
export const RX_HELD = 2;
/** Held, then released: a second release answers -EALREADY until the block is delivered again. */
export const RX_RELEASED = 3;
/** Holds a bound message waiting for a local endpoint of that name. */
export const RX_BOUND_WAIT = 4;

/**
 * The receiver's bookkeeping of the peer's blocks it has not released yet (rx_hold_bitmap, plus which
 * blocks each buffer covers, so that a peer naming a block still in use here is caught).
 */
export class IcbmsgRxBuffers {
  /** RX_* per start block. */
  readonly state: Uint8Array;
  /** For each block, the start block of the buffer occupying it, or -1. */
  private readonly owner: Int16Array;

  constructor(private readonly blocks: IcbmsgBlocks) {
    this.state = new Uint8Array(blocks.count);
    this.owner = new Int16Array(blocks.count).fill(-1);
  }

  /**
   * Validates a buffer the peer names and marks its blocks in use: its payload size, or
   * BLOCK_OUT_OF_RANGE / BLOCK_CORRUPT / BLOCK_IN_USE (IcbmsgBlocks.describeRefusal says why).
   */
  claim(start: number): number {
    const size = this.blocks.validatedSize(start);
    if (size < 0) return size;
    const end = start + blocksFor(size, this.blocks.blockSize);
    const owner = this.owner;
    for (let b = start; b < end; b++) if (owner[b] !== -1) return BLOCK_IN_USE;
    for (let b = start; b < end; b++) owner[b] = start;
    return size;
  }

  /** Forgets the buffer at `start` (its blocks go back to the peer). */
  free(start: number): void {
    this.state[start] = RX_IDLE;
    const owner = this.owner;
    for (let b = start; b < owner.length && owner[b] === start; b++) owner[b] = -1;
  }

  count(state: number): number {
    let n = 0;
    for (let i = 0; i < this.state.length; i++) if (this.state[i] === state) n++;
    return n;
  }
}
