// The host-side verdict on an nRF5340 core-reset (soc/stress/checks.ts nrfResetOutcome), on hand-made
// reports over the built-in nrf5340 image: survived when ICMsg (ipc1) re-bonded and carried traffic
// both ways after the reset, with the ICBMsg (ipc0) flows reported and their block checks skipped;
// a fault-promise failure naming what did not recover otherwise.

import { expect } from 'chai';
import type { SocImage } from '../../cores/boot.js';
import { buildImage } from '../../soc/image.js';
import { findProfile } from '../../soc/profile.js';
import type { CoreOutcome } from '../../soc/soc.js';
import { PROJECT_ROOT } from '../../soc/soc.js';
import { checkRun } from '../../soc/stress/checks.js';
import type { FaultEvent, FlowPlan, StressCoreReport, StressPlan } from '../../soc/stress/schema.js';
import { loadZephyrConfigs } from '../../soc/zephyr-config.js';

const REPLAY = 'npm run stress -- --profile nrf5340 --seed 7';
const RESET: FaultEvent = { id: 0, kind: 'core-reset', core: 'cpunet', atMs: 300, count: 1 };

function flow(id: number, from: string, to: string, instance: string, channel: string): FlowPlan {
  return { id, from, to, channel, instance, seed: 500 + id, minLen: 1, maxLen: 200, tinyPct: 0, burstMax: 4, gapMaxUs: 100, zeroCopy: false, holdRx: false };
}

/** The built-in flows: ipc0 (ICBMsg) endpoints stress0A/B and ipc1 (ICMsg) stress1, both ways. */
const FLOWS: FlowPlan[] = [
  flow(0, 'cpuapp', 'cpunet', 'ipc0', 'stress0A'), flow(1, 'cpunet', 'cpuapp', 'ipc0', 'stress0A'),
  flow(2, 'cpuapp', 'cpunet', 'ipc0', 'stress0B'), flow(3, 'cpunet', 'cpuapp', 'ipc0', 'stress0B'),
  flow(4, 'cpuapp', 'cpunet', 'ipc1', 'stress1'), flow(5, 'cpunet', 'cpuapp', 'ipc1', 'stress1'),
];

const plan: StressPlan = {
  version: 1, seed: 7, profile: 'nrf5340', platform: 'nrf5340', durationMs: 1000, flows: FLOWS, perturb: [], faults: [RESET], firewall: false,
};

interface Run {
  /** cpuapp (the survivor): ipc1 state, sessions, restarts of flow 5. */
  appIpc1: string;
  appSessions: Record<string, unknown>[];
  restarts: number;
  /** cpunet's new incarnation: ipc1 state, what it received of flow 4. */
  netIpc1: string;
  netReceived4: number;
}

const good: Run = {
  appIpc1: 'CONNECTED_SID_ENABLED',
  appSessions: [{ instance: 'ipc1', endpoint: 'stress1', bounds: 2, unbounds: 1, rebondTimeouts: 0, lastBoundMs: 410, rxSinceUnbound: 900, txSinceUnbound: 800 }],
  restarts: 1, netIpc1: 'CONNECTED_SID_ENABLED', netReceived4: 750,
};

function outcomes(r: Run): CoreOutcome[] {
  const app: StressCoreReport = {
    core: 'cpuapp',
    // ipc0 to the reset core: blocks ran out, the sender gave up; ipc1: kept on through the re-bond.
    tx: [{ id: 0, sent: 40, bytes: 4000, busy: 900 }, { id: 2, sent: 38, bytes: 3800, busy: 900 }, { id: 4, sent: 3000, bytes: 300_000, busy: 20, ackedReceived: 750, ackedCorrupt: 0 }],
    rx: [
      { id: 1, received: 30, bytes: 3000, corrupt: 0, skipped: 0 }, { id: 3, received: 31, bytes: 3100, corrupt: 0, skipped: 0 },
      { id: 5, received: 2500, bytes: 250_000, corrupt: 0, skipped: 0, finSent: 900, ...(r.restarts ? { restarts: r.restarts } : {}) },
    ],
    detected: [], violations: [],
  };
  const net: StressCoreReport = {
    core: 'cpunet',
    tx: [{ id: 1, sent: 0, bytes: 0, busy: 0 }, { id: 3, sent: 0, bytes: 0, busy: 0 }, { id: 5, sent: 900, bytes: 90_000, busy: 0, ackedReceived: 2500, ackedCorrupt: 0 }],
    rx: [
      { id: 0, received: 0, bytes: 0, corrupt: 0, skipped: 0 }, { id: 2, received: 0, bytes: 0, corrupt: 0, skipped: 0 },
      { id: 4, received: r.netReceived4, bytes: r.netReceived4 * 100, corrupt: 0, skipped: 2250, ...(r.netReceived4 ? { finSent: 3000 } : {}) },
    ],
    detected: [{ kind: 'core-reset', faultId: 0, detail: 'cpunet incarnation 2: ipc0 (ICBMsg) not opened again: ICBMsg cannot bond with a peer still in its old session' }],
    violations: [],
  };
  const ipc = (ipc1: string, free: number) => ({ ipc0: { control: 'CONNECTED_SID_DISABLED', tx: { blocks: 16, free }, sent: 10, received: 10 }, ipc1: { state: ipc1, mode: 'enable' } });
  return [
    { name: 'cpuapp', state: 'finished', result: { ...app, incarnation: 1, sessions: r.appSessions }, stats: { ipc: ipc(r.appIpc1, 3) } },
    { name: 'cpunet', state: 'finished', resets: 1, result: { ...net, incarnation: 2, sessions: [] }, stats: { ipc: ipc(r.netIpc1, 24) } },
  ];
}

