// Zephyr tests/lib/spsc_pbuf (suite test_spsc_pbuf) on one thread, plus byte-layout checks.
import { expect } from 'chai';
import {
  FREE_SPACE_DISTANCE,
  LEN_SZ,
  PADDING_MARK,
  SPSC_PBUF_CACHE,
  SPSC_PBUF_CACHE32_DATA_OFFSET,
  SPSC_PBUF_CACHE32_WR_IDX_OFFSET,
  SPSC_PBUF_FLAGS_OFFSET,
  SPSC_PBUF_LEN_OFFSET,
  SPSC_PBUF_MAX_LEN,
  SPSC_PBUF_NOCACHE_DATA_OFFSET,
  SPSC_PBUF_NOCACHE_WR_IDX_OFFSET,
  SPSC_PBUF_RD_IDX_OFFSET,
  SPSC_PBUF_UTILIZATION_BITS,
  SPSC_PBUF_UTILIZATION_OFFSET,
  SpscPbuf,
  SpscPbufError,
  type SpscPbufOptions,
  spscPbufDataOffset,
} from '../../shared/spsc-pbuf.js';
import { EINVAL, ENOMEM, ENOTSUP } from '../../shared/zephyr-errno.js';

const HDR_LEN = 4;
/** Zephyr test macro TLEN: bytes a packet of n takes in data[]. */
const TLEN = (n: number): number => (HDR_LEN + n + 3) & ~3;

function fresh(blen: number, opts: SpscPbufOptions = {}, byteOffset = 0, fill = 0): SpscPbuf {
  const sab = new SharedArrayBuffer(byteOffset + blen);
  if (fill !== 0) new Uint8Array(sab).fill(fill);
  return SpscPbuf.init(sab, byteOffset, blen, opts);
}

/** Zephyr's packet_write: alloc(len) expecting expRv; fill outlen bytes with id + i; commit outlen if > 0. */
function packetWrite(pb: SpscPbuf, len: number, outlen: number, id: number, expRv: number): void {
  const rv = pb.alloc(len);
  expect(rv, `alloc(${len})`).to.equal(expRv);
  if (rv < 0) return;
  expect(pb.allocOffset % 4, 'allocated area is word aligned').to.equal(0);
  expect(rv).to.be.at.least(outlen);
  for (let i = 0; i < outlen; i++) pb.bytes[pb.allocOffset + i] = (id + i) & 0xff;
  if (outlen > 0) pb.commit(outlen);
}

/** Zephyr's packet_consume: claim expecting expRv; check bytes expId + i; free. */
function packetConsume(pb: SpscPbuf, expRv: number, expId: number): void {
  const rv = pb.claim();
  expect(rv, 'claim()').to.equal(expRv);
  if (rv === 0) return;
  for (let i = 0; i < rv; i++) expect(pb.bytes[pb.claimOffset + i], `byte ${i}`).to.equal((expId + i) & 0xff);
  pb.free(rv);
}

/** Zephyr's test_spsc_pbuf_flags on a 216-byte area. */
function utCase(opts: SpscPbufOptions, expCapacity: number, expRepeat: number): void {
  const area = 216;
  const sab = new SharedArrayBuffer(area);
  const rbuf = new Uint8Array(198);
  const message = new Uint8Array(20);
  message[0] = 'a'.charCodeAt(0);

  let ib = SpscPbuf.init(sab, 0, area, opts);
  const capacity = area - spscPbufDataOffset(opts.cache ?? false) - 4;
  expect(capacity).to.equal(expCapacity);
  expect(ib.capacity()).to.equal(capacity);

  expect(ib.write(rbuf, 0)).to.equal(-EINVAL);
  expect(ib.write(new Uint8Array(SPSC_PBUF_MAX_LEN), SPSC_PBUF_MAX_LEN)).to.equal(-EINVAL);
  expect(ib.write(rbuf, rbuf.length)).to.equal(-ENOMEM);
  expect(ib.read(rbuf, rbuf.length)).to.equal(0);
  expect(ib.write(message)).to.equal(20);
  expect(ib.read(rbuf)).to.equal(20);
  expect(rbuf[0]).to.equal(message[0]);

  ib = SpscPbuf.init(sab, 0, area, opts);
  const repeat = Math.floor(capacity / (message.length + 4));
  expect(repeat).to.equal(expRepeat);
  for (let i = 0; i < repeat; i++) expect(ib.write(message), `write #${i}`).to.equal(20);
  expect(ib.write(message)).to.equal(-ENOMEM);

  expect(ib.read(null, 0)).to.equal(20);
  expect(ib.read(rbuf, 0)).to.equal(-ENOMEM);
  for (let i = 0; i < repeat; i++) expect(ib.read(rbuf), `read #${i}`).to.equal(20);
  expect(ib.read(null, 0)).to.equal(0);

  // Only 8 (no cache) / 12 (cache) bytes remain at the tail: this one wraps behind a padding mark.
  expect(ib.write(message)).to.equal(20);
  expect(ib.wrIdx).to.equal(TLEN(20));
  rbuf.fill(0);
  expect(ib.read(rbuf)).to.equal(20);
  expect(rbuf[0]).to.equal('a'.charCodeAt(0));
  expect(ib.rdIdx).to.equal(TLEN(20));
}

