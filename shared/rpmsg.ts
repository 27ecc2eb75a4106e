// RPMsg wire format (Linux drivers/rpmsg/virtio_rpmsg_bus.c struct rpmsg_hdr / rpmsg_ns_msg; same
// bytes as TI PDK RPMessage_MsgHeader / RPMessage_Announcement). All fields little-endian, packed.
//
// Message buffer (RPMSG_BUF_SIZE 512 bytes, written by the sender, read by the receiver):
//   src u32 @0 | dst u32 @4 | reserved u32 @8 | len u16 @12 | flags u16 @14 | payload @16 (<= 496)
// Name-service message (payload sent to endpoint 53, 40 bytes):
//   name[32] @0 (NUL-terminated, 1..31 chars) | addr u32 @32 | flags u32 @36 (0 create, 1 destroy)
//
// Functions take a DataView or a Uint8Array plus a byte offset relative to that view. Header
// readers do not allocate. Ordering across threads is the vring's job (publish after write).

/** Header size in bytes. */
export const RPMSG_HDR_SIZE = 16;
/** Header field offsets. */
export const RPMSG_HDR_SRC_OFF = 0;
export const RPMSG_HDR_DST_OFF = 4;
export const RPMSG_HDR_RESERVED_OFF = 8;
export const RPMSG_HDR_LEN_OFF = 12;
export const RPMSG_HDR_FLAGS_OFF = 14;
/** Payload starts right after the header. */
export const RPMSG_PAYLOAD_OFF = RPMSG_HDR_SIZE;

/** Buffer size used on Linux <-> remote links. */
export const RPMSG_BUF_SIZE = 512;
/** Largest payload in one buffer (512 - 16). */
export const RPMSG_MAX_PAYLOAD = RPMSG_BUF_SIZE - RPMSG_HDR_SIZE;
/** Wildcard / unassigned address. */
export const RPMSG_ADDR_ANY = 0xffffffff;
/** Name-service endpoint address. */
export const RPMSG_NS_ADDR = 53;
/** Linux: addresses below this are reserved; dynamic addresses start here. */
export const RPMSG_RESERVED_ADDRESSES = 1024;

/** Name-service message layout. */
export const RPMSG_NAME_SIZE = 32;
export const RPMSG_NS_NAME_OFF = 0;
export const RPMSG_NS_ADDR_OFF = 32;
export const RPMSG_NS_FLAGS_OFF = 36;
export const RPMSG_NS_MSG_SIZE = 40;
/** Name-service flags. */
export const RPMSG_NS_CREATE = 0;
export const RPMSG_NS_DESTROY = 1;

type ByteView = DataView | Uint8Array;

function viewLength(view: ByteView): number {
  return view.byteLength;
}

