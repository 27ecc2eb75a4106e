// Soc.resetCore: a core's worker is terminated mid-run and boots again; run() waits for the new
// incarnation, which sees args.incarnation = "2", and the outcome counts the reset.

import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { createLogSink } from '../../soc/log.js';
import type { SocProfile } from '../../soc/profile.js';
import { Soc, SocError } from '../../soc/soc.js';

const FW = fileURLToPath(new URL('../fixtures/reset-fw.js', import.meta.url));
const profile: SocProfile = {
  name: 'reset-test', platform: 'j721e', description: 'two RTOS cores',
  cores: [
    { name: 'mcu1_0', kind: 'r5f', os: 'rtos', procId: 1, firmware: FW },
    { name: 'mcu2_0', kind: 'r5f', os: 'rtos', procId: 3, firmware: FW },
  ],
};

describe('core reset (Soc.resetCore)', function () {
  this.timeout(30_000);

  it('terminates the core, boots it again, and run() reports the new incarnation', async () => {
    const soc = await Soc.create(profile, { sink: createLogSink('silent', false) });
    try {
      const running = soc.run({ victim: 'mcu1_0' }, 15_000);
      await new Promise((r) => setTimeout(r, 200));
      await soc.resetCore('mcu1_0');
      const out = await running;
      const victim = out.find((o) => o.name === 'mcu1_0')!;
      expect(victim.state).to.equal('finished');
      expect(victim.result).to.deep.equal({ core: 'mcu1_0', incarnation: 2 });
      expect(victim.resets).to.equal(1);
      const other = out.find((o) => o.name === 'mcu2_0')!;
      expect(other.result).to.deep.equal({ core: 'mcu2_0', incarnation: 1 });
      expect(other.resets).to.equal(undefined);
    } finally {
      await soc.shutdown();
    }
  });

  it('refuses to reset a core that does not exist, naming the cores there are', async () => {
    const soc = await Soc.create(profile, { sink: createLogSink('silent', false) });
    try {
      const running = soc.run({}, 5_000);
      let err: unknown;
      try {
        await soc.resetCore('c7x_9');
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(SocError);
      expect((err as Error).message).to.include('no core "c7x_9"').and.include('mcu1_0, mcu2_0');
      await running;
    } finally {
      await soc.shutdown();
    }
  });
});
