// Pins shared/pbuf.ts to Zephyr's packed buffer (subsys/ipc/ipc_service/lib/pbuf.c): a port of
// tests/subsys/ipc/pbuf test_rw and test_retcodes with their numbers, then the byte layout of
// reference §2.2/§2.3 checked on raw views of the SharedArrayBuffer, and who writes which word.
// C's NULL pb / NULL data have no JS equivalent; the tests that stand in for them say so in their names.
import { expect } from 'chai';
import {
  PBUF_MAX_PACKET_LEN,
  PBUF_MIN_DATA_LEN,
  PBUF_PACKET_LEN_SZ,
  Pbuf,
  PbufConfigError,
  type PbufOptions,
  pbufWrIdxOffset,
} from '../../shared/pbuf.js';
import { EAGAIN, EINVAL, ENOMEM } from '../../shared/zephyr-errno.js';

/** Zephyr's test fills its write buffer with i + 1. */
function zephyrWriteBuf(n = 256): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i + 1) & 0xff;
  return b;
}

/** A writer and a reader handle on one fresh region (writer txInit, reader rxInit, as ICMsg does). */
function pair(size: number, opts: PbufOptions = {}, byteOffset = 0, sabBytes = byteOffset + size) {
  const sab = new SharedArrayBuffer(sabBytes);
  const tx = new Pbuf(sab, byteOffset, size, opts);
  const rx = new Pbuf(sab, byteOffset, size, opts);
  tx.txInit();
  rx.rxInit();
  return { sab, tx, rx, u8: new Uint8Array(sab), i32: new Int32Array(sab) };
}

/** Writes and reads packets of `len` until both indexes sit at `target` (a multiple of 4). */
function advanceTo(tx: Pbuf, rx: Pbuf, target: number): void {
  const scratch = new Uint8Array(PBUF_MAX_PACKET_LEN);
  let at = tx.indexes().wr;
  while (at !== target) {
    const step = target > at ? target - at : tx.dataLen - at + target;
    // Packets of 8 B (the smallest) up to half the buffer keep every write legal; a 4 B step overshoots and goes round.
    const chunk = Math.max(8, Math.min(step, (tx.dataLen / 2) & ~3));
    expect(tx.write(scratch, chunk - PBUF_PACKET_LEN_SZ)).to.equal(chunk - PBUF_PACKET_LEN_SZ);
    expect(rx.read(scratch)).to.equal(chunk - PBUF_PACKET_LEN_SZ);
    at = (at + chunk) % tx.dataLen;
  }
  expect(tx.indexes()).to.deep.equal({ rd: target, wr: target });
}

