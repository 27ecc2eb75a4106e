// core-reset in nRF5340 stress plans: scheduled only when every ICMsg instance (ipc1 on the
// built-in board) runs ICMsg's session protocol on both cores, since only then does a reset core
// re-bond; one reset at most per core, inside the traffic phase, on a seeded core; the flows of the
// reset core carry no 1..15-byte payloads (they carry no sequence number, so a flow started again
// at seq 0 could not be recognised).

import { expect } from 'chai';
import type { ZephyrCoreImage } from '../../cores/boot.js';
import { findProfile } from '../../soc/profile.js';
import { PROJECT_ROOT } from '../../soc/soc.js';
import { PlanError, STARTUP_PER_CORE_MS, SUPPORTED_FAULTS, makePlan, nrfResetBlocked, parseFaults } from '../../soc/stress/plan.js';
import type { FaultKind } from '../../soc/stress/schema.js';
import { loadZephyrConfigs } from '../../soc/zephyr-config.js';

const nrf = findProfile('nrf5340');
const DURATION = 1000;
const opts = (faults: readonly FaultKind[], zephyr?: Record<string, ZephyrCoreImage>) => ({ durationMs: DURATION, faults, firewall: true, ...(zephyr ? { zephyr } : {}) });

/** The built-in devicetree configuration with ipc1's unbound mode replaced on some cores. */
function withIpc1Mode(base: Record<string, ZephyrCoreImage>, modes: Partial<Record<string, 'disable' | 'enable' | 'detect'>>): Record<string, ZephyrCoreImage> {
  const out: Record<string, ZephyrCoreImage> = {};
  for (const [core, img] of Object.entries(base)) {
    out[core] = { ...img, instances: img.instances.map((i) => (i.name === 'ipc1' && modes[core] ? { ...i, unbound: modes[core] } : i)) };
  }
  return out;
}

describe('stress plan: core-reset on nRF5340 (unit)', () => {
  let builtIn: Record<string, ZephyrCoreImage>;
  before(async () => {
    builtIn = await loadZephyrConfigs(nrf, PROJECT_ROOT);
  });

  it('the built-in overlays run ipc1 in session mode on both cores: --faults core-reset is accepted and `all` includes it', () => {
    expect(builtIn.cpuapp!.instances.find((i) => i.name === 'ipc1')!.unbound).to.equal('enable');
    expect(builtIn.cpunet!.instances.find((i) => i.name === 'ipc1')!.unbound).to.equal('enable');
    expect(nrfResetBlocked({ cores: ['cpuapp', 'cpunet'], zephyr: builtIn })).to.equal(undefined);
    expect(parseFaults('core-reset')).to.deep.equal(['core-reset']);
    expect(SUPPORTED_FAULTS).to.include('core-reset');
  });

  it('schedules exactly one reset per run, on a seeded core (both over the seeds), inside the traffic phase', async () => {
    const cores = new Set<string>();
    const start = STARTUP_PER_CORE_MS * nrf.cores.length;
    for (let seed = 1; seed <= 40; seed++) {
      const plan = await makePlan(nrf, seed, opts(['core-reset'], builtIn));
      const resets = plan.faults.filter((f) => f.kind === 'core-reset');
      expect(resets, `seed ${seed}`).to.have.length(1);
      const f = resets[0]!;
      expect(['cpuapp', 'cpunet']).to.include(f.core);
      expect(f.atMs).to.be.within(start + 0.15 * DURATION, start + 0.6 * DURATION);
      cores.add(f.core);
      // The same seed gives the same reset.
      expect((await makePlan(nrf, seed, opts(['core-reset'], builtIn))).faults).to.deep.equal(plan.faults);
    }
    expect([...cores].sort()).to.deep.equal(['cpuapp', 'cpunet']);
  });

  it('gives the reset core\'s flows (on nRF5340: every flow, each has the reset core at one end) tinyPct 0, and only then; no firmware-exception in a run with a reset', async () => {
    let withReset = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const plan = await makePlan(nrf, seed, opts(SUPPORTED_FAULTS, builtIn));
      const reset = plan.faults.find((f) => f.kind === 'core-reset');
      const none = await makePlan(nrf, seed, opts([], builtIn));
      for (const [i, flow] of plan.flows.entries()) {
        if (reset && (flow.from === reset.core || flow.to === reset.core)) expect(flow.tinyPct, `seed ${seed} flow ${flow.id}`).to.equal(0);
        else expect(flow.tinyPct).to.equal(none.flows[i]!.tinyPct);
        // Everything else of the flow is the seed's.
        expect({ ...flow, tinyPct: 0 }).to.deep.equal({ ...none.flows[i]!, tinyPct: 0 });
      }
      if (!reset) continue;
      withReset++;
      // The reset core's peer (the only other core) must stay alive to re-bond with: no exception.
      expect(plan.faults.map((f) => f.kind)).to.not.include('firmware-exception');
    }
    expect(withReset).to.be.greaterThan(5);
    // Runs without a reset still get exceptions.
    let exceptions = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const plan = await makePlan(nrf, seed, opts(SUPPORTED_FAULTS, builtIn));
      if (!plan.faults.some((f) => f.kind === 'core-reset') && plan.faults.some((f) => f.kind === 'firmware-exception')) exceptions++;
    }
    expect(exceptions).to.be.greaterThan(3);
    const quiet = await makePlan(nrf, 3, opts([], builtIn));
    expect(quiet.flows.every((f) => f.tinyPct >= 2 && f.tinyPct <= 8)).to.equal(true);
  });

  it('never schedules a reset when ipc1 runs the v1 protocol (unbound = "disable") on either core; --faults core-reset alone is refused, naming the instance', async () => {
    for (const modes of [{ cpuapp: 'disable', cpunet: 'disable' }, { cpunet: 'disable' }] as const) {
      const zephyr = withIpc1Mode(builtIn, modes);
      expect(nrfResetBlocked({ cores: ['cpuapp', 'cpunet'], zephyr })).to.match(/cpunet ipc1.*unbound = "disable"/);
      for (let seed = 1; seed <= 30; seed++) {
        const plan = await makePlan(nrf, seed, opts(SUPPORTED_FAULTS, zephyr));
        expect(plan.faults.map((f) => f.kind)).to.not.include('core-reset');
        expect(plan.flows.some((f) => f.tinyPct > 0)).to.equal(true);
        const listed = await makePlan(nrf, seed, opts(['core-reset', 'bit-flip'], zephyr));
        expect(listed.faults.map((f) => f.kind)).to.deep.equal(['bit-flip']);
      }
      let err: unknown;
      try {
        await makePlan(nrf, 1, opts(['core-reset'], zephyr));
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(PlanError);
      expect((err as Error).message).to.match(/--faults core-reset on profile nrf5340: .*session protocol.*cpunet ipc1 .*unbound = "disable"/);
    }
  });

  it('schedules resets with "detect" on both cores, or "detect" against "enable" (both bond in session mode)', async () => {
    for (const modes of [{ cpuapp: 'detect', cpunet: 'detect' }, { cpuapp: 'detect' }] as const) {
      const zephyr = withIpc1Mode(builtIn, modes);
      expect(nrfResetBlocked({ cores: ['cpuapp', 'cpunet'], zephyr })).to.equal(undefined);
      const plan = await makePlan(nrf, 5, opts(['core-reset'], zephyr));
      expect(plan.faults.map((f) => f.kind)).to.deep.equal(['core-reset']);
    }
  });
});
