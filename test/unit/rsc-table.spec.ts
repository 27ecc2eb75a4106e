import { expect } from 'chai';
import {
  FW_RSC_ADDR_ANY,
  RSC_TABLE_SIZE,
  ResourceTableView,
  RscTableError,
  TI_VDEV_STATUS_READY,
  VIRTIO_CONFIG_S_ACKNOWLEDGE,
  VIRTIO_CONFIG_S_DRIVER,
  VIRTIO_CONFIG_S_DRIVER_OK,
  writeTiResourceTable,
} from '../../shared/rsc-table.js';

const BASE = 0x1000;
const TRACE_DA = 0xa0100000;

function makeTable(): { sab: SharedArrayBuffer; dv: DataView; view: ResourceTableView } {
  const sab = new SharedArrayBuffer(BASE + RSC_TABLE_SIZE + 16);
  new Uint8Array(sab).fill(0xee);
  writeTiResourceTable(new Uint8Array(sab), BASE, { traceDa: TRACE_DA, traceName: 'trace:r5f0' });
  return { sab, dv: new DataView(sab, BASE), view: new ResourceTableView(sab, BASE) };
}

function expectRscError(fn: () => unknown, offset: number, value: number, re: RegExp, label = ''): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, label).to.be.instanceOf(RscTableError);
  const re2 = err as RscTableError;
  expect(re2.offset, label).to.equal(offset);
  expect(re2.value, label).to.equal(value);
  expect(re2.message, label).to.match(re);
}

describe('TI resource table bytes', () => {
  it('writes every u32 of the default table at the PDK ipc_rsctable.h offsets', () => {
    const { dv } = makeTable();
    const u32: Array<[number, number]> = [
      [0, 1], // ver
      [4, 2], // num
      [8, 0],
      [12, 0], // reserved[2]
      [16, 24], // offset[0] -> vdev
      [20, 92], // offset[1] -> trace
      [24, 3], // vdev.type RSC_VDEV
      [28, 7], // vdev.id VIRTIO_ID_RPMSG
      [32, 0], // notifyid
      [36, 1], // dfeatures: VIRTIO_RPMSG_F_NS
      [40, 0], // gfeatures
      [44, 0], // config_len
      [52, FW_RSC_ADDR_ANY], // vring0.da
      [56, 4096],
      [60, 256],
      [64, 1],
      [68, 0],
      [72, FW_RSC_ADDR_ANY], // vring1.da
      [76, 4096],
      [80, 256],
      [84, 2],
      [88, 0],
      [92, 2], // trace.type
      [96, TRACE_DA],
      [100, 0x80000],
      [104, 0],
    ];
    for (const [off, v] of u32) expect(dv.getUint32(off, true), `u32 @${off}`).to.equal(v);
    expect([48, 49, 50, 51].map((o) => dv.getUint8(o))).to.deep.equal([0, 2, 0, 0]);
    const name = Array.from(new Uint8Array(dv.buffer, BASE + 108, 32));
    expect(name).to.deep.equal([...Buffer.from('trace:r5f0', 'ascii'), ...new Array(22).fill(0)]);
  });

  it('touches only its 140 bytes', () => {
    const { sab } = makeTable();
    const all = new Uint8Array(sab);
    expect(all[BASE - 1]).to.equal(0xee);
    expect(all[BASE + RSC_TABLE_SIZE]).to.equal(0xee);
  });

  it('rejects a bad trace name or trace da', () => {
    const u8 = new Uint8Array(RSC_TABLE_SIZE);
    expect(() => writeTiResourceTable(u8, 0, { traceDa: 0, traceName: '' })).to.throw(RangeError, /traceName/);
    expect(() => writeTiResourceTable(u8, 0, { traceDa: 0, traceName: 'x'.repeat(32) })).to.throw(RangeError, /traceName/);
    expect(() => writeTiResourceTable(u8, 0, { traceDa: -1, traceName: 't' })).to.throw(RangeError, /traceDa/);
    expect(() => writeTiResourceTable(u8, 4, { traceDa: 0, traceName: 't' })).to.throw(RangeError, /outside/);
  });
});

