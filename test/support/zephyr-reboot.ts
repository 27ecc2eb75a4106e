// The single-thread nRF5340 pair of test/support/zephyr-pair.ts, plus a core reboot: the core's
// runtime halts (its tasks and work queues stop, its interrupt lines are disabled) and a fresh one
// is wired over the same shared RAM and IPC peripheral bank, with a new ipc_service stack, as the
// core's worker does when Soc.resetCore boots it again. Shared memory keeps what the old
// incarnation left there, as on silicon.

import type { ZephyrCoreImage, ZephyrIpcInstanceImage } from '../../cores/boot.js';
import { wireNrf5340Core } from '../../cores/nrf5340-core.js';
import { CoreRuntime } from '../../cores/runtime.js';
import { createZephyrIpc } from '../../cores/zephyr/instances.js';
import { CoreControl } from '../../shared/core-control.js';
import { InterruptController } from '../../shared/irq.js';
import { buildImage } from '../../soc/image.js';
import type { SocProfile } from '../../soc/profile.js';
import { swapped, type ZCore } from './zephyr-pair.js';

export interface RebootablePair {
  app: ZCore;
  net: ZCore;
  start(core: ZCore): void;
  /** Halts `core` and returns its next incarnation (wired, not started); pair.app / pair.net follow. */
  reboot(core: ZCore): ZCore;
  stop(): void;
}

const coreImage = (instances: ZephyrIpcInstanceImage[], kconfig: Record<string, number>): ZephyrCoreImage => ({
  instances, mboxTxMask: 0xFFFF, mboxRxMask: 0xFFFF, dtFiles: [], kconfig,
});

/**
 * Two wired Zephyr cores; `netInstances` defaults to each of `appInstances` swapped (give it to
 * configure the cores differently, e.g. "detect" on one side and "disable" on the other).
 */
export function buildRebootablePair(
  appInstances: ZephyrIpcInstanceImage[], netInstances: ZephyrIpcInstanceImage[] = appInstances.map(swapped), kconfig: Record<string, number> = {},
): RebootablePair {
  const profile: SocProfile = {
    name: 'nrf5340-test', platform: 'nrf5340', description: 'test pair',
    cores: [
      { name: 'cpuapp', kind: 'cortex-m33', os: 'zephyr', firmware: '' },
      { name: 'cpunet', kind: 'cortex-m33', os: 'zephyr', firmware: '' },
    ],
  };
  const image = buildImage(profile, 2, { cpuapp: coreImage(appInstances, kconfig), cpunet: coreImage(netInstances, kconfig) });
  const control = new CoreControl(image.controlSab, image.controlLayout.coreControl, image.cores.length);
  const irq = new InterruptController(image.controlSab, image.controlLayout.irq, image.cores.length);
  const make = (index: number): ZCore => {
    const info = image.cores[index]!;
    const rt = new CoreRuntime({ index, name: info.name, irq, control });
    const { bus, ipcBank, mbox } = wireNrf5340Core(image, info, rt, irq);
    const { service } = createZephyrIpc({ core: info.name, rt, bus, mbox, image: image.zephyr[info.name]! });
    return { name: info.name, rt, bus, bank: ipcBank, mbox, ipc: service };
  };
  const pair: RebootablePair = {
    app: make(0),
    net: make(1),
    start: (c) => c.rt.start(),
    reboot: (c) => {
      c.rt.stop();
      const index = c === pair.app ? 0 : 1;
      // Both incarnations share the core's wake word in this one thread (a real reset terminates
      // the old worker). The old interrupt loop, woken from its last wait after the new one may
      // already sleep, clears the "sleeping" flag on its way out, and raisers would then skip the
      // notify the new loop waits for: once the old loop is gone, set the flag and wake the core.
      const oldLoop = (c.rt as unknown as { loop?: Promise<void> }).loop;
      void oldLoop?.then(() => {
        irq.setSleeping(index, true);
        irq.poke(index);
      });
      const fresh = make(index);
      if (index === 0) pair.app = fresh;
      else pair.net = fresh;
      return fresh;
    },
    stop: () => {
      pair.app.rt.stop();
      pair.net.rt.stop();
    },
  };
  return pair;
}
