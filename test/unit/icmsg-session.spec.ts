// ICMsg's session protocol (devicetree unbound = "enable" / "detect", Zephyr 4.1+) on two Zephyr
// cores in one thread: the handshake words, bound() both ways, unbound() when the peer closes,
// re-opens or reboots, re-bonding by registering the endpoint again (Zephyr's ipc_sessions
// test_rebond / test_local_rebond / test_reboot), no message of an old session delivered in a new
// one, and detect mode falling back to the v1 magic protocol against a "disable" peer.
import { expect } from 'chai';
import type { ZephyrIpcInstanceImage } from '../../cores/boot.js';
import type { IpcEpt } from '../../cores/zephyr/backend.js';
import { ICMSG_MAGIC } from '../../shared/icmsg-proto.js';
import { Pbuf } from '../../shared/pbuf.js';
import { EBUSY } from '../../shared/zephyr-errno.js';
import { until } from '../support/two-cores.js';
import { appInstance, swapped, type ZCore } from '../support/zephyr-pair.js';
import { buildRebootablePair, type RebootablePair } from '../support/zephyr-reboot.js';

const APP_TX = 0x20070000;
const APP_RX = 0x20078000;
const session = (unbound: ZephyrIpcInstanceImage['unbound'], dcacheAlignment = 8): ZephyrIpcInstanceImage =>
  appInstance({ name: 'ipc1', compatible: 'zephyr,ipc-icmsg', unbound, dcacheAlignment });
const ENABLE = session('enable');

interface Side {
  core: ZCore;
  ept: IpcEpt;
  bound: number;
  unbound: number;
  got: Uint8Array[];
  /** "bound" / "unbound" / "rx:<first byte>" in the order the callbacks ran. */
  events: string[];
}

function side(core: ZCore): Side {
  return { core, ept: {}, bound: 0, unbound: 0, got: [], events: [] };
}

/** ipc_service_register_endpoint on ipc1 (again, for an existing side: Zephyr's re-register). */
function register(s: Side, core: ZCore = s.core, name = 'ep'): Side {
  s.core = core;
  const r = core.ipc.register_endpoint(core.ipc.device('ipc1'), s.ept, {
    name,
    cb: {
      bound: () => {
        s.bound++;
        s.events.push('bound');
      },
      unbound: () => {
        s.unbound++;
        s.events.push('unbound');
      },
      received: (d, len) => {
        s.got.push(d.slice(0, len));
        s.events.push(`rx:${d[0]}`);
      },
    },
  });
  expect(r, `register on ${core.name}`).to.equal(0);
  return s;
}

async function bonded(p: RebootablePair): Promise<{ a: Side; n: Side }> {
  p.start(p.app);
  p.start(p.net);
  const a = register(side(p.app));
  const n = register(side(p.net));
  await until(() => a.bound === 1 && n.bound === 1, 'both sides bound');
  return { a, n };
}

/** The u32 at `offset` of the region at physical `base`. */
function word(core: ZCore, base: number, offset: number): number {
  const w = core.bus.window(base, 0x800);
  return new DataView(w.sab, w.byteOffset).getUint32(offset, true);
}

const status = (core: ZCore): Record<string, unknown> => core.ipc.status().ipc1 as Record<string, unknown>;
const send = (s: Side, ...bytes: number[]): number => s.core.ipc.send(s.ept, Uint8Array.from(bytes));

