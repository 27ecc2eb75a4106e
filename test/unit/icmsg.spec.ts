// ICMsg on two Zephyr cores in one thread (test/support/zephyr-pair.ts): bonding with the magic in
// either start order, Zephyr's send return codes, coalesced MBOX signals, the shared bytes it
// leaves, and the ipc_service layer's checks in front of it.
import { expect } from 'chai';
import type { IpcEpt } from '../../cores/zephyr/backend.js';
import { zephyrApi } from '../../cores/zephyr/api.js';
import { ICMSG_MAGIC } from '../../shared/icmsg-proto.js';
import { EALREADY, EBUSY, EINVAL, EIO, ENODATA, ENOENT, ENOMEM } from '../../shared/zephyr-errno.js';
import { until } from '../support/two-cores.js';
import { appInstance, buildZephyrPair, type ZCore, type ZPair } from '../support/zephyr-pair.js';

const ICMSG = appInstance({ name: 'ipc1', compatible: 'zephyr,ipc-icmsg', labels: ['ipc1_label'] });

interface Side {
  ept: IpcEpt;
  bound: number;
  got: Uint8Array[];
}

function register(core: ZCore, name = 'ep'): Side {
  const side: Side = { ept: {}, bound: 0, got: [] };
  const dev = core.ipc.device('ipc1');
  const r = core.ipc.register_endpoint(dev, side.ept, {
    name,
    cb: { bound: () => side.bound++, received: (d, len) => side.got.push(d.slice(0, len)) },
  });
  expect(r).to.equal(0);
  return side;
}

/** Starts both cores, registers an endpoint on each and waits until both are bound. */
async function bonded(p: ZPair, name = 'ep'): Promise<{ a: Side; n: Side }> {
  p.start(p.app);
  p.start(p.net);
  const a = register(p.app, name);
  const n = register(p.net, name);
  await until(() => a.bound === 1 && n.bound === 1, 'both sides bound');
  return { a, n };
}

