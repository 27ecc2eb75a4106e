// Zephyr single-producer single-consumer packet buffer: lib/os/spsc_pbuf.c and
// include/zephyr/sys/spsc_pbuf.h, merged API (free(len), 3-argument read; not PR #59425).
//
// Byte layout from `byteOffset` (u32 words native-endian, i.e. little-endian):
//
//   offset            field    written by
//   0                 len      init only (length of data[]; immutable afterwards)
//   4                 flags    init; bits 8..31 (max utilization) by the consumer in claim()
//   8                 rd_idx   consumer (init writes 0)
//   no cache layout:
//   12                wr_idx   producer (init writes 0)
//   16                data[]   producer writes packets, consumer only reads them
//   cache layout (flags bit SPSC_PBUF_CACHE), L = data cache line (default 32):
//   12 .. 12+P-1      reserved, P = max(0, L - 12), never written
//   12+P              wr_idx   producer (32 for L = 32)
//   16+P              data[]   (36 for L = 32)
//
// data[] holds packets at 4-aligned indexes, each ROUND_UP(4 + n, 4) bytes long: a 4-byte slot whose
// bytes 0-1 are the payload length n as big-endian u16 (bytes 2-3 are left as they were), then the
// payload. A packet never wraps; when one does not fit at the tail, the producer writes the single
// byte PADDING_MARK at data[wr_idx] and continues at index 0. rd_idx == wr_idx means empty; one
// word always stays free, so capacity = len - 4.
//
// Ordering: each side publishes its own index with Atomics.store after the bytes it covers, and
// loads the peer's index with Atomics.load before touching the bytes. Payload bytes are plain
// typed-array accesses. The consumer's free() loads wr_idx before it inspects data[new rd_idx] for
// a padding mark (the C code reads the byte first; the result is the same, without the window in
// which a stale 0xFF from an earlier lap could be taken for fresh padding).
//
// Stress hooks (shared/perturb.ts): PT_PUBLISH between the padding mark and wr_idx = 0, and between
// a packet's bytes (where a bit-flip fault may hit the payload) and its wr_idx.
// HETSOC_MUTATION=pbuf-publish-early (shared/mutation.ts) plants the reverse order in write() and
// commit(): wr_idx first, then the header (and, in write(), the payload). The padding step keeps
// its order in both modes: the planted bug is about the packet.

import { PBUF_PUBLISH_EARLY } from './mutation.js';
import { PERTURB, PT_PUBLISH, flipPayloadBit, perturbAt } from './perturb.js';
import { EINVAL, ENOMEM, ENOTSUP } from './zephyr-errno.js';

/** Byte offset of `len` (u32, length of data[]). */
export const SPSC_PBUF_LEN_OFFSET = 0;
/** Byte offset of `flags` (u32). */
export const SPSC_PBUF_FLAGS_OFFSET = 4;
/** Byte offset of `rd_idx` (u32, owned by the consumer). */
export const SPSC_PBUF_RD_IDX_OFFSET = 8;
/** Size of the part common to both layouts (len, flags, rd_idx). */
export const SPSC_PBUF_COMMON_SIZE = 12;
/** No-cache layout: byte offset of `wr_idx` (u32, owned by the producer). */
export const SPSC_PBUF_NOCACHE_WR_IDX_OFFSET = 12;
/** No-cache layout: byte offset of data[]. */
export const SPSC_PBUF_NOCACHE_DATA_OFFSET = 16;
/** Default data cache line (CONFIG_SPSC_PBUF_REMOTE_DCACHE_LINE). */
export const SPSC_PBUF_DEFAULT_DCACHE_LINE = 32;
/** Cache layout with the default 32-byte line: byte offset of `wr_idx`. */
export const SPSC_PBUF_CACHE32_WR_IDX_OFFSET = 32;
/** Cache layout with the default 32-byte line: byte offset of data[]. */
export const SPSC_PBUF_CACHE32_DATA_OFFSET = 36;

/** flags bit 0: the instance uses the cache layout (wr_idx on its own cache line). */
export const SPSC_PBUF_CACHE = 1 << 0;
/** First bit of the maximum-utilization field in `flags`. */
export const SPSC_PBUF_UTILIZATION_OFFSET = 8;
/** Width of the maximum-utilization field in `flags`. */
export const SPSC_PBUF_UTILIZATION_BITS = 24;

