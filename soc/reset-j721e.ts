// What a core reset does on a J721E besides restarting the core's worker (Soc.resetCore calls it):
// 1. The worker is terminated while the host holds every mailbox cluster's internal lock. Those
//    locks are the emulator's (the mailbox IP has none): a thread killed inside a register access
//    would leave one taken and hang every core using that cluster. Holding them all across the
//    terminate means the dying thread is never inside a register access when it goes.
// 2. The core's resource table is reloaded (status 0, vrings at FW_RSC_ADDR_ANY), as Linux's
//    remoteproc does when it loads the firmware again during recovery.
// 3. Linux is told of the crash with RP_MBOX_CRASH (0xFFFFFF02) in the core->Linux mailbox FIFO,
//    the control word a TI remote's exception handler sends (reference/rpmsg-j7.md §5.4), which
//    raises Linux's mailbox interrupt; Linux then runs rproc recovery (cores/linux/virtio-rpmsg.ts).
//    Only when Linux had set up the core's virtio device (its vdev status was 0x7): otherwise
//    there is nothing to recover and Linux probes the fresh table when it gets to it.

import type { SocImage } from '../cores/boot.js';
import { RP_MBOX_CRASH } from '../cores/linux/virtio-rpmsg.js';
import { InterruptController } from '../shared/irq.js';
import { J721E_MAILBOX_CLUSTERS, J721E_RX_QUEUE, j721eMailboxRouting } from '../shared/j721e.js';
import {
  MBOX_ST_CLUSTER_BYTES, MBOX_ST_HEADER_BYTES, MBOX_ST_LOCK, MailboxBank, lockClusterWord, unlockClusterWord,
} from '../shared/mailbox.js';
import { FW_RSC_ADDR_ANY, ResourceTableView, TI_VDEV_STATUS_READY } from '../shared/rsc-table.js';
import { reloadResourceTable, rscTableRegionName } from './image.js';

/** How long the host keeps trying to put RP_MBOX_CRASH into a full FIFO (Linux drains it from its ISR). */
export const CRASH_NOTIFY_TIMEOUT_MS = 2000;
/** How long a reset waits for a virtio probe Linux is in the middle of (it runs in one go). */
const PROBE_SETTLE_MS = 200;

export class ResetError extends Error {
  override name = 'ResetError';
}

/**
 * Takes every mailbox cluster's lock word the way MailboxBank does (lockClusterWord, sleeping at
 * most 10 ms at a time on this main thread) and returns the function that gives them back.
 */
function holdMailboxLocks(image: SocImage): () => void {
  const region = image.regions.find((r) => r.kind === 'device' && r.device === 'mailbox');
  if (!region) return () => undefined;
  const w = new Int32Array(region.sab, region.byteOffset, MailboxBank.byteLength(J721E_MAILBOX_CLUSTERS) >> 2);
  const lockOf = (c: number): number => (MBOX_ST_HEADER_BYTES + c * MBOX_ST_CLUSTER_BYTES + MBOX_ST_LOCK) >> 2;
  for (let c = 0; c < J721E_MAILBOX_CLUSTERS; c++) lockClusterWord(w, lockOf(c), 10);
  return () => {
    for (let c = 0; c < J721E_MAILBOX_CLUSTERS; c++) unlockClusterWord(w, lockOf(c));
  };
}

/** Writes RP_MBOX_CRASH into the FIFO from core `index` to the Linux core; retries while it is full. */
async function notifyLinux(image: SocImage, index: number): Promise<void> {
  const core = image.cores[index]!;
  const linux = image.cores.find((c) => c.os === 'linux');
  const q = linux ? J721E_RX_QUEUE[linux.procId]?.[core.procId] : undefined;
  const region = image.regions.find((r) => r.kind === 'device' && r.device === 'mailbox');
  if (!linux || !q || !region) return;
  const irq = new InterruptController(image.controlSab, image.controlLayout.irq, image.cores.length);
  const routing = j721eMailboxRouting(new Map(image.cores.map((c) => [c.procId, c.index])));
  const bank = new MailboxBank(region.sab, region.byteOffset, J721E_MAILBOX_CLUSTERS, (cluster, user) => {
    const to = routing.route[cluster * 4 + user];
    if (to) irq.raise(to.core, to.line);
  });
  const deadline = performance.now() + CRASH_NOTIFY_TIMEOUT_MS;
  while (bank.isFull(q.cluster, q.fifo) || !bank.send(q.cluster, q.fifo, RP_MBOX_CRASH)) {
    if (performance.now() > deadline) {
      throw new ResetError(`reset of ${core.name}: the mailbox FIFO to ${linux.name} (cluster ${q.cluster} fifo ${q.fifo}) stayed full for ` +
        `${CRASH_NOTIFY_TIMEOUT_MS} ms; RP_MBOX_CRASH could not be delivered`);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Linux's probe writes the table's vring addresses first and the status 0x7 last, on its own
 * thread: when the reset finds it in between, it lets the probe finish, so that the reload does
 * not mix with it and Linux is told of the crash of a device it set up.
 */
async function probeSettled(image: SocImage, core: string): Promise<void> {
  const region = image.regions.find((r) => r.name === rscTableRegionName(core));
  if (!region) return;
  const t = new ResourceTableView(region.sab, region.byteOffset);
  const until = performance.now() + PROBE_SETTLE_MS;
  while (t.vringDa(0) !== FW_RSC_ADDR_ANY && t.vdevStatus() !== TI_VDEV_STATUS_READY && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * The J721E part of Soc.resetCore for core `index`: runs `terminate` (the old worker's end) with
 * the mailbox held, reloads the resource table, and reports the crash to Linux. Resolves when the
 * new worker may boot.
 */
export async function resetJ721eCore(image: SocImage, index: number, terminate: () => Promise<unknown>): Promise<void> {
  const release = holdMailboxLocks(image);
  try {
    await terminate();
  } finally {
    release();
  }
  const core = image.cores[index]!;
  if (core.os !== 'rtos') return;
  await probeSettled(image, core.name);
  const before = reloadResourceTable(image, core.name);
  if (before === TI_VDEV_STATUS_READY) await notifyLinux(image, index);
}
