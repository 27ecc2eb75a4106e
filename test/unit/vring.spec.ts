import { expect } from 'chai';
import {
  VRING_ALIGN,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_F_WRITE,
  VRING_NUM,
  VRING_USED_F_NO_NOTIFY,
  Vring,
  VringDevice,
  VringDriver,
  VringError,
  vringAvailEventOffset,
  vringAvailOffset,
  vringSize,
  vringUsedEventOffset,
  vringUsedOffset,
} from '../../shared/vring.js';

const SIZE_256 = 0x2806;

function bytesAt(sab: SharedArrayBuffer, off: number, n: number): number[] {
  return Array.from(new Uint8Array(sab, off, n));
}

function newRing(num = VRING_NUM, align = VRING_ALIGN, offset = 0): { sab: SharedArrayBuffer; ring: Vring } {
  const sab = new SharedArrayBuffer(offset + vringSize(num, align) + 64);
  return { sab, ring: new Vring(sab, offset, num, align) };
}

describe('vring layout (legacy split ring)', () => {
  it('vringSize(256, 4096) is 10246 bytes (0x2806), the TI J721E ring', () => {
    expect(vringSize(256, 4096)).to.equal(10246);
    expect(vringSize(256, 4096)).to.equal(SIZE_256);
    expect(vringSize()).to.equal(SIZE_256);
  });

  it('places avail at 0x1000, used_event at 0x1204, used at 0x2000, avail_event at 0x2804 for 256/4096', () => {
    expect(vringAvailOffset(256)).to.equal(0x1000);
    expect(vringUsedEventOffset(256)).to.equal(0x1204);
    expect(vringUsedOffset(256, 4096)).to.equal(0x2000);
    expect(vringAvailEventOffset(256, 4096)).to.equal(0x2804);
    const { ring } = newRing();
    expect(ring.availOffset).to.equal(0x1000);
    expect(ring.usedOffset).to.equal(0x2000);
    expect(ring.usedEventOffset).to.equal(0x1204);
    expect(ring.availEventOffset).to.equal(0x2804);
    expect(ring.size).to.equal(SIZE_256);
  });

  it('computes a small align-4 ring the way vring_init does (num 8: used at 152, size 222)', () => {
    // desc 8*16 = 128, avail 4 + 16 + 2 = 22 -> 150, aligned to 4 -> 152; used 4 + 64 + 2 = 70.
    expect(vringUsedOffset(8, 4)).to.equal(152);
    expect(vringSize(8, 4)).to.equal(222);
    expect(vringAvailEventOffset(8, 4)).to.equal(220);
  });

  it('stores avail.idx at byte 0x1002, used.idx at 0x2002, used_event at 0x1204, avail_event at 0x2804, little-endian', () => {
    const { sab, ring } = newRing();
    ring.setAvailIdx(0x1234);
    ring.setUsedIdx(0xbeef);
    ring.setUsedEvent(0x0102);
    ring.setAvailEvent(0x0304);
    ring.setAvailFlags(VRING_AVAIL_F_NO_INTERRUPT);
    ring.setUsedFlags(VRING_USED_F_NO_NOTIFY);
    expect(bytesAt(sab, 0x1000, 4)).to.deep.equal([0x01, 0x00, 0x34, 0x12]);
    expect(bytesAt(sab, 0x2000, 4)).to.deep.equal([0x01, 0x00, 0xef, 0xbe]);
    expect(bytesAt(sab, 0x1204, 2)).to.deep.equal([0x02, 0x01]);
    expect(bytesAt(sab, 0x2804, 2)).to.deep.equal([0x04, 0x03]);
    expect(ring.availIdx()).to.equal(0x1234);
    expect(ring.usedIdx()).to.equal(0xbeef);
  });

  it('writes used elements as {id u32, len u32} from byte 0x2004', () => {
    const { sab, ring } = newRing();
    ring.setUsedElem(2, 0x0102, 0x0a0b0c0d);
    expect(bytesAt(sab, 0x2004 + 16, 8)).to.deep.equal([0x02, 0x01, 0, 0, 0x0d, 0x0c, 0x0b, 0x0a]);
    expect(ring.usedElemId(2)).to.equal(0x0102);
    expect(ring.usedElemLen(2)).to.equal(0x0a0b0c0d);
    ring.setAvailRing(3, 0x00fe);
    expect(bytesAt(sab, 0x1004 + 6, 2)).to.deep.equal([0xfe, 0x00]);
    expect(ring.availRing(3)).to.equal(0xfe);
  });

  it('rejects a byteOffset that is not a multiple of 16, a num that is not a power of two, and a too-small buffer', () => {
    const sab = new SharedArrayBuffer(0x4000);
    expect(() => new Vring(sab, 8)).to.throw(RangeError, /byteOffset 8.*multiple of 16/);
    expect(() => new Vring(sab, 0, 100)).to.throw(RangeError, /num 100.*power of two/);
    expect(() => new Vring(sab, 0, 256, 3)).to.throw(RangeError, /align 3/);
    expect(() => new Vring(sab, 0x2000)).to.throw(RangeError, /exceeds buffer/);
    expect(() => new Vring(sab, 16, 8, 4)).to.not.throw();
  });
});