/** Byte written at data[wr_idx] when the producer wraps early. */
export const PADDING_MARK = 0xff;
/** alloc() limit; alloc(SPSC_PBUF_MAX_LEN) asks for the largest block that needs no padding. write() needs len < this. */
export const SPSC_PBUF_MAX_LEN = 0xff00;
/** Size of the packet header slot. */
export const LEN_SZ = 4;
/** Bytes always left unused so that full and empty differ. */
export const FREE_SPACE_DISTANCE = 4;
/** Largest length commit() can store: a larger one would start its header with PADDING_MARK. */
export const SPSC_PBUF_MAX_COMMIT_LEN = 0xfeff;

const LEN_WORD = SPSC_PBUF_LEN_OFFSET >> 2;
const FLAGS_WORD = SPSC_PBUF_FLAGS_OFFSET >> 2;
const RD_WORD = SPSC_PBUF_RD_IDX_OFFSET >> 2;
const UTIL_MASK = 0xffffff; // BIT_MASK(SPSC_PBUF_UTILIZATION_BITS)

/** Options matching the Kconfig choices (cache handling FLAG, remote line, utilization). */
export interface SpscPbufOptions {
  /** SPSC_PBUF_CACHE flag: use the cache layout. Attach: must agree with `flags` in memory if given. */
  cache?: boolean;
  /** Data cache line in bytes (0 or a power of two >= 4); only used with the cache layout. Default 32. */
  dcacheLine?: number;
  /** CONFIG_SPSC_PBUF_UTILIZATION: the consumer records the maximum fill level. */
  utilization?: boolean;
}

/** Inconsistent shared state (attach to an uninitialised/different layout, corrupt packet header). */
export class SpscPbufError extends Error {
  override readonly name = 'SpscPbufError';
}

/** Byte offset of wr_idx for a layout. */
export function spscPbufWrIdxOffset(cache: boolean, dcacheLine = SPSC_PBUF_DEFAULT_DCACHE_LINE): number {
  return cache ? SPSC_PBUF_COMMON_SIZE + Math.max(0, dcacheLine - SPSC_PBUF_COMMON_SIZE) : SPSC_PBUF_NOCACHE_WR_IDX_OFFSET;
}

/** Byte offset of data[] for a layout (capacity = blen - this - 4). */
export function spscPbufDataOffset(cache: boolean, dcacheLine = SPSC_PBUF_DEFAULT_DCACHE_LINE): number {
  return spscPbufWrIdxOffset(cache, dcacheLine) + 4;
}

/** Required alignment of the buffer start: the cache line for the cache layout (if > 0), else 4. */
export function spscPbufAlignment(cache: boolean, dcacheLine = SPSC_PBUF_DEFAULT_DCACHE_LINE): number {
  return cache && dcacheLine > 0 ? dcacheLine : 4;
}

function checkLine(line: number): void {
  if (!Number.isInteger(line) || line < 0 || (line !== 0 && (line < 4 || (line & (line - 1)) !== 0))) {
    throw new RangeError(`spsc_pbuf: dcacheLine ${line} must be 0 or a power of two >= 4`);
  }
}

function checkRegion(sab: SharedArrayBuffer, byteOffset: number, blen: number, align: number, what: string): void {
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % align !== 0) {
    throw new RangeError(`spsc_pbuf: byteOffset ${byteOffset} is not aligned to ${align} bytes (${what})`);
  }
  if (!Number.isInteger(blen) || byteOffset + blen > sab.byteLength) {
    throw new RangeError(
      `spsc_pbuf: region [${byteOffset}, ${byteOffset}+${blen}) does not fit the ${sab.byteLength}-byte SharedArrayBuffer`,
    );
  }
}

/**
 * One side of a spsc_pbuf in a SharedArrayBuffer. The producer calls alloc/commit/write, the
 * consumer claim/free/read; each side uses its own instance (one per thread).
 */
export class SpscPbuf {
  /** Whole SharedArrayBuffer as bytes; allocOffset/claimOffset index into it. */
  readonly bytes: Uint8Array;
  /** Layout in use (from the flags word). */
  readonly cache: boolean;
  readonly dcacheLine: number;
  readonly utilization: boolean;
  /** Byte offsets relative to `byteOffset`. */
  readonly wrIdxOffset: number;
  readonly dataOffset: number;
  /** `len` from memory: size of data[]. */
  readonly dataLen: number;
  /** After alloc(): byte offset in the SAB of the allocated payload area. */
  allocOffset = -1;
  /** After a non-zero claim(): byte offset in the SAB of the claimed payload. */
  claimOffset = -1;

  private readonly words: Int32Array;
  private readonly wrWord: number;
  private readonly dataStart: number;
  /** Producer side: result of the last alloc(), the most commit() may publish. */
  private allocated = 0;

