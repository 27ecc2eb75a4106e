// The whole j7 SoC with real core threads: every core pair echoes, Linux attaches late, a core whose
// firmware throws is reported while the others keep running.

import { expect } from 'chai';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogSink } from '../../soc/log.js';
import { findProfile, type SocProfile } from '../../soc/profile.js';
import { buildReport } from '../../soc/report.js';
import { Soc } from '../../soc/soc.js';

const sink = createLogSink('silent', false);

async function runSoc(profile: SocProfile, args: Record<string, string>, firmware: Record<string, string> = {}, timeoutMs = 30_000) {
  const soc = await Soc.create(profile, { sink, firmware });
  try {
    const outcomes = await soc.run(args, timeoutMs);
    return buildReport(profile.name, outcomes, 0);
  } finally {
    await soc.shutdown();
  }
}

describe('j7 SoC (10 core threads)', function () {
  this.timeout(120_000);

  it('echoes between every pair of cores: 72 RTOS pairs and Linux to each of the 9 RTOS cores', async () => {
    const r = await runSoc(findProfile('j7'), { messages: '20' });
    expect(r.problems).to.deep.equal([]);
    expect(r.ok).to.equal(true);
    expect(r.cores.map((c) => c.state)).to.deep.equal(new Array(10).fill('finished'));
    expect(r.pairs).to.have.length(81);
    for (const p of r.pairs) expect([p.from, p.to, p.sent, p.received]).to.deep.equal([p.from, p.to, 20, 20]);
    const linux = r.pairs.filter((p) => p.from === 'mpu1_0').map((p) => p.to).sort();
    expect(linux).to.deep.equal(['C66X_1', 'C66X_2', 'C7X_1', 'mcu1_0', 'mcu1_1', 'mcu2_0', 'mcu2_1', 'mcu3_0', 'mcu3_1']);
  });

  it('Linux booting long after the RTOS cores still reaches every core through the late-attach path', async () => {
    const base = findProfile('j7');
    const late: SocProfile = { ...base, cores: base.cores.map((c) => (c.os === 'linux' ? { ...c, bootDelayMs: 1500 } : c)) };
    const r = await runSoc(late, { messages: '5' });
    expect(r.problems).to.deep.equal([]);
    const linux = r.pairs.filter((p) => p.from === 'mpu1_0');
    expect(linux).to.have.length(9);
    for (const p of linux) expect(p.received).to.equal(5);
  });

  it('reports a core whose firmware throws, by name and with its error, and keeps the other cores running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hetsoc-test-'));
    const fw = join(dir, 'throws.ts');
    writeFileSync(fw, `export default async function main(ctx: { core: { name: string }; sleep(ms: number): Promise<void> }) {
  await ctx.sleep(1);
  throw new Error('boom on ' + ctx.core.name);
}
`);
    const r = await runSoc(findProfile('j7'), { messages: '3' }, { C7X_1: fw });
    expect(r.ok).to.equal(false);
    const c7x = r.cores.find((c) => c.name === 'C7X_1')!;
    expect(c7x.state).to.equal('faulted');
    expect(c7x.error).to.equal('boom on C7X_1');
    expect(c7x.at).to.match(/throws\.ts:3:\d+$/);
    for (const c of r.cores.filter((x) => x.name !== 'C7X_1')) expect(c.state, c.name).to.equal('finished');
    // Every pair that does not involve the faulted core still echoes.
    const healthy = r.pairs.filter((p) => p.to !== 'C7X_1');
    expect(healthy).to.have.length(81 - 8 - 9); // minus C7X_1's own 8 pings and the 9 pairs towards it
    for (const p of healthy) expect(p.received, `${p.from}->${p.to}`).to.equal(3);
  });
});
