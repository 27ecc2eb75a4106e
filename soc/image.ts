// Builds a SoC instance's shared memory from a profile: the physical memory map (J721E mailbox
// clusters, spinlock bank, the RTOS vring region, each remote core's Linux DMA region and the
// resource table linked into its image), zeroed at power-on, and the emulator's control block.
// With firewalls on, the image carries the access rules every core's bus enforces (soc/firewall.ts).
// reloadResourceTable writes one core's resource table again, as a firmware reload does (core reset).

import type { CoreInfo, SocImage, ZephyrCoreImage } from '../cores/boot.js';
import { CoreControl } from '../shared/core-control.js';
import { InterruptController } from '../shared/irq.js';
import {
  IPC_VRING_BUFFER_SIZE, J721E_DMA_REGION, J721E_DMA_REGION_SIZE, J721E_MAILBOX_BASE, J721E_MAILBOX_CLUSTERS,
  J721E_MAILBOX_CLUSTER_STRIDE, J721E_MSMC_BASE, J721E_MSMC_SIZE, J721E_RSC_TABLE_OFFSET, J721E_RSC_TABLE_REGION_SIZE, J721E_SPINLOCK_BASE,
  J721E_SPINLOCK_SIZE, J721E_VRING_BASE,
} from '../shared/j721e.js';
import { MailboxBank } from '../shared/mailbox.js';
import { MailboxTxWait } from '../shared/mailbox-txwait.js';
import { type RegionDescriptor, ramRegion, validateRegions } from '../shared/memory-map.js';
import { ResourceTableView, writeTiResourceTable } from '../shared/rsc-table.js';
import { SpinlockBank } from '../shared/spinlock.js';
import { firewallRules, firewallWanted } from './firewall.js';
import { buildNrf5340Image } from './image-nrf5340.js';
import type { SocProfile } from './profile.js';

const TRACE_NAMES: Record<string, string> = { r5f: 'trace:r5f0', c66x: 'trace:c66xdsp', c7x: 'trace:c7xdsp', a72: 'trace:a72' };

export interface ImageOptions {
  /**
   * Firewalls on: the image carries the SoC's access rules (see soc/firewall.ts). A profile that
   * declares rules of its own (`profile.firewall`) has them on whatever this says.
   */
  firewall?: boolean;
}

/**
 * Builds the SoC image of `profile`. Zephyr cores' IPC configuration (from their devicetrees, see
 * soc/zephyr-config.ts) comes in `zephyr`.
 */
export function buildImage(profile: SocProfile, hostCpus: number, zephyr: Record<string, ZephyrCoreImage> = {}, options: ImageOptions = {}): SocImage {
  const image = profile.platform === 'nrf5340' ? buildNrf5340Image(profile, hostCpus, zephyr) : buildJ721eImage(profile, hostCpus);
  if (firewallWanted(profile, options.firewall)) image.firewall = firewallRules(profile, image);
  return image;
}

/** Name of the region holding the resource table linked into a J721E core's image. */
export const rscTableRegionName = (core: string): string => `rsc-table.${core}`;

/**
 * Writes a core's resource table as its firmware image carries it (section .resource_table, status
 * 0, vrings at FW_RSC_ADDR_ANY), as the ELF loader copies it at power-on and on every reload.
 */
function loadResourceTable(region: RegionDescriptor, kind: string): void {
  writeTiResourceTable(new Uint8Array(region.sab, region.byteOffset, region.size), 0, {
    traceDa: region.base + 0x200, traceName: TRACE_NAMES[kind] ?? 'trace:rtos',
  });
}

/**
 * Reloads core `core`'s resource table in a running SoC, as Linux's remoteproc does when it loads
 * the firmware again (rproc recovery after a crash): the table is back to what the image carries,
 * whatever Linux wrote into it before. Returns the vdev status byte the table held before (0x7
 * when Linux had set the virtio device up), or undefined when the core has no resource table.
 */
export function reloadResourceTable(image: SocImage, core: string): number | undefined {
  const info = image.cores.find((c) => c.name === core);
  const region = image.regions.find((r) => r.name === rscTableRegionName(core));
  if (!info || !region || image.rscTables[core] === undefined) return undefined;
  const before = new ResourceTableView(region.sab, region.byteOffset).vdevStatus();
  loadResourceTable(region, info.kind);
  return before;
}

function buildJ721eImage(profile: SocProfile, hostCpus: number): SocImage {
  const cores: CoreInfo[] = profile.cores.map((c, index) => ({ index, name: c.name, kind: c.kind, os: c.os, procId: c.procId ?? index }));
  if (cores.length > 31) throw new Error(`profile ${profile.name}: ${cores.length} cores; at most 31 are supported`);
  const regions: RegionDescriptor[] = [];

  const mboxSab = new SharedArrayBuffer(MailboxBank.byteLength(J721E_MAILBOX_CLUSTERS));
  MailboxBank.init(mboxSab, 0, J721E_MAILBOX_CLUSTERS);
  regions.push({
    name: 'mailbox', base: J721E_MAILBOX_BASE, size: J721E_MAILBOX_CLUSTERS * J721E_MAILBOX_CLUSTER_STRIDE,
    kind: 'device', device: 'mailbox', sab: mboxSab, byteOffset: 0, owner: 'shared',
  });
  regions.push({
    name: 'spinlock', base: J721E_SPINLOCK_BASE, size: J721E_SPINLOCK_SIZE, kind: 'device', device: 'spinlock',
    sab: new SharedArrayBuffer(SpinlockBank.byteLength(256)), byteOffset: 0, owner: 'shared',
  });
  regions.push(ramRegion('vring', J721E_VRING_BASE, IPC_VRING_BUFFER_SIZE));
  regions.push(ramRegion('msmc', J721E_MSMC_BASE, J721E_MSMC_SIZE));

  const rscTables: Record<string, number> = {};
  const dmaRegions: Record<string, number> = {};
  const hasLinux = cores.some((c) => c.os === 'linux');
  for (const c of cores) {
    const dma = J721E_DMA_REGION[c.name];
    if (c.os !== 'rtos' || !hasLinux || dma === undefined) continue;
    regions.push(ramRegion(`dma.${c.name}`, dma, J721E_DMA_REGION_SIZE, c.name));
    const rsc = ramRegion(rscTableRegionName(c.name), dma + J721E_RSC_TABLE_OFFSET, J721E_RSC_TABLE_REGION_SIZE, c.name);
    loadResourceTable(rsc, c.kind);
    regions.push(rsc);
    rscTables[c.name] = rsc.base;
    dmaRegions[c.name] = dma;
  }
  validateRegions(regions);

  const n = cores.length;
  const coreControl = 0;
  const irq = CoreControl.byteLength(n);
  const txWait = irq + InterruptController.byteLength(n);
  const controlSab = new SharedArrayBuffer(txWait + MailboxTxWait.byteLength(J721E_MAILBOX_CLUSTERS));
  new CoreControl(controlSab, coreControl, n).hostCpus = hostCpus;

  return {
    platform: profile.platform, profile: profile.name, cores, regions, controlSab,
    controlLayout: { coreControl, irq, txWait }, hostCpus, rscTables, dmaRegions, zephyr: {},
  };
}