describe('pbuf (Zephyr subsys/ipc/ipc_service/lib/pbuf.c)', function () {
  describe('Zephyr tests/subsys/ipc/pbuf: test_rw', function () {
    it('256 B at A=0: 248 data bytes; 11 then 25 B come back in order, a 10-byte buffer gets -ENOMEM, 240 B wraps and reads back', function () {
      const MSGA_SZ = 11;
      const MSGB_SZ = 25;
      const MPS = 240;
      const { tx, rx } = pair(256, { dcacheAlignment: 0 });
      const writeBuf = zephyrWriteBuf();
      const readBuf = new Uint8Array(256);
      expect(tx.dataLen).to.equal(248);

      expect(tx.write(writeBuf, MSGA_SZ)).to.equal(MSGA_SZ);
      expect(tx.write(writeBuf, MSGB_SZ, MSGA_SZ)).to.equal(MSGB_SZ);

      let ret = rx.read(null, 0);
      expect(ret).to.equal(MSGA_SZ);
      expect(rx.read(readBuf, ret - 1)).to.equal(-ENOMEM);
      ret = rx.read(readBuf, ret);
      expect(ret).to.equal(MSGA_SZ);
      expect(readBuf.subarray(0, ret)).to.deep.equal(writeBuf.subarray(0, MSGA_SZ));

      ret = rx.read(null, 0);
      expect(ret).to.equal(MSGB_SZ);
      ret = rx.read(readBuf, ret);
      expect(ret).to.equal(MSGB_SZ);
      expect(readBuf.subarray(0, ret)).to.deep.equal(writeBuf.subarray(MSGA_SZ, MSGA_SZ + MSGB_SZ));

      expect(rx.read(null, 0)).to.equal(0);

      // wr = 48 now, so 4 + 240 bytes run past 248 and the payload wraps to data[0].
      expect(tx.indexes().wr).to.equal(48);
      expect(tx.write(writeBuf, MPS)).to.equal(MPS);
      ret = rx.read(null, 0);
      expect(ret).to.equal(MPS);
      ret = rx.read(readBuf, ret);
      expect(ret).to.equal(MPS);
      expect(readBuf.subarray(0, MPS)).to.deep.equal(writeBuf.subarray(0, MPS));
      expect(tx.indexes()).to.deep.equal({ rd: 44, wr: 44 });
    });
  });

  describe('Zephyr tests/subsys/ipc/pbuf: test_retcodes', function () {
    it('configs (256, A32), (256, A0) and (20, A4) initialise; (20, A4) has 12 data bytes', function () {
      const sab = new SharedArrayBuffer(256);
      const pb0 = new Pbuf(sab, 0, 256, { dcacheAlignment: 32 });
      const pb1 = new Pbuf(sab, 0, 256, { dcacheAlignment: 0 });
      const pb2 = new Pbuf(sab, 0, 20, { dcacheAlignment: 4 });
      for (const pb of [pb0, pb1, pb2]) pb.txInit();
      expect([pb0.dataLen, pb1.dataLen, pb2.dataLen]).to.deep.equal([220, 248, 12]);
      expect(pb2.dataLen).to.equal(PBUF_MIN_DATA_LEN);
    });

    it('write(len 0) returns -EINVAL, as in Zephyr', function () {
      const { tx } = pair(20, { dcacheAlignment: 4 });
      expect(tx.write(zephyrWriteBuf(), 0)).to.equal(-EINVAL);
      expect(tx.write(new Uint8Array(0))).to.equal(-EINVAL);
      expect(tx.indexes()).to.deep.equal({ rd: 0, wr: 0 });
    });

    it('write(NULL data) stand-in: a length or offset past the end of the source returns -EINVAL and writes nothing', function () {
      const { tx, u8 } = pair(256, { dcacheAlignment: 0 });
      const before = u8.slice();
      expect(tx.write(new Uint8Array(4), 10)).to.equal(-EINVAL);
      expect(tx.write(new Uint8Array(10), 4, 8)).to.equal(-EINVAL);
      expect(tx.write(new Uint8Array(PBUF_MAX_PACKET_LEN + 1), PBUF_MAX_PACKET_LEN + 1)).to.equal(-EINVAL);
      expect(u8).to.deep.equal(before);
    });

    it('write(NULL pb) stand-in: a corrupt shared rd_idx (not 4-aligned, negative or >= data len) returns -EINVAL', function () {
      const { tx, i32 } = pair(20, { dcacheAlignment: 4 });
      const src = zephyrWriteBuf();
      // 2 is Zephyr's own check (misaligned); the range checks are this port's hardening.
      for (const bad of [2, 13, -4, 12, 1 << 20]) {
        i32[0] = bad;
        expect(tx.write(src, 4), `rd_idx ${bad}`).to.equal(-EINVAL);
        expect(Atomics.load(i32, 1), 'wr_idx untouched').to.equal(0);
      }
      i32[0] = 0;
      expect(tx.write(src, 4)).to.equal(4);
    });

    it('read(NULL pb) stand-in: a corrupt shared wr_idx (not 4-aligned, negative or >= data len) returns -EINVAL', function () {
      const { tx, rx, i32 } = pair(20, { dcacheAlignment: 4 });
      expect(tx.write(zephyrWriteBuf(), 4)).to.equal(4);
      const buf = new Uint8Array(10);
      for (const bad of [6, 1, -8, 12, 64]) {
        i32[1] = bad;
        expect(rx.read(buf, 10), `wr_idx ${bad}`).to.equal(-EINVAL);
        expect(rx.read(null, 10), `wr_idx ${bad}, null buffer`).to.equal(-EINVAL);
        expect(Atomics.load(i32, 0), 'rd_idx untouched').to.equal(0);
      }
      i32[1] = 8;
      expect(rx.read(buf, 10)).to.equal(4);
    });

    it('20 B at A=4: write 5 → -ENOMEM, 4 → 4, 1 → -ENOMEM; read(null) → 4; 1-byte buffer → -ENOMEM; read 4 → 4; then 0 three times', function () {
      const { tx, rx } = pair(20, { dcacheAlignment: 4 });
      const writeBuf = zephyrWriteBuf();
      const readBuf = new Uint8Array(256);

      expect(tx.write(writeBuf, 5)).to.equal(-ENOMEM);
      expect(tx.write(writeBuf, 4)).to.equal(4);
      expect(tx.write(writeBuf, 1)).to.equal(-ENOMEM);

      expect(rx.read(null, 1)).to.equal(4);
      expect(rx.read(readBuf, 1)).to.equal(-ENOMEM);
      expect(rx.read(null, 0)).to.equal(4);
      expect(rx.read(readBuf, 4)).to.equal(4);
      expect(readBuf.subarray(0, 4)).to.deep.equal(writeBuf.subarray(0, 4));

      expect(rx.read(readBuf, 10)).to.equal(0);
      expect(rx.read(readBuf, 10)).to.equal(0);
      expect(rx.read(readBuf, 10)).to.equal(0);
    });
  });

  describe('shared layout (reference §2.2) on raw views of the SharedArrayBuffer', function () {
    const REGION = 0x400;
    const cases: Array<{ a: number; handshake: boolean; wr: number; data: number; len: number }> = [
      { a: 0, handshake: false, wr: 4, data: 8, len: 2040 },
      { a: 8, handshake: false, wr: 8, data: 12, len: 2036 },
      { a: 8, handshake: true, wr: 8, data: 12, len: 2036 },
      { a: 32, handshake: false, wr: 32, data: 36, len: 2012 },
      { a: 32, handshake: true, wr: 32, data: 36, len: 2012 },
    ];
    for (const c of cases) {
      it(`0x800 region, A=${c.a}${c.handshake ? ' with handshake' : ', no handshake'}: wr_idx @${c.wr}, data @${c.data}, ${c.len} data bytes`, function () {
        const { tx, u8, i32 } = pair(0x800, { dcacheAlignment: c.a, handshake: c.handshake }, REGION, 0x1000);
        expect(pbufWrIdxOffset(c.a, c.handshake)).to.equal(c.wr);
        expect([tx.wrIdxOffset, tx.dataOffset, tx.dataLen]).to.deep.equal([c.wr, c.data, c.len]);

        u8.fill(0xa5, 0, REGION);
        u8.fill(0xa5, REGION + 0x800);
        const payload = Uint8Array.of(0x11, 0x22, 0x33, 0x44, 0x55);
        expect(tx.write(payload)).to.equal(5);

        expect(i32[(REGION + c.wr) / 4], 'wr_idx = ROUND_UP(4 + 5, 4)').to.equal(12);
        expect(i32[REGION / 4], 'rd_idx').to.equal(0);
        const d = REGION + c.data;
        expect([...u8.subarray(d, d + 12)]).to.deep.equal([0x00, 0x05, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0, 0]);
        expect(u8.subarray(0, REGION).every((b) => b === 0xa5), 'below the region').to.equal(true);
        expect(u8.subarray(REGION + 0x800).every((b) => b === 0xa5), 'above the region').to.equal(true);
      });
    }

    it('the header is the length as big-endian u16 in bytes 0-1 and zero in bytes 2-3, whatever was there before', function () {
      const { tx, u8 } = pair(0x800, {}, 0, 0x800);
      u8.fill(0xff, tx.dataOffset);
      const payload = new Uint8Array(0x123).fill(0x5a);
      expect(tx.write(payload)).to.equal(0x123);
      const d = tx.dataOffset;
      expect([...u8.subarray(d, d + 4)]).to.deep.equal([0x01, 0x23, 0x00, 0x00]);
      expect(u8.subarray(d + 4, d + 4 + 0x123).every((b) => b === 0x5a)).to.equal(true);
      // Padding bytes after the payload are not written (Zephyr copies only len bytes).
      expect(u8[d + 4 + 0x123]).to.equal(0xff);
    });

    it('wr_idx is published as ROUND_UP(wr + 4 + len, 4): lengths 1..5 give 8, 16, 24, 32, 44', function () {
      const { tx, i32 } = pair(256);
      const got: number[] = [];
      for (let len = 1; len <= 5; len++) {
        expect(tx.write(zephyrWriteBuf(), len)).to.equal(len);
        got.push(i32[tx.wrIdxOffset / 4]!);
      }
      expect(got).to.deep.equal([8, 16, 24, 32, 44]);
    });

    it('header in the last word of 20 B at A=4 (at === data len): the payload starts at data[0] and wr_idx wraps to 4', function () {
      const { tx, rx, u8, i32 } = pair(20, { dcacheAlignment: 4 });
      const out = new Uint8Array(4);
      expect(tx.write(Uint8Array.of(1, 2, 3, 4))).to.equal(4);
      expect(rx.read(out)).to.equal(4);
      expect([i32[0], i32[1]]).to.deep.equal([8, 8]);

      expect(tx.write(Uint8Array.of(9, 8, 7, 6))).to.equal(4);
      expect([...u8.subarray(8 + 8, 8 + 12)], 'header in data[8..11]').to.deep.equal([0, 4, 0, 0]);
      expect([...u8.subarray(8, 8 + 4)], 'payload in data[0..3]').to.deep.equal([9, 8, 7, 6]);
      expect(i32[1]).to.equal(4);
      expect(rx.read(out)).to.equal(4);
      expect([...out]).to.deep.equal([9, 8, 7, 6]);
      expect(i32[0]).to.equal(4);
    });

    it('header in the last word of 248 data bytes: 7 B land in data[0..6], wr_idx 8; a 240 B maximum still fits from there', function () {
      const { tx, rx, u8, i32 } = pair(256);
      advanceTo(tx, rx, 244);
      const payload = Uint8Array.of(0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7);
      expect(tx.write(payload)).to.equal(7);
      const d = tx.dataOffset;
      expect([...u8.subarray(d + 244, d + 248)]).to.deep.equal([0, 7, 0, 0]);
      expect([...u8.subarray(d, d + 7)]).to.deep.equal([...payload]);
      expect(i32[tx.wrIdxOffset / 4]).to.equal(8);
      const out = new Uint8Array(16);
      expect(rx.read(out)).to.equal(7);
      expect([...out.subarray(0, 7)]).to.deep.equal([...payload]);
      expect(i32[0]).to.equal(8);

      // Largest message on an empty buffer is len_buf - 8, wherever the indexes are.
      const big = zephyrWriteBuf(240);
      expect(tx.write(big)).to.equal(240);
      expect(tx.write(big, 1)).to.equal(-ENOMEM);
      const back = new Uint8Array(240);
      expect(rx.read(back)).to.equal(240);
      expect(back).to.deep.equal(big);
    });

    it('a payload that crosses the end splits: 4 bytes before the end, the rest at data[0]; wr_idx = ROUND_UP(rest, 4)', function () {
      const { tx, rx, u8, i32 } = pair(256);
      advanceTo(tx, rx, 240);
      const payload = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
      expect(tx.write(payload)).to.equal(10);
      const d = tx.dataOffset;
      expect([...u8.subarray(d + 240, d + 244)]).to.deep.equal([0, 10, 0, 0]);
      expect([...u8.subarray(d + 244, d + 248)]).to.deep.equal([1, 2, 3, 4]);
      expect([...u8.subarray(d, d + 6)]).to.deep.equal([5, 6, 7, 8, 9, 10]);
      expect(i32[tx.wrIdxOffset / 4]).to.equal(8);
      const out = new Uint8Array(10);
      expect(rx.read(out)).to.equal(10);
      expect(out).to.deep.equal(payload);
      expect(i32[0]).to.equal(8);
    });

    it('a header claiming more than wr_idx covers gives -EAGAIN and leaves rd_idx; read(null) still reports the claimed length', function () {
      const { tx, rx, u8, i32 } = pair(256);
      expect(tx.write(Uint8Array.of(1, 2, 3, 4))).to.equal(4);
      u8[tx.dataOffset] = 0;
      u8[tx.dataOffset + 1] = 100; // header now says 100, wr_idx says 8
      expect(rx.read(new Uint8Array(200))).to.equal(-EAGAIN);
      expect(rx.read(null)).to.equal(100);
      expect(i32[0]).to.equal(0);
    });

    it('a read into dst at an offset with too little room left returns -ENOMEM and keeps the packet', function () {
      const { tx, rx, i32 } = pair(256);
      expect(tx.write(zephyrWriteBuf(), 8)).to.equal(8);
      const dst = new Uint8Array(10);
      expect(rx.read(dst, undefined, 4)).to.equal(-ENOMEM);
      expect(rx.read(dst, 10, 4)).to.equal(-ENOMEM);
      expect(i32[0]).to.equal(0);
      expect(rx.read(dst, 8, 2)).to.equal(8);
      expect([...dst]).to.deep.equal([0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    });
  });

  describe('who writes what', function () {
    it('txInit writes 0 to BOTH shared indexes and nothing else (not the handshake word)', function () {
      const { sab, u8, i32 } = pair(0x100, { dcacheAlignment: 8, handshake: true });
      u8.fill(0x77);
      i32[0] = 100;
      i32[1] = 0x5e55; // handshake word
      i32[2] = 200;
      const tx = new Pbuf(sab, 0, 0x100, { dcacheAlignment: 8, handshake: true });
      const before = u8.slice();
      tx.txInit();
      expect([i32[0], i32[1], i32[2]]).to.deep.equal([0, 0x5e55, 0]);
      before.fill(0, 0, 4);
      before.fill(0, 8, 12);
      expect(u8).to.deep.equal(before);
      expect(tx.write(Uint8Array.of(42))).to.equal(1);
      expect([...u8.subarray(12, 17)], 'next packet at data[0]').to.deep.equal([0, 1, 0, 0, 42]);
    });

    it('construction and rxInit write no shared memory at all', function () {
      const sab = new SharedArrayBuffer(0x200);
      const u8 = new Uint8Array(sab);
      for (let i = 0; i < u8.length; i++) u8[i] = (i * 7 + 3) & 0xfc; // indexes stay 4-aligned-looking
      const before = u8.slice();
      const rx = new Pbuf(sab, 0x100, 0x100, { dcacheAlignment: 32, handshake: true });
      rx.rxInit();
      expect(u8).to.deep.equal(before);
    });

    it('rxInit restarts the reader at data[0] after the writer re-inits (rebond)', function () {
      const { tx, rx } = pair(256);
      const out = new Uint8Array(64);
      advanceTo(tx, rx, 100);
      tx.txInit();
      rx.rxInit();
      expect(tx.write(Uint8Array.of(7, 7, 7))).to.equal(3);
      expect(rx.read(out)).to.equal(3);
      expect([...out.subarray(0, 3)]).to.deep.equal([7, 7, 7]);
      expect(tx.indexes()).to.deep.equal({ rd: 8, wr: 8 });
    });

    it('the writer never writes rd_idx, the handshake word or the cache-line padding (only txInit resets rd_idx)', function () {
      const { tx, rx, u8, i32 } = pair(256, { dcacheAlignment: 32, handshake: true });
      u8.fill(0xee, 8, 32);
      i32[1] = 0x1234_5678 | 0;
      advanceTo(tx, rx, 60); // rd_idx = 60 now, so a stray write of 0 would show
      const head = u8.slice(0, tx.wrIdxOffset);
      const src = zephyrWriteBuf(300);
      const rets: number[] = [];
      for (const len of [1, 13, 40, 100, 90, 0, 250, 5]) {
        rets.push(tx.write(src, len));
        expect(u8.subarray(0, tx.wrIdxOffset), `after write(${len})`).to.deep.equal(head);
      }
      expect(rets).to.include(-ENOMEM);
      expect(rets).to.include(-EINVAL);
    });

    it('the reader writes only rd_idx: never wr_idx, data, the handshake word or the padding', function () {
      const { tx, rx, u8, i32 } = pair(256, { dcacheAlignment: 32, handshake: true });
      u8.fill(0xee, 8, 32);
      i32[1] = 0x0bad_cafe;
      const src = zephyrWriteBuf(300);
      for (const len of [30, 1, 60, 17]) expect(tx.write(src, len)).to.equal(len);
      const rest = u8.slice(4);
      const small = new Uint8Array(0); // too small even for the 1-byte packet
      const big = new Uint8Array(256);
      const expectedRd = [36, 44, 108, 132];
      let k = 0;
      for (;;) {
        expect(rx.read(null)).to.be.at.least(0);
        const tooSmall = rx.read(small);
        const n = rx.read(big);
        expect(u8.subarray(4), 'bytes after rd_idx').to.deep.equal(rest);
        if (n === 0) break;
        expect(tooSmall).to.equal(-ENOMEM);
        expect(i32[0]).to.equal(expectedRd[k++]);
      }
      expect(k).to.equal(4);
    });

    it('handshakeRead/handshakeWrite use the u32 at @4 in handshake mode', function () {
      const { tx, rx, i32 } = pair(64, { dcacheAlignment: 8, handshake: true });
      rx.handshakeWrite(0xdeadbeef);
      expect(i32[1]).to.equal(0xdeadbeef | 0);
      expect(tx.handshakeRead()).to.equal(0xdeadbeef);
      expect(i32[2], 'wr_idx').to.equal(0);
    });

    it('handshakeRead/handshakeWrite throw without a handshake word instead of touching @4 (wr_idx at A=0)', function () {
      const { tx, i32 } = pair(64);
      expect(tx.write(Uint8Array.of(1))).to.equal(1);
      expect(() => tx.handshakeWrite(1)).to.throw(PbufConfigError, 'pbuf@0');
      expect(() => tx.handshakeRead()).to.throw(PbufConfigError, 'handshake');
      expect(i32[1]).to.equal(8);
    });
  });

  describe('configuration errors (Zephyr validate_cfg / PBUF_DEFINE asserts) throw PbufConfigError naming the region', function () {
    const sab = new SharedArrayBuffer(0x1000);
    const make = (offset: number, size: number, opts: PbufOptions) => () =>
      new Pbuf(sab, offset, size, { name: 'rx-region', ...opts });

    it('a region too small for 12 data bytes: 16 B at A=4, 44 B at A=32; 20 B at A=4 is the smallest that works', function () {
      expect(make(0, 16, { dcacheAlignment: 4 })).to.throw(PbufConfigError, /rx-region.*16 bytes/);
      expect(make(0, 44, { dcacheAlignment: 32 })).to.throw(PbufConfigError, 'rx-region');
      expect(make(0, 20, { dcacheAlignment: 4 })).not.to.throw();
    });

    it('a region offset not 4-aligned, or not aligned to the dcache alignment (rd_idx_loc alignment check)', function () {
      expect(make(2, 256, {})).to.throw(PbufConfigError, /rx-region.*offset 2/);
      expect(make(16, 256, { dcacheAlignment: 32 })).to.throw(PbufConfigError, /rx-region.*offset 16/);
      expect(make(64, 256, { dcacheAlignment: 32 })).not.to.throw();
    });

    it('a dcache alignment that is not a power of two', function () {
      for (const a of [3, 12, 24]) expect(make(0, 256, { dcacheAlignment: a })).to.throw(PbufConfigError, /rx-region.*alignment/);
    });

    it('a size that is not a multiple of 4 (data len must be a multiple of 4)', function () {
      expect(make(0, 258, {})).to.throw(PbufConfigError, /rx-region.*258/);
    });

    it('a handshake word with A < 8 (validate_cfg requires wr_idx at rd_idx + MAX(4, A))', function () {
      expect(make(0, 256, { handshake: true })).to.throw(PbufConfigError, /rx-region.*handshake/);
      expect(make(0, 256, { handshake: true, dcacheAlignment: 4 })).to.throw(PbufConfigError, 'rx-region');
      expect(make(0, 256, { handshake: true, dcacheAlignment: 8 })).not.to.throw();
    });

    it('a region that runs past the end of its memory', function () {
      expect(make(0xf00, 0x200, {})).to.throw(PbufConfigError, /rx-region.*past the end/);
    });

    it('without a name the message names the region by its offset', function () {
      expect(() => new Pbuf(sab, 6, 256)).to.throw(PbufConfigError, 'pbuf@6');
    });
  });
});
