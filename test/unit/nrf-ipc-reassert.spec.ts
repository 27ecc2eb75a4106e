// NrfIpcBank.reassertLines: after a core reset terminates a sender between setting the receiver's
// event and raising its line, the host re-raises every line whose enabled event is set, as the
// level-triggered line of the silicon would stay asserted; soc/reset-nrf5340.ts does it on a built
// nRF5340 image.
import { expect } from 'chai';
import type { SocImage } from '../../cores/boot.js';
import { InterruptController } from '../../shared/irq.js';
import { NrfIpcBank } from '../../shared/nrf-ipc.js';
import { buildImage } from '../../soc/image.js';
import { findProfile } from '../../soc/profile.js';
import { reassertNrfIpcLines } from '../../soc/reset-nrf5340.js';
import { PROJECT_ROOT } from '../../soc/soc.js';
import { loadZephyrConfigs } from '../../soc/zephyr-config.js';

const INSTANCES = 3;

/** Two views of one bank: the dying sender's (it never gets to raise a line) and the host's. */
function banks(): { sender: NrfIpcBank; host: NrfIpcBank; raised: number[] } {
  const sab = new SharedArrayBuffer(NrfIpcBank.byteLength(INSTANCES));
  const raised: number[] = [];
  const sender = new NrfIpcBank(sab, 0, INSTANCES, () => {
    // Terminated between Atomics.exchange of the event and the raise: nothing happens.
  });
  const host = new NrfIpcBank(sab, 0, INSTANCES, (i) => raised.push(i));
  for (let i = 0; i < INSTANCES; i++) {
    for (let ch = 0; ch < 16; ch++) {
      host.setSendCnf(i, ch, 1 << ch);
      host.setReceiveCnf(i, ch, 1 << ch);
    }
  }
  return { sender, host, raised };
}

describe('nRF5340 IPC: re-asserting level-triggered lines after a reset (unit)', () => {
  it('raises the line of an instance whose enabled event was set by a sender that never raised it, and only that one', () => {
    const { sender, host, raised } = banks();
    host.setInten(1, 1 << 2);
    sender.send(0, 2); // sets EVENTS_RECEIVE[2] of every instance listening on bit 2; line of 1 not raised
    expect(raised).to.deep.equal([]);
    expect(host.intPend(1)).to.equal(1 << 2);
    // Instances 0 and 2 have the event too, but their INTEN is 0: not pending, not raised.
    expect(host.event(2, 2)).to.equal(1);
    expect(host.reassertLines()).to.equal(1 << 1);
    expect(raised).to.deep.equal([1]);
  });

  it('a later signal merged into the stuck event is heard only once the line is re-asserted (the hole it closes)', () => {
    const { sender, host, raised } = banks();
    host.setInten(1, 1 << 0);
    sender.send(0, 0);
    host.send(0, 0); // the new incarnation signals again: merged into the set event, no edge, no interrupt
    expect(raised).to.deep.equal([]);
    expect(host.stats(1).merged).to.equal(1);
    host.reassertLines();
    expect(raised).to.deep.equal([1]);
  });

  it('leaves out the skipped instance (the reset core, whose next boot sets its IPC up again) and instances with nothing pending', () => {
    const { sender, host, raised } = banks();
    for (let i = 0; i < INSTANCES; i++) host.setInten(i, 1 << 5);
    sender.send(1, 5);
    expect(host.reassertLines(0)).to.equal((1 << 1) | (1 << 2));
    expect(raised).to.deep.equal([1, 2]);
    host.clearEvent(1, 5);
    host.clearEvent(2, 5);
    raised.length = 0;
    expect(host.reassertLines(0)).to.equal(0);
    expect(raised).to.deep.equal([]);
  });

  it('raises nothing when every set event is disabled', () => {
    const { sender, host, raised } = banks();
    sender.send(0, 7);
    expect(host.events(1)).to.equal(1 << 7);
    expect(host.reassertLines()).to.equal(0);
    expect(raised).to.deep.equal([]);
  });
});

describe('nRF5340 reset hook: reassertNrfIpcLines on a built image (unit)', () => {
  let image: SocImage;
  before(async () => {
    const profile = findProfile('nrf5340');
    image = buildImage(profile, 2, await loadZephyrConfigs(profile, PROJECT_ROOT));
  });

  it('raises the surviving core\'s IPC line (cpuapp: line 10) for an event cpunet set before it was reset, not the reset core\'s', () => {
    const ipc = image.nrfIpc!;
    const app = ipc.cores.cpuapp!;
    const net = ipc.cores.cpunet!;
    const region = image.regions.find((r) => r.device === 'nrf-ipc.0')!;
    const bank = new NrfIpcBank(region.sab, 0, ipc.instances); // the dying sender's view: raises nothing
    const irq = new InterruptController(image.controlSab, image.controlLayout.irq, image.cores.length);
    for (const i of [app.instance, net.instance]) {
      for (let ch = 0; ch < 16; ch++) {
        bank.setSendCnf(i, ch, 1 << ch);
        bank.setReceiveCnf(i, ch, 1 << ch);
      }
      bank.setInten(i, 1 << 3);
    }
    irq.take(0);
    irq.take(1);
    bank.send(net.instance, 3); // cpunet -> cpuapp, and (same backbone bit) cpunet's own instance
    expect(irq.pending(0)).to.equal(0);
    const raised = reassertNrfIpcLines(image, image.cores.findIndex((c) => c.name === 'cpunet'));
    expect(raised).to.equal(1 << app.instance);
    expect(app.line).to.equal(10);
    expect(irq.pending(0)).to.equal(1 << app.line);
    expect(irq.pending(1)).to.equal(0);
  });
});
