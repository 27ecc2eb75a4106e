// Firewalls on a running SoC (real core threads): a core writing into another pair's vring faults
// with the firewall's message while the others finish; the built-in firmware of both profiles
// runs clean with firewalls on (the drivers map only what the rules give each core).

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { hex } from '../../shared/memory-map.js';
import { createLogSink } from '../../soc/log.js';
import { findProfile, type SocProfile } from '../../soc/profile.js';
import { buildReport } from '../../soc/report.js';
import { Soc, type SocOptions } from '../../soc/soc.js';
import { rogueAddress } from '../fixtures/firewall-rogue-fw.js';

const sink = createLogSink('silent', false);
const ROGUE = fileURLToPath(new URL('../fixtures/firewall-rogue-fw.js', import.meta.url));
const PAIR = fileURLToPath(new URL('../fixtures/firewall-pair-fw.js', import.meta.url));
const CLI = fileURLToPath(new URL('../../scripts/soc.js', import.meta.url));

async function runSoc(profile: SocProfile, args: Record<string, string>, opts: Partial<SocOptions>) {
  const soc = await Soc.create(profile, { sink, ...opts });
  try {
    const outcomes = await soc.run(args, 60_000);
    return { report: buildReport(profile.name, outcomes, 0), image: soc.image };
  } finally {
    await soc.shutdown();
  }
}

describe('firewalls on a running SoC', function () {
  this.timeout(120_000);

  it('a core writing into another pair\'s vring faults naming core, address, region and owner; the write does not land; the pair finishes', async () => {
    const j7 = findProfile('j7');
    const profile: SocProfile = {
      ...j7, name: 'j7-rogue', cores: j7.cores.filter((c) => ['mcu1_0', 'mcu2_0', 'mcu2_1'].includes(c.name)),
    };
    const { report, image } = await runSoc(profile, { messages: '20', pair: 'mcu2_0,mcu2_1', victims: 'mcu2_0,mcu2_1' }, {
      firewall: true, firmware: { mcu1_0: ROGUE, mcu2_0: PAIR, mcu2_1: PAIR },
    });
    const addr = rogueAddress('mcu2_0,mcu2_1');
    const rogue = report.cores.find((c) => c.name === 'mcu1_0')!;
    expect(rogue.state).to.equal('faulted');
    expect(rogue.error).to.equal(`firewall: core mcu1_0 may not write32 ${hex(addr)} (4 bytes): region "vring mcu2_0<->mcu2_1" ` +
      'belongs to mcu2_0+mcu2_1; the write was refused');
    expect(rogue.at).to.match(/firewall-rogue-fw\.(js|ts):\d+:\d+$/);
    for (const name of ['mcu2_0', 'mcu2_1']) expect(report.cores.find((c) => c.name === name)!.state, name).to.equal('finished');
    expect(report.pairs.map((p) => [p.from, p.to, p.received])).to.have.deep.members([['mcu2_0', 'mcu2_1', 20], ['mcu2_1', 'mcu2_0', 20]]);
    const vring = image.regions.find((r) => r.name === 'vring')!;
    expect(new DataView(vring.sab).getUint32(addr - vring.base, true)).to.equal(0);
  });

  it('without firewalls the same write lands (the rules are what stops it)', async () => {
    const j7 = findProfile('j7');
    const profile: SocProfile = { ...j7, name: 'j7-rogue', cores: j7.cores.filter((c) => c.name === 'mcu1_0') };
    const { report, image } = await runSoc(profile, { victims: 'mcu2_0,mcu2_1' }, { firmware: { mcu1_0: ROGUE } });
    expect(report.cores[0]!.state).to.equal('finished');
    const vring = image.regions.find((r) => r.name === 'vring')!;
    expect(new DataView(vring.sab).getUint32(rogueAddress('mcu2_0,mcu2_1') - vring.base, true)).to.equal(0xDEADBEEF);
  });

  it('j7: the echo test runs clean with firewalls on (npm run soc -- --firewall)', () => {
    const r = spawnSync(process.execPath, [CLI, '--profile', 'j7', '--firewall', '--messages', '5', '--json'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).to.equal(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).to.equal(true);
    expect(doc.pairs).to.have.length(81);
    for (const p of doc.pairs) expect(p.received, `${p.from}->${p.to}`).to.equal(5);
  });

  it('nrf5340: the multi-endpoint and throughput samples run clean with firewalls on', async () => {
    const { report, image } = await runSoc(findProfile('nrf5340'), { messages: '20', duration: '200' }, { firewall: true });
    expect(image.firewall!.length).to.be.greaterThan(0);
    expect(report.problems).to.deep.equal([]);
    expect(report.ok).to.equal(true);
    expect(report.cores.map((c) => c.state)).to.deep.equal(['finished', 'finished']);
  });
});