  /** spsc_pbuf_init: write len, flags, rd_idx = 0, wr_idx = 0 and return the producer's view. */
  static init(sab: SharedArrayBuffer, byteOffset: number, blen: number, opts: SpscPbufOptions = {}): SpscPbuf {
    const cache = opts.cache ?? false;
    const line = opts.dcacheLine ?? SPSC_PBUF_DEFAULT_DCACHE_LINE;
    checkLine(line);
    const align = spscPbufAlignment(cache, line);
    checkRegion(sab, byteOffset, blen, align, cache ? `cache layout, dcacheLine ${line}` : 'no-cache layout, u32 words');
    const dataOffset = spscPbufDataOffset(cache, line);
    if (blen <= dataOffset + LEN_SZ || blen % 4 !== 0) {
      throw new RangeError(
        `spsc_pbuf: blen ${blen} must be a multiple of 4 and > ${dataOffset + LEN_SZ} (header ${dataOffset} + LEN_SZ)`,
      );
    }
    const words = new Int32Array(sab, byteOffset, dataOffset >> 2);
    Atomics.store(words, LEN_WORD, blen - dataOffset);
    Atomics.store(words, RD_WORD, 0);
    Atomics.store(words, FLAGS_WORD, cache ? SPSC_PBUF_CACHE : 0);
    Atomics.store(words, spscPbufWrIdxOffset(cache, line) >> 2, 0);
    return new SpscPbuf(sab, byteOffset, blen, { ...opts, cache, dcacheLine: line });
  }

  /**
   * Attach to a buffer already initialised (by SpscPbuf.init, possibly on another thread). The
   * layout comes from the flags word; `len` must equal blen minus the header.
   */
  constructor(
    readonly sab: SharedArrayBuffer,
    readonly byteOffset: number,
    readonly blen: number,
    opts: SpscPbufOptions = {},
  ) {
    const line = opts.dcacheLine ?? SPSC_PBUF_DEFAULT_DCACHE_LINE;
    checkLine(line);
    checkRegion(sab, byteOffset, blen, 4, 'u32 words');
    if (blen < SPSC_PBUF_COMMON_SIZE) throw new RangeError(`spsc_pbuf: blen ${blen} is smaller than the header`);
    const common = new Int32Array(sab, byteOffset, SPSC_PBUF_COMMON_SIZE >> 2);
    const flags = Atomics.load(common, FLAGS_WORD);
    const cache = (flags & SPSC_PBUF_CACHE) !== 0;
    if (opts.cache !== undefined && opts.cache !== cache) {
      throw new SpscPbufError(
        `spsc_pbuf at ${byteOffset}: flags word 0x${(flags >>> 0).toString(16)} has SPSC_PBUF_CACHE=${+cache}, expected ${+opts.cache}`,
      );
    }
    const align = spscPbufAlignment(cache, line);
    checkRegion(sab, byteOffset, blen, align, cache ? `cache layout, dcacheLine ${line}` : 'no-cache layout, u32 words');
    this.cache = cache;
    this.dcacheLine = line;
    this.utilization = opts.utilization ?? false;
    this.wrIdxOffset = spscPbufWrIdxOffset(cache, line);
    this.dataOffset = this.wrIdxOffset + 4;
    const len = Atomics.load(common, LEN_WORD);
    if (len !== blen - this.dataOffset || len <= LEN_SZ || len % 4 !== 0) {
      throw new SpscPbufError(
        `spsc_pbuf at ${byteOffset}: len word is ${len}, expected blen ${blen} - header ${this.dataOffset} = ${blen - this.dataOffset} (not initialised?)`,
      );
    }
    this.dataLen = len;
    this.words = new Int32Array(sab, byteOffset, this.dataOffset >> 2);
    this.wrWord = this.wrIdxOffset >> 2;
    this.dataStart = byteOffset + this.dataOffset;
    this.bytes = new Uint8Array(sab);
  }

  /** spsc_pbuf_capacity: len - 4. */
  capacity(): number {
    return this.dataLen - FREE_SPACE_DISTANCE;
  }

  /** Current rd_idx (diagnostics). */
  get rdIdx(): number {
    return Atomics.load(this.words, RD_WORD);
  }

  /** Current wr_idx (diagnostics). */
  get wrIdx(): number {
    return Atomics.load(this.words, this.wrWord);
  }

