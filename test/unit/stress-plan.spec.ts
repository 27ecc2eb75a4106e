// The stress plan is a pure function of (profile, seed, options), and the campaign bookkeeping
// (shards, merged reports, replay commands) keeps every seed exactly once.

import { expect } from 'chai';
import { J721E_DMA_REGION, IPC_VRING_SIZE, J721E_PROC_NAMES, pdkPairLayout } from '../../shared/j721e.js';
import { PERTURB_POINTS } from '../../shared/perturb.js';
import { RPMSG_MAX_PAYLOAD } from '../../shared/rpmsg.js';
import { findProfile } from '../../soc/profile.js';
import { PROJECT_ROOT } from '../../soc/soc.js';
import { aggregate, mergeReports, replayCommand, shardSeeds, type CampaignDocument } from '../../soc/stress/campaign.js';
import { FaultSpecError, SUPPORTED_FAULTS, makePlan, parseFaults } from '../../soc/stress/plan.js';
import { FAULT_KINDS, type FaultKind, type RunResult } from '../../soc/stress/schema.js';
import { loadZephyrConfigs } from '../../soc/zephyr-config.js';

const j7 = findProfile('j7');
const nrf = findProfile('nrf5340');
const ALL = [...SUPPORTED_FAULTS];
const opts = (faults: readonly FaultKind[] = ALL, durationMs = 1000, firewall = true) => ({ durationMs, faults, firewall });

