// `npm run bench` as a user runs it: the compiled CLI in a child process. Checks the shape of what
// it reports and its handling of bad input, never how fast anything was.

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { R } from '../../bench/harness.js';
import { ratios, TARGETS } from '../../bench/report.js';

const CLI = fileURLToPath(new URL('../../scripts/bench.js', import.meta.url));

function bench(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm run bench (CLI)', function () {
  this.timeout(120_000);

  it('--quick --json runs the chosen scenarios and prints results and the ratios they allow', () => {
    const r = bench('--quick', '--json', '--only', 'ref/spin,ref/port,j7/rpmsg,nrf5340/icmsg-rtt');
    expect(r.code, r.stderr).to.equal(0);
    const doc = JSON.parse(r.stdout);
    const names = doc.results.map((x: { name: string }) => x.name);
    expect(names).to.have.members([R.spinRtt, R.portRtt, R.rpmsgRtt, R.icmsgRtt]);
    for (const x of doc.results) {
      expect(x).to.include.keys('name', 'unit', 'median', 'p99', 'samples');
      expect(x.median).to.be.a('number').and.to.be.greaterThan(0);
      expect(x.samples).to.be.greaterThan(0);
    }
    const rs = doc.ratios.map((x: { name: string }) => x.name);
    expect(rs).to.have.members(['rpmsg 32 B round trip / MessagePort round trip', 'ICMsg 16 B round trip / MessagePort round trip']);
    for (const x of doc.ratios) {
      expect(x).to.include.keys('name', 'value', 'target', 'met');
      expect(x.met).to.be.a('boolean');
    }
    expect(r.stderr).to.match(/bench: j7\/rpmsg: rpmsg\.r5f-r5f\.32\.rtt/);
  });

  it('prints the results table and the ratio table', () => {
    const r = bench('--quick', '--only', 'ref/spin,j7/mailbox');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^result\s+unit\s+median\s+p99\s+samples\s+what/m);
    expect(r.stdout).to.match(/^mailbox\.rtt\s+us\s/m);
    expect(r.stdout).to.match(/^mailbox round trip \/ spinning floor\s+[\d.]+\s+<= 4\s+(yes|NO)$/m);
  });

  it('names an unknown scenario and exits 2; --list and --help exit 0', () => {
    const bad = bench('--only', 'j7/nope');
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('unknown scenario or group "j7/nope"');
    const list = bench('--list');
    expect(list.code).to.equal(0);
    expect(list.stdout).to.include('j7/rpmsg');
    expect(list.stdout).to.include('nrf5340/icbmsg-zero-copy');
    expect(bench('--help').stdout).to.include('Usage: npm run bench');
    expect(bench('--frobnicate').code).to.equal(2);
  });
});

describe('bench ratios', () => {
  const result = (name: string, median: number) => ({ name, unit: 'x', median, p99: median, samples: 1 });

  it('divides a result by its reference and compares with the target in the right direction', () => {
    const rs = ratios([result(R.rpmsgRtt, 2), result(R.portRtt, 50), result(R.allToAll, 100), result(R.portAllToAll, 200)]);
    const rt = rs.find((x) => x.name.startsWith('rpmsg 32 B'))!;
    expect(rt.value).to.equal(0.04);
    expect(rt.met).to.equal(true);
    const a2a = rs.find((x) => x.name.startsWith('j7 all-to-all'))!;
    expect(a2a.value).to.equal(0.5);
    expect(a2a.met).to.equal(false);
    expect(a2a.target).to.equal('>= 1');
  });

  it('compares absolute figures with their bound and leaves out ratios whose results are missing', () => {
    const rs = ratios([result(R.idleCpu, 2.5), result(R.idleRss, 120)]);
    expect(rs.map((x) => [x.name, x.met])).to.deep.equal([['idle j7 CPU (% of one CPU)', false], ['idle j7 resident memory (MB)', true]]);
    expect(TARGETS).to.have.length(9);
  });
});