function checkRange(view: ByteView, off: number, size: number, what: string): void {
  if (!Number.isInteger(off) || off < 0 || off + size > viewLength(view)) {
    throw new RangeError(`${what} at offset ${off} (+${size}) is outside a view of ${viewLength(view)} bytes`);
  }
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${what} ${v} out of range 0..${max}`);
  }
}

function rd16(view: ByteView, off: number): number {
  if (view instanceof DataView) return view.getUint16(off, true);
  return view[off] | (view[off + 1] << 8);
}

function rd32(view: ByteView, off: number): number {
  if (view instanceof DataView) return view.getUint32(off, true);
  return (view[off] | (view[off + 1] << 8) | (view[off + 2] << 16) | (view[off + 3] << 24)) >>> 0;
}

function wr16(view: ByteView, off: number, v: number): void {
  if (view instanceof DataView) {
    view.setUint16(off, v, true);
    return;
  }
  view[off] = v & 0xff;
  view[off + 1] = (v >>> 8) & 0xff;
}

function wr32(view: ByteView, off: number, v: number): void {
  if (view instanceof DataView) {
    view.setUint32(off, v >>> 0, true);
    return;
  }
  view[off] = v & 0xff;
  view[off + 1] = (v >>> 8) & 0xff;
  view[off + 2] = (v >>> 16) & 0xff;
  view[off + 3] = (v >>> 24) & 0xff;
}

/**
 * Write a 16-byte RPMsg header at `off`. `src`, `dst`, `reserved` are u32; `len` and `flags` u16.
 * Throws RangeError on an out-of-range field or offset.
 */
export function writeHeader(
  view: ByteView,
  off: number,
  src: number,
  dst: number,
  reserved: number,
  len: number,
  flags: number,
): void {
  checkRange(view, off, RPMSG_HDR_SIZE, 'rpmsg header');
  checkUint(src, 0xffffffff, 'rpmsg header src');
  checkUint(dst, 0xffffffff, 'rpmsg header dst');
  checkUint(reserved, 0xffffffff, 'rpmsg header reserved');
  checkUint(len, 0xffff, 'rpmsg header len');
  checkUint(flags, 0xffff, 'rpmsg header flags');
  wr32(view, off + RPMSG_HDR_SRC_OFF, src);
  wr32(view, off + RPMSG_HDR_DST_OFF, dst);
  wr32(view, off + RPMSG_HDR_RESERVED_OFF, reserved);
  wr16(view, off + RPMSG_HDR_LEN_OFF, len);
  wr16(view, off + RPMSG_HDR_FLAGS_OFF, flags);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Header access for per-message paths over one area of message buffers (e.g. the 256 x 512 bytes
 * behind a vring), built once per area: no allocation, and 32-bit word accesses when the area and
 * the header are 4-byte aligned on a little-endian host. Any other case (and every bad field or
 * offset) goes to writeHeader / hdrSrc / hdrDst / hdrLen on `area`: results and errors are theirs.
 */
export class RpmsgBufView {
  /** The view the area was given as (fallback of every access). */
  readonly area: ByteView;
  /** The area by 32-bit word (word i = bytes 4i..4i+3), or undefined if unaligned or big-endian. */
  readonly words: Int32Array | undefined;
  readonly byteLength: number;

  constructor(area: ByteView) {
    const { buffer, byteOffset, byteLength } = area;
    this.area = area;
    this.byteLength = byteLength;
    this.words = LITTLE_ENDIAN && (byteOffset & 3) === 0 ? new Int32Array(buffer, byteOffset, byteLength >>> 2) : undefined;
  }

  /** Word index of the header at `off` if it can be accessed by word, else -1. */
  private wordAt(off: number): number {
    // (off >>> 0) === off: an integer in 0..2^32-1.
    return this.words !== undefined && (off & 3) === 0 && (off >>> 0) === off && off + RPMSG_HDR_SIZE <= this.byteLength
      ? off >>> 2 : -1;
  }

  /** writeHeader(area, off, ...): throws the same RangeError on an out-of-range field or offset. */
  writeHeader(off: number, src: number, dst: number, reserved: number, len: number, flags: number): void {
    const w = this.wordAt(off);
    // (x >>> 0) === x: x is a u32; (x & 0xffff) === x: x is a u16.
    if (w < 0 || (src >>> 0) !== src || (dst >>> 0) !== dst || (reserved >>> 0) !== reserved ||
        (len & 0xffff) !== len || (flags & 0xffff) !== flags) {
      writeHeader(this.area, off, src, dst, reserved, len, flags);
      return;
    }
    const words = this.words!;
    words[w + (RPMSG_HDR_SRC_OFF >>> 2)] = src;
    words[w + (RPMSG_HDR_DST_OFF >>> 2)] = dst;
    words[w + (RPMSG_HDR_RESERVED_OFF >>> 2)] = reserved;
    words[w + (RPMSG_HDR_LEN_OFF >>> 2)] = len | (flags << 16); // len u16 @12, flags u16 @14
  }

  /** hdrSrc(area, off). */
  src(off: number): number {
    const w = this.wordAt(off);
    return w < 0 ? hdrSrc(this.area, off) : this.words![w + (RPMSG_HDR_SRC_OFF >>> 2)]! >>> 0;
  }

  /** hdrDst(area, off). */
  dst(off: number): number {
    const w = this.wordAt(off);
    return w < 0 ? hdrDst(this.area, off) : this.words![w + (RPMSG_HDR_DST_OFF >>> 2)]! >>> 0;
  }

  /** hdrLen(area, off). */
  len(off: number): number {
    const w = this.wordAt(off);
    return w < 0 ? hdrLen(this.area, off) : this.words![w + (RPMSG_HDR_LEN_OFF >>> 2)]! & 0xffff;
  }
}

/** Header `src` (u32) of the message at `off`. */
export function hdrSrc(view: ByteView, off: number): number {
  return rd32(view, off + RPMSG_HDR_SRC_OFF);
}

/** Header `dst` (u32) of the message at `off`. */
export function hdrDst(view: ByteView, off: number): number {
  return rd32(view, off + RPMSG_HDR_DST_OFF);
}

/** Header `reserved` (u32; PDK puts the sender proc id here, Linux 0). */
export function hdrReserved(view: ByteView, off: number): number {
  return rd32(view, off + RPMSG_HDR_RESERVED_OFF);
}

/** Header payload length `len` (u16). */
export function hdrLen(view: ByteView, off: number): number {
  return rd16(view, off + RPMSG_HDR_LEN_OFF);
}

/** Header `flags` (u16). */
export function hdrFlags(view: ByteView, off: number): number {
  return rd16(view, off + RPMSG_HDR_FLAGS_OFF);
}

/**
 * Write a 40-byte name-service message at `off`: `name` (1..31 ASCII chars, no NUL) NUL-padded
 * to 32 bytes, then `addr` and `flags` as u32. Throws RangeError on a bad name.
 */
export function writeNsMsg(u8: Uint8Array, off: number, name: string, addr: number, flags: number): void {
  checkRange(u8, off, RPMSG_NS_MSG_SIZE, 'rpmsg ns message');
  if (name.length < 1 || name.length > RPMSG_NAME_SIZE - 1) {
    throw new RangeError(
      `rpmsg ns name ${JSON.stringify(name)} has ${name.length} chars, expected 1..${RPMSG_NAME_SIZE - 1}`,
    );
  }
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0 || c > 0x7f) {
      throw new RangeError(`rpmsg ns name ${JSON.stringify(name)}: char ${i} (code ${c}) is not non-NUL ASCII`);
    }
  }
  checkUint(addr, 0xffffffff, 'rpmsg ns addr');
  checkUint(flags, 0xffffffff, 'rpmsg ns flags');
  for (let i = 0; i < RPMSG_NAME_SIZE; i++) {
    u8[off + RPMSG_NS_NAME_OFF + i] = i < name.length ? name.charCodeAt(i) : 0;
  }
  wr32(u8, off + RPMSG_NS_ADDR_OFF, addr);
  wr32(u8, off + RPMSG_NS_FLAGS_OFF, flags);
}

/**
 * Name in the name-service message at `off`: bytes up to the first NUL; byte 31 is always treated
 * as NUL (as Linux forces name[31] = 0), so at most 31 chars. Bytes are mapped 1:1 to char codes.
 */
export function readNsName(u8: Uint8Array, off: number): string {
  checkRange(u8, off, RPMSG_NAME_SIZE, 'rpmsg ns name');
  let end = 0;
  while (end < RPMSG_NAME_SIZE - 1 && u8[off + RPMSG_NS_NAME_OFF + end] !== 0) end++;
  let s = '';
  for (let i = 0; i < end; i++) s += String.fromCharCode(u8[off + RPMSG_NS_NAME_OFF + i]);
  return s;
}

/** `addr` (u32) of the name-service message at `off`. */
export function readNsAddr(u8: Uint8Array, off: number): number {
  return rd32(u8, off + RPMSG_NS_ADDR_OFF);
}

/** `flags` (u32; RPMSG_NS_CREATE / RPMSG_NS_DESTROY) of the name-service message at `off`. */
export function readNsFlags(u8: Uint8Array, off: number): number {
  return rd32(u8, off + RPMSG_NS_FLAGS_OFF);
}
