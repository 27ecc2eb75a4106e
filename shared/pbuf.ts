// Zephyr's packed buffer (subsys/ipc/ipc_service/lib/pbuf.c, include/zephyr/ipc/pbuf.h): the
// single-producer single-consumer FIFO under ICMsg (and ICBMsg's control queue), one per direction.
//
// Byte layout of one region (all words u32 little-endian), with A = dcache-alignment:
//   @0               rd_idx      written by the READER (the core whose rx-region this is)
//   @4               handshake   written by the reader; only in session modes (unbound enable/detect)
//   @W               wr_idx      written by the WRITER; W = MAX(A, 4), or MAX(A, 8) with a handshake word
//                                (validate_cfg accepts a handshake word only with A >= 8)
//   @W+4 .. size     data[len]   written by the writer; len = size - W - 4, a multiple of 4, >= 12
// Packets: a 4-byte header (bytes 0-1 the payload length as big-endian u16, bytes 2-3 zero), the
// payload, padding to 4 bytes. The payload may wrap around the end; the header never does.
// Empty when rd_idx == wr_idx; one word always stays free to tell full from empty. Each side keeps
// its own index locally and reads only the peer's from shared memory.
//
// Stress hooks (shared/perturb.ts): between copying a packet and publishing wr_idx, a bit-flip
// fault may hit the payload and PT_PUBLISH may delay the writer. HETSOC_MUTATION=pbuf-publish-early
// (shared/mutation.ts) plants the reverse order: wr_idx first, then the copy, a race a reader hits.

import { PBUF_PUBLISH_EARLY } from './mutation.js';
import { PERTURB, PT_PUBLISH, flipPayloadBit, perturbAt } from './perturb.js';
import { EAGAIN, EINVAL, ENOMEM } from './zephyr-errno.js';

export const PBUF_RD_IDX_OFFSET = 0;
export const PBUF_HANDSHAKE_OFFSET = 4;
/** Size of the packet header and of one index word. */
export const PBUF_PACKET_LEN_SZ = 4;
/** _PBUF_MIN_DATA_LEN = ROUND_UP(4 + 1 + 4, 4). */
export const PBUF_MIN_DATA_LEN = 12;
/** The largest length a header can carry. */
export const PBUF_MAX_PACKET_LEN = 0xFFFF;

/** Offset of wr_idx for a dcache alignment and handshake mode. */
export function pbufWrIdxOffset(dcacheAlignment: number, handshake: boolean): number {
  return Math.max(dcacheAlignment, handshake ? 8 : 4);
}

export class PbufConfigError extends Error {
  override name = 'PbufConfigError';
}

export interface PbufOptions {
  /** dcache-alignment of the instance (0 when absent). */
  dcacheAlignment?: number;
  /** Session modes (unbound = "enable"/"detect") keep a handshake word at @4. */
  handshake?: boolean;
  /** Name used in error messages (the region's label or address). */
  name?: string;
}

const roundUp4 = (v: number): number => (v + 3) & ~3;

/**
 * Below this many bytes a copy is a plain loop: cheaper than the subarray view that
 * TypedArray.set needs (an allocation per call), measured on Node 20.
 */
const SMALL_COPY = 64;

/** dst[dstAt..] = src[srcAt, srcAt + n): no allocation for short copies or a whole-array source. */
function copyBytes(dst: Uint8Array, dstAt: number, src: Uint8Array, srcAt: number, n: number): void {
  if (n < SMALL_COPY) {
    for (let i = 0; i < n; i++) dst[dstAt + i] = src[srcAt + i]!;
  } else if (srcAt === 0 && n === src.length) {
    dst.set(src, dstAt);
  } else {
    dst.set(src.subarray(srcAt, srcAt + n), dstAt);
  }
}

/** One side's handle on a packed buffer. The writer calls txInit, write; the reader rxInit, read. */
export class Pbuf {
  readonly name: string;
  readonly dataLen: number;
  readonly wrIdxOffset: number;
  readonly dataOffset: number;
  /** Whether word @4 is the handshake word (session modes). */
  readonly handshake: boolean;
  private readonly words: Int32Array;
  private readonly wrWord: number;
  private readonly data: Uint8Array;
  private localWr = 0;
  private localRd = 0;

