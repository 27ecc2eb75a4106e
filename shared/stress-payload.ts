// The payload stress firmware sends, so that a receiver can tell lost, duplicated, reordered and
// corrupted messages apart. Every byte is a function of (flow seed, sequence number).
//
// A payload of 16 bytes or more (little-endian):
//   0x00 u32 magic     STRESS_MAGIC
//   0x04 u16 flow      the flow id from the run's plan
//   0x06 u16 len       total payload length
//   0x08 u32 seq       0, 1, 2, ... per flow
//   0x0c u32 checksum  FNV-1a over bytes [0x00, 0x0c) and [0x10, len)
//   0x10 ...           data: payloadByte(flowSeed, seq, i)
// A shorter payload (1..15 bytes, allowed by RPMsg and ICMsg) has no header: all its bytes are
// payloadByte(flowSeed, seq, i); the receiver checks it against the sequence number it expects.
//
// End of a flow: the sender sends FIN {u32 FIN_MAGIC, u16 flow, u16 16, u32 sent, u32 0} until the
// receiver answers ACK {u32 ACK_MAGIC, u16 flow, u16 16, u32 received, u32 corrupt}.

import { STRESS_MAGIC, mix32 } from './perturb.js';

export { STRESS_MAGIC };
export const STRESS_HDR = 16;
export const FIN_MAGIC = 0x214e4946; // "FIN!"
export const ACK_MAGIC = 0x214b4341; // "ACK!"
export const CONTROL_LEN = 16;

export const OFF_MAGIC = 0;
export const OFF_FLOW = 4;
export const OFF_LEN = 6;
export const OFF_SEQ = 8;
export const OFF_SUM = 12;

/** Byte i of the payload with sequence number seq of a flow. */
export function payloadByte(flowSeed: number, seq: number, i: number): number {
  return ((mix32(flowSeed, seq) >>> ((i & 3) << 3)) ^ i) & 0xff;
}

/** Length of message seq of a flow: mostly in [minLen, maxLen], `tinyPct`% of the time 1..15. */
export function payloadLength(flowSeed: number, seq: number, minLen: number, maxLen: number, tinyPct = 0): number {
  const h = mix32(flowSeed ^ 0x6c656e, seq);
  if (tinyPct > 0 && h % 100 < tinyPct) return 1 + ((h >>> 8) % 15);
  const lo = Math.max(minLen, STRESS_HDR);
  return lo + ((h >>> 8) % (maxLen - lo + 1));
}

function fnv(u8: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < OFF_SUM; i++) h = Math.imul(h ^ u8[off + i]!, 0x01000193);
  for (let i = STRESS_HDR; i < len; i++) h = Math.imul(h ^ u8[off + i]!, 0x01000193);
  return h >>> 0;
}

const rd32 = (u8: Uint8Array, o: number): number => (u8[o]! | (u8[o + 1]! << 8) | (u8[o + 2]! << 16) | (u8[o + 3]! << 24)) >>> 0;
const wr32 = (u8: Uint8Array, o: number, v: number): void => {
  u8[o] = v & 0xff;
  u8[o + 1] = (v >>> 8) & 0xff;
  u8[o + 2] = (v >>> 16) & 0xff;
  u8[o + 3] = (v >>> 24) & 0xff;
};
const rd16 = (u8: Uint8Array, o: number): number => u8[o]! | (u8[o + 1]! << 8);
const wr16 = (u8: Uint8Array, o: number, v: number): void => {
  u8[o] = v & 0xff;
  u8[o + 1] = (v >>> 8) & 0xff;
};

/** Writes payload seq of `flow` (length len) at u8[off...]. */
export function encodePayload(u8: Uint8Array, off: number, flow: number, flowSeed: number, seq: number, len: number): void {
  if (len < STRESS_HDR) {
    for (let i = 0; i < len; i++) u8[off + i] = payloadByte(flowSeed, seq, i);
    return;
  }
  wr32(u8, off + OFF_MAGIC, STRESS_MAGIC);
  wr16(u8, off + OFF_FLOW, flow);
  wr16(u8, off + OFF_LEN, len);
  wr32(u8, off + OFF_SEQ, seq);
  for (let i = STRESS_HDR; i < len; i++) u8[off + i] = payloadByte(flowSeed, seq, i);
  wr32(u8, off + OFF_SUM, fnv(u8, off, len));
}

export const VERIFY_OK = 0;
/** The bytes do not match any message of the flow (checksum or content mismatch). */
export const VERIFY_CORRUPT = 1;
/** Intact, but not the sequence number expected (see lastSeenSeq). */
export const VERIFY_WRONG_SEQ = 2;

/** Sequence number carried by the last payload verifyPayload() looked at (-1 for short ones it could not match). */
export let lastSeenSeq = -1;

/**
 * Checks a received payload against the next message expected on the flow. Short payloads carry
 * no sequence number: they are compared with message `expectedSeq`'s bytes.
 */
export function verifyPayload(u8: Uint8Array, off: number, len: number, flow: number, flowSeed: number, expectedSeq: number): number {
  if (len < STRESS_HDR) {
    lastSeenSeq = -1;
    for (let i = 0; i < len; i++) if (u8[off + i] !== payloadByte(flowSeed, expectedSeq, i)) return VERIFY_CORRUPT;
    lastSeenSeq = expectedSeq;
    return VERIFY_OK;
  }
  lastSeenSeq = rd32(u8, off + OFF_SEQ);
  if (rd32(u8, off + OFF_MAGIC) !== STRESS_MAGIC || rd16(u8, off + OFF_FLOW) !== flow || rd16(u8, off + OFF_LEN) !== len
      || rd32(u8, off + OFF_SUM) !== fnv(u8, off, len)) return VERIFY_CORRUPT;
  return lastSeenSeq === expectedSeq ? VERIFY_OK : VERIFY_WRONG_SEQ;
}

/** Writes a FIN or ACK control message (16 bytes). */
export function encodeControl(u8: Uint8Array, off: number, magic: number, flow: number, a: number, b: number): void {
  wr32(u8, off, magic);
  wr16(u8, off + OFF_FLOW, flow);
  wr16(u8, off + OFF_LEN, CONTROL_LEN);
  wr32(u8, off + 8, a);
  wr32(u8, off + 12, b);
}

/** FIN_MAGIC or ACK_MAGIC when u8[off, off+len) is such a control message, else 0. */
export function controlKind(u8: Uint8Array, off: number, len: number): number {
  if (len !== CONTROL_LEN) return 0;
  const m = rd32(u8, off);
  return m === FIN_MAGIC || m === ACK_MAGIC ? m : 0;
}

export const controlFlow = (u8: Uint8Array, off: number): number => rd16(u8, off + OFF_FLOW);
export const controlA = (u8: Uint8Array, off: number): number => rd32(u8, off + 8);
export const controlB = (u8: Uint8Array, off: number): number => rd32(u8, off + 12);
