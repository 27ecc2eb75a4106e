// ICMsg across two real worker threads: the nrf5340 SoC (devicetree from the profile) with both
// cores running test/fixtures/icmsg-stress-fw.ts, sending at once with random lengths for a bounded
// time; every byte and every sequence number is checked by the receiving core.
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { createLogSink } from '../../soc/log.js';
import { nrf5340 } from '../../soc/profiles/nrf5340.js';
import { Soc } from '../../soc/soc.js';

const FW = fileURLToPath(new URL('../fixtures/icmsg-stress-fw.js', import.meta.url));

describe('ICMsg stress: cpuapp and cpunet in separate workers, both directions at once', function () {
  this.timeout(30_000);

  it('delivers every packet in order with every byte intact, and loses none at the end', async () => {
    const soc = await Soc.create(nrf5340, { firmware: { cpuapp: FW, cpunet: FW }, sink: createLogSink('silent') });
    try {
      const out = await soc.run({ duration: '400' }, 20_000);
      for (const o of out) expect(o.state, `${o.name}: ${o.error?.message}`).to.equal('finished');
      const [app, net] = out.map((o) => o.result as { sent: number; received: number; bad: number; firstBad: string });
      expect(app!.bad, app!.firstBad).to.equal(0);
      expect(net!.bad, net!.firstBad).to.equal(0);
      expect(net!.received).to.equal(app!.sent);
      expect(app!.received).to.equal(net!.sent);
      expect(app!.sent).to.be.greaterThan(100);
      expect(net!.sent).to.be.greaterThan(100);
    } finally {
      await soc.shutdown();
    }
  });
});