  constructor(readonly sab: SharedArrayBuffer, readonly byteOffset: number, readonly size: number, opts: PbufOptions = {}) {
    const align = opts.dcacheAlignment ?? 0;
    this.name = opts.name ?? `pbuf@${byteOffset}`;
    this.handshake = opts.handshake ?? false;
    if (!Number.isInteger(align) || align < 0 || (align & (align - 1)) !== 0) {
      throw new PbufConfigError(`pbuf ${this.name}: dcache-alignment ${align} is not a power of two`);
    }
    // validate_cfg: rd_idx_loc (the region start) aligned to MAX(A, 4).
    const regionAlign = Math.max(align, 4);
    if (!Number.isInteger(byteOffset) || byteOffset % regionAlign !== 0) {
      throw new PbufConfigError(`pbuf ${this.name}: region offset ${byteOffset} is not ${regionAlign}-byte aligned`);
    }
    // PBUF_DEFINE: size a multiple of 4 (validate_cfg rejects a data len that is not).
    if (!Number.isInteger(size) || size % 4 !== 0) {
      throw new PbufConfigError(`pbuf ${this.name}: size ${size} is not a multiple of 4`);
    }
    // validate_cfg: wr_idx_loc == rd_idx_loc + MAX(4, A); a handshake word puts wr_idx at MAX(A, 8).
    if (this.handshake && align < 8) {
      throw new PbufConfigError(`pbuf ${this.name}: a handshake word needs dcache-alignment >= 8, got ${align}`);
    }
    this.wrIdxOffset = pbufWrIdxOffset(align, this.handshake);
    this.dataOffset = this.wrIdxOffset + 4;
    this.dataLen = size - this.dataOffset;
    if (this.dataLen < PBUF_MIN_DATA_LEN) {
      throw new PbufConfigError(
        `pbuf ${this.name}: ${size} bytes leave ${this.dataLen} bytes of data after the ${this.dataOffset}-byte header; need at least ${PBUF_MIN_DATA_LEN}`,
      );
    }
    if (byteOffset + this.dataOffset + this.dataLen > sab.byteLength) {
      throw new PbufConfigError(`pbuf ${this.name}: ${size} bytes at offset ${byteOffset} run past the end of its memory (${sab.byteLength})`);
    }
    this.words = new Int32Array(sab, byteOffset, this.dataOffset / 4);
    this.wrWord = this.wrIdxOffset / 4;
    this.data = new Uint8Array(sab, byteOffset + this.dataOffset, this.dataLen);
  }

  /** pbuf_tx_init: the writer resets both shared indexes (only at (re)bonding) and its own copy. */
  txInit(): void {
    this.localWr = 0;
    this.localRd = 0;
    Atomics.store(this.words, this.wrWord, 0);
    Atomics.store(this.words, PBUF_RD_IDX_OFFSET / 4, 0);
  }

  /** pbuf_rx_init: the reader resets its local copies only. */
  rxInit(): void {
    this.localRd = 0;
    this.localWr = 0;
  }

  private occupied(wr: number, rd: number): number {
    return wr >= rd ? wr - rd : this.dataLen - (rd - wr);
  }

  /**
   * pbuf_write: copies `len` bytes of `src` (from `srcOffset`) as one packet and publishes wr_idx.
   * Returns len, -EINVAL (len outside 1..0xFFFF, src too short, a corrupt rd_idx) or -ENOMEM (not
   * enough free space).
   */
  write(src: Uint8Array, len: number = src.length, srcOffset = 0): number {
    if (!Number.isInteger(len) || len <= 0 || len > PBUF_MAX_PACKET_LEN) return -EINVAL;
    if (!Number.isInteger(srcOffset) || srcOffset < 0 || srcOffset + len > src.length) return -EINVAL;
    const rd = Atomics.load(this.words, PBUF_RD_IDX_OFFSET / 4);
    if ((rd & 3) !== 0 || rd < 0 || rd >= this.dataLen) return -EINVAL;
    const wr = this.localWr;
    const free = this.dataLen - this.occupied(wr, rd) - PBUF_PACKET_LEN_SZ;
    if (free < len + PBUF_PACKET_LEN_SZ) return -ENOMEM;
    // The header never wraps (indexes and dataLen are multiples of 4); the payload may.
    let at = wr + PBUF_PACKET_LEN_SZ;
    if (at === this.dataLen) at = 0;
    const first = Math.min(len, this.dataLen - at);
    let next = roundUp4(at + len);
    if (next >= this.dataLen) next -= this.dataLen;
    this.localWr = next;
    if (PBUF_PUBLISH_EARLY) {
      // Planted bug: the reader may take the stale bytes at [wr, next) for this packet.
      Atomics.store(this.words, this.wrWord, next);
      if (PERTURB.on) perturbAt(PT_PUBLISH);
      this.copyPacket(wr, at, first, src, len, srcOffset);
      return len;
    }
    this.copyPacket(wr, at, first, src, len, srcOffset);
    if (PERTURB.on) {
      // A wrapped payload: only its first, contiguous part (where the stress header sits) is a candidate.
      flipPayloadBit(this.data, at, first);
      perturbAt(PT_PUBLISH);
    }
    Atomics.store(this.words, this.wrWord, next);
    return len;
  }