describe('ICMsg session protocol, unbound = "enable" (one thread)', function () {
  let pair: RebootablePair;
  afterEach(() => pair?.stop());

  it('bonds both ways: each RX handshake word holds its own sid and the ack of the peer\'s, bound() once per side', async () => {
    pair = buildRebootablePair([ENABLE]);
    const { a, n } = await bonded(pair);
    await new Promise((r) => setTimeout(r, 10));
    expect([a.bound, n.bound, a.unbound, n.unbound]).to.deep.equal([1, 1, 0, 0]);
    const sa = status(pair.app);
    const sn = status(pair.net);
    expect(sa).to.include({ state: 'CONNECTED_SID_ENABLED', mode: 'enable', remoteSid: sn.localSid });
    expect(sn).to.include({ state: 'CONNECTED_SID_ENABLED', mode: 'enable', remoteSid: sa.localSid });
    // app's RX region @4 (written by app): app sid | net sid << 16; net's RX region (app's TX) the mirror.
    expect(word(pair.app, APP_RX, 4)).to.equal(((sa.localSid as number) | ((sn.localSid as number) << 16)) >>> 0);
    expect(word(pair.app, APP_TX, 4)).to.equal(((sn.localSid as number) | ((sa.localSid as number) << 16)) >>> 0);
    expect(sa.localSid).to.not.equal(0);
  });

  it('uses the handshake layout at A = 8 (wr_idx @8, data @12) and pushes no magic packet', async () => {
    pair = buildRebootablePair([ENABLE]);
    await bonded(pair);
    // Both FIFOs were reset by the handshake and carry nothing yet.
    for (const base of [APP_TX, APP_RX]) {
      expect(word(pair.app, base, 0), `rd_idx of 0x${base.toString(16)}`).to.equal(0);
      expect(word(pair.app, base, 8), `wr_idx of 0x${base.toString(16)}`).to.equal(0);
    }
  });

  it('moves messages both ways once bound, and answers -EBUSY before', async () => {
    pair = buildRebootablePair([ENABLE]);
    pair.start(pair.app);
    const a = register(side(pair.app));
    expect(send(a, 1)).to.equal(-EBUSY);
    pair.start(pair.net);
    const n = register(side(pair.net));
    await until(() => a.bound === 1 && n.bound === 1, 'bound');
    for (let i = 0; i < 50; i++) {
      expect(send(a, i, 1, 2)).to.equal(3);
      expect(send(n, 100 + i)).to.equal(1);
    }
    await until(() => a.got.length === 50 && n.got.length === 50, '50 messages each way');
    expect(n.got.map((m) => m[0])).to.deep.equal([...Array(50).keys()]);
    expect(a.got.map((m) => m[0])).to.deep.equal([...Array(50).keys()].map((i) => 100 + i));
    // 50 packets of 3 bytes take 8 bytes each in app's TX data area (@12 at A = 8), all read by net.
    expect(word(pair.app, APP_TX, 8), 'wr_idx').to.equal(400);
    expect(word(pair.app, APP_TX, 0), 'rd_idx').to.equal(400);
  });

  it('bonds whichever side opens first, however late the other one comes', async () => {
    for (const first of ['app', 'net'] as const) {
      pair = buildRebootablePair([ENABLE]);
      const early = first === 'app' ? pair.app : pair.net;
      const late = first === 'app' ? pair.net : pair.app;
      pair.start(early);
      const e = register(side(early));
      await new Promise((r) => setTimeout(r, 30));
      expect(e.bound).to.equal(0);
      pair.start(late);
      const l = register(side(late));
      await until(() => e.bound === 1 && l.bound === 1, `both bound (${first} first)`);
      pair.stop();
    }
  });

  it('a peer that deregisters unbinds this side (unbound(), sends dropped with their length); both re-register and talk again', async () => {
    pair = buildRebootablePair([ENABLE]);
    const { a, n } = await bonded(pair);
    expect(pair.net.ipc.deregister_endpoint(n.ept)).to.equal(0);
    // Close writes "no session" into net's RX handshake word (app's TX region @4).
    expect(word(pair.app, APP_TX, 4)).to.equal(0);
    await until(() => a.unbound === 1, 'unbound() on app');
    expect(status(pair.app).state).to.equal('DISCONNECTED');
    expect(pair.app.ipc.endpoints[0]!.bound).to.equal(false);
    // Zephyr: a send after the peer's session ended is dropped and reports its length.
    expect(send(a, 9, 9)).to.equal(2);
    register(n);
    register(a);
    await until(() => a.bound === 2 && n.bound === 2, 'bound again on both');
    expect(send(a, 42)).to.equal(1);
    expect(send(n, 43)).to.equal(1);
    await until(() => n.got.length === 1 && a.got.length === 1, 'one message each way');
    expect([n.got[0]![0], a.got[0]![0]]).to.deep.equal([42, 43]);
    // The dropped message never arrived, and re-registering kept one report line per endpoint.
    expect(pair.app.ipc.endpoints).to.have.length(1);
    expect(pair.app.ipc.endpoints[0]).to.include({ bound: true, received: 1 });
  });

  it('test_local_rebond: this side re-registers without the peer asking; the peer gets unbound(), re-registers, and both bond', async () => {
    pair = buildRebootablePair([ENABLE]);
    const { a, n } = await bonded(pair);
    const oldSid = status(pair.app).localSid;
    expect(pair.app.ipc.deregister_endpoint(a.ept)).to.equal(0);
    register(a);
    expect(status(pair.app).localSid, 'a new session id').to.not.equal(oldSid);
    await until(() => n.unbound === 1, 'unbound() on net');
    register(n);
    await until(() => a.bound === 2 && n.bound === 2, 'bound again');
    expect(send(a, 7)).to.equal(1);
    await until(() => n.got.length === 1, 'ping after rebond');
  });

  it('re-registering while still connected starts a new session: the peer sees unbound() and the pair re-bonds', async () => {
    pair = buildRebootablePair([ENABLE]);
    const { a, n } = await bonded(pair);
    register(a); // no deregister: Zephyr's session-mode open re-handshakes from any state
    expect(status(pair.app).state).to.equal('INITIALIZING_SID_ENABLED');
    await until(() => n.unbound === 1, 'unbound() on net');
    register(n);
    await until(() => a.bound === 2 && n.bound === 2, 'bound again');
    expect(a.unbound, 'the side that re-opened is not told').to.equal(0);
  });

  it('a rebooted peer (fresh ICMsg over the same shared memory) makes the connected side unbind; it re-registers and re-bonds with no stale message delivered', async () => {
    pair = buildRebootablePair([ENABLE]);
    const { a, n } = await bonded(pair);
    const oldNetSid = status(pair.net).localSid;
    // Both sides leave messages the other never reads: net's packets wait in app's RX FIFO, app's
    // in net's. Then, in the same turn (nobody reads in between), net reboots and opens again.
    for (let i = 0; i < 5; i++) {
      expect(send(n, 0xA0 + i)).to.equal(1);
      expect(send(a, 0xB0 + i)).to.equal(1);
    }
    const net2 = pair.reboot(pair.net);
    pair.start(net2);
    const n2 = register(side(net2));
    expect(status(net2).localSid, 'the new incarnation\'s sid').to.not.equal(oldNetSid);
    await until(() => a.unbound === 1, 'unbound() on app');
    // The stale packet app read was discarded because the session had changed.
    expect(a.got, 'messages delivered to app from the old net').to.deep.equal([]);
    // (Whether app read a stale packet and discarded it, or found its RX FIFO already reset by the
    // new net acking app's old session, depends on which core ran first; neither delivers it.)
    expect(status(pair.app)).to.include({ state: 'DISCONNECTED', unbounds: 1 });
    register(a);
    await until(() => a.bound === 2 && n2.bound === 1, 'app bound again with the new net');
    expect(send(a, 1)).to.equal(1);
    expect(send(n2, 2)).to.equal(1);
    await until(() => a.got.length === 1 && n2.got.length === 1, 'new messages both ways');
    expect(a.got.map((m) => m[0])).to.deep.equal([2]);
    // App's messages to the old net were wiped by app's TX reset when it acked the new session.
    expect(n2.got.map((m) => m[0])).to.deep.equal([1]);
    expect(a.events).to.deep.equal(['bound', 'unbound', 'bound', 'rx:2']);
    // The old incarnation's endpoint never heard anything more.
    expect(n.got).to.deep.equal([]);
  });

  it('re-bonds through 20 reboots of the network core with messages in flight, never delivering an old session\'s message', async () => {
    pair = buildRebootablePair([ENABLE]);
    pair.start(pair.app);
    pair.start(pair.net);
    // Every message is [incarnation of the sending net core, number]; numbers 100.. are sent in the
    // same turn as the reboot, so nobody can read them before the session changes.
    let incarnation = 1;
    const a = register(side(pair.app));
    let n = register(side(pair.net));
    await until(() => a.bound === 1 && n.bound === 1, 'first bond');
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 2 + (round % 4); i++) expect(send(n, incarnation, i)).to.equal(2);
      await new Promise((r) => setImmediate(r));
      for (let i = 0; i < 3; i++) send(n, incarnation, 100 + i);
      const net = pair.reboot(pair.net);
      incarnation++;
      pair.start(net);
      n = register(side(net));
      await until(() => a.unbound === round + 1, `unbound() on app, round ${round}`);
      register(a);
      await until(() => a.bound === round + 2 && n.bound === 1, `re-bond, round ${round}`);
      expect(send(n, incarnation, 200)).to.equal(2);
      await until(() => a.got.some((m) => m[0] === incarnation && m[1] === 200), `round ${round}'s fresh message`);
    }
    expect(a.got.filter((m) => m[1]! >= 100 && m[1]! < 200).map((m) => `[${m[0]},${m[1]}]`), 'messages sent as the core rebooted').to.deep.equal([]);
    // Session k (after the k-th bound()) delivers only messages of net incarnation k.
    let sessionNo = 0;
    const wrong: string[] = [];
    for (const e of a.events) {
      if (e === 'bound') sessionNo++;
      else if (e.startsWith('rx:') && Number(e.slice(3)) !== sessionNo) wrong.push(`${e} in session ${sessionNo}`);
    }
    expect(wrong).to.deep.equal([]);
    expect(a.events.filter((e) => e === 'rx:21'), 'the last session').to.have.length(1);
  });
});

