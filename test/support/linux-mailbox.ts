// Single-thread wiring of the J7 Linux core (mpu1_0, core 0) for unit tests of the Linux rpmsg
// stack: its own interrupt controller, core control and runtime (never polling), a real mailbox
// bank routed as on J721E between mpu1_0 and mcu2_0 (core 1), and its mailbox driver. The remote
// side is played by hand in the tests.

import { MailboxDriver } from '../../cores/drivers/mailbox.js';
import { CoreRuntime } from '../../cores/runtime.js';
import { CoreControl } from '../../shared/core-control.js';
import { InterruptController } from '../../shared/irq.js';
import { IPC_MCU2_0, IPC_MPU1_0, J721E_MAILBOX_CLUSTERS, J721E_PROC_NAMES, J721E_RX_QUEUE, j721eMailboxRouting } from '../../shared/j721e.js';
import { MailboxBank } from '../../shared/mailbox.js';
import { MailboxTxWait } from '../../shared/mailbox-txwait.js';

export interface LinuxMailboxRig {
  control: CoreControl;
  irq: InterruptController;
  bank: MailboxBank;
  rt: CoreRuntime;
  mailbox: MailboxDriver;
}

export function linuxMailboxRig(): LinuxMailboxRig {
  const cores = 2;
  const control = new CoreControl(new SharedArrayBuffer(CoreControl.byteLength(cores)), 0, cores);
  control.hostCpus = 1;
  const irq = new InterruptController(new SharedArrayBuffer(InterruptController.byteLength(cores)), 0, cores);
  const txwait = new MailboxTxWait(new SharedArrayBuffer(MailboxTxWait.byteLength(J721E_MAILBOX_CLUSTERS)), 0, J721E_MAILBOX_CLUSTERS);
  const mboxSab = new SharedArrayBuffer(MailboxBank.byteLength(J721E_MAILBOX_CLUSTERS));
  MailboxBank.init(mboxSab, 0, J721E_MAILBOX_CLUSTERS);
  const routing = j721eMailboxRouting(new Map([[IPC_MPU1_0, 0], [IPC_MCU2_0, 1]]));
  const bank = new MailboxBank(mboxSab, 0, J721E_MAILBOX_CLUSTERS, (cluster, user) => {
    const to = routing.route[cluster * 4 + user];
    if (to) irq.raise(to.core, to.line);
  });
  const rt = new CoreRuntime({ index: 0, name: 'mpu1_0', irq, control });
  rt.spinBudgetUs = 0;
  const mailbox = new MailboxDriver(rt, bank, txwait, {
    rxLines: routing.rxLines[IPC_MPU1_0]!,
    rxQueue: J721E_RX_QUEUE[IPC_MPU1_0]!,
    txQueue: J721E_PROC_NAMES.map((_, remote) => J721E_RX_QUEUE[remote]?.[IPC_MPU1_0]),
  });
  return { control, irq, bank, rt, mailbox };
}