  /** Header at `wr`, payload at `at` (`first` bytes there, the rest from data[0]). */
  private copyPacket(wr: number, at: number, first: number, src: Uint8Array, len: number, srcOffset: number): void {
    const d = this.data;
    d[wr] = len >>> 8;
    d[wr + 1] = len & 0xFF;
    d[wr + 2] = 0;
    d[wr + 3] = 0;
    copyBytes(d, at, src, srcOffset, first);
    if (first < len) copyBytes(d, 0, src, srcOffset + first, len - first);
  }

  /**
   * pbuf_read: with `dst` null returns the next packet's length (0 when empty) without consuming it;
   * otherwise copies it into dst (from dstOffset, at most maxLen bytes and never past dst's end) and
   * publishes rd_idx. Returns the length, 0 when empty, -ENOMEM when it does not fit (the packet
   * stays), -EINVAL for a corrupt wr_idx or a dstOffset outside dst, -EAGAIN when the header claims
   * more than was written.
   */
  read(dst: Uint8Array | null, maxLen: number = dst ? dst.length : 0, dstOffset = 0): number {
    const wr = Atomics.load(this.words, this.wrWord);
    if ((wr & 3) !== 0 || wr < 0 || wr >= this.dataLen) return -EINVAL;
    const rd = this.localRd;
    if (rd === wr) return 0;
    const d = this.data;
    const plen = (d[rd]! << 8) | d[rd + 1]!;
    if (dst === null) return plen;
    if (!Number.isInteger(dstOffset) || dstOffset < 0 || dstOffset > dst.length) return -EINVAL;
    if (plen > maxLen || plen > dst.length - dstOffset) return -ENOMEM;
    if (this.occupied(wr, rd) < plen + PBUF_PACKET_LEN_SZ) return -EAGAIN;
    let at = rd + PBUF_PACKET_LEN_SZ;
    if (at === this.dataLen) at = 0;
    const first = Math.min(plen, this.dataLen - at);
    copyBytes(dst, dstOffset, d, at, first);
    if (first < plen) copyBytes(dst, dstOffset + first, d, 0, plen - first);
    let next = roundUp4(at + plen);
    if (next >= this.dataLen) next -= this.dataLen;
    this.localRd = next;
    Atomics.store(this.words, PBUF_RD_IDX_OFFSET / 4, next);
    return plen;
  }

  /**
   * pbuf_get_initial_buf (ICMsg's detect mode): the payload of the first packet a freshly
   * initialised writer put at data[0], looked at in place without consuming it (a view onto shared
   * memory), or null when the reader has consumed anything (local rd_idx != 0), when wr_idx is 0,
   * not a valid index or above 0xFFFF, or when the packet its header announces runs past wr_idx.
   * Zephyr's stored copy of this function (marked TODO) hands back the data start and wr_idx as the
   * length, which can never equal the 13-byte magic it is compared with; hetsoc returns the
   * packet's payload, which is what the caller compares. Bonding only: it allocates the view.
   */
  getInitialBuf(): Uint8Array | null {
    if (this.localRd !== 0) return null;
    const wr = Atomics.load(this.words, this.wrWord);
    if (wr <= 0 || wr >= this.dataLen || wr > PBUF_MAX_PACKET_LEN || (wr & 3) !== 0) return null;
    const plen = (this.data[0]! << 8) | this.data[1]!;
    if (PBUF_PACKET_LEN_SZ + plen > wr) return null;
    return this.data.subarray(PBUF_PACKET_LEN_SZ, PBUF_PACKET_LEN_SZ + plen);
  }

  /** The shared indexes as they are in memory now (for tests and diagnostics). */
  indexes(): { rd: number; wr: number } {
    return { rd: Atomics.load(this.words, PBUF_RD_IDX_OFFSET / 4), wr: Atomics.load(this.words, this.wrWord) };
  }

  /** pbuf_handshake_read: the u32 at @4. Throws without a handshake word (@4 may be wr_idx then). */
  handshakeRead(): number {
    this.requireHandshake();
    return Atomics.load(this.words, PBUF_HANDSHAKE_OFFSET / 4) >>> 0;
  }

  /** pbuf_handshake_write: the reader's u32 at @4. Throws without a handshake word. */
  handshakeWrite(v: number): void {
    this.requireHandshake();
    Atomics.store(this.words, PBUF_HANDSHAKE_OFFSET / 4, v | 0);
  }

  private requireHandshake(): void {
    if (!this.handshake) throw new PbufConfigError(`pbuf ${this.name}: configured without a handshake word`);
  }
}
