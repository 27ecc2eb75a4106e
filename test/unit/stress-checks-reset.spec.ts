// The J7 core-reset fault promise of the stress checker (soc/stress/checks.ts): hand-made reports
// and outcomes over a real J7 SoC image. Survived when the Linux link recovered; otherwise a
// fault-promise failure names what did not recover. The RTOS links are reported, not required.

import { expect } from 'chai';
import type { SocImage } from '../../cores/boot.js';
import { buildImage } from '../../soc/image.js';
import { findProfile } from '../../soc/profile.js';
import type { CoreOutcome } from '../../soc/soc.js';
import { checkRun } from '../../soc/stress/checks.js';
import type { FlowPlan, StressCoreReport, StressPlan } from '../../soc/stress/schema.js';

const REPLAY = 'npm run stress -- --profile j7 --seed 7';
const RESET = { id: 0, kind: 'core-reset' as const, core: 'mcu2_0', atMs: 400, count: 1 };

function flow(id: number, from: string, to: string, channel: string): FlowPlan {
  return { id, from, to, channel, seed: 500 + id, minLen: 1, maxLen: 496, tinyPct: 0, burstMax: 4, gapMaxUs: 100, zeroCopy: false, holdRx: false };
}

const plan: StressPlan = {
  version: 1, seed: 7, profile: 'j7', platform: 'j721e', durationMs: 100, perturb: [], firewall: false, faults: [RESET],
  flows: [
    flow(0, 'mpu1_0', 'mcu2_0', 'rpmsg-char'), flow(1, 'mcu2_0', 'mpu1_0', 'rpmsg-char'),
    flow(2, 'mcu1_0', 'mcu2_0', 'rpmsg'), flow(3, 'mcu2_0', 'mcu1_0', 'rpmsg'),
  ],
};

/** Reports of a run where mcu2_0 was reset at 400 ms and everything recovered as it should. */
function reports(): Map<string, StressCoreReport> {
  const r = (core: string, tx: StressCoreReport['tx'], rx: StressCoreReport['rx'], detected: StressCoreReport['detected'] = []): StressCoreReport =>
    ({ core, tx, rx, detected, violations: [] });
  return new Map([
    ['mpu1_0', r('mpu1_0', [{ id: 0, sent: 900, bytes: 9000, busy: 0, ackedReceived: 300, ackedCorrupt: 0 }],
      [{ id: 1, received: 1200, bytes: 12000, corrupt: 0, skipped: 0, finSent: 800, restarts: 1 }],
      [{ kind: 'core-reset', faultId: 0, detail: 'mpu1_0 reopened 900 ms after the run\'s start its rpmsg_char device to mcu2_0 "rpmsg_chrdev"' }])],
    ['mcu2_0', r('mcu2_0', [{ id: 1, sent: 800, bytes: 8000, busy: 0, ackedReceived: 1200, ackedCorrupt: 0 }, { id: 3, sent: 256, bytes: 2560, busy: 90 }],
      [{ id: 0, received: 300, bytes: 3000, corrupt: 0, skipped: 600, finSent: 900 }, { id: 2, received: 0, bytes: 0, corrupt: 0, skipped: 0 }])],
    ['mcu1_0', r('mcu1_0', [{ id: 2, sent: 500, bytes: 5000, busy: 70 }], [{ id: 3, received: 120, bytes: 1200, corrupt: 0, skipped: 0 }])],
  ]);
}

function outcomes(image: SocImage, reps: Map<string, StressCoreReport>, linuxRemote: Record<string, number>, resets = 1): CoreOutcome[] {
  return image.cores.map((c) => ({
    name: c.name, state: 'finished', result: reps.get(c.name),
    ...(c.name === 'mcu2_0' && resets ? { resets } : {}),
    stats: {
      perturb: { fired: {} },
      rpmsg: c.os === 'linux' ? { refused: 0, remotes: { mcu2_0: { refused: 0, ...linuxRemote } } } : { refused: c.name === 'mcu1_0' ? 1 : 0 },
    },
  }));
}

describe('stress checks: J7 core-reset promise (unit)', () => {
  it('is survived when Linux re-created the device, read the new incarnation on a reopened device and the new incarnation got Linux\'s messages', () => {
    const image = buildImage(findProfile('j7'), 2);
    const r = checkRun({ plan, image, outcomes: outcomes(image, reports(), { crashes: 1, recoveries: 1 }), replay: REPLAY });
    expect(r.failures).to.deep.equal([]);
    expect(r.faults).to.have.length(1);
    const f = r.faults[0]!;
    expect([f.kind, f.fired, f.outcome]).to.deep.equal(['core-reset', 1, 'survived']);
    expect(f.detail).to.include('re-created mcu2_0\'s virtio device').and.include('reopened 900 ms')
      .and.include('started again at seq 0').and.include('received 300 message(s) of flow 0')
      .and.include('rings refused: mcu1_0 1').and.include('vring checks of mcu1_0<->mcu2_0 skipped');
  });

  it('names every part of the Linux link that did not recover in a fault-promise failure', () => {
    const image = buildImage(findProfile('j7'), 2);
    const reps = reports();
    reps.get('mpu1_0')!.detected = [];
    Object.assign(reps.get('mcu2_0')!.rx[0]!, { received: 0, bytes: 0, skipped: 0, finSent: undefined });
    reps.get('mpu1_0')!.tx[0]!.ackedReceived = undefined;
    const r = checkRun({ plan, image, outcomes: outcomes(image, reps, { crashes: 1, recoveries: 0 }), replay: REPLAY });
    const promise = r.failures.filter((x) => x.invariant === 'fault-promise');
    expect(promise).to.have.length(1);
    expect(promise[0]!.cores).to.deep.equal(['mcu2_0', 'mpu1_0']);
    expect(promise[0]!.detail).to.include('core-reset #0 of mcu2_0 at 400 ms').and.include('re-created it 0 time(s)')
      .and.include('read no message of mcu2_0\'s new incarnation').and.include('received nothing of flow 0');
    expect(r.faults[0]!.detail).to.match(/^promise not kept/);
  });

  it('accepts a reset before Linux set the device up, and a Linux flow that had ended before the reset', () => {
    const image = buildImage(findProfile('j7'), 2);
    const reps = reports();
    Object.assign(reps.get('mcu2_0')!.rx[0]!, { received: 0, bytes: 0, skipped: 0, finSent: undefined });
    const r = checkRun({ plan, image, outcomes: outcomes(image, reps, { crashes: 0, recoveries: 0 }), replay: REPLAY });
    expect(r.failures).to.deep.equal([]);
    expect(r.faults[0]!.detail).to.include('had not set up mcu2_0\'s virtio device').and.include('had ended before the reset');
  });

  it('is not fired when the core was not reset', () => {
    const image = buildImage(findProfile('j7'), 2);
    const r = checkRun({ plan, image, outcomes: outcomes(image, reports(), { crashes: 0, recoveries: 0 }, 0), replay: REPLAY });
    expect(r.faults[0]).to.include({ fired: 0, outcome: 'not fired' });
    expect(r.failures.filter((x) => x.invariant === 'fault-promise')).to.deep.equal([]);
  });
});