  /**
   * spsc_pbuf_alloc (producer). Returns the contiguous length reserved (possibly less than `len`,
   * possibly 0) or -EINVAL for len 0 or > SPSC_PBUF_MAX_LEN. The area starts at `allocOffset`.
   * May write a padding mark and reset wr_idx to 0; nothing else changes until commit().
   */
  alloc(len: number): number {
    if (!(len > 0 && len <= SPSC_PBUF_MAX_LEN) || !Number.isInteger(len)) return -EINVAL;
    const words = this.words;
    const pblen = this.dataLen;
    const rd = Atomics.load(words, RD_WORD); // peer
    let wr = Atomics.load(words, this.wrWord); // own
    let free: number;
    if (wr >= rd) {
      const remaining = pblen - wr;
      const space = len === SPSC_PBUF_MAX_LEN ? LEN_SZ + 1 : len + LEN_SZ;
      if (remaining >= space || rd <= space) {
        free = remaining - (rd > 0 ? 0 : FREE_SPACE_DISTANCE);
      } else {
        this.bytes[this.dataStart + wr] = PADDING_MARK;
        if (PERTURB.on) perturbAt(PT_PUBLISH);
        wr = 0;
        Atomics.store(words, this.wrWord, 0);
        free = rd - FREE_SPACE_DISTANCE;
      }
    } else {
      free = rd - wr - FREE_SPACE_DISTANCE;
    }
    const got = Math.min(len, Math.max(free - LEN_SZ, 0));
    this.allocOffset = this.dataStart + wr + LEN_SZ;
    this.allocated = got;
    return got;
  }

  /** View of the area reserved by the last alloc() (allocates a view object: use bytes/allocOffset in hot loops). */
  allocView(len = this.allocated): Uint8Array {
    if (this.allocOffset < 0 || len > this.allocated) {
      throw new RangeError(`spsc_pbuf: allocView(${len}) exceeds the ${this.allocated} bytes allocated`);
    }
    return this.bytes.subarray(this.allocOffset, this.allocOffset + len);
  }

  /**
   * spsc_pbuf_commit (producer): publish `len` bytes of the last allocation. 0 discards it (any
   * padding alloc() added stays). Throws RangeError if len exceeds what alloc() returned.
   */
  commit(len: number): void {
    if (len === 0) return;
    if (!Number.isInteger(len) || len < 0 || len > this.allocated || len > SPSC_PBUF_MAX_COMMIT_LEN) {
      throw new RangeError(`spsc_pbuf: commit(${len}) but the last alloc() reserved ${this.allocated} bytes`);
    }
    const words = this.words;
    const wr = Atomics.load(words, this.wrWord);
    const at = this.dataStart + wr;
    const next = this.nextWr(wr, len);
    this.allocated = 0;
    if (PBUF_PUBLISH_EARLY) {
      // Planted bug: the consumer may read a stale length from the slot.
      Atomics.store(words, this.wrWord, next);
      if (PERTURB.on) perturbAt(PT_PUBLISH);
      this.bytes[at] = len >>> 8;
      this.bytes[at + 1] = len & 0xff;
      return;
    }
    this.bytes[at] = len >>> 8; // big-endian u16; bytes 2-3 of the slot untouched
    this.bytes[at + 1] = len & 0xff;
    if (PERTURB.on) {
      flipPayloadBit(this.bytes, at + LEN_SZ, len);
      perturbAt(PT_PUBLISH);
    }
    Atomics.store(words, this.wrWord, next); // publish last
  }

  /** wr_idx after a packet of `len` bytes at `wr` (packets never wrap: it reaches at most len_buf, which is 0). */
  private nextWr(wr: number, len: number): number {
    const next = (wr + len + LEN_SZ + 3) & ~3;
    return next === this.dataLen ? 0 : next;
  }

  /**
   * spsc_pbuf_write (producer): copy `len` (default src.length) bytes as one packet. Returns len,
   * -EINVAL (len 0 or >= SPSC_PBUF_MAX_LEN) or -ENOMEM (does not fit now).
   */
  write(src: Uint8Array, len: number = src.length): number {
    if (len > src.length) throw new RangeError(`spsc_pbuf: write of ${len} bytes from a ${src.length}-byte source`);
    if (len >= SPSC_PBUF_MAX_LEN) return -EINVAL;
    const got = this.alloc(len);
    if (got !== len) return got < 0 ? got : -ENOMEM;
    const bytes = this.bytes;
    const base = this.allocOffset;
    if (PBUF_PUBLISH_EARLY) {
      // Planted bug: wr_idx covers a packet whose header and payload are not written yet. alloc()
      // already placed any padding (and wr_idx = 0) in the right order, so the packet starts at base - LEN_SZ.
      this.allocated = 0;
      Atomics.store(this.words, this.wrWord, this.nextWr(base - LEN_SZ - this.dataStart, len));
      if (PERTURB.on) perturbAt(PT_PUBLISH);
      bytes[base - LEN_SZ] = len >>> 8;
      bytes[base - LEN_SZ + 1] = len & 0xff;
      for (let i = 0; i < len; i++) bytes[base + i] = src[i];
      return len;
    }
    for (let i = 0; i < len; i++) bytes[base + i] = src[i];
    this.commit(len);
    return len;
  }

