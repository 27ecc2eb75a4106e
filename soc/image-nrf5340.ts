// Builds an nRF5340-style SoC image: the IPC shared RAM (zeroed at power-on, as ICMsg requires:
// it reads its RX region before any signal), one IPC peripheral per core with its register window
// (the application core's at 0x5002A000, the network core's at 0x41012000) and the control block.

import type { CoreInfo, SocImage, ZephyrCoreImage } from '../cores/boot.js';
import { nrfIpcDevice } from '../cores/nrf5340-core.js';
import { CoreControl } from '../shared/core-control.js';
import { InterruptController } from '../shared/irq.js';
import { MailboxTxWait } from '../shared/mailbox-txwait.js';
import { type RegionDescriptor, ramRegion, validateRegions } from '../shared/memory-map.js';
import { NRF_IPC_WINDOW_SIZE, NrfIpcBank } from '../shared/nrf-ipc.js';
import {
  NRF5340_APP_IPC_BASE, NRF5340_APP_IPC_IRQ, NRF5340_IPC_SHM_BASE, NRF5340_IPC_SHM_SIZE, NRF5340_NET_IPC_BASE,
  NRF5340_NET_IPC_IRQ, nvicToLine,
} from '../shared/nrf5340.js';
import type { SocProfile } from './profile.js';

export function buildNrf5340Image(profile: SocProfile, hostCpus: number, zephyr: Record<string, ZephyrCoreImage>): SocImage {
  const cores: CoreInfo[] = profile.cores.map((c, index) => ({ index, name: c.name, kind: c.kind, os: c.os, procId: c.procId ?? index }));
  if (cores.length > 16) throw new Error(`profile ${profile.name}: ${cores.length} cores; an nRF5340-style SoC supports at most 16`);
  const regions: RegionDescriptor[] = [];
  const shm = profile.sharedMemory ?? [{ name: 'ipc-shm', base: NRF5340_IPC_SHM_BASE, size: NRF5340_IPC_SHM_SIZE }];
  for (const m of shm) regions.push(ramRegion(m.name, m.base, m.size));

  // The first core is the application core (IPC at 0x5002A000, IRQ 42), the second the network core
  // (0x41012000, IRQ 18); further cores of a user's board get windows after the network core's.
  const bankSab = new SharedArrayBuffer(NrfIpcBank.byteLength(cores.length));
  const nrfCores: Record<string, { instance: number; base: number; line: number }> = {};
  cores.forEach((c, i) => {
    const base = i === 0 ? NRF5340_APP_IPC_BASE : NRF5340_NET_IPC_BASE + (i - 1) * NRF_IPC_WINDOW_SIZE;
    const irq = i === 0 ? NRF5340_APP_IPC_IRQ : NRF5340_NET_IPC_IRQ;
    nrfCores[c.name] = { instance: i, base, line: nvicToLine(irq) };
    regions.push({
      name: `ipc.${c.name}`, base, size: NRF_IPC_WINDOW_SIZE, kind: 'device', device: nrfIpcDevice(i), sab: bankSab, byteOffset: 0, owner: c.name,
    });
  });
  validateRegions(regions);

  const n = cores.length;
  const coreControl = 0;
  const irq = CoreControl.byteLength(n);
  const txWait = irq + InterruptController.byteLength(n);
  const controlSab = new SharedArrayBuffer(txWait + MailboxTxWait.byteLength(1));
  new CoreControl(controlSab, coreControl, n).hostCpus = hostCpus;
  return {
    platform: 'nrf5340', profile: profile.name, cores, regions, controlSab, controlLayout: { coreControl, irq, txWait }, hostCpus,
    rscTables: {}, dmaRegions: {}, zephyr, nrfIpc: { instances: n, cores: nrfCores },
  };
}
