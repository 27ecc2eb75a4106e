// How one J721E core is wired to the SoC: its bus (RAM regions plus the mailbox and spinlock
// register windows), its view of the mailbox bank whose interrupt outputs raise the owning cores'
// lines, and its mailbox and spinlock drivers. Used by the core worker and by the test harness.
// Stress runs: the mailbox's interrupt output is a perturbation point (PT_MBOX_IRQ) and the place
// where a delayed-irq fault holds the receiver's interrupt back (shared/perturb.ts).

import { Bus, type DeviceModel } from '../shared/bus.js';
import type { CoreControl } from '../shared/core-control.js';
import type { InterruptController } from '../shared/irq.js';
import { J721E_MAILBOX_CLUSTERS, J721E_PROC_NAMES, J721E_RX_QUEUE, j721eMailboxRouting } from '../shared/j721e.js';
import { MailboxBank } from '../shared/mailbox.js';
import { MailboxTxWait } from '../shared/mailbox-txwait.js';
import { PERTURB, PT_MBOX_IRQ, deferIrq, perturbAt } from '../shared/perturb.js';
import { SpinlockBank } from '../shared/spinlock.js';
import type { CoreInfo, SocImage } from './boot.js';
import { HwSpinlockDriver } from './drivers/hwspinlock.js';
import { MailboxDriver } from './drivers/mailbox.js';
import type { CoreRuntime } from './runtime.js';

export interface J721eCore {
  bus: Bus;
  mailboxBank: MailboxBank;
  spinlockBank: SpinlockBank;
  mailbox: MailboxDriver;
  spinlock: HwSpinlockDriver;
}

export function wireJ721eCore(image: SocImage, info: CoreInfo, rt: CoreRuntime, irq: InterruptController, control: CoreControl): J721eCore {
  const region = (name: string) => {
    const r = image.regions.find((x) => x.name === name);
    if (!r) throw new Error(`core ${info.name}: the SoC has no "${name}" region`);
    return r;
  };
  const routing = j721eMailboxRouting(new Map(image.cores.map((c) => [c.procId, c.index])));
  const mbox = region('mailbox');
  const mailboxBank = new MailboxBank(mbox.sab, mbox.byteOffset, J721E_MAILBOX_CLUSTERS, (cluster, user) => {
    const to = routing.route[cluster * 4 + user];
    if (!to) return;
    if (PERTURB.on) {
      perturbAt(PT_MBOX_IRQ);
      if (deferIrq(() => irq.raise(to.core, to.line), image.cores[to.core]?.name)) return;
    }
    irq.raise(to.core, to.line);
  });
  const spin = region('spinlock');
  const spinlockBank = new SpinlockBank(spin.sab, spin.byteOffset);
  const devices: Record<string, DeviceModel> = {
    mailbox: {
      read32: (off) => mailboxBank.readReg(off >>> 12, off & 0xFFF),
      write32: (off, v) => mailboxBank.writeReg(off >>> 12, off & 0xFFF, v),
    },
    spinlock: {
      read32: (off, who) => spinlockBank.readReg(off, who),
      write32: (off, v, who) => spinlockBank.writeReg(off, v, who),
    },
  };
  const bus = new Bus(image.regions, devices, { name: info.name, index: info.index }, image.firewall);
  const txwait = new MailboxTxWait(image.controlSab, image.controlLayout.txWait, J721E_MAILBOX_CLUSTERS);
  const mailbox = new MailboxDriver(rt, mailboxBank, txwait, {
    rxLines: routing.rxLines[info.procId] ?? [],
    rxQueue: J721E_RX_QUEUE[info.procId] ?? [],
    txQueue: J721E_PROC_NAMES.map((_, remote) => J721E_RX_QUEUE[remote]?.[info.procId]),
    peerNames: J721E_PROC_NAMES.map((_, remote) => image.cores.find((c) => c.procId === remote)?.name),
  });
  return { bus, mailboxBank, spinlockBank, mailbox, spinlock: new HwSpinlockDriver(spinlockBank, info.index, control) };
}