describe('vring descriptors', () => {
  it('writes desc[i] as addr u64, len u32, flags u16, next u16, little-endian', () => {
    const { sab, ring } = newRing();
    ring.setDesc(3, 0x12_3456_789a, 0x200, VRING_DESC_F_WRITE, 0x0105);
    expect(bytesAt(sab, 3 * 16, 16)).to.deep.equal([
      0x9a, 0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00, // addr
      0x00, 0x02, 0x00, 0x00, // len
      0x02, 0x00, // flags
      0x05, 0x01, // next
    ]);
    expect(ring.descAddr(3)).to.equal(0x12_3456_789a);
    expect(ring.descAddrLo(3)).to.equal(0x3456_789a);
    expect(ring.descAddrHi(3)).to.equal(0x12);
    expect(ring.descLen(3)).to.equal(0x200);
    expect(ring.descFlags(3)).to.equal(VRING_DESC_F_WRITE);
    expect(ring.descNext(3)).to.equal(0x0105);
  });

  it('reads a TI-style u32 address with zero padding and round-trips addresses up to 2^53-1', () => {
    const { sab, ring } = newRing();
    new DataView(sab).setUint32(16, 0xaa040200, true);
    expect(ring.descAddr(1)).to.equal(0xaa040200);
    ring.setDesc(7, Number.MAX_SAFE_INTEGER, 0, 0, 0);
    expect(ring.descAddr(7)).to.equal(Number.MAX_SAFE_INTEGER);
  });

  it('refuses addresses at or above 2^53 and descriptor indices outside 0..num-1', () => {
    const { sab, ring } = newRing();
    new DataView(sab).setUint32(4 * 16 + 4, 0x0020_0000, true);
    expect(() => ring.descAddr(4)).to.throw(VringError, /desc\[4\]\.addr high word 0x200000/);
    expect(() => ring.setDesc(0, 2 ** 53, 0, 0, 0)).to.throw(RangeError);
    expect(() => ring.descLen(256)).to.throw(VringError, /descriptor index 256/);
    expect(() => ring.setDesc(0, 0, 2 ** 32, 0, 0)).to.throw(RangeError, /len/);
  });
});

describe('vring reset and prime', () => {
  it('reset() zeroes exactly the ring bytes and nothing around them', () => {
    const sab = new SharedArrayBuffer(16 + SIZE_256 + 16);
    new Uint8Array(sab).fill(0xaa);
    const ring = new Vring(sab, 16);
    ring.reset();
    const all = new Uint8Array(sab);
    expect(all[15]).to.equal(0xaa);
    expect(all[16 + SIZE_256]).to.equal(0xaa);
    expect(all.subarray(16, 16 + SIZE_256).every((b) => b === 0)).to.equal(true);
  });

  it('prime() gives desc[i] its own buffer at base + i*size and offers all num ids in avail', () => {
    const { sab, ring } = newRing();
    ring.prime(0xaa040000, 512, VRING_DESC_F_WRITE);
    expect(bytesAt(sab, 16, 16)).to.deep.equal([
      0x00, 0x02, 0x04, 0xaa, 0, 0, 0, 0, 0x00, 0x02, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
    ]);
    for (let i = 0; i < 256; i++) {
      expect(ring.descAddr(i)).to.equal(0xaa040000 + i * 512);
      expect(ring.descLen(i)).to.equal(512);
      expect(ring.descFlags(i)).to.equal(VRING_DESC_F_WRITE);
      expect(ring.descNext(i)).to.equal(0);
      expect(ring.availRing(i)).to.equal(i);
    }
    expect(ring.availIdx()).to.equal(256);
    expect(ring.usedIdx()).to.equal(0);
    const dev = new VringDevice(ring);
    expect(dev.availableCount()).to.equal(256);
    for (let i = 0; i < 256; i++) expect(dev.getAvail()).to.equal(i);
    expect(dev.getAvail()).to.equal(-1);
  });
});