describe('ResourceTableView', () => {
  it('parses the default table into its fields', () => {
    const { view } = makeTable();
    const info = view.parse();
    expect(info.ver).to.equal(1);
    expect(info.num).to.equal(2);
    expect(info.offsets).to.deep.equal([24, 92]);
    expect(info.vdev).to.deep.equal({
      notifyid: 0,
      dfeatures: 1,
      gfeatures: 0,
      configLen: 0,
      status: 0,
      numVrings: 2,
      vrings: [
        { da: FW_RSC_ADDR_ANY, align: 4096, num: 256, notifyid: 1, reserved: 0 },
        { da: FW_RSC_ADDR_ANY, align: 4096, num: 256, notifyid: 2, reserved: 0 },
      ],
    });
    expect(info.trace).to.deep.equal({ da: TRACE_DA, len: 0x80000, name: 'trace:r5f0' });
  });

  it('round-trips the vdev status byte at offset 48 without touching num_of_vrings at 49', () => {
    const { dv, view } = makeTable();
    expect(view.vdevStatus()).to.equal(0);
    expect(view.isLinuxReady()).to.equal(false);
    view.setVdevStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    expect(dv.getUint8(48)).to.equal(3);
    expect(view.isLinuxReady()).to.equal(false);
    view.setVdevStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK);
    expect(dv.getUint8(48)).to.equal(TI_VDEV_STATUS_READY);
    expect(dv.getUint8(49)).to.equal(2);
    expect(view.vdevStatus()).to.equal(7);
    expect(view.isLinuxReady()).to.equal(true);
    expect(view.parse().vdev.status).to.equal(7);
  });

  it('stores the vring da and notifyid Linux writes back, at offsets 52/64 and 72/84', () => {
    const { dv, view } = makeTable();
    view.setVringDa(0, 0xa2000000);
    view.setVringDa(1, 0xa2010000);
    view.setVringNotifyId(0, 0);
    view.setVringNotifyId(1, 1);
    expect(dv.getUint32(52, true)).to.equal(0xa2000000);
    expect(dv.getUint32(72, true)).to.equal(0xa2010000);
    expect(dv.getUint32(64, true)).to.equal(0);
    expect(dv.getUint32(84, true)).to.equal(1);
    expect(view.vring(1)).to.deep.equal({ da: 0xa2010000, align: 4096, num: 256, notifyid: 1, reserved: 0 });
    expect(view.vringDa(0)).to.equal(0xa2000000);
    expect(view.vringNotifyId(0)).to.equal(0);
    expect(() => view.vringDa(2)).to.throw(RangeError, /vring index 2/);
  });

  it('parse() names the offset and value of the first field that is not a TI table', () => {
    const cases: Array<[string, (dv: DataView) => void, number, number, RegExp]> = [
      ['ver', (dv) => dv.setUint32(0, 2, true), 0, 2, /offset 0 \(ver\) = 2/],
      ['num', (dv) => dv.setUint32(4, 3, true), 4, 3, /offset 4 \(num\) = 3/],
      ['offset outside', (dv) => dv.setUint32(20, 200, true), 20, 200, /offset 20 \(offset\[1\]\) = 200.*inside the table/],
      ['offset not TI', (dv) => dv.setUint32(16, 28, true), 16, 28, /offset 16 \(offset\[0\]\) = 28.*expected 24/],
      ['vdev type', (dv) => dv.setUint32(24, 0, true), 24, 0, /offset 24 \(vdev\.type\) = 0/],
      ['vdev id', (dv) => dv.setUint32(28, 5, true), 28, 5, /offset 28 \(vdev\.id\) = 5/],
      ['num_of_vrings', (dv) => dv.setUint8(49, 1), 49, 1, /offset 49 \(vdev\.num_of_vrings\) = 1/],
      ['vring num', (dv) => dv.setUint32(80, 100, true), 80, 100, /offset 80 \(vring1\.num\) = 100/],
      ['vring reserved', (dv) => dv.setUint32(68, 9, true), 68, 9, /offset 68 \(vring0\.reserved\) = 9/],
      ['trace type', (dv) => dv.setUint32(92, 0x10002, true), 92, 0x10002, /offset 92 \(trace\.type\) = 65538 \(0x10002\)/],
    ];
    for (const [label, corrupt, off, value, re] of cases) {
      const { dv, view } = makeTable();
      corrupt(dv);
      expectRscError(() => view.parse(), off, value, re, label);
    }
  });

  it('parse() reports an all-zero region as a bad version at offset 0', () => {
    const view = new ResourceTableView(new SharedArrayBuffer(RSC_TABLE_SIZE), 0);
    expectRscError(() => view.parse(), 0, 0, /resource table @0x0: offset 0 \(ver\) = 0/);
  });

  it('rejects a misaligned or out-of-bounds table position', () => {
    const sab = new SharedArrayBuffer(256);
    expect(() => new ResourceTableView(sab, 2)).to.throw(RangeError, /multiple of 4/);
    expect(() => new ResourceTableView(sab, 128)).to.throw(RangeError, /exceeds buffer/);
  });
});
