// Reads each Zephyr core's devicetree (the SoC base file, then overlays), checks it, and checks the
// cores against each other (each side must be the other's swap), giving the image what the cores
// need. Errors are DevicetreeErrors naming file, line and column.

import { resolve } from 'node:path';
import type { ZephyrCoreImage, ZephyrIpcInstanceImage } from '../cores/boot.js';
import { NRF5340_IPC_SHM_BASE, NRF5340_IPC_SHM_SIZE } from '../shared/nrf5340.js';
import { type DtTree, isEnabled, parseDevicetree, propStrings, propU32, walk } from './devicetree/parse.js';
import { checkPeerConfigs, extractZephyrIpc, type ZephyrIpcConfig } from './devicetree/zephyr-ipc.js';
import { ProfileError, type SocProfile } from './profile.js';

const where = (loc: { file: string; line: number; column: number }): string => `${loc.file}:${loc.line}:${loc.column}`;

export async function loadZephyrConfigs(profile: SocProfile, root: string): Promise<Record<string, ZephyrCoreImage>> {
  const sharedRam = profile.sharedMemory ?? [{ name: 'ipc-shm', base: NRF5340_IPC_SHM_BASE, size: NRF5340_IPC_SHM_SIZE }];
  const configs: { core: string; config: ZephyrIpcConfig; image: ZephyrCoreImage }[] = [];
  for (const c of profile.cores) {
    if (c.os !== 'zephyr') continue;
    if (!c.devicetree?.length) {
      throw new ProfileError(`profile ${profile.name}: Zephyr core ${c.name} has no devicetree files ("devicetree": ["board.dts", "app.overlay"])`);
    }
    const files = c.devicetree.map((f) => resolve(root, f));
    const tree = await parseDevicetree(files.map((path) => ({ path })));
    const config = extractZephyrIpc(tree, { sharedRam });
    const instances: ZephyrIpcInstanceImage[] = config.instances.map((i) => ({
      name: i.name, labels: [...i.labels], compatible: i.compatible,
      txRegion: { label: i.txRegion.label, base: i.txRegion.base, size: i.txRegion.size },
      rxRegion: { label: i.rxRegion.label, base: i.rxRegion.base, size: i.rxRegion.size },
      ...(i.txBlocks !== undefined ? { txBlocks: i.txBlocks, rxBlocks: i.rxBlocks } : {}),
      mboxTx: i.mboxTx.channel, mboxRx: i.mboxRx.channel, dcacheAlignment: i.dcacheAlignment, unbound: i.unbound,
      where: where(i.loc),
    }));
    const masks = mboxMasks(tree);
    configs.push({ core: c.name, config, image: { instances, mboxTxMask: masks.tx, mboxRxMask: masks.rx, dtFiles: files, kconfig: { ...c.kconfig } } });
  }
  // Two Zephyr cores (the nRF5340 case): each must be the other's swap. Boards with more cores are
  // checked per core only (which instances pair with which is not in the devicetree).
  if (configs.length === 2) checkPeerConfigs(configs[0]!, configs[1]!);
  return Object.fromEntries(configs.map((c) => [c.core, c.image]));
}

/** tx-mask / rx-mask of the enabled "nordic,mbox-nrf-ipc" controller (all 16 channels when absent). */
function mboxMasks(tree: DtTree): { tx: number; rx: number } {
  const out = { tx: 0xFFFF, rx: 0xFFFF };
  walk(tree.root, (n) => {
    if (!isEnabled(n) || !(propStrings(n, 'compatible') ?? []).includes('nordic,mbox-nrf-ipc')) return;
    out.tx = propU32(n, 'tx-mask') ?? out.tx;
    out.rx = propU32(n, 'rx-mask') ?? out.rx;
  });
  return out;
}
