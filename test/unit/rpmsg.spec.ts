import { expect } from 'chai';
import {
  RPMSG_ADDR_ANY,
  RPMSG_BUF_SIZE,
  RPMSG_HDR_SIZE,
  RPMSG_MAX_PAYLOAD,
  RPMSG_NAME_SIZE,
  RPMSG_NS_ADDR,
  RPMSG_NS_CREATE,
  RPMSG_NS_DESTROY,
  RPMSG_NS_MSG_SIZE,
  RPMSG_RESERVED_ADDRESSES,
  hdrDst,
  hdrFlags,
  hdrLen,
  hdrReserved,
  hdrSrc,
  readNsAddr,
  readNsFlags,
  readNsName,
  writeHeader,
  writeNsMsg,
} from '../../shared/rpmsg.js';

describe('rpmsg constants', () => {
  it('match the Linux / PDK values', () => {
    expect(RPMSG_HDR_SIZE).to.equal(16);
    expect(RPMSG_BUF_SIZE).to.equal(512);
    expect(RPMSG_MAX_PAYLOAD).to.equal(496);
    expect(RPMSG_ADDR_ANY).to.equal(0xffffffff);
    expect(RPMSG_NS_ADDR).to.equal(53);
    expect(RPMSG_NS_MSG_SIZE).to.equal(40);
    expect(RPMSG_NAME_SIZE).to.equal(32);
    expect(RPMSG_NS_CREATE).to.equal(0);
    expect(RPMSG_NS_DESTROY).to.equal(1);
    expect(RPMSG_RESERVED_ADDRESSES).to.equal(1024);
  });
});

describe('rpmsg header', () => {
  it('writes src, dst, reserved, len, flags as 16 little-endian bytes at the given offset', () => {
    const u8 = new Uint8Array(24).fill(0xee);
    writeHeader(u8, 4, 1024, 14, 3, 0x01f0, 0);
    expect(Array.from(u8)).to.deep.equal([
      0xee, 0xee, 0xee, 0xee,
      0x00, 0x04, 0x00, 0x00, // src 1024
      0x0e, 0x00, 0x00, 0x00, // dst 14
      0x03, 0x00, 0x00, 0x00, // reserved 3
      0xf0, 0x01, // len 496
      0x00, 0x00, // flags
      0xee, 0xee, 0xee, 0xee,
    ]);
  });

  it('reads back the same fields through a Uint8Array or a DataView over a SharedArrayBuffer', () => {
    const sab = new SharedArrayBuffer(64);
    const dv = new DataView(sab, 16);
    writeHeader(dv, 8, RPMSG_ADDR_ANY, RPMSG_NS_ADDR, 0x80000001, 40, 0xabcd);
    const u8 = new Uint8Array(sab, 16);
    for (const view of [dv, u8]) {
      expect(hdrSrc(view, 8)).to.equal(0xffffffff);
      expect(hdrDst(view, 8)).to.equal(53);
      expect(hdrReserved(view, 8)).to.equal(0x80000001);
      expect(hdrLen(view, 8)).to.equal(40);
      expect(hdrFlags(view, 8)).to.equal(0xabcd);
    }
    expect(Array.from(new Uint8Array(sab, 24, 4))).to.deep.equal([0xff, 0xff, 0xff, 0xff]);
  });

  it('rejects fields that do not fit and a header that would overrun the view', () => {
    const u8 = new Uint8Array(32);
    expect(() => writeHeader(u8, 0, 1, 2, 0, 0x10000, 0)).to.throw(RangeError, /len 65536/);
    expect(() => writeHeader(u8, 0, -1, 2, 0, 0, 0)).to.throw(RangeError, /src -1/);
    expect(() => writeHeader(u8, 0, 1, 2 ** 32, 0, 0, 0)).to.throw(RangeError, /dst/);
    expect(() => writeHeader(u8, 17, 1, 2, 0, 0, 0)).to.throw(RangeError, /offset 17/);
  });
});

describe('rpmsg name-service message', () => {
  it('encodes "rpmsg_chrdev" at address 14 as the exact 40 bytes Linux expects', () => {
    const u8 = new Uint8Array(RPMSG_NS_MSG_SIZE).fill(0xff);
    writeNsMsg(u8, 0, 'rpmsg_chrdev', 14, RPMSG_NS_CREATE);
    const expected = [
      0x72, 0x70, 0x6d, 0x73, 0x67, 0x5f, 0x63, 0x68, 0x72, 0x64, 0x65, 0x76, // "rpmsg_chrdev"
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // NUL padding to 32
      0x0e, 0x00, 0x00, 0x00, // addr 14
      0x00, 0x00, 0x00, 0x00, // flags CREATE
    ];
    expect(Array.from(u8)).to.deep.equal(expected);
    expect(readNsName(u8, 0)).to.equal('rpmsg_chrdev');
    expect(readNsAddr(u8, 0)).to.equal(14);
    expect(readNsFlags(u8, 0)).to.equal(RPMSG_NS_CREATE);
  });

  it('round-trips a 31-char name and a DESTROY at an offset inside a larger buffer', () => {
    const u8 = new Uint8Array(RPMSG_BUF_SIZE);
    const name = 'a'.repeat(31);
    writeNsMsg(u8, RPMSG_HDR_SIZE, name, 1025, RPMSG_NS_DESTROY);
    expect(u8[RPMSG_HDR_SIZE + 31]).to.equal(0);
    expect(readNsName(u8, RPMSG_HDR_SIZE)).to.equal(name);
    expect(readNsAddr(u8, RPMSG_HDR_SIZE)).to.equal(1025);
    expect(readNsFlags(u8, RPMSG_HDR_SIZE)).to.equal(RPMSG_NS_DESTROY);
  });

  it('treats byte 31 of the name as NUL like Linux does', () => {
    const u8 = new Uint8Array(RPMSG_NS_MSG_SIZE).fill(0x41);
    expect(readNsName(u8, 0)).to.equal('A'.repeat(31));
  });

  it('rejects empty, over-long, non-ASCII and NUL-containing names', () => {
    const u8 = new Uint8Array(RPMSG_NS_MSG_SIZE);
    expect(() => writeNsMsg(u8, 0, '', 14, 0)).to.throw(RangeError, /0 chars, expected 1\.\.31/);
    expect(() => writeNsMsg(u8, 0, 'x'.repeat(32), 14, 0)).to.throw(RangeError, /32 chars, expected 1\.\.31/);
    expect(() => writeNsMsg(u8, 0, 'caf\u00e9', 14, 0)).to.throw(RangeError, /char 3/);
    expect(() => writeNsMsg(u8, 0, 'a\u0000b', 14, 0)).to.throw(RangeError, /char 1/);
    expect(() => writeNsMsg(u8, 1, 'ok', 14, 0)).to.throw(RangeError, /outside/);
  });
});
