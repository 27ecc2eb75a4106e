// What a core reset does on an nRF5340 besides restarting the core's worker (a RESET_HOOKS entry of
// Soc.resetCore): once the old worker is gone, every other core's IPC line whose enabled event is
// set is raised again. On silicon the IPC interrupt is level-triggered (INTEN & EVENTS); hetsoc
// raises it on an event's 0->1 edge from the sender's thread, so a sender terminated between setting
// the peer's event and raising its line would leave the event set and the line quiet, and every
// later signal would merge into that event: the peer would never hear from the new incarnation.
// The reset core's own IPC instance is left alone: its next boot sets it up again (MBOX init clears
// INTEN; enabling a channel whose event is set interrupts at once).

import type { SocImage } from '../cores/boot.js';
import { nrfIpcDevice } from '../cores/nrf5340-core.js';
import { InterruptController } from '../shared/irq.js';
import { NrfIpcBank } from '../shared/nrf-ipc.js';

/**
 * Raises the IPC line of every core but `index` that has an enabled IPC event pending. Returns the
 * bitmap of IPC instances raised (0 on an image without an nRF IPC bank).
 */
export function reassertNrfIpcLines(image: SocImage, index: number): number {
  const ipc = image.nrfIpc;
  if (!ipc) return 0;
  const region = image.regions.find((r) => r.device === nrfIpcDevice(0));
  if (!region) return 0;
  const irq = new InterruptController(image.controlSab, image.controlLayout.irq, image.cores.length);
  const owners = image.cores.map((c) => ({ index: c.index, ...ipc.cores[c.name] })).filter((o) => o.instance !== undefined);
  const bank = new NrfIpcBank(region.sab, 0, ipc.instances, (instance) => {
    for (const o of owners) if (o.instance === instance) irq.raise(o.index, o.line!);
  });
  const mine = ipc.cores[image.cores[index]?.name ?? '']?.instance ?? -1;
  return bank.reassertLines(mine);
}

/** Soc.resetCore's nRF5340 hook: terminate the old worker, then re-assert the other cores' IPC lines. */
export async function resetNrf5340Core(image: SocImage, index: number, terminate: () => Promise<unknown>): Promise<void> {
  await terminate();
  reassertNrfIpcLines(image, index);
}
