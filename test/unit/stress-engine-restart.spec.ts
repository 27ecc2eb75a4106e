// The stress engine's receiver on a flow whose sender is reset (core-reset): the new incarnation
// starts the flow again at seq 0, which counts as a restart, also when its first payloads arrive
// bit-flipped (a bit-flip fault of the new incarnation); a genuine duplicate is still one.

import { expect } from 'chai';
import type { FirmwareContext } from '../../cores/context.js';
import { StressEngine } from '../../firmware/stress/engine.js';
import { STRESS_HDR, encodePayload } from '../../shared/stress-payload.js';
import type { FaultEvent, FlowPlan, StressPlan } from '../../soc/stress/schema.js';

const FLOW: FlowPlan = {
  id: 4, from: 'cpuapp', to: 'cpunet', channel: 'stress1', instance: 'ipc1', seed: 77, minLen: 40, maxLen: 60, tinyPct: 0, burstMax: 1, gapMaxUs: 0, zeroCopy: false, holdRx: false,
};
const RESET: FaultEvent = { id: 0, kind: 'core-reset', core: 'cpuapp', atMs: 100, count: 1 };

/** The receiving core's engine (cpunet), with or without the sender's reset in the plan. */
function receiver(reset: boolean): StressEngine {
  const plan: StressPlan = {
    version: 1, seed: 1, profile: 'nrf5340', platform: 'nrf5340', durationMs: 200, flows: [FLOW], perturb: [], faults: reset ? [RESET] : [], firewall: false,
  };
  const ctx = {
    args: { plan: JSON.stringify(plan), t0: '0' },
    core: { name: 'cpunet' },
    semaphore: () => ({ give: () => undefined, take: async () => false, count: 0 }),
  } as unknown as FirmwareContext;
  return new StressEngine(ctx);
}

const buf = new Uint8Array(64);

/** Delivers seq `seq` of the flow (its payload, 48 bytes), with one payload bit flipped when asked. */
function deliver(e: StressEngine, seq: number, flip = false): void {
  encodePayload(buf, 0, FLOW.id, FLOW.seed, seq, 48);
  if (flip) buf[STRESS_HDR + 3]! ^= 0x10;
  e.onMessage(FLOW.id, buf, 0, 48);
}

describe('stress engine: a reset sender\'s flow starting again (unit)', () => {
  it('seq 0 after seq 0..9 is a restart on a flow whose sender is reset, a duplicate otherwise', () => {
    for (const reset of [true, false]) {
      const e = receiver(reset);
      for (let s = 0; s < 10; s++) deliver(e, s);
      deliver(e, 0);
      deliver(e, 1);
      const rx = e.report().rx[0]!;
      if (reset) {
        expect(e.violations).to.deep.equal([]);
        expect(rx).to.include({ received: 12, restarts: 1, corrupt: 0 });
      } else {
        expect(e.violations.map((v) => v.invariant)).to.deep.equal(['no-duplicate', 'no-duplicate']);
        expect(rx.restarts).to.equal(undefined);
      }
    }
  });

  it('a restart whose first two payloads arrive bit-flipped: counted corrupt, then seq 2 is recognised as the restart', () => {
    const e = receiver(true);
    for (let s = 0; s < 10; s++) deliver(e, s);
    deliver(e, 0, true);
    deliver(e, 1, true);
    deliver(e, 2);
    deliver(e, 3);
    expect(e.violations).to.deep.equal([]);
    expect(e.report().rx[0]).to.include({ received: 12, corrupt: 2, restarts: 1, skipped: 0 });
  });

  it('on a reset sender\'s flow, an old sequence number with no corrupt payloads before it is still a duplicate', () => {
    const e = receiver(true);
    for (let s = 0; s < 10; s++) deliver(e, s);
    deliver(e, 0, true);
    deliver(e, 5);
    expect(e.violations.map((v) => v.invariant)).to.deep.equal(['no-duplicate']);
    expect(e.report().rx[0]!.restarts).to.equal(undefined);
  });
});
