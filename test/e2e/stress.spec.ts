// `npm run stress` as a user (or a CI matrix) runs it: the compiled CLI in a child process.

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../scripts/stress.js', import.meta.url));

function stress(args: string[], env: Record<string, string | undefined> = {}) {
  const e: Record<string, string | undefined> = { ...process.env, ...env };
  if (!('HETSOC_MUTATION' in env)) delete e.HETSOC_MUTATION;
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000, env: e as NodeJS.ProcessEnv });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const json = (stdout: string) => JSON.parse(stdout) as {
  ok: boolean; runs: number; messages: number; faults: number; seeds: number[]; invariantsChecked: number;
  failures: { seed: number; invariant: string; detail: string; replay: string }[];
};

describe('npm run stress (CLI)', function () {
  this.timeout(300_000);

  for (const profile of ['j7', 'nrf5340']) {
    it(`--profile ${profile} --seeds 2 --duration 300 --jobs 2 --json passes and reports runs, messages, faults`, () => {
      const r = stress(['--profile', profile, '--seeds', '2', '--duration', '300', '--jobs', '2', '--json']);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      const doc = json(r.stdout);
      expect(doc.ok).to.equal(true);
      expect(doc.runs).to.equal(2);
      expect(doc.seeds).to.deep.equal([1, 2]);
      expect(doc.messages).to.be.greaterThan(0);
      expect(doc.invariantsChecked).to.be.greaterThan(0);
      expect(doc.faults).to.be.a('number');
      expect(doc.failures).to.deep.equal([]);
    });
  }

  it('--faults none runs traffic only and passes, with a human summary', () => {
    const r = stress(['--profile', 'j7', '--seeds', '1', '--duration', '300', '--jobs', '1', '--faults', 'none']);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^runs\s+1/m);
    expect(r.stdout).to.match(/^faults\s+0 injected/m);
    expect(r.stdout).to.include('OK: 1/1 runs passed');
    expect(r.stderr).to.match(/run 1\/1 {2}seed 1: ok/); // not a terminal: one plain line per run
  });

  it('refuses a bad fault kind, a bad shard, an unknown profile and an unknown mutation with exit 2, naming them', () => {
    const f = stress(['--faults', 'bit-flip,bit-flop']);
    expect(f.code).to.equal(2);
    expect(f.stderr).to.include('"bit-flop"').and.include('mailbox-drop').and.include('firewall');
    const s = stress(['--shard', '0/4']);
    expect(s.code).to.equal(2);
    expect(s.stderr).to.include('1-based');
    const p = stress(['--profile', 'j99']);
    expect(p.code).to.equal(2);
    expect(p.stderr).to.include('unknown profile "j99"');
    const m = stress(['--seeds', '1'], { HETSOC_MUTATION: 'no-such-bug' });
    expect(m.code).to.equal(2);
    expect(m.stderr).to.include('HETSOC_MUTATION=no-such-bug').and.include('vring-publish-early');
  });

  it('--help lists the options, every fault kind with its promise, and the invariants', () => {
    const r = stress(['--help']);
    expect(r.code).to.equal(0);
    for (const s of ['--profile', '--seeds', '--seed', '--jobs', '--duration', '--faults', '--shard', '--json', 'merge', 'JOB_COMPLETION_INDEX', 'HETSOC_MUTATION']) {
      expect(r.stdout).to.include(s);
    }
    for (const s of ['mailbox-drop', 'bit-flip', 'firewall', 'survived', 'detected', 'reported', 'no-loss', 'spinlock-exclusive']) expect(r.stdout).to.include(s);
  });

  it('merging the reports of two shards gives the whole range\'s runs and seeds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hetsoc-stress-'));
    const args = ['--profile', 'nrf5340', '--seeds', '3', '--duration', '300', '--jobs', '2', '--faults', 'none', '--json'];
    const files = [1, 2].map((i) => {
      const r = stress([...args, '--shard', `${i}/2`]);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      const file = join(dir, `shard${i}.json`);
      writeFileSync(file, r.stdout);
      return file;
    });
    const whole = stress(args);
    expect(whole.code, whole.stderr).to.equal(0);
    const merged = stress(['merge', ...files, '--json']);
    expect(merged.code, merged.stderr).to.equal(0);
    const m = json(merged.stdout);
    const w = json(whole.stdout);
    expect(m.runs).to.equal(w.runs);
    expect(m.seeds).to.deep.equal(w.seeds);
    expect(m.ok).to.equal(true);
    const human = stress(['merge', ...files]);
    expect(human.stdout).to.match(/^runs\s+3 \(seeds 1\.\.3\)/m);
  });

  it('merge names a missing or invalid report file and refuses the same shard twice', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hetsoc-stress-'));
    const missing = stress(['merge', join(dir, 'nope.json')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('nope.json');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"ok": true}');
    const invalid = stress(['merge', bad]);
    expect(invalid.code).to.equal(2);
    expect(invalid.stderr).to.include('bad.json').and.include('not a stress report');
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ ok: true, profile: 'j7', seeds: [1], runs: 1, messages: 1, bytes: 1, faults: 0, faultsByKind: {}, invariantsChecked: 1, failures: [], wallMs: 1 }));
    const twice = stress(['merge', good, good]);
    expect(twice.code).to.equal(2);
    expect(twice.stderr).to.include('seed 1').and.include('good.json');
  });

  it('a planted bug fails the run and the replay command carries the mutation', () => {
    const r = stress(['--profile', 'j7', '--seed', '1', '--duration', '300', '--faults', 'none', '--json'], { HETSOC_MUTATION: 'vring-publish-early' });
    expect(r.code, r.stderr).to.equal(1);
    const doc = json(r.stdout);
    expect(doc.ok).to.equal(false);
    expect(doc.failures.length).to.be.greaterThan(0);
    for (const f of doc.failures) {
      expect(f.seed).to.equal(1);
      expect(f.replay).to.equal('HETSOC_MUTATION=vring-publish-early npm run stress -- --profile j7 --seed 1 --duration 300 --faults none');
    }
  });

  // The other two planted bugs, each on the profile whose code it breaks: the checks catch them
  // within a couple of seeds, where the same runs without a mutation pass (the tests above).
  const planted: [string, string, RegExp][] = [
    ['spinlock-release-early', 'j7', /^spinlock-exclusive$/],
    ['pbuf-publish-early', 'nrf5340', /^(progress|no-loss|no-duplicate|in-order|payload-intact)$/],
  ];
  for (const [mutation, profile, invariant] of planted) {
    it(`HETSOC_MUTATION=${mutation} on ${profile} is reported within 2 seeds`, () => {
      const r = stress(['--profile', profile, '--seeds', '2', '--duration', '300', '--faults', 'none', '--jobs', '2', '--json'], { HETSOC_MUTATION: mutation });
      expect(r.code, r.stderr).to.equal(1);
      const doc = json(r.stdout);
      expect(doc.ok).to.equal(false);
      expect(doc.failures.some((f) => invariant.test(f.invariant)), JSON.stringify(doc.failures.map((f) => f.invariant))).to.equal(true);
      for (const f of doc.failures) expect(f.replay).to.match(new RegExp(`^HETSOC_MUTATION=${mutation} npm run stress -- --profile ${profile} --seed ${f.seed} `));
    });
  }
});