describe('vring driver/device round trip', () => {
  it('passes an id from driver to device through avail and back with a length through used', () => {
    const { sab, ring } = newRing();
    const drv = new VringDriver(ring);
    const dev = new VringDevice(new Vring(sab, 0)); // the peer's own view of the same memory
    expect(dev.getAvail()).to.equal(-1);
    drv.addAvail(5);
    drv.addAvail(9);
    expect(ring.availIdx()).to.equal(2);
    expect(bytesAt(sab, 0x1004, 4)).to.deep.equal([5, 0, 9, 0]);
    expect(dev.availableCount()).to.equal(2);
    expect(dev.getAvail()).to.equal(5);
    expect(dev.getAvail()).to.equal(9);
    expect(dev.getAvail()).to.equal(-1);
    expect(drv.getUsed()).to.equal(-1);
    dev.addUsed(9, 100);
    dev.addUsed(5, 16 + 496);
    expect(bytesAt(sab, 0x2002, 2)).to.deep.equal([2, 0]);
    expect(drv.pendingUsed()).to.equal(2);
    expect(drv.getUsed()).to.equal(9);
    expect(drv.lastLen).to.equal(100);
    expect(drv.getUsed()).to.equal(5);
    expect(drv.lastLen).to.equal(512);
    expect(drv.getUsed()).to.equal(-1);
    expect(drv.pendingUsed()).to.equal(0);
  });

  it('runs the TI RTOS "sender owns its TX ring" flow: owner primes, sends via used, peer returns via avail', () => {
    const { ring } = newRing(8, 4);
    ring.prime(0x1000, 64, 0);
    const owner = new VringDevice(ring);
    const peer = new VringDriver(ring);
    for (let round = 0; round < 5; round++) {
      const ids: number[] = [];
      for (let k = 0; k < 8; k++) {
        const id = owner.getAvail();
        expect(id).to.be.at.least(0);
        ids.push(id);
        owner.addUsed(id, 16 + k);
      }
      expect(owner.getAvail()).to.equal(-1);
      for (let k = 0; k < 8; k++) {
        expect(peer.getUsed()).to.equal(ids[k]);
        expect(peer.lastLen).to.equal(16 + k);
        peer.addAvail(ids[k]);
      }
    }
  });

  it('keeps ids and lengths in order while both free-running indices wrap past 65535', () => {
    const start = 65530;
    const { ring } = newRing();
    ring.setAvailIdx(start);
    ring.setUsedIdx(start);
    const drv = new VringDriver(ring, start);
    const dev = new VringDevice(ring, start);
    const free: number[] = [];
    for (let i = 0; i < 256; i++) free.push(i);
    const inFlight: number[] = [];
    let sent = 0;
    let reaped = 0;
    let step = 0;
    let sawAvailWrap = false;
    let sawUsedWrap = false;
    while (reaped < 900) {
      // Varying batch sizes so the ring is sometimes full, sometimes empty.
      const post = (step * 37) % 300;
      for (let k = 0; k < post && free.length > 0; k++) {
        const id = free.shift()!;
        drv.addAvail(id);
        inFlight.push(id);
      }
      const consume = (step * 53) % 260;
      for (let k = 0; k < consume; k++) {
        const id = dev.getAvail();
        if (id < 0) break;
        dev.addUsed(id, (sent * 7) % 513);
        sent++;
      }
      for (;;) {
        const id = drv.getUsed();
        if (id < 0) break;
        expect(id).to.equal(inFlight.shift());
        expect(drv.lastLen).to.equal((reaped * 7) % 513);
        reaped++;
        free.push(id);
      }
      if (ring.availIdx() < start) sawAvailWrap = true;
      if (ring.usedIdx() < start) sawUsedWrap = true;
      step++;
    }
    expect(sawAvailWrap && sawUsedWrap).to.equal(true);
    expect(ring.usedIdx()).to.equal((start + reaped) & 0xffff);
    expect(drv.lastUsed).to.equal(ring.usedIdx());
    expect(dev.lastAvail).to.equal((start + sent) & 0xffff);
  });

  it('accepts num buffers in flight across the wrap and refuses one more', () => {
    const start = 65400;
    const { ring } = newRing();
    ring.setAvailIdx(start);
    ring.setUsedIdx(start);
    const drv = new VringDriver(ring, start);
    const dev = new VringDevice(ring, start);
    for (let i = 0; i < 256; i++) drv.addAvail(i);
    expect(ring.availIdx()).to.equal((start + 256) & 0xffff);
    expect(dev.availableCount()).to.equal(256);
    expect(() => drv.addAvail(0)).to.throw(VringError, /avail ring full/);
    for (let i = 0; i < 256; i++) expect(dev.getAvail()).to.equal(i);
    dev.addUsed(0, 1);
    expect(drv.getUsed()).to.equal(0);
    drv.addAvail(0);
    expect(dev.getAvail()).to.equal(0);
  });
});

