// How one nRF5340 core is wired to the SoC: its bus (the shared RAM plus its own IPC peripheral's
// register window), its view of the IPC bank whose events raise the owning cores' interrupt lines,
// and Zephyr's MBOX driver on its IPC instance. Used by the core worker and by the test harness.

import { Bus, type DeviceModel } from '../shared/bus.js';
import type { InterruptController } from '../shared/irq.js';
import { NrfIpcBank } from '../shared/nrf-ipc.js';
import type { CoreInfo, SocImage } from './boot.js';
import type { CoreRuntime } from './runtime.js';
import { NrfMbox } from './zephyr/mbox.js';

export interface Nrf5340Core {
  bus: Bus;
  ipcBank: NrfIpcBank;
  mbox: NrfMbox;
}

/** Device model name of IPC instance i in the memory map. */
export const nrfIpcDevice = (instance: number): string => `nrf-ipc.${instance}`;

export function wireNrf5340Core(image: SocImage, info: CoreInfo, rt: CoreRuntime, irq: InterruptController): Nrf5340Core {
  const ipc = image.nrfIpc;
  const mine = ipc?.cores[info.name];
  if (!ipc || !mine) throw new Error(`core ${info.name}: the SoC image gives it no IPC peripheral`);
  const region = image.regions.find((r) => r.device === nrfIpcDevice(mine.instance));
  if (!region) throw new Error(`core ${info.name}: the SoC has no region for IPC instance ${mine.instance}`);
  const owners = Object.values(image.cores).map((c) => ipc.cores[c.name]);
  const ipcBank = new NrfIpcBank(region.sab, 0, ipc.instances, (instance) => {
    for (const c of image.cores) {
      const o = owners[c.index];
      if (o && o.instance === instance) irq.raise(c.index, o.line);
    }
  });
  const devices: Record<string, DeviceModel> = {};
  for (let i = 0; i < ipc.instances; i++) {
    devices[nrfIpcDevice(i)] = {
      read32: (off) => ipcBank.readReg(i, off),
      write32: (off, v) => ipcBank.writeReg(i, off, v),
    };
  }
  const bus = new Bus(image.regions, devices, { name: info.name, index: info.index }, image.firewall);
  const z = image.zephyr[info.name];
  const mbox = new NrfMbox(rt, ipcBank, { instance: mine.instance, line: mine.line, txMask: z?.mboxTxMask, rxMask: z?.mboxRxMask });
  mbox.init();
  return { bus, ipcBank, mbox };
}