describe('ICMsg between cpuapp and cpunet (one thread)', function () {
  let pair: ZPair;
  afterEach(() => pair?.stop());

  it('bonds when both cores register at once: bound() fires once on each side', async () => {
    pair = buildZephyrPair([ICMSG]);
    const { a, n } = await bonded(pair);
    await new Promise((r) => setTimeout(r, 10));
    expect([a.bound, n.bound]).to.deep.equal([1, 1]);
  });

  it('leaves the magic packet in its TX region: BE16 length 13 at the data start, then "Em1l1K0rn3li4"', async () => {
    pair = buildZephyrPair([ICMSG]);
    pair.start(pair.app);
    register(pair.app);
    const raw = pair.app.bus.window(0x20070000, 0x800);
    const bytes = new Uint8Array(raw.sab, raw.byteOffset, 0x800);
    // A = 0, no handshake: rd_idx @0, wr_idx @4, data @8.
    expect([bytes[8], bytes[9], bytes[10], bytes[11]]).to.deep.equal([0, 13, 0, 0]);
    expect([...bytes.subarray(12, 25)]).to.deep.equal([...ICMSG_MAGIC]);
    expect(new DataView(raw.sab, raw.byteOffset).getUint32(4, true)).to.equal(20); // ROUND_UP(4 + 13, 4)
  });

  it('bonds when the network core starts much later: the application core repeats its signal every 1 ms', async () => {
    pair = buildZephyrPair([ICMSG]);
    pair.start(pair.app);
    const a = register(pair.app);
    await new Promise((r) => setTimeout(r, 60));
    expect(a.bound).to.equal(0);
    pair.start(pair.net);
    const n = register(pair.net);
    await until(() => a.bound === 1 && n.bound === 1, 'both sides bound');
    const status = pair.app.ipc.status().ipc1 as { bondSignals: number };
    expect(status.bondSignals).to.be.greaterThan(5);
  });

  it('bonds when the application core starts much later', async () => {
    pair = buildZephyrPair([ICMSG]);
    pair.start(pair.net);
    const n = register(pair.net);
    await new Promise((r) => setTimeout(r, 40));
    pair.start(pair.app);
    const a = register(pair.app);
    await until(() => a.bound === 1 && n.bound === 1, 'both sides bound');
  });

  it('answers -EBUSY before bonding, -ENODATA for an empty message, the length when sent, -ENOMEM when full', async () => {
    pair = buildZephyrPair([ICMSG]);
    pair.start(pair.app);
    const a = register(pair.app);
    expect(pair.app.ipc.send(a.ept, Uint8Array.of(1))).to.equal(-EBUSY);
    pair.start(pair.net);
    const n = register(pair.net);
    await until(() => a.bound === 1 && n.bound === 1, 'bound');
    expect(pair.app.ipc.send(a.ept, new Uint8Array(0))).to.equal(-ENODATA);
    // Stop the receiver so the 2040-byte data area fills: 100-byte messages take 104 bytes each.
    pair.net.rt.stop();
    const msg = new Uint8Array(100);
    let sent = 0;
    let r: number;
    while ((r = pair.app.ipc.send(a.ept, msg)) === 100) sent++;
    expect(r).to.equal(-ENOMEM);
    expect(sent).to.equal(Math.floor((2040 - 4) / 104));
  });

  it('delivers every message in order with its bytes when signals coalesce (several sends, fewer interrupts)', async () => {
    pair = buildZephyrPair([ICMSG]);
    const { a, n } = await bonded(pair);
    const total = 200;
    for (let i = 0; i < total; i++) {
      const m = new Uint8Array(1 + (i % 120)).fill(i & 0xFF);
      let r: number;
      while ((r = pair.app.ipc.send(a.ept, m)) === -ENOMEM) await new Promise((res) => setImmediate(res));
      expect(r).to.equal(m.length);
    }
    await until(() => n.got.length === total, `${total} messages`);
    n.got.forEach((m, i) => {
      expect(m.length, `message ${i} length`).to.equal(1 + (i % 120));
      expect(m.every((b) => b === (i & 0xFF)), `message ${i} bytes`).to.equal(true);
    });
    const stats = pair.net.bank.stats(1);
    expect(stats.merged, 'signals merged into a pending event').to.be.greaterThan(0);
  });

  it('faults the receiving core, naming the size, when a message exceeds CONFIG_PBUF_RX_READ_BUF_SIZE (128)', async () => {
    pair = buildZephyrPair([ICMSG]);
    const { a, n } = await bonded(pair);
    expect(pair.app.ipc.send(a.ept, new Uint8Array(200))).to.equal(200);
    await until(() => pair.net.rt.fault !== undefined, 'the receiver to fault');
    expect(pair.net.rt.fault!.message).to.match(/ipc1: a 200-byte message arrived but the receive buffer \(CONFIG_PBUF_RX_READ_BUF_SIZE\) is 128 bytes/);
    expect(pair.app.rt.fault).to.equal(undefined);
  });

  it('takes a larger receive buffer from Kconfig CONFIG_PBUF_RX_READ_BUF_SIZE', async () => {
    pair = buildZephyrPair([ICMSG], { CONFIG_PBUF_RX_READ_BUF_SIZE: 256 });
    const { a, n } = await bonded(pair);
    expect(pair.app.ipc.send(a.ept, new Uint8Array(204).fill(7))).to.equal(204);
    await until(() => n.got.length === 1, 'the 204-byte message');
  });
});

