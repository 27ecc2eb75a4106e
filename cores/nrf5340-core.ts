// How one nRF5340 core is wired to the SoC: its bus (the shared RAM plus its own IPC peripheral's
// register window), its view of the IPC bank whose events raise the owning cores' interrupt lines,
// and Zephyr's MBOX driver on its IPC instance. Used by the core worker and by the test harness.
// Stress hooks (shared/perturb.ts) sit between an IPC event and the interrupt it raises: the
// PT_MBOX_IRQ delay and the delayed-irq fault (the raise runs later from a timer).

import { Bus, type DeviceModel } from '../shared/bus.js';
import type { InterruptController } from '../shared/irq.js';
import { NrfIpcBank } from '../shared/nrf-ipc.js';
import { PERTURB, PT_MBOX_IRQ, deferIrq, perturbAt } from '../shared/perturb.js';
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
  // Per IPC instance, made once: the function raising its owners' lines, and its owner's name.
  const raisers: (() => void)[] = [];
  const receivers: (string | undefined)[] = [];
  for (let i = 0; i < ipc.instances; i++) {
    const targets = image.cores.filter((c) => owners[c.index]?.instance === i);
    const lines = targets.map((c) => owners[c.index]!.line);
    raisers.push(() => {
      for (let k = 0; k < targets.length; k++) irq.raise(targets[k]!.index, lines[k]!);
    });
    receivers.push(targets.length === 1 ? targets[0]!.name : undefined);
  }
  const ipcBank = new NrfIpcBank(region.sab, 0, ipc.instances, (instance) => {
    const raise = raisers[instance]!;
    if (PERTURB.on) {
      perturbAt(PT_MBOX_IRQ);
      if (deferIrq(raise, receivers[instance])) return;
    }
    raise();
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
