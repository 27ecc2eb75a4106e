// One short campaign per fault kind and profile: the kind is injected (it fires), and the system
// keeps the promise FAULT_PROMISES states for it, so the run passes every check. The traffic phase
// is 1000 ms so that every fault's time (15..60 % of it after start-up) falls inside the traffic.

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../scripts/stress.js', import.meta.url));

const KINDS: Record<string, string[]> = {
  j7: ['mailbox-drop', 'spurious-irq', 'delayed-irq', 'core-reset', 'firmware-exception', 'bit-flip', 'corrupt-index', 'firewall'],
  nrf5340: ['spurious-irq', 'delayed-irq', 'core-reset', 'firmware-exception', 'bit-flip', 'corrupt-index', 'firewall'],
};

describe('npm run stress: every fault kind, one at a time', function () {
  this.timeout(300_000);
  for (const [profile, kinds] of Object.entries(KINDS)) {
    for (const kind of kinds) {
      it(`${profile}: --faults ${kind} fires and the run keeps its promise`, () => {
        const env = { ...process.env };
        delete env.HETSOC_MUTATION;
        const r = spawnSync(process.execPath, [CLI, '--profile', profile, '--seed', '3', '--duration', '1000', '--faults', kind, '--json'],
          { encoding: 'utf8', timeout: 120_000, env });
        expect(r.status, r.stderr + r.stdout.slice(0, 3000)).to.equal(0);
        const doc = JSON.parse(r.stdout) as { ok: boolean; faultsByKind: Record<string, number>; failures: unknown[] };
        expect(doc.ok).to.equal(true);
        expect(doc.failures).to.deep.equal([]);
        expect(doc.faultsByKind[kind] ?? 0, JSON.stringify(doc.faultsByKind)).to.be.greaterThan(0);
        expect(Object.keys(doc.faultsByKind).filter((k) => (doc.faultsByKind[k] ?? 0) > 0)).to.deep.equal([kind]);
      });
    }
  }
});
