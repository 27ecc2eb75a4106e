// ICMsg's session protocol (unbound = "enable" on ipc1) on a running nRF5340 SoC, each core a
// worker thread: the built-in multi-endpoint + throughput sample runs clean on the overlays of
// test/fixtures (with firewalls on), and a reset of cpunet (Soc.resetCore) mid-run makes cpuapp see unbound(),
// re-register and bond with the new incarnation (Zephyr's ipc_sessions test_reboot).

import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { InterruptController } from '../../shared/irq.js';
import { NrfIpcBank } from '../../shared/nrf-ipc.js';
import { createLogSink } from '../../soc/log.js';
import type { SocProfile } from '../../soc/profile.js';
import { nrf5340 } from '../../soc/profiles/nrf5340.js';
import { buildReport } from '../../soc/report.js';
import { Soc } from '../../soc/soc.js';

const sink = createLogSink('silent', false);
const REBOND_FW = fileURLToPath(new URL('../fixtures/rebond-fw.js', import.meta.url));
/** cpuapp's ipc1 regions (firmware/nrf5340/cpuapp.overlay): TX 0x20074000, RX 0x2007c000. */
const APP_IPC1_TX = 0x20074000;
const APP_IPC1_RX = 0x2007c000;

/** The nrf5340 profile on the overlays with unbound = "enable" on ipc1 (paths from the project root). */
const sessionProfile: SocProfile = {
  ...nrf5340,
  name: 'nrf5340-unbound-enable',
  cores: nrf5340.cores.map((c) => ({ ...c, devicetree: [c.devicetree![0]!, `test/fixtures/${c.name}-unbound.overlay`] })),
};

/** The u32 at physical `addr` of the SoC's shared RAM, read from the test thread. */
function word(soc: Soc, addr: number): number {
  const r = soc.image.regions.find((x) => addr >= x.base && addr + 4 <= x.base + x.size)!;
  return new DataView(r.sab, r.byteOffset).getUint32(addr - r.base, true);
}

/**
 * Re-asserts cpuapp's IPC interrupt if one of its enabled events is set. On silicon the line is
 * level-triggered (INTEN & EVENTS); hetsoc raises it on the 0->1 edge of an event, from the sender's
 * thread, so a sender terminated by Soc.resetCore between setting the event and raising the line
 * leaves the event set and the line quiet, and every later signal on that channel merges into the
 * set event: the receiver never hears from the peer again (seen here about once in 150 resets).
 * Until resetCore re-evaluates the lines itself, the test does what the hardware would.
 */
function reassertAppIpcLine(soc: Soc): void {
  const bank = soc.image.regions.find((r) => r.device === 'nrf-ipc.0')!;
  const app = soc.image.nrfIpc!.cores.cpuapp!;
  if (new NrfIpcBank(bank.sab, 0, soc.image.nrfIpc!.instances).intPend(app.instance) === 0) return;
  new InterruptController(soc.image.controlSab, soc.image.controlLayout.irq, soc.image.cores.length).raise(0, app.line);
}

async function until(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('ICMsg session protocol on a running nRF5340 (worker threads)', function () {
  this.timeout(120_000);

  it('runs the built-in multi-endpoint and throughput sample to completion with unbound = "enable" on ipc1 (firewalls on: each side writes only its rd_idx and handshake word in the peer\'s region)', async () => {
    const soc = await Soc.create(sessionProfile, { sink, firewall: true });
    try {
      const outcomes = await soc.run({ messages: '30', duration: '200' }, 60_000);
      const report = buildReport(sessionProfile.name, outcomes, 0);
      expect(report.problems).to.deep.equal([]);
      expect(report.cores.map((c) => [c.name, c.state])).to.deep.equal([['cpuapp', 'finished'], ['cpunet', 'finished']]);
      expect(report.ok).to.equal(true);
      for (const o of outcomes) {
        const ipc = (o.stats as { ipc: Record<string, Record<string, unknown>> }).ipc;
        expect(ipc.ipc1, o.name).to.include({ state: 'CONNECTED_SID_ENABLED', mode: 'enable', unbounds: 0 });
        expect(ipc.ipc0!.control, `${o.name} ipc0 (ICBMsg keeps the v1 protocol)`).to.equal('CONNECTED_SID_DISABLED');
        const r = o.result as { endpoints: { name: string; pingPongs: number }[]; throughput: { messages: number }[] };
        expect(r.endpoints.map((e) => e.pingPongs), o.name).to.deep.equal([30, 30, 30]);
        expect(r.throughput[0]!.messages, `${o.name} throughput messages`).to.be.greaterThan(0);
      }
    } finally {
      await soc.shutdown();
    }
  });

  it('resetting cpunet mid-run: cpuapp gets unbound(), re-registers, bonds with the new incarnation and pings again; no pong of the old session arrives in the new one', async () => {
    const soc = await Soc.create(sessionProfile, { sink, firmware: { cpuapp: REBOND_FW, cpunet: REBOND_FW } });
    try {
      const running = soc.run({ pingsBefore: '5', pingsAfter: '25' }, 60_000);
      // cpuapp stops after 5 pongs: cpunet's wr_idx in cpuapp's RX region (@8 at A = 8) and
      // cpuapp's rd_idx (@0) are then 5 x 12 bytes (4-byte header + 8-byte pong). Reset cpunet now.
      await until(() => word(soc, APP_IPC1_RX + 8) === 5 * 12 && word(soc, APP_IPC1_RX) === 5 * 12, '5 pongs read by cpuapp', 30_000);
      const before = word(soc, APP_IPC1_TX + 4) & 0xFFFF;
      await soc.resetCore('cpunet');
      reassertAppIpcLine(soc);
      const outcomes = await running;
      const app = outcomes.find((o) => o.name === 'cpuapp')!;
      const net = outcomes.find((o) => o.name === 'cpunet')!;
      expect(app.state, JSON.stringify(app.error)).to.equal('finished');
      expect(net.state, JSON.stringify(net.error)).to.equal('finished');
      expect(net.resets).to.equal(1);
      const a = app.result as { bound: number; unbound: number; sessions: number; pongs: number[]; stalePongs: number; events: string[]; problems: string[] };
      const n = net.result as { incarnation: number; answered: number; problems: string[] };
      const diag = JSON.stringify({ app: app.result, net: net.result, appIpc1: (app.stats as { ipc?: unknown })?.ipc, netIpc1: (net.stats as { ipc?: unknown })?.ipc });
      expect(a.problems, diag).to.deep.equal([]);
      expect(n.problems, diag).to.deep.equal([]);
      expect(n.incarnation).to.equal(2);
      expect(a.events).to.deep.equal(['bound', 'unbound', 'bound']);
      expect([a.bound, a.unbound, a.sessions]).to.deep.equal([2, 1, 2]);
      expect(a.pongs[0], 'pongs from the first incarnation').to.equal(5);
      expect(a.pongs[1], 'pongs after the re-bond').to.equal(25);
      expect(n.answered, 'the new incarnation answered every ping of the new session').to.equal(25);
      expect(a.stalePongs).to.equal(0);
      // The new incarnation requested a new session id.
      expect(word(soc, APP_IPC1_TX + 4) & 0xFFFF).to.not.equal(before);
      const ipc1 = (app.stats as { ipc: Record<string, Record<string, unknown>> }).ipc.ipc1!;
      expect(ipc1).to.include({ state: 'CONNECTED_SID_ENABLED', unbounds: 1 });
    } finally {
      await soc.shutdown();
    }
  });
});