describe('spsc_pbuf (Zephyr lib/os/spsc_pbuf.c) on one thread', function () {
  describe('Zephyr suite test_spsc_pbuf', function () {
    it('test_spsc_pbuf_ut: 216-byte area without cache has capacity 196, fits 8 x 20 B, wraps a 9th', function () {
      utCase({}, 196, 8);
    });

    it('test_spsc_pbuf_ut_cache: 216-byte area with a 32-byte line has capacity 176, fits 7 x 20 B, wraps an 8th', function () {
      utCase({ cache: true }, 176, 7);
    });

    it('test_0cpy: alloc(0) is -EINVAL, alloc(MAX_LEN) is capacity-4, an oversized request is truncated', function () {
      const pb = fresh(128);
      const capacity = pb.capacity();
      expect(capacity).to.equal(108);

      packetWrite(pb, 0, 0, 0, -EINVAL);
      pb.commit(0); // no-op
      expect(pb.wrIdx).to.equal(0);

      packetWrite(pb, SPSC_PBUF_MAX_LEN, 0, 0, capacity - 4);
      expect(capacity - 4).to.equal(104);

      const len1 = capacity - 8 - 2 * 4;
      expect(len1).to.equal(92);
      packetWrite(pb, len1, len1, 0, len1);

      const len2 = capacity - TLEN(len1) - HDR_LEN;
      expect(len2).to.equal(8);
      packetWrite(pb, len2 + 1, 0, 1, len2); // 9 requested, 8 granted
      packetWrite(pb, len2, len2, 1, len2);

      packetConsume(pb, len1, 0);
      packetConsume(pb, len2, 1);
      packetConsume(pb, 0, 0);
    });

    it('test_0cpy_smaller: committing fewer bytes than allocated leaves room for the next packet', function () {
      const pb = fresh(128);
      const capacity = pb.capacity();
      const len1 = capacity - 10 - 2;
      packetWrite(pb, len1, len1 - 5, 0, len1);
      const len2 = 10 - 2 - 1;
      packetWrite(pb, len2, len2, 1, len2);

      packetConsume(pb, len1 - 5, 0);
      packetConsume(pb, len2, 1);
      packetConsume(pb, 0, 0);
    });

    it('test_0cpy_discard: commit(0) after a padding-adding alloc leaves an empty buffer that then gives a large block', function () {
      const pb = fresh(128);
      const capacity = pb.capacity();
      const len1 = 14;
      packetWrite(pb, len1, len1, 0, len1);
      let len2 = capacity - TLEN(len1) - 10;
      packetWrite(pb, len2, len2, 1, len2);

      packetConsume(pb, len1, 0);
      packetConsume(pb, len2, 1); // now empty, indexes at 104

      packetWrite(pb, len1, 0, 0, len1); // adds padding at 104, wr_idx -> 0, then discarded
      expect(pb.bytes[SPSC_PBUF_NOCACHE_DATA_OFFSET + 104]).to.equal(PADDING_MARK);
      expect(pb.wrIdx).to.equal(0);

      packetConsume(pb, 0, 0); // skips the padding: rd_idx -> 0, empty
      expect(pb.rdIdx).to.equal(0);

      len2 = len1 + len2 - 2;
      expect(len2).to.equal(90);
      packetWrite(pb, len2, 0, 0, len2);
    });

    it('test_0cpy_corner1: with rd_idx 0 and 12 bytes used, alloc(capacity) gives capacity - 12 - 4', function () {
      const pb = fresh(128);
      const capacity = pb.capacity();
      const len1 = 5;
      packetWrite(pb, len1, len1, 0, len1);

      const len2 = pb.alloc(capacity);
      expect(len2).to.equal(capacity - TLEN(len1) - HDR_LEN);
      expect(len2).to.equal(92);

      let len = pb.claim();
      expect(len).to.equal(len1);
      pb.free(len);

      pb.commit(len2);
      len = pb.claim();
      expect(len).to.equal(len2);
      pb.free(len);
      expect(pb.claim()).to.equal(0);
    });

    it('test_0cpy_corner2: after the wrap padding (wr_idx 12, rd_idx 20) alloc(1) gives 0', function () {
      const pb = fresh(128);
      const capacity = pb.capacity();
      let len1 = 16;
      packetWrite(pb, len1, len1, 0, len1);
      const len2 = capacity - TLEN(len1) - HDR_LEN - 5;
      packetWrite(pb, len2, len2, 1, len2);
      packetConsume(pb, len1, 0);

      len1 = 8;
      packetWrite(pb, len1, len1, 2, len1); // does not fit at the tail: padding, then index 0
      expect(pb.wrIdx).to.equal(12);
      expect(pb.rdIdx).to.equal(20);

      packetWrite(pb, 1, 0, 2, 0); // free = rd - wr - 4 = 4 leaves only a header

      packetConsume(pb, len2, 1); // free() steps over the padding to 0
      expect(pb.rdIdx).to.equal(0);

      packetWrite(pb, capacity, 0, 2, capacity - TLEN(len1) - HDR_LEN);
    });

    it('test_largest_alloc: alloc(MAX_LEN) and alloc(MAX_LEN - 1) at wr_idx 96, rd_idx 20 give 12', function () {
      let pb = fresh(128);
      let capacity = pb.capacity();
      const len1 = 15;
      packetWrite(pb, len1, len1, 0, len1);
      packetConsume(pb, len1, 0);

      let len2 = capacity - TLEN(len1) - TLEN(10);
      packetWrite(pb, len2, len2, 1, len2);
      expect(pb.wrIdx).to.equal(96);
      expect(pb.rdIdx).to.equal(20);

      packetWrite(pb, SPSC_PBUF_MAX_LEN, 0, 1, 12);
      packetWrite(pb, SPSC_PBUF_MAX_LEN - 1, 0, 1, 12);

      pb = SpscPbuf.init(pb.sab, 0, 128);
      capacity = pb.capacity();
      packetWrite(pb, len1, len1, 0, len1);
      packetConsume(pb, len1, 0);
      len2 = capacity - TLEN(len1) - TLEN(12);
      packetWrite(pb, len2, len2, 1, len2);
      packetWrite(pb, SPSC_PBUF_MAX_LEN - 1, 0, 1, 12);
    });

    it('test_utilization: -ENOTSUP when CONFIG_SPSC_PBUF_UTILIZATION is off', function () {
      const pb = fresh(128);
      expect(pb.getUtilization()).to.equal(-ENOTSUP);
    });

    it('test_utilization: 0 before the first claim, then TLEN of the largest fill level seen by claim', function () {
      const pb = fresh(128, { utilization: true });
      const capacity = pb.capacity();

      const len1 = 10;
      packetWrite(pb, len1, len1, 0, len1);
      expect(pb.getUtilization()).to.equal(0);
      packetConsume(pb, len1, 0);
      expect(pb.getUtilization()).to.equal(TLEN(len1));

      const len2 = 11;
      packetWrite(pb, len2, len2, 1, len2);
      packetConsume(pb, len2, 1);
      expect(pb.getUtilization()).to.equal(TLEN(len2));

      const len3 = capacity - TLEN(len1) - TLEN(len2);
      packetWrite(pb, SPSC_PBUF_MAX_LEN, len3, 2, len3);
      packetConsume(pb, len3, 2);
      expect(pb.getUtilization()).to.equal(TLEN(len3));
      expect(TLEN(len3)).to.equal(80);

      // Stored in flags bits 8..31; bit 0 (SPSC_PBUF_CACHE) untouched.
      const flags = new DataView(pb.sab).getUint32(SPSC_PBUF_FLAGS_OFFSET, true);
      expect(flags).to.equal(80 << SPSC_PBUF_UTILIZATION_OFFSET);
      expect(SPSC_PBUF_UTILIZATION_BITS).to.equal(24);
    });
  });

  describe('byte layout in the SharedArrayBuffer', function () {
    const OFF = 64; // region does not start at 0 of the SAB

    it('no-cache layout: len/flags/rd_idx/wr_idx at 0/4/8/12, BE16 length at data[0], bytes 2-3 of the slot untouched', function () {
      const pb = fresh(128, {}, OFF, 0xa5);
      const dv = new DataView(pb.sab);
      expect(SPSC_PBUF_NOCACHE_WR_IDX_OFFSET).to.equal(12);
      expect(SPSC_PBUF_NOCACHE_DATA_OFFSET).to.equal(16);
      expect(dv.getUint32(OFF + SPSC_PBUF_LEN_OFFSET, true)).to.equal(112);
      expect(dv.getUint32(OFF + SPSC_PBUF_FLAGS_OFFSET, true)).to.equal(0);
      expect(dv.getUint32(OFF + SPSC_PBUF_RD_IDX_OFFSET, true)).to.equal(0);
      expect(dv.getUint32(OFF + 12, true)).to.equal(0);

      const msg = Uint8Array.from([1, 2, 3, 4, 5]);
      expect(pb.write(msg)).to.equal(5);
      const raw = new Uint8Array(pb.sab, OFF, 128);
      expect(Array.from(raw.subarray(16, 28))).to.deep.equal([0x00, 0x05, 0xa5, 0xa5, 1, 2, 3, 4, 5, 0xa5, 0xa5, 0xa5]);
      expect(Array.from(raw.subarray(12, 16))).to.deep.equal([12, 0, 0, 0]); // wr_idx = TLEN(5), LE
      expect(Array.from(raw.subarray(8, 12))).to.deep.equal([0, 0, 0, 0]);
      expect(pb.allocOffset).to.equal(OFF + 16 + LEN_SZ);

      const rx = new SpscPbuf(pb.sab, OFF, 128);
      expect(rx.claim()).to.equal(5);
      expect(rx.claimOffset).to.equal(OFF + 20);
      rx.free(5);
      expect(dv.getUint32(OFF + SPSC_PBUF_RD_IDX_OFFSET, true)).to.equal(12);
    });

    it('a 300-byte packet stores its length big-endian (0x01 0x2c)', function () {
      const pb = fresh(512);
      expect(pb.write(new Uint8Array(300))).to.equal(300);
      const raw = new Uint8Array(pb.sab);
      expect([raw[16], raw[17]]).to.deep.equal([0x01, 0x2c]);
      expect(new DataView(pb.sab).getUint32(12, true)).to.equal(304);
    });

    it('cache layout (32-byte line): flags bit 0 set, bytes 12..31 reserved, wr_idx at 32, data at 36', function () {
      const pb = fresh(256, { cache: true }, OFF, 0xa5);
      const dv = new DataView(pb.sab);
      expect(SPSC_PBUF_CACHE32_WR_IDX_OFFSET).to.equal(32);
      expect(SPSC_PBUF_CACHE32_DATA_OFFSET).to.equal(36);
      expect(dv.getUint32(OFF, true)).to.equal(256 - 36);
      expect(dv.getUint32(OFF + 4, true)).to.equal(SPSC_PBUF_CACHE);
      expect(pb.capacity()).to.equal(256 - 36 - 4);

      expect(pb.write(Uint8Array.from([9, 8, 7]))).to.equal(3);
      const raw = new Uint8Array(pb.sab, OFF, 256);
      expect(Array.from(raw.subarray(12, 32))).to.deep.equal(new Array(20).fill(0xa5));
      expect(Array.from(raw.subarray(32, 36))).to.deep.equal([8, 0, 0, 0]);
      expect(Array.from(raw.subarray(36, 44))).to.deep.equal([0x00, 0x03, 0xa5, 0xa5, 9, 8, 7, 0xa5]);
      expect(new SpscPbuf(pb.sab, OFF, 256).read(new Uint8Array(8))).to.equal(3);
    });

    it('a 64-byte cache line moves wr_idx to 64 and data to 68', function () {
      const pb = fresh(256, { cache: true, dcacheLine: 64 });
      expect(pb.wrIdxOffset).to.equal(64);
      expect(pb.dataOffset).to.equal(68);
      expect(pb.write(Uint8Array.from([1]))).to.equal(1);
      expect(new DataView(pb.sab).getUint32(64, true)).to.equal(8);
    });

    it('wrapping writes one 0xFF padding byte at the old wr_idx, leaves the rest, and restarts at 0', function () {
      const pb = fresh(216, {}, 0, 0xa5); // data len 200
      const msg = new Uint8Array(20).fill(0x11);
      const rbuf = new Uint8Array(20);
      for (let i = 0; i < 8; i++) expect(pb.write(msg)).to.equal(20);
      for (let i = 0; i < 8; i++) expect(pb.read(rbuf)).to.equal(20);
      expect(pb.rdIdx).to.equal(192);
      expect(pb.write(msg)).to.equal(20);
      const raw = new Uint8Array(pb.sab);
      expect(Array.from(raw.subarray(16 + 192, 16 + 200))).to.deep.equal([PADDING_MARK, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5]);
      expect(Array.from(raw.subarray(16, 20))).to.deep.equal([0x00, 0x14, 0xa5, 0xa5]);
      expect(new DataView(pb.sab).getUint32(12, true)).to.equal(24);
      expect(new DataView(pb.sab).getUint32(8, true)).to.equal(192); // consumer has not moved yet
      expect(pb.read(rbuf)).to.equal(20);
      expect(new DataView(pb.sab).getUint32(8, true)).to.equal(24);
    });

    it('an index reaching len wraps to 0 without padding', function () {
      const pb = fresh(128); // data len 112
      expect(pb.write(new Uint8Array(40))).to.equal(40); // wr 44
      expect(pb.read(new Uint8Array(40))).to.equal(40);
      expect(pb.write(new Uint8Array(64))).to.equal(64); // 44 + 68 = 112 -> 0
      expect(pb.wrIdx).to.equal(0);
      expect(pb.read(new Uint8Array(64))).to.equal(64);
      expect(pb.rdIdx).to.equal(0);
    });

    it('the consumer does not step over a padding mark at wr_idx (stale 0xFF from an earlier lap)', function () {
      const pb = fresh(128);
      const raw = new Uint8Array(pb.sab);
      expect(pb.write(new Uint8Array(8))).to.equal(8); // wr 12
      raw[SPSC_PBUF_NOCACHE_DATA_OFFSET + 12] = PADDING_MARK; // leftover at the free slot
      expect(pb.read(new Uint8Array(8))).to.equal(8);
      expect(pb.rdIdx).to.equal(12); // not 0: wr_idx is still 12
      expect(pb.write(Uint8Array.from([7]))).to.equal(1); // header overwrites the stale byte
      expect(pb.read(new Uint8Array(4))).to.equal(1);
    });

    it('read(null) peeks and read into a short buffer returns -ENOMEM, both leaving the packet', function () {
      const pb = fresh(128);
      expect(pb.write(Uint8Array.from([1, 2, 3]))).to.equal(3);
      expect(pb.read(null)).to.equal(3);
      expect(pb.read(new Uint8Array(2))).to.equal(-ENOMEM);
      expect(pb.read(new Uint8Array(8), 2)).to.equal(-ENOMEM);
      const dst = new Uint8Array(3);
      expect(pb.read(dst)).to.equal(3);
      expect(Array.from(dst)).to.deep.equal([1, 2, 3]);
      expect(FREE_SPACE_DISTANCE).to.equal(4);
    });

    it('allocView and claimView are zero-copy windows on the SharedArrayBuffer', function () {
      const tx = fresh(128);
      const rx = new SpscPbuf(tx.sab, 0, 128);
      expect(tx.alloc(6)).to.equal(6);
      const w = tx.allocView();
      expect(w.buffer).to.equal(tx.sab);
      expect(w.byteOffset).to.equal(SPSC_PBUF_NOCACHE_DATA_OFFSET + LEN_SZ);
      w.set([10, 11, 12, 13, 14, 15]);
      tx.commit(6);
      expect(rx.claim()).to.equal(6);
      expect(Array.from(rx.claimView(6))).to.deep.equal([10, 11, 12, 13, 14, 15]);
      rx.free(6);
      expect(rx.claim()).to.equal(0);
    });
  });

  describe('init and attach checks', function () {
    it('init rejects an offset that is not 4-aligned, naming the offset and the alignment', function () {
      expect(() => SpscPbuf.init(new SharedArrayBuffer(256), 2, 128)).to.throw(
        RangeError,
        /byteOffset 2 is not aligned to 4 bytes/,
      );
    });

    it('init with the cache layout requires dcacheLine alignment', function () {
      expect(() => SpscPbuf.init(new SharedArrayBuffer(512), 16, 256, { cache: true })).to.throw(
        RangeError,
        /byteOffset 16 is not aligned to 32 bytes \(cache layout, dcacheLine 32\)/,
      );
      expect(() => SpscPbuf.init(new SharedArrayBuffer(512), 64, 256, { cache: true, dcacheLine: 64 })).not.to.throw();
      expect(() => SpscPbuf.init(new SharedArrayBuffer(512), 32, 256, { cache: true, dcacheLine: 64 })).to.throw(
        RangeError,
        /byteOffset 32 is not aligned to 64 bytes/,
      );
    });

    it('init rejects a blen with no room for a header plus one word of data, or not a multiple of 4', function () {
      const sab = new SharedArrayBuffer(256);
      expect(() => SpscPbuf.init(sab, 0, 20)).to.throw(RangeError, /blen 20 must be a multiple of 4 and > 20/);
      expect(() => SpscPbuf.init(sab, 0, 24)).not.to.throw();
      expect(() => SpscPbuf.init(sab, 0, 126)).to.throw(RangeError, /blen 126/);
      expect(() => SpscPbuf.init(sab, 0, 512)).to.throw(RangeError, /does not fit the 256-byte SharedArrayBuffer/);
      expect(() => SpscPbuf.init(sab, 0, 128, { cache: true, dcacheLine: 24 })).to.throw(RangeError, /dcacheLine 24/);
    });

    it('attach reads len and the cache flag from memory and refuses a mismatch', function () {
      const sab = new SharedArrayBuffer(256);
      expect(() => new SpscPbuf(sab, 0, 256)).to.throw(SpscPbufError, /len word is 0, expected .* 240/);
      SpscPbuf.init(sab, 0, 256, { cache: true });
      const rx = new SpscPbuf(sab, 0, 256);
      expect(rx.cache).to.equal(true);
      expect(rx.dataOffset).to.equal(36);
      expect(rx.capacity()).to.equal(216);
      expect(() => new SpscPbuf(sab, 0, 256, { cache: false })).to.throw(SpscPbufError, /SPSC_PBUF_CACHE=1, expected 0/);
    });

    it('commit of more than alloc() reserved is refused before it can corrupt data[]', function () {
      const pb = fresh(128);
      expect(pb.alloc(9)).to.equal(9);
      expect(() => pb.commit(10)).to.throw(RangeError, /commit\(10\).*reserved 9/);
      pb.commit(9);
      expect(() => pb.commit(1)).to.throw(RangeError);
    });

    it('claim reports a header longer than the stored bytes (Zephyr __ASSERT)', function () {
      const pb = fresh(128);
      expect(pb.write(new Uint8Array(4))).to.equal(4);
      const raw = new Uint8Array(pb.sab);
      raw[16] = 0x00;
      raw[17] = 0x40; // claims 64 bytes, 8 stored
      expect(() => pb.claim()).to.throw(SpscPbufError, /length 64 but only 8 bytes are stored/);
    });
  });
});