describe('stress checks: core-reset on nRF5340 (unit)', () => {
  let image: SocImage;
  before(async () => {
    const profile = findProfile('nrf5340');
    image = buildImage(profile, 2, await loadZephyrConfigs(profile, PROJECT_ROOT));
  });

  it('survived: ipc1 re-bonded and traffic resumed both ways; ipc0 reported with its flows loss-exempt and block checks skipped', () => {
    const res = checkRun({ plan, image, outcomes: outcomes(good), replay: REPLAY });
    expect(res.failures, JSON.stringify(res.failures, null, 1)).to.deep.equal([]);
    const f = res.faults[0]!;
    expect(f).to.include({ kind: 'core-reset', core: 'cpunet', fired: 1, outcome: 'survived' });
    expect(f.detail).to.include('ipc1 re-bonded (cpuapp saw 1 unbound() and registered again, bound again at 410 ms)');
    expect(f.detail).to.include('flow 5 cpunet->cpuapp resumed: 900 message(s) since the re-bond, started again at seq 0 (1 time(s))');
    expect(f.detail).to.include('flow 4 cpuapp->cpunet resumed: the new incarnation received 750');
    expect(f.detail).to.include('ipc0 (ICBMsg) reported, not recovered');
    expect(f.detail).to.include('cpunet\'s new incarnation left ipc0 closed');
    // cpuapp's ipc0 has 13 of 16 TX blocks out (held by the dead incarnation): no no-leak failure, a note.
    expect(f.detail).to.match(/ICBMsg block check of cpuapp ipc0 skipped \(blocks the reset core held are stranded: expected/);
  });

  it('survived without a restart at seq 0 when the new incarnation\'s messages are all the survivor got since unbound(), or since it first bound after the reset', () => {
    const res = checkRun({ plan, image, outcomes: outcomes({ ...good, restarts: 0 }), replay: REPLAY });
    expect(res.failures).to.deep.equal([]);
    expect(res.faults[0]!.outcome).to.equal('survived');
    const late = { ...good, restarts: 0, appSessions: [{ ...good.appSessions[0], bounds: 1, unbounds: 0, lastBoundMs: 420 }] };
    expect(checkRun({ plan, image, outcomes: outcomes(late), replay: REPLAY }).failures).to.deep.equal([]);
  });

  it('a link that never re-bonded is a fault-promise failure naming the instance, both ends\' states and the flows that did not resume', () => {
    const stuck: Run = {
      appIpc1: 'CONNECTED_SID_ENABLED', netIpc1: 'INITIALIZING_SID_ENABLED', restarts: 0, netReceived4: 0,
      // Never unbound: everything cpuapp received came from the old incarnation (its session since 30 ms).
      appSessions: [{ instance: 'ipc1', endpoint: 'stress1', bounds: 1, unbounds: 0, rebondTimeouts: 0, lastBoundMs: 30, rxSinceUnbound: 2500, txSinceUnbound: 3000 }],
    };
    const res = checkRun({ plan, image, outcomes: outcomes(stuck), replay: REPLAY });
    const fp = res.failures.filter((x) => x.invariant === 'fault-promise');
    expect(fp).to.have.length(1);
    expect(fp[0]!.cores).to.deep.equal(['cpunet', 'cpuapp']);
    expect(fp[0]!.detail).to.include('core-reset #0 of cpunet at 300 ms: ICMsg did not recover');
    expect(fp[0]!.detail).to.include('ipc1 did not re-bond (cpuapp CONNECTED_SID_ENABLED, cpunet INITIALIZING_SID_ENABLED; cpuapp saw 0 unbound()');
    expect(fp[0]!.detail).to.include('flow 5 cpunet->cpuapp: nothing of the new incarnation arrived (2500 received in all, no restart at seq 0; cpuapp never left its session with the old incarnation)');
    expect(fp[0]!.detail).to.include('flow 4 cpuapp->cpunet: the new incarnation received nothing');
    expect(fp[0]!.replay).to.equal(REPLAY);
    expect(res.faults[0]!.detail).to.match(/^promise not kept: /);
  });

  it('a core that crashed after the reset breaks the promise too', () => {
    const o = outcomes(good);
    o[0] = { ...o[0]!, state: 'faulted', error: { message: 'ICMsg ipc1: a 300-byte message arrived', where: 'task' } };
    const res = checkRun({ plan, image, outcomes: o, replay: REPLAY });
    expect(res.failures.some((x) => x.invariant === 'fault-promise' && x.detail.includes('must not crash a core') && x.detail.includes('cpuapp'))).to.equal(true);
  });
});