describe('vring notification suppression', () => {
  it('needsKick() follows VRING_USED_F_NO_NOTIFY set by the device', () => {
    const { sab, ring } = newRing();
    const drv = new VringDriver(ring);
    const dev = new VringDevice(ring);
    expect(drv.needsKick()).to.equal(true);
    dev.setNotifySuppressed(true);
    expect(bytesAt(sab, 0x2000, 2)).to.deep.equal([1, 0]);
    expect(drv.needsKick()).to.equal(false);
    dev.setNotifySuppressed(false);
    expect(drv.needsKick()).to.equal(true);
    expect(ring.usedFlags()).to.equal(0);
  });

  it('needsInterrupt() follows VRING_AVAIL_F_NO_INTERRUPT set by the driver, leaving other flag bits alone', () => {
    const { sab, ring } = newRing();
    const drv = new VringDriver(ring);
    const dev = new VringDevice(ring);
    ring.setAvailFlags(0x8000);
    expect(dev.needsInterrupt()).to.equal(true);
    drv.setInterruptSuppressed(true);
    expect(bytesAt(sab, 0x1000, 2)).to.deep.equal([1, 0x80]);
    expect(dev.needsInterrupt()).to.equal(false);
    drv.setInterruptSuppressed(false);
    expect(dev.needsInterrupt()).to.equal(true);
    expect(ring.availFlags()).to.equal(0x8000);
  });
});

describe('vring corruption detection', () => {
  it('getAvail() throws a VringError naming the ring, slot and value when avail.ring holds an id >= num', () => {
    const sab = new SharedArrayBuffer(SIZE_256);
    const ring = new Vring(sab, 0, 256, 4096, 'mcu2_0->mpu1_0 vring0');
    const dev = new VringDevice(ring);
    new DataView(sab).setUint16(0x1004, 300, true);
    ring.setAvailIdx(1);
    let err: unknown;
    try {
      dev.getAvail();
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(VringError);
    const ve = err as VringError;
    expect(ve.message).to.match(/mcu2_0->mpu1_0 vring0/);
    expect(ve.message).to.match(/avail\.ring\[0\] = 300/);
    expect(ve.ring).to.equal('mcu2_0->mpu1_0 vring0');
    expect(ve.slot).to.equal(0);
    expect(ve.value).to.equal(300);
    expect(dev.lastAvail).to.equal(0);
  });

  it('getUsed() throws a VringError when used.ring holds an id >= num', () => {
    const { sab, ring } = newRing();
    const drv = new VringDriver(ring, 3);
    ring.setUsedIdx(4);
    new DataView(sab).setUint32(0x2004 + 3 * 8, 0x1000, true);
    expect(() => drv.getUsed()).to.throw(VringError, /used\.ring\[3\]\.id = 4096/);
    expect(drv.lastUsed).to.equal(3);
  });

  it('throws a VringError when the peer index runs more than num ahead', () => {
    const { ring } = newRing();
    const drv = new VringDriver(ring);
    const dev = new VringDevice(ring);
    ring.setUsedIdx(1000);
    ring.setAvailIdx(257);
    expect(() => drv.getUsed()).to.throw(VringError, /used\.idx 1000/);
    expect(() => dev.getAvail()).to.throw(VringError, /avail\.idx 257/);
  });

  it('refuses to publish ids outside 0..num-1', () => {
    const { ring } = newRing();
    expect(() => new VringDriver(ring).addAvail(256)).to.throw(VringError, /addAvail id 256/);
    expect(() => new VringDevice(ring).addUsed(-1, 0)).to.throw(VringError, /addUsed id -1/);
  });
});
