// The devicetree's `unbound` for Zephyr IPC instances: the session modes ("enable", "detect") are
// accepted when dcache-alignment >= 8, the two cores' modes must be able to bond ("enable" never
// pairs with "disable"; "detect" pairs with both), and the test/fixtures overlays (the nrf5340
// sample's with unbound = "enable" on ipc1) load through the same path Soc.create uses.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevicetreeError } from '../../soc/devicetree/parse.js';
import { checkPeerConfigs } from '../../soc/devicetree/zephyr-ipc.js';
import { nrf5340 } from '../../soc/profiles/nrf5340.js';
import { PROJECT_ROOT } from '../../soc/soc.js';
import { loadZephyrConfigs } from '../../soc/zephyr-config.js';
import { appIpc, dtError, failsAt, ICMSG_APP, ICMSG_NET, netIpc, pos } from '../support/devicetree-fixtures.js';

const withMode = (src: string, mode: string | undefined, align = 8): string =>
  src.replace('status = "okay";', `dcache-alignment = <${align}>;${mode ? `\n\t\t\tunbound = "${mode}";` : ''}`);
const pair = async (appSrc: string, netSrc: string): Promise<void> =>
  checkPeerConfigs({ core: 'app', config: await appIpc(appSrc) }, { core: 'net', config: await netIpc(netSrc) });

/** The nrf5340 profile with other overlays (paths relative to the project root). */
const profileWith = (appOverlay: string, netOverlay: string) => ({
  ...nrf5340,
  cores: nrf5340.cores.map((c) => ({
    ...c, devicetree: [c.devicetree![0]!, c.name === 'cpuapp' ? appOverlay : netOverlay],
  })),
});

describe('devicetree: ICMsg unbound modes (unit)', () => {
  it('accepts "enable" and "detect" with dcache-alignment 8 and reads the mode', async () => {
    for (const mode of ['enable', 'detect'] as const) {
      const cfg = await appIpc(withMode(ICMSG_APP, mode));
      expect(cfg.instances[0]).to.include({ unbound: mode, dcacheAlignment: 8 });
    }
  });

  it('refuses "enable" with dcache-alignment 4, at the unbound property', async () => {
    const src = withMode(ICMSG_APP, 'enable', 4);
    await failsAt(() => appIpc(src), 'app.overlay', src, 'unbound', /unbound = "enable" of \/ipc\/ipc0 needs dcache-alignment of at least 8, but the node has dcache-alignment = <4>/);
  });

  for (const [a, n] of [['enable', 'enable'], ['detect', 'disable'], ['disable', 'detect'], ['detect', 'enable'], ['detect', 'detect'], [undefined, 'detect']] as const) {
    it(`pairs app "${a ?? 'disable (default)'}" with net "${n}"`, async () => {
      await pair(withMode(ICMSG_APP, a), withMode(ICMSG_NET, n));
    });
  }

  it('refuses app "enable" with net "disable" (the default), naming both files and lines', async () => {
    const appSrc = withMode(ICMSG_APP, 'enable');
    const netSrc = withMode(ICMSG_NET, undefined);
    const msg = await dtError(() => pair(appSrc, netSrc));
    // Reported at net's node (it has no unbound property), citing app's unbound line.
    expect(msg.startsWith(`net.overlay:${pos(netSrc, 'ipc0: ipc0')}: `), msg).to.equal(true);
    expect(msg).to.include(`core app (app.overlay:${pos(appSrc, 'unbound')}) says ipc0 has unbound = "enable", so core net must have unbound = "enable" or "detect"; found "disable" (no unbound property: the default)`);
  });

  it('loads the nrf5340 overlays with unbound = "enable" on ipc1 (test/fixtures), ipc0 staying "disable"', async () => {
    const images = await loadZephyrConfigs(profileWith('test/fixtures/cpuapp-unbound.overlay', 'test/fixtures/cpunet-unbound.overlay'), PROJECT_ROOT);
    for (const core of ['cpuapp', 'cpunet']) {
      const modes = Object.fromEntries(images[core]!.instances.map((i) => [i.name, i.unbound]));
      expect(modes, core).to.deep.equal({ ipc0: 'disable', ipc1: 'enable' });
    }
  });

  it('the built-in nrf5340 overlays (firmware/nrf5340) run ipc1 with unbound = "enable" on both cores, ipc0 staying "disable"', async () => {
    const images = await loadZephyrConfigs(nrf5340, PROJECT_ROOT);
    for (const core of ['cpuapp', 'cpunet']) {
      const modes = Object.fromEntries(images[core]!.instances.map((i) => [i.name, i.unbound]));
      expect(modes, core).to.deep.equal({ ipc0: 'disable', ipc1: 'enable' });
    }
  });

  it('refuses a board whose cpuapp overlay says "enable" and cpunet overlay "disable", naming both files', async () => {
    // The built-in cpuapp overlay (unbound = "enable" on ipc1) against a copy of the built-in cpunet
    // overlay without its unbound line (the default, "disable").
    const appSrc = readFileSync(join(PROJECT_ROOT, 'firmware/nrf5340/cpuapp.overlay'), 'utf8');
    const netSrc = readFileSync(join(PROJECT_ROOT, 'firmware/nrf5340/cpunet.overlay'), 'utf8').replace(/\n\s*unbound = "enable";/, '');
    const dir = mkdtempSync(join(tmpdir(), 'hetsoc-unbound-'));
    writeFileSync(join(dir, 'cpunet-disable.overlay'), netSrc);
    let err: unknown;
    try {
      await loadZephyrConfigs(profileWith('firmware/nrf5340/cpuapp.overlay', join(dir, 'cpunet-disable.overlay')), PROJECT_ROOT);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(DevicetreeError);
    const msg = (err as Error).message;
    const at = pos(appSrc, 'unbound = "enable";');
    expect(msg).to.match(/^\S*cpunet-disable\.overlay:\d+:\d+: core cpuapp \(\S*firmware\/nrf5340\/cpuapp\.overlay:(\d+:\d+)\) says ipc1 has unbound = "enable", so core cpunet must have unbound = "enable" or "detect"; found "disable"/);
    expect(msg).to.include(`cpuapp.overlay:${at})`);
  });
});