describe('stress plan', () => {
  it('the same seed gives a deep-equal plan (flows, perturbation and fault schedule) on both SoCs', async () => {
    for (const p of [j7, nrf]) {
      for (const seed of [1, 17, 0xffffffff]) {
        const a = await makePlan(p, seed, opts());
        const b = await makePlan(p, seed, opts());
        expect(a).to.deep.equal(b);
        expect(JSON.parse(JSON.stringify(a))).to.deep.equal(a); // what firmware receives through ctx.args
      }
    }
  });

  it('different seeds give different plans', async () => {
    const plans = await Promise.all([1, 2, 3, 4].map((s) => makePlan(j7, s, opts())));
    const keys = new Set(plans.map((p) => JSON.stringify({ flows: p.flows, perturb: p.perturb, faults: p.faults })));
    expect(keys.size).to.equal(4);
    const n = await Promise.all([1, 2].map((s) => makePlan(nrf, s, opts())));
    expect(n[0]!.flows.map((f) => f.seed)).to.not.deep.equal(n[1]!.flows.map((f) => f.seed));
  });

  it('--faults none schedules no fault; asking for fewer kinds keeps the traffic and perturbation of the seed', async () => {
    for (const p of [j7, nrf]) {
      for (let seed = 1; seed <= 20; seed++) {
        const none = await makePlan(p, seed, opts([]));
        expect(none.faults).to.deep.equal([]);
        const all = await makePlan(p, seed, opts());
        // Only difference: a reset core's flows carry no 1..15-byte payloads.
        const reset = new Set(all.faults.filter((f) => f.kind === 'core-reset').map((f) => f.core));
        expect(none.flows.map((f) => (reset.has(f.from) || reset.has(f.to) ? { ...f, tinyPct: 0 } : f))).to.deep.equal(all.flows);
        expect(none.perturb).to.deep.equal(all.perturb);
        expect(none.spinlock).to.deep.equal(all.spinlock);
      }
    }
  });

  it('every run with faults requested injects at least one, only of the requested kinds, inside the run', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const asked: FaultKind[] = ['bit-flip', 'delayed-irq'];
      const plan = await makePlan(j7, seed, opts(asked, 2000));
      expect(plan.faults.length).to.be.within(1, asked.length);
      for (const f of plan.faults) {
        expect(asked).to.include(f.kind);
        expect(f.atMs).to.be.within(0.15 * 2000, 0.6 * 2000 + 2000); // a fraction of the run after the startup allowance
        if (f.kind === 'bit-flip') expect(f.count).to.be.within(1, 4);
        if (f.kind === 'delayed-irq') expect(f.delayMs).to.be.within(1, 5);
      }
      expect(plan.faults.map((f) => f.id)).to.deep.equal(plan.faults.map((_, i) => i));
    }
  });

  it('J7: all-to-all RPMsg between RTOS cores and rpmsg_char both ways between Linux and each RTOS core', async () => {
    const plan = await makePlan(j7, 5, opts());
    const rtos = j7.cores.filter((c) => c.os === 'rtos').map((c) => c.name);
    const rpmsg = plan.flows.filter((f) => f.channel === 'rpmsg');
    expect(rpmsg).to.have.length(rtos.length * (rtos.length - 1));
    const char = plan.flows.filter((f) => f.channel === 'rpmsg-char');
    expect(char).to.have.length(2 * rtos.filter((c) => J721E_DMA_REGION[c] !== undefined).length);
    for (const c of rtos) {
      expect(char.some((f) => f.from === 'mpu1_0' && f.to === c)).to.equal(true);
      expect(char.some((f) => f.from === c && f.to === 'mpu1_0')).to.equal(true);
    }
    for (const f of plan.flows) {
      expect(f.minLen).to.equal(1);
      expect(f.maxLen).to.equal(RPMSG_MAX_PAYLOAD);
      expect(f.burstMax).to.be.within(1, 32);
      expect(f.gapMaxUs).to.be.within(0, 2000);
    }
    expect(plan.flows.map((f) => f.id)).to.deep.equal(plan.flows.map((_, i) => i));
    expect(plan.spinlock!.cores).to.deep.equal(rtos);
    expect(plan.spinlock!.locks.length).to.be.within(2, 4);
    expect(new Set(plan.spinlock!.locks).size).to.equal(plan.spinlock!.locks.length);
    expect(plan.perturb).to.have.length(PERTURB_POINTS);
    for (const p of plan.perturb) {
      expect(p.p).to.be.within(0, 0.2);
      expect(p.maxUs).to.be.within(20, 500);
    }
  });

  it('nRF5340: stress0A/stress0B on ipc0 and stress1 on ipc1, each way; no zero copy or held buffers on ICMsg', async () => {
    const plan = await makePlan(nrf, 9, opts());
    const key = plan.flows.map((f) => `${f.instance}/${f.channel} ${f.from}->${f.to}`).sort();
    expect(key).to.deep.equal([
      'ipc0/stress0A cpuapp->cpunet', 'ipc0/stress0A cpunet->cpuapp', 'ipc0/stress0B cpuapp->cpunet', 'ipc0/stress0B cpunet->cpuapp',
      'ipc1/stress1 cpuapp->cpunet', 'ipc1/stress1 cpunet->cpuapp',
    ]);
    for (const f of plan.flows.filter((x) => x.instance === 'ipc1')) {
      expect(f.zeroCopy).to.equal(false);
      expect(f.holdRx).to.equal(false);
      expect(f.maxLen).to.be.at.most(256);
    }
    for (const f of plan.flows.filter((x) => x.instance === 'ipc0')) expect(f.maxLen).to.equal(384);
    const modes = new Set<string>();
    for (let s = 1; s <= 20; s++) for (const f of (await makePlan(nrf, s, opts([]))).flows) if (f.instance === 'ipc0') modes.add(`${f.zeroCopy}/${f.holdRx}`);
    expect(modes.size).to.equal(4); // every combination happens on some seed
    expect(plan.spinlock).to.equal(undefined);
  });

  it('platform rules: no mailbox-drop on nRF5340, never an exception or reset on Linux, at most one exception or reset per core', async () => {
    const kinds = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      const n = await makePlan(nrf, seed, opts());
      expect(n.faults.map((f) => f.kind)).to.not.include('mailbox-drop');
      const j = await makePlan(j7, seed, opts());
      for (const p of [n, j]) {
        const hit = p.faults.filter((f) => f.kind === 'firmware-exception' || f.kind === 'core-reset').map((f) => f.core);
        expect(new Set(hit).size).to.equal(hit.length);
        for (const f of p.faults) kinds.add(`${p.platform}:${f.kind}`);
      }
      for (const f of j.faults) if (f.kind === 'firmware-exception' || f.kind === 'core-reset') expect(f.core).to.not.equal('mpu1_0');
      for (const f of j.faults.filter((x) => x.kind === 'core-reset')) {
        for (const flow of j.flows) if (flow.from === f.core || flow.to === f.core) expect(flow.tinyPct, `flow ${flow.id}`).to.equal(0);
      }
      const drop = await makePlan(nrf, seed, opts(['mailbox-drop']));
      expect(drop.faults).to.deep.equal([]);
    }
    // Over 60 seeds every supported kind shows up where it applies.
    for (const k of ALL) {
      expect(kinds.has(`j721e:${k}`), k).to.equal(true);
      if (k !== 'mailbox-drop') expect(kinds.has(`nrf5340:${k}`), k).to.equal(true);
    }
  });

  it('fault targets: spurious interrupts on the core\'s IPC line, firewall writes into memory the core does not own', async () => {
    const zephyr = await loadZephyrConfigs(nrf, PROJECT_ROOT);
    for (let seed = 1; seed <= 60; seed++) {
      for (const plan of [await makePlan(j7, seed, opts()), await makePlan(nrf, seed, opts())]) {
        for (const f of plan.faults) {
          if (f.kind === 'spurious-irq') {
            if (plan.platform === 'nrf5340') expect(f.line).to.equal(f.core === 'cpuapp' ? 10 : 18);
            else expect(f.line).to.be.within(0, 30);
          }
          if (f.kind !== 'firewall') continue;
          expect(f.addr! % 4).to.equal(0);
          if (plan.platform === 'j721e') {
            // Inside some pair's 512 KiB of vrings, a pair the core is not part of.
            const self = J721E_PROC_NAMES.indexOf(f.core);
            let owner: [number, number] | undefined;
            for (let a = 1; a < 10; a++) for (let b = a + 1; b < 10; b++) {
              const start = pdkPairLayout(a, b).txVring;
              if (f.addr! >= start && f.addr! < start + 4 * IPC_VRING_SIZE) owner = [a, b];
            }
            expect(owner, `0x${f.addr!.toString(16)}`).to.not.equal(undefined);
            expect(owner).to.not.include(self);
          } else {
            const peer = f.core === 'cpuapp' ? 'cpunet' : 'cpuapp';
            const tx = zephyr[peer]!.instances.find((i) => i.name === 'ipc1')!.txRegion;
            expect(f.addr!).to.be.within(tx.base + 8, tx.base + tx.size - 4); // past rd_idx/wr_idx: the data area
          }
        }
      }
    }
  });

  it('firewalls off: the firewall fault is never scheduled', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const plan = await makePlan(j7, seed, opts(['firewall', 'bit-flip'], 1000, false));
      expect(plan.firewall).to.equal(false);
      expect(plan.faults.map((f) => f.kind)).to.deep.equal(['bit-flip']);
    }
  });

  it('--faults: all, none, lists; unknown names are refused by name', async () => {
    expect(parseFaults('all')).to.deep.equal([...FAULT_KINDS]);
    expect(parseFaults('none')).to.deep.equal([]);
    expect(parseFaults('bit-flip, delayed-irq,bit-flip')).to.deep.equal(['bit-flip', 'delayed-irq']);
    expect(() => parseFaults('bit-flop')).to.throw(FaultSpecError, /unknown fault kind "bit-flop".*mailbox-drop/);
    expect(parseFaults('bit-flip,core-reset')).to.deep.equal(['bit-flip', 'core-reset']);
    const reset = (await makePlan(j7, 3, opts(['core-reset']))).faults;
    expect(reset.map((f) => f.kind)).to.deep.equal(['core-reset']);
    expect(j7.cores.find((c) => c.name === reset[0]!.core)?.os).to.equal('rtos');
  });
});

