// A J7 RTOS core reset while Linux talks to it over rpmsg_char: Linux's remoteproc gets
// RP_MBOX_CRASH, tears the core's virtio device down (the client's device fails with -EPIPE),
// creates it again once the firmware is reloaded, the new incarnation pairs late and announces
// again, the client reopens and echoes again. The other RTOS core refuses the reset core's re-primed
// ring (TI's PDK has no recovery between RTOS cores) and finishes.

import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { J721E_MSMC_BASE } from '../../shared/j721e.js';
import { createLogSink } from '../../soc/log.js';
import type { SocProfile } from '../../soc/profile.js';
import { Soc } from '../../soc/soc.js';

const RTOS = fileURLToPath(new URL('../fixtures/j7-reset-rtos.js', import.meta.url));
const LINUX = fileURLToPath(new URL('../fixtures/j7-reset-linux.js', import.meta.url));
const profile: SocProfile = {
  name: 'j7-reset-test', platform: 'j721e', description: 'Linux and two RTOS cores',
  cores: [
    { name: 'mpu1_0', kind: 'a72', os: 'linux', procId: 0, firmware: LINUX },
    { name: 'mcu2_0', kind: 'r5f', os: 'rtos', procId: 3, firmware: RTOS },
    { name: 'mcu2_1', kind: 'r5f', os: 'rtos', procId: 4, firmware: RTOS },
  ],
};

type Obj = Record<string, any>;

/** Resolves when MSMC word `word` (what the fixtures count there) reaches `n`. */
async function counted(soc: Soc, word: number, n: number, what: string): Promise<void> {
  const msmc = soc.image.regions.find((r) => r.name === 'msmc')!;
  const words = new Int32Array(msmc.sab, msmc.byteOffset + (J721E_MSMC_BASE - msmc.base), 16);
  const until = Date.now() + 20_000;
  while (Atomics.load(words, word) < n) {
    if (Date.now() > until) throw new Error(`${what}: ${Atomics.load(words, word)}, not ${n}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('J7 core reset: Linux rproc recovery and rpmsg_char reopen (Soc.resetCore)', function () {
  this.timeout(60_000);

  it('Linux removes the device, re-creates the vdev after the reload, the client reopens and echoes again; the RTOS peer refuses the ring and finishes', async () => {
    const soc = await Soc.create(profile, { sink: createLogSink('silent', false) });
    try {
      const running = soc.run({ victim: 'mcu2_0', messages: '20', pings: '10' }, 40_000);
      // Reset mcu2_0 once both RTOS cores have pinged each other and it has echoed 10 messages to Linux.
      await counted(soc, 8 + 3, 10, 'pings by mcu2_0');
      await counted(soc, 8 + 4, 10, 'pings by mcu2_1');
      await counted(soc, 3, 10, 'echoes of mcu2_0 to Linux');
      await soc.resetCore('mcu2_0');
      const out = await running;
      const by = Object.fromEntries(out.map((o) => [o.name, o]));
      for (const o of out) expect(o.state, `${o.name}: ${o.error?.message}`).to.equal('finished');

      const linux = by.mpu1_0!.result as { results: Obj[] };
      const victim = linux.results.find((r) => r.core === 'mcu2_0')!;
      expect(victim.reopens).to.equal(1);
      expect(victim.echoedAfterReopen).to.equal(20);
      expect(victim.bad).to.equal(0);
      expect(victim.failures).to.have.length(1);
      expect(victim.failures[0]).to.match(/-EPIPE \(device removed\)/);
      const other = linux.results.find((r) => r.core === 'mcu2_1')!;
      expect([other.echoed, other.reopens, other.bad]).to.deep.equal([20, 0, 0]);

      const rpmsg = (by.mpu1_0!.stats as Obj).rpmsg as Obj;
      expect([rpmsg.crashes, rpmsg.recoveries]).to.deep.equal([1, 1]);
      expect(rpmsg.remotes.mcu2_0).to.include({ crashes: 1, recoveries: 1 });
      expect(rpmsg.remotes.mcu2_0.channels).to.include('virtio0.rpmsg_chrdev.-1.14');
      expect(rpmsg.remotes.mcu2_1).to.include({ crashes: 0, recoveries: 0 });

      // The new incarnation ran main() again; the peer refused its re-primed TX ring and went on.
      expect(by.mcu2_0!.resets).to.equal(1);
      expect(by.mcu2_0!.result).to.include({ core: 'mcu2_0', incarnation: 2 });
      expect(by.mcu2_1!.result).to.include({ core: 'mcu2_1', incarnation: 1, pinged: 10 });
      expect((by.mcu2_1!.result as Obj).refused).to.be.greaterThan(0);
    } finally {
      await soc.shutdown();
    }
  });
});