  /**
   * spsc_pbuf_claim (consumer): length of the next packet (0 if none); the payload starts at
   * `claimOffset`. With utilization enabled, records the fill level in flags bits 8..31.
   * Throws SpscPbufError when the header claims more than is stored (Zephyr's __ASSERT).
   */
  claim(): number {
    const words = this.words;
    const pblen = this.dataLen;
    const wr = Atomics.load(words, this.wrWord); // peer first
    let rd = Atomics.load(words, RD_WORD);
    if (rd === wr) return 0;
    const stored = rd > wr ? pblen - (rd - wr) : wr - rd;
    if (this.utilization) {
      const flags = Atomics.load(words, FLAGS_WORD);
      if (stored > ((flags >>> SPSC_PBUF_UTILIZATION_OFFSET) & UTIL_MASK)) {
        Atomics.store(words, FLAGS_WORD, (flags & ~(UTIL_MASK << SPSC_PBUF_UTILIZATION_OFFSET)) | (stored << SPSC_PBUF_UTILIZATION_OFFSET));
      }
    }
    const bytes = this.bytes;
    const ds = this.dataStart;
    if (bytes[ds + rd] === PADDING_MARK) {
      if (rd === Atomics.load(words, this.wrWord)) return 0; // padding written, wr_idx not yet reset
      rd = 0;
      Atomics.store(words, RD_WORD, 0);
      if (rd === wr) return 0;
    }
    const plen = (bytes[ds + rd] << 8) | bytes[ds + rd + 1];
    if (stored < plen + LEN_SZ) {
      throw new SpscPbufError(
        `spsc_pbuf at ${this.byteOffset}: packet at rd_idx ${rd} has length ${plen} but only ${stored} bytes are stored (wr_idx ${wr})`,
      );
    }
    this.claimOffset = ds + rd + LEN_SZ;
    return plen;
  }

  /** View of the packet from the last claim() (allocates a view object: use bytes/claimOffset in hot loops). */
  claimView(len: number): Uint8Array {
    return this.bytes.subarray(this.claimOffset, this.claimOffset + len);
  }

  /**
   * spsc_pbuf_free (consumer): release the claimed packet of `len` bytes. Skips a padding mark
   * that follows it unless the producer has not yet moved wr_idx past it.
   */
  free(len: number): void {
    const words = this.words;
    const pblen = this.dataLen;
    const rd = Atomics.load(words, RD_WORD);
    let next = (rd + len + LEN_SZ + 3) & ~3;
    if (!Number.isInteger(len) || len < 0 || next > pblen) {
      throw new RangeError(`spsc_pbuf: free(${len}) at rd_idx ${rd} runs past data[] (len ${pblen})`);
    }
    if (next === pblen) {
      next = 0;
    } else {
      const wr = Atomics.load(words, this.wrWord); // peer index before the byte it covers
      if (next !== wr && this.bytes[this.dataStart + next] === PADDING_MARK) next = 0;
    }
    Atomics.store(words, RD_WORD, next);
  }

  /**
   * spsc_pbuf_read (consumer): 0 if empty; with dst null the next packet's length (kept);
   * -ENOMEM if `len` (default dst.length) is smaller than the packet (kept); else copies,
   * frees and returns the length.
   */
  read(dst: Uint8Array | null, len?: number): number {
    const plen = this.claim();
    if (plen === 0) return 0;
    if (dst === null) return plen;
    const room = len ?? dst.length;
    if (room > dst.length) throw new RangeError(`spsc_pbuf: read of up to ${room} bytes into a ${dst.length}-byte buffer`);
    if (room < plen) return -ENOMEM;
    const bytes = this.bytes;
    const base = this.claimOffset;
    for (let i = 0; i < plen; i++) dst[i] = bytes[base + i];
    this.free(plen);
    return plen;
  }

  /** spsc_pbuf_get_utilization: -ENOTSUP unless enabled, else the largest fill level seen by claim(). */
  getUtilization(): number {
    if (!this.utilization) return -ENOTSUP;
    return (Atomics.load(this.words, FLAGS_WORD) >>> SPSC_PBUF_UTILIZATION_OFFSET) & UTIL_MASK;
  }
}