describe('ICMsg session protocol, unbound = "detect"', function () {
  let pair: RebootablePair;
  afterEach(() => pair?.stop());

  for (const first of ['detect', 'legacy'] as const) {
    it(`bonds with a "disable" (v1 magic) peer through the v1 path (${first} side opens first)`, async () => {
      const detect = session('detect');
      const legacy = swapped({ ...detect, unbound: 'disable' });
      pair = buildRebootablePair([detect], [legacy]);
      const order = first === 'detect' ? [pair.app, pair.net] : [pair.net, pair.app];
      const sides: Side[] = [];
      for (const c of order) {
        pair.start(c);
        sides.push(register(side(c)));
        await new Promise((r) => setTimeout(r, 20));
      }
      await until(() => sides.every((s) => s.bound === 1), 'both bound');
      expect(status(pair.app).state, 'the detect side fell back to the v1 protocol').to.equal('CONNECTED_SID_DISABLED');
      expect(status(pair.net).state).to.equal('CONNECTED_SID_DISABLED');
      // The detect side pushed the magic into its TX region: header @12 (A = 8), then the 13 bytes.
      const w = pair.app.bus.window(APP_TX, 0x800);
      const bytes = new Uint8Array(w.sab, w.byteOffset, 0x800);
      expect([...bytes.subarray(12, 16)]).to.deep.equal([0, 13, 0, 0]);
      expect([...bytes.subarray(16, 29)]).to.deep.equal([...ICMSG_MAGIC]);
      const [x, y] = sides as [Side, Side];
      expect(send(x, 5)).to.equal(1);
      expect(send(y, 6)).to.equal(1);
      await until(() => x.got.length === 1 && y.got.length === 1, 'a message each way');
    });
  }

  it('bonds with an "enable" peer, and with another "detect" peer, through the session protocol', async () => {
    for (const other of ['enable', 'detect'] as const) {
      pair = buildRebootablePair([session('detect')], [swapped(session(other))]);
      const { a, n } = await bonded(pair);
      expect(status(pair.app).state).to.equal('CONNECTED_SID_ENABLED');
      expect(status(pair.net).state).to.equal('CONNECTED_SID_ENABLED');
      expect(send(a, 1)).to.equal(1);
      await until(() => n.got.length === 1, `message to the ${other} side`);
      pair.stop();
    }
  });

  it('a detect side bonded through the session protocol unbinds when the peer deregisters', async () => {
    pair = buildRebootablePair([session('detect')], [swapped(session('enable'))]);
    const { a, n } = await bonded(pair);
    expect(pair.net.ipc.deregister_endpoint(n.ept)).to.equal(0);
    await until(() => a.unbound === 1, 'unbound() on the detect side');
  });
});

