// `npm run soc -- --profile nrf5340` and user board profiles, as a user runs them: the compiled CLI
// in a child process.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../scripts/soc.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function soc(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A user board directory: the profile's overlays copied, firmware pointing at hetsoc's sample. */
function userBoard(edit: (app: string) => string = (s) => s, netBootDelayMs?: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'hetsoc-board-'));
  writeFileSync(join(dir, 'app.overlay'), edit(readFileSync(join(ROOT, 'firmware/nrf5340/cpuapp.overlay'), 'utf8')));
  copyFileSync(join(ROOT, 'firmware/nrf5340/cpunet.overlay'), join(dir, 'net.overlay'));
  const profile = {
    name: 'my-board',
    platform: 'nrf5340',
    description: 'a board of my own',
    cores: [
      { name: 'cpuapp', firmware: join(ROOT, 'firmware/nrf5340/ipc-host.ts'), devicetree: ['@hetsoc/soc/dts/nrf5340_cpuapp.dtsi', 'app.overlay'] },
      {
        name: 'cpunet', firmware: join(ROOT, 'firmware/nrf5340/ipc-remote.ts'), devicetree: ['@hetsoc/soc/dts/nrf5340_cpunet.dtsi', 'net.overlay'],
        ...(netBootDelayMs !== undefined ? { bootDelayMs: netBootDelayMs } : {}),
      },
    ],
  };
  writeFileSync(join(dir, 'board.json'), JSON.stringify(profile, null, 2));
  return dir;
}

describe('npm run soc -- --profile nrf5340 (CLI)', function () {
  this.timeout(120_000);

  it('--json: ok, both cores finished, every endpoint with instance, name, sent, received, bytesPerSec', () => {
    const r = soc('--profile', 'nrf5340', '--duration', '300', '--json');
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).to.equal(true);
    expect(doc.cores.map((c: { name: string; state: string }) => [c.name, c.state])).to.deep.equal([['cpuapp', 'finished'], ['cpunet', 'finished']]);
    const eps = doc.endpoints as { core: string; instance: string; name: string; sent: number; received: number; bytesPerSec: number }[];
    expect(eps.map((e) => `${e.core}/${e.instance}/${e.name}`)).to.have.members([
      'cpuapp/ipc0/ipc0A', 'cpuapp/ipc0/ipc0B', 'cpuapp/ipc1/ipc1', 'cpunet/ipc0/ipc0A', 'cpunet/ipc0/ipc0B', 'cpunet/ipc1/ipc1',
    ]);
    for (const e of eps) {
      expect(e).to.include.keys('instance', 'name', 'sent', 'received', 'bytesPerSec');
      if (e.instance === 'ipc0') expect([e.sent, e.received]).to.deep.equal([100, 100]);
    }
    const ipc1 = eps.filter((e) => e.name === 'ipc1');
    expect(ipc1[0]!.sent).to.equal(ipc1[1]!.received);
    expect(ipc1[1]!.sent).to.equal(ipc1[0]!.received);
    expect(doc.throughput).to.have.length(2);
    for (const t of doc.throughput) expect(t.bytesPerSec).to.be.greaterThan(0);
  });

  it('prints the endpoint and throughput tables and the verdict', () => {
    const r = soc('--profile', 'nrf5340', '--duration', '200', '--messages', '20');
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.match(/^cpuapp\s+ipc0\s+ipc0A\s+icbmsg\s+20\s+20/m);
    expect(r.stdout).to.match(/^cpuapp\s+cpunet\s+ipc1\s+\d+/m);
    expect(r.stdout).to.include('OK: every core finished, 6/6 endpoints bound, no firmware check failed');
  });

  it('runs a user board profile file with its own devicetree overlays', () => {
    const dir = userBoard();
    const r = soc('--profile', join(dir, 'board.json'), '--duration', '200', '--messages', '10', '--json');
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    expect(JSON.parse(r.stdout).profile).to.equal('my-board');
  });

  it('bonds every instance when the network core boots 400 ms after the application core', () => {
    const dir = userBoard(undefined, 400);
    const r = soc('--profile', join(dir, 'board.json'), '--duration', '100', '--messages', '10', '--json');
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.endpoints.every((e: { bound: boolean }) => e.bound)).to.equal(true);
  });

  it('runs a J7-style user profile: two R5F cores by PDK name with the hello-rpmsg example', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hetsoc-j7-'));
    const fw = join(ROOT, 'firmware/examples/hello-rpmsg.ts');
    writeFileSync(join(dir, 'mine.json'), JSON.stringify({
      name: 'my-j7', platform: 'j721e', cores: [{ name: 'mcu1_0', firmware: fw }, { name: 'mcu2_0', firmware: fw }],
    }));
    const r = soc('--profile', join(dir, 'mine.json'), '--json');
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.profile).to.equal('my-j7');
    expect(doc.cores.map((c: { name: string }) => c.name)).to.deep.equal(['mcu1_0', 'mcu2_0']);
  });

  it('faults only the core whose firmware throws, and says where', () => {
    const dir = userBoard();
    const bad = join(dir, 'bad.ts');
    writeFileSync(bad, 'export default async function main(ctx: any) {\n  await ctx.sleep(1);\n  throw new Error("boom on " + ctx.core.name);\n}\n');
    const r = spawnSync(process.execPath, [CLI, '--profile', 'nrf5340', '--firmware', `cpunet=${bad}`, '--duration', '100', '--messages', '5', '--timeout', '8000'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).to.equal(1);
    expect(r.stdout).to.match(/core cpunet faulted in task "main" at .*bad\.ts:3:\d+: boom on cpunet/);
    expect(r.stdout).to.match(/cpuapp/);
  });

  it('refuses a board whose two sides do not match, naming file, line and column, with exit 2', () => {
    const dir = userBoard((s) => s.replace('tx-blocks = <16>;', 'tx-blocks = <12>;'));
    const r = soc('--profile', join(dir, 'board.json'));
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/\.overlay:\d+:\d+: /);
    expect(r.stderr).to.match(/blocks/);
  });

  it('refuses a profile file that is not valid, naming the file and the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hetsoc-board-'));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ platform: 'nrf5340', cores: [{ name: 'cpuapp', firmware: 'x.ts' }] }));
    const r = soc('--profile', join(dir, 'bad.json'));
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('bad.json').and.include('cores[0].devicetree');
    const missing = soc('--profile', join(dir, 'nope.json'));
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('nope.json').and.include('cannot read');
  });
});
