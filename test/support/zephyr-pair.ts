// Single-thread nRF5340 harness: builds an nrf5340 image for two Zephyr cores ("cpuapp", "cpunet")
// with IPC configurations given as objects (what soc/devicetree extracts from the seeds' overlays),
// wires each core as cores/worker.ts does (bus, IPC bank, MBOX driver, ipc_service stack), all in
// the mocha thread. Each core's interrupt loop sleeps in Atomics.waitAsync, so both coexist here.

import type { ZephyrCoreImage, ZephyrIpcInstanceImage } from '../../cores/boot.js';
import { wireNrf5340Core } from '../../cores/nrf5340-core.js';
import { CoreRuntime } from '../../cores/runtime.js';
import { createZephyrIpc } from '../../cores/zephyr/instances.js';
import type { IpcService } from '../../cores/zephyr/ipc-service.js';
import type { NrfMbox } from '../../cores/zephyr/mbox.js';
import type { Bus } from '../../shared/bus.js';
import { CoreControl } from '../../shared/core-control.js';
import { InterruptController } from '../../shared/irq.js';
import type { NrfIpcBank } from '../../shared/nrf-ipc.js';
import { buildImage } from '../../soc/image.js';
import type { SocProfile } from '../../soc/profile.js';

export interface ZCore {
  name: string;
  rt: CoreRuntime;
  bus: Bus;
  bank: NrfIpcBank;
  mbox: NrfMbox;
  ipc: IpcService;
}

/** The app side of an instance; the net side is its swap (regions, channels and block counts). */
export function appInstance(p: Partial<ZephyrIpcInstanceImage> & Pick<ZephyrIpcInstanceImage, 'name' | 'compatible'>): ZephyrIpcInstanceImage {
  return {
    labels: [], txRegion: { label: 'tx', base: 0x20070000, size: 0x800 }, rxRegion: { label: 'rx', base: 0x20078000, size: 0x800 },
    mboxTx: 0, mboxRx: 1, dcacheAlignment: 0, unbound: 'disable', where: 'test', ...p,
  };
}

export function swapped(i: ZephyrIpcInstanceImage): ZephyrIpcInstanceImage {
  return {
    ...i, txRegion: i.rxRegion, rxRegion: i.txRegion, mboxTx: i.mboxRx, mboxRx: i.mboxTx, txBlocks: i.rxBlocks, rxBlocks: i.txBlocks,
  };
}

const coreImage = (instances: ZephyrIpcInstanceImage[], kconfig: Record<string, number> = {}): ZephyrCoreImage => ({
  instances, mboxTxMask: 0xFFFF, mboxRxMask: 0xFFFF, dtFiles: [], kconfig,
});

export interface ZPair {
  app: ZCore;
  net: ZCore;
  /** Wires and starts a core (cores can start at different times). */
  start(core: ZCore): void;
  stop(): void;
}

/** Two wired Zephyr cores sharing `appInstances` (the net core gets each one swapped). Not started. */
export function buildZephyrPair(appInstances: ZephyrIpcInstanceImage[], kconfig: Record<string, number> = {}): ZPair {
  const profile: SocProfile = {
    name: 'nrf5340-test', platform: 'nrf5340', description: 'test pair',
    cores: [
      { name: 'cpuapp', kind: 'cortex-m33', os: 'zephyr', firmware: '' },
      { name: 'cpunet', kind: 'cortex-m33', os: 'zephyr', firmware: '' },
    ],
  };
  const image = buildImage(profile, 2, {
    cpuapp: coreImage(appInstances, kconfig),
    cpunet: coreImage(appInstances.map(swapped), kconfig),
  });
  const control = new CoreControl(image.controlSab, image.controlLayout.coreControl, image.cores.length);
  const irq = new InterruptController(image.controlSab, image.controlLayout.irq, image.cores.length, control);
  const make = (index: number): ZCore => {
    const info = image.cores[index]!;
    const rt = new CoreRuntime({ index, name: info.name, irq, control });
    const { bus, ipcBank, mbox } = wireNrf5340Core(image, info, rt, irq);
    const { service } = createZephyrIpc({ core: info.name, rt, bus, mbox, image: image.zephyr[info.name]! });
    return { name: info.name, rt, bus, bank: ipcBank, mbox, ipc: service };
  };
  const app = make(0);
  const net = make(1);
  return {
    app, net,
    start: (c) => c.rt.start(),
    stop: () => {
      app.rt.stop();
      net.rt.stop();
    },
  };
}