describe('ICMsg session configuration and pbuf_get_initial_buf', () => {
  it('refuses a session mode with dcache-alignment below 8, naming the core and instance', () => {
    expect(() => buildRebootablePair([session('enable', 4)])).to.throw(/core cpuapp: ICMsg instance ipc1 \(test\) sets unbound = "enable", whose handshake word needs dcache-alignment >= 8; it has 4/);
    expect(() => buildRebootablePair([session('detect', 0)])).to.throw(/ipc1 .*"detect".*it has 0/);
  });

  it('getInitialBuf returns the first packet\'s payload in place, without consuming it', () => {
    const sab = new SharedArrayBuffer(256);
    const tx = new Pbuf(sab, 0, 256, { dcacheAlignment: 8, handshake: true });
    const rx = new Pbuf(sab, 0, 256, { dcacheAlignment: 8, handshake: true });
    expect(rx.getInitialBuf(), 'nothing written: wr_idx 0').to.equal(null);
    tx.txInit();
    tx.write(ICMSG_MAGIC);
    tx.write(Uint8Array.of(1, 2, 3));
    expect([...rx.getInitialBuf()!]).to.deep.equal([...ICMSG_MAGIC]);
    const buf = new Uint8Array(32);
    expect(rx.read(buf), 'still there for pbuf_read').to.equal(13);
    expect(rx.getInitialBuf(), 'the reader has consumed a packet (local rd_idx != 0)').to.equal(null);
  });

  it('getInitialBuf refuses a header that claims more than wr_idx covers, and a corrupt wr_idx', () => {
    const sab = new SharedArrayBuffer(256);
    const words = new Int32Array(sab);
    const bytes = new Uint8Array(sab);
    const rx = new Pbuf(sab, 0, 256, { dcacheAlignment: 8, handshake: true });
    bytes[12] = 0;
    bytes[13] = 40; // a 40-byte packet...
    words[2] = 20; // ...but wr_idx covers 20 bytes
    expect(rx.getInitialBuf()).to.equal(null);
    words[2] = 6; // misaligned
    expect(rx.getInitialBuf()).to.equal(null);
    words[2] = 244; // == data len: not a valid index
    expect(rx.getInitialBuf()).to.equal(null);
    words[2] = 44;
    expect(rx.getInitialBuf()!.length).to.equal(40);
  });
});
