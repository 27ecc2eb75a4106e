// Single-thread J721E harness for unit tests of the RTOS IPC stack: builds the j7 SoC image and wires
// a few RTOS cores exactly as cores/worker.ts does (bus, MailboxBank view with an output that raises
// interrupt lines via j721eMailboxRouting, MailboxTxWait, MailboxDriver, PdkIpc), but all in the
// mocha thread. Each core's interrupt loop sleeps in Atomics.waitAsync, so several coexist here.

import { wireJ721eCore } from '../../cores/j721e-core.js';
import type { Logger } from 'pino';
import type { CoreInfo, SocImage } from '../../cores/boot.js';
import { MailboxDriver } from '../../cores/drivers/mailbox.js';
import { PdkIpc } from '../../cores/rtos/pdk-ipc.js';
import { IPC_SOK } from '../../cores/rtos/pdk-types.js';
import { CoreRuntime } from '../../cores/runtime.js';
import type { Bus } from '../../shared/bus.js';
import { CoreControl } from '../../shared/core-control.js';
import { InterruptController } from '../../shared/irq.js';
import { IPC_VRING_BUFFER_SIZE, J721E_PROC_NAMES, J721E_VRING_BASE } from '../../shared/j721e.js';
import type { MailboxBank } from '../../shared/mailbox.js';
import { buildImage } from '../../soc/image.js';
import { j7 } from '../../soc/profiles/j7.js';

/** A CoreRuntime that counts how deep the thread is inside one of this core's ISRs. */
export class TracedRuntime extends CoreRuntime {
  isrDepth = 0;

  override registerIsr(line: number, name: string, handler: () => void): void {
    super.registerIsr(line, name, () => {
      this.isrDepth++;
      try {
        handler();
      } finally {
        this.isrDepth--;
      }
    });
  }
}

export interface LogEntry {
  level: string;
  msg: string;
}

/** A pino-shaped logger that records every call (message strings only), for asserting on errors. */
export function capturingLogger(entries: LogEntry[] = []): Logger & { entries: LogEntry[] } {
  const rec = (level: string) => (...args: unknown[]) => {
    const msg = args.filter((a) => typeof a === 'string').join(' ');
    entries.push({ level, msg });
  };
  const log: Record<string, unknown> = { entries, level: 'trace' };
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace']) log[level] = rec(level);
  log.child = () => log;
  log.isLevelEnabled = () => true;
  return log as unknown as Logger & { entries: LogEntry[] };
}

export interface SimCore {
  info: CoreInfo;
  rt: TracedRuntime;
  bus: Bus;
  bank: MailboxBank;
  mailbox: MailboxDriver;
  pdk: PdkIpc;
  log: Logger & { entries: LogEntry[] };
}

export interface SimSoc {
  image: SocImage;
  control: CoreControl;
  irq: InterruptController;
  cores: Record<string, SimCore>;
  /** The core with PDK name `name`. */
  core(name: string): SimCore;
  /** Starts every core's interrupt loop. */
  start(): void;
  /** Stops every core's interrupt loop. */
  stop(): void;
}

/**
 * Builds the j7 image (hostCpus 2) and wires the named RTOS cores (PDK names, e.g. 'mcu1_0').
 * Cores are not started: call start().
 */
export function buildSoc(names: readonly string[], hostCpus = 2): SimSoc {
  const image = buildImage(j7, hostCpus);
  const control = new CoreControl(image.controlSab, image.controlLayout.coreControl, image.cores.length);
  const irq = new InterruptController(image.controlSab, image.controlLayout.irq, image.cores.length, control);

  const cores: Record<string, SimCore> = {};
  for (const name of names) {
    const info = image.cores.find((c) => c.name === name);
    if (!info) throw new Error(`harness: profile j7 has no core "${name}"`);
    if (info.os !== 'rtos') throw new Error(`harness: core "${name}" is not an RTOS core`);
    const rt = new TracedRuntime({ index: info.index, name: info.name, irq, control });
    const { bus, mailboxBank: bank, mailbox } = wireJ721eCore(image, info, rt, irq, control);
    const log = capturingLogger();
    const pdk = new PdkIpc({
      rt, bus, mailbox, log, selfProcId: info.procId, procNames: J721E_PROC_NAMES, rscTableAddr: image.rscTables[info.name],
    });
    cores[name] = { info, rt, bus, bank, mailbox, pdk, log };
  }

  return {
    image, control, irq, cores,
    core(name: string): SimCore {
      const c = cores[name];
      if (!c) throw new Error(`harness: core "${name}" was not wired (have ${Object.keys(cores).join(', ')})`);
      return c;
    },
    start(): void {
      for (const c of Object.values(cores)) c.rt.start();
    },
    stop(): void {
      for (const c of Object.values(cores)) c.rt.stop();
    },
  };
}

/** PDK Ipc_VirtIoParams for J721E: the examples' VRING_BASE_ADDRESS and IPC_VRING_BUFFER_SIZE. */
export const VIRTIO_PARAMS = { vringBaseAddr: J721E_VRING_BASE, vringBufSize: IPC_VRING_BUFFER_SIZE };

/**
 * The PDK boot sequence of ipc_testsetup.c up to RPMessage_init: Ipc_mpSetConfig, Ipc_init(NULL),
 * Ipc_initVirtIO and (unless `rpmessage` is false) RPMessage_init. Throws if a step fails.
 */
export function bringUp(core: SimCore, remotes: readonly number[], opts: { rpmessage?: boolean } = {}): void {
  const p = core.pdk;
  const steps: [string, () => number][] = [
    ['Ipc_mpSetConfig', () => p.Ipc_mpSetConfig(core.info.procId, remotes.length, remotes)],
    ['Ipc_init', () => p.Ipc_init(null)],
    ['Ipc_initVirtIO', () => p.Ipc_initVirtIO(VIRTIO_PARAMS)],
  ];
  if (opts.rpmessage !== false) steps.push(['RPMessage_init', () => p.RPMessage_init(p.RPMessageParams_init())]);
  for (const [name, step] of steps) {
    const st = step();
    if (st !== IPC_SOK) throw new Error(`harness: ${name} on ${core.info.name} returned ${st}`);
  }
}

/**
 * Polls `cond` between turns of the event loop (so the cores' interrupt loops and tasks run) until
 * it holds; throws with `what` if it still does not after `timeoutMs`.
 */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Brings every core of `soc` up with all the others as its remotes (in the order buildSoc got them). */
export function bringUpAll(soc: SimSoc): void {
  const cores = Object.values(soc.cores);
  for (const c of cores) bringUp(c, cores.filter((o) => o !== c).map((o) => o.info.procId));
}