describe('stress campaign bookkeeping', () => {
  const seeds = Array.from({ length: 64 }, (_, i) => i + 1);

  it('shards partition the seed list: together every seed exactly once, in order', () => {
    for (const n of [1, 2, 3, 7, 64, 100]) {
      const slices = Array.from({ length: n }, (_, i) => shardSeeds(seeds, i + 1, n));
      expect(slices.flat()).to.deep.equal(seeds);
      const sizes = slices.map((s) => s.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).to.be.at.most(1);
    }
    expect(() => shardSeeds(seeds, 0, 4)).to.throw(RangeError, /1\.\.4/);
    expect(() => shardSeeds(seeds, 5, 4)).to.throw(RangeError);
  });

  const run = (seed: number, ok = true): RunResult => ({
    seed, ok, messages: 100 * seed, bytes: 1000 * seed, invariantsChecked: 10, wallMs: 5,
    faults: [{ id: 0, kind: 'bit-flip', core: 'mcu1_0', atMs: 400, fired: 2, outcome: 'detected' }, { id: 1, kind: 'delayed-irq', core: 'mcu1_0', atMs: 500, fired: 0, outcome: 'not fired' }],
    failures: ok ? [] : [{ seed, invariant: 'no-loss', cores: ['mcu1_0', 'mcu2_0'], detail: 'lost', replay: `npm run stress -- --seed ${seed}` }],
  });
  const report = (profile: string, list: number[], mutation?: string): CampaignDocument => ({
    ...aggregate(profile, list.map((s) => run(s, s !== 3)), { wallMs: 7, ...(mutation ? { mutation } : {}) }),
    settings: { durationMs: 1000, faults: 'all', firewall: true },
  });

  it('aggregates runs: fired faults per kind, failures, ok only without failures', () => {
    const r = report('j7', [1, 2, 3]);
    expect(r.runs).to.equal(3);
    expect(r.messages).to.equal(600);
    expect(r.faults).to.equal(6);
    expect(r.faultsByKind).to.deep.equal({ 'bit-flip': 6 });
    expect(r.failures.map((f) => f.seed)).to.deep.equal([3]);
    expect(r.ok).to.equal(false);
    expect(report('j7', [1, 2]).ok).to.equal(true);
  });

  it('merging shard reports sums them and equals the report of the whole range', () => {
    const whole = report('j7', [1, 2, 3, 4, 5]);
    const merged = mergeReports([report('j7', [4, 5]), report('j7', [1, 2, 3])]);
    for (const k of ['ok', 'profile', 'seeds', 'runs', 'messages', 'bytes', 'faults', 'faultsByKind', 'invariantsChecked', 'failures', 'settings'] as const) {
      expect(merged[k], k).to.deep.equal(whole[k]);
    }
  });

  it('merging refuses mixed profiles, mixed mutations, mixed settings and a seed given twice', () => {
    expect(() => mergeReports([report('j7', [1]), report('nrf5340', [2])])).to.throw(/different profiles/);
    expect(() => mergeReports([report('j7', [1]), report('j7', [2], 'vring-publish-early')])).to.throw(/different mutations/);
    const other = { ...report('j7', [2]), settings: { durationMs: 500, faults: 'all', firewall: true } };
    expect(() => mergeReports([report('j7', [1]), other])).to.throw(/durationMs/);
    expect(() => mergeReports([report('j7', [1, 2]), report('j7', [2])])).to.throw(/seed 2 is in report 1 and in report 2/);
    expect(() => mergeReports([])).to.throw(/nothing to merge/);
  });

  it('the replay command carries the mutation, the seed, the settings, and quotes a path with spaces', () => {
    expect(replayCommand({ profile: 'j7', seed: 17, durationMs: 1000, faults: 'bit-flip,delayed-irq', firewall: true, mutation: 'vring-publish-early' }))
      .to.equal('HETSOC_MUTATION=vring-publish-early npm run stress -- --profile j7 --seed 17 --duration 1000 --faults bit-flip,delayed-irq');
    expect(replayCommand({ profile: '/home/me/my board/b.json', seed: 3, durationMs: 300, faults: 'none', firewall: false }))
      .to.equal("npm run stress -- --profile '/home/me/my board/b.json' --seed 3 --duration 300 --faults none --no-firewall");
  });
});