describe('ipc_service in front of ICMsg (Zephyr tests/subsys/ipc/ipc_service and _api cases)', function () {
  let pair: ZPair;
  afterEach(() => pair?.stop());

  it('looks instances up by node name and label, and names the instances that exist otherwise', () => {
    pair = buildZephyrPair([ICMSG]);
    expect(pair.app.ipc.device('ipc1')).to.equal(pair.app.ipc.device('ipc1_label'));
    expect(() => pair.app.ipc.device('ipc7')).to.throw(/no IPC instance "ipc7" .*enabled instances: ipc1/);
  });

  it('open_instance is 0 (ICMsg has no hook), a second endpoint on the instance is -EALREADY, bad arguments -EINVAL', () => {
    pair = buildZephyrPair([ICMSG]);
    const dev = pair.app.ipc.device('ipc1');
    expect(pair.app.ipc.open_instance(dev)).to.equal(0);
    expect(pair.app.ipc.open_instance(dev)).to.equal(0);
    register(pair.app);
    expect(pair.app.ipc.register_endpoint(dev, {}, { name: 'second', cb: {} })).to.equal(-EALREADY);
    expect(pair.app.ipc.register_endpoint(dev, {}, undefined as never)).to.equal(-EINVAL);
  });

  it('send after deregister is -ENOENT; deregister twice is -ENOENT; re-register bonds again', async () => {
    pair = buildZephyrPair([ICMSG]);
    const { a, n } = await bonded(pair);
    expect(pair.app.ipc.send(a.ept, Uint8Array.of(10))).to.equal(1);
    expect(pair.app.ipc.deregister_endpoint(a.ept)).to.equal(0);
    expect(pair.app.ipc.send(a.ept, Uint8Array.of(10))).to.equal(-ENOENT);
    expect(pair.app.ipc.deregister_endpoint(a.ept)).to.equal(-ENOENT);
  });

  it('no-copy and hold/release are -EIO on ICMsg (the backend has no hooks)', async () => {
    pair = buildZephyrPair([ICMSG]);
    const a = register(pair.app);
    expect(await pair.app.ipc.get_tx_buffer(a.ept, { size: 10 }, 0)).to.equal(-EIO);
    expect(pair.app.ipc.get_tx_buffer_size(a.ept)).to.equal(-EIO);
    expect(pair.app.ipc.hold_rx_buffer(a.ept, new Uint8Array(1))).to.equal(-EIO);
    expect(pair.app.ipc.release_rx_buffer(a.ept, new Uint8Array(1))).to.equal(-EIO);
    expect(pair.app.ipc.drop_tx_buffer(a.ept, new Uint8Array(1))).to.equal(-EIO);
  });

  it('counts each endpoint\'s messages and bytes for the run report', async () => {
    pair = buildZephyrPair([ICMSG]);
    const { a, n } = await bonded(pair, 'counted');
    for (let i = 0; i < 5; i++) expect(pair.app.ipc.send(a.ept, new Uint8Array(10))).to.equal(10);
    await until(() => n.got.length === 5, '5 messages');
    expect(pair.app.ipc.endpoints[0]).to.include({ instance: 'ipc1', name: 'counted', sent: 5, bytesSent: 50, bound: true });
    expect(pair.net.ipc.endpoints[0]).to.include({ received: 5, bytesReceived: 50 });
  });
});

describe('spsc_pbuf from firmware (ctx.zephyr.spsc_pbuf_init / spsc_pbuf_attach)', () => {
  it('lets one core produce and the other consume through shared RAM at a physical address', () => {
    const pair = buildZephyrPair([ICMSG]);
    const app = zephyrApi(pair.app.ipc, pair.app.rt, pair.app.bus);
    const net = zephyrApi(pair.net.ipc, pair.net.rt, pair.net.bus);
    const tx = app.spsc_pbuf_init(0x2007C000, 216, 0);
    expect(tx.capacity()).to.equal(196);
    expect(tx.write(Uint8Array.of(1, 2, 3))).to.equal(3);
    const rx = net.spsc_pbuf_attach(0x2007C000, 216);
    const buf = new Uint8Array(8);
    expect(rx.read(buf, 8)).to.equal(3);
    expect([...buf.subarray(0, 3)]).to.deep.equal([1, 2, 3]);
    expect(() => app.spsc_pbuf_init(0x30000000, 216, 0)).to.throw(/0x30000000/);
  });
});
