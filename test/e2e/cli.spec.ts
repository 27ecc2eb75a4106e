// `npm run soc` as a user runs it: the compiled CLI in a child process, good and bad input.

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../scripts/soc.js', import.meta.url));

function soc(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm run soc (CLI)', function () {
  this.timeout(120_000);

  it('--profile j7 --json prints one JSON document with ok, cores and pairs, and exits 0', () => {
    const r = soc('--profile', 'j7', '--messages', '5', '--json');
    expect(r.code, r.stderr).to.equal(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).to.equal(true);
    expect(doc.cores).to.have.length(10);
    for (const c of doc.cores) expect(c).to.include.keys('name', 'state');
    expect(doc.pairs).to.have.length(81);
    for (const p of doc.pairs) {
      expect(p).to.include.keys('from', 'to', 'sent', 'received', 'rttP50Us', 'rttP99Us');
      expect(p.received).to.equal(5);
    }
  });

  it('prints the pair table and the verdict', () => {
    const r = soc('--profile', 'j7', '--messages', '2');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/from\s+to\s+sent\s+received\s+lost\s+rtt p50 us\s+rtt p99 us/);
    expect(r.stdout).to.match(/^mpu1_0\s+mcu1_0\s+2\s+2\s+0/m);
    expect(r.stdout).to.include('OK: every ping got its pong');
  });

  it('--help explains the options and exits 0', () => {
    const r = soc('--help');
    expect(r.code).to.equal(0);
    for (const opt of ['--profile', '--firmware', '--messages', '--json', '--timeout', '--log-level']) expect(r.stdout).to.include(opt);
  });

  it('refuses an unknown profile, option or core with exit 2 or 1 and a message that names it', () => {
    const p = soc('--profile', 'j99');
    expect(p.code).to.equal(2);
    expect(p.stderr).to.include('unknown profile "j99"').and.include('j7');
    const o = soc('--frobnicate');
    expect(o.code).to.equal(2);
    expect(o.stderr).to.include("'--frobnicate'");
    const c = soc('--firmware', 'mcu9_9=x.ts');
    expect(c.code).to.equal(1);
    expect(c.stderr).to.include('no core "mcu9_9"');
    const m = soc('--messages', 'lots');
    expect(m.code).to.equal(2);
    expect(m.stderr).to.include('--messages lots');
  });

  it('names a missing firmware file and a firmware that does not compile (file, line, column)', () => {
    const missing = soc('--firmware', 'mcu2_0=/nonexistent/fw.ts');
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.include('core mcu2_0: firmware file not found: /nonexistent/fw.ts');
    const dir = mkdtempSync(join(tmpdir(), 'hetsoc-cli-'));
    const bad = join(dir, 'bad.ts');
    writeFileSync(bad, 'export default async function main() {\n  let x = ;\n}\n');
    const r = soc('--firmware', `mcu2_0=${bad}`);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include(`${bad}:2:`);
  });

  it('a JavaScript firmware without a default export is refused by name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hetsoc-cli-'));
    const fw = join(dir, 'nodefault.mjs');
    writeFileSync(fw, 'export const x = 1;\n');
    const r = soc('--firmware', `mcu1_1=${fw}`);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('core mcu1_1').and.include('must export a default function main(ctx)');
  });
});
