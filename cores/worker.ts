// Entry point of a core's worker thread. It builds the core's view of the SoC (bus, devices,
// interrupt controller, drivers), exposes a control API to the host over comlink (load firmware,
// run, status, stop) and runs the firmware. Messages between cores never pass through here: they
// go through shared memory.

import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import * as Comlink from 'comlink';
import pino, { type Logger } from 'pino';
import { CoreControl, CoreState, CORE_STATE_NAMES } from '../shared/core-control.js';
import { InterruptController } from '../shared/irq.js';
import { installPerturbation, perturbStats } from '../shared/perturb.js';
import { installTrace } from './trace.js';
import { IPC_MPU1_0, J721E_PROC_NAMES } from '../shared/j721e.js';
import type { CoreBoot, CoreRunResult, CoreStatus } from './boot.js';
import { createContext, pdkApi, type FirmwareContext } from './context.js';
import { wireJ721eCore, type J721eCore } from './j721e-core.js';
import { wireNrf5340Core, type Nrf5340Core } from './nrf5340-core.js';
import { zephyrApi } from './zephyr/api.js';
import { createZephyrIpc, type ZephyrIpcStack } from './zephyr/instances.js';
import { nodeEndpoint } from './node-endpoint.js';
import { LinuxRpmsgHost } from './linux/virtio-rpmsg.js';
import { createTiRpmsgChar } from './linux/rpmsg-char.js';
import { PdkIpc } from './rtos/pdk-ipc.js';
import { CoreFault, CoreRuntime } from './runtime.js';

type FirmwareMain = (ctx: FirmwareContext) => unknown;

const boot = workerData as CoreBoot;
const image = boot.image;
const info = image.cores[boot.index]!;

// Stress runs: this thread's seeded perturbation and fault hooks, before anything is wired.
installPerturbation(boot.perturb);
// Tracing (`soc --trace`): this core records into the ring the host gave it.
installTrace(boot.trace);

const log: Logger = pino(
  { level: boot.logLevel, base: { core: info.name } },
  { write: (line: string) => boot.logPort.postMessage(line) },
);

const control = new CoreControl(image.controlSab, image.controlLayout.coreControl, image.cores.length);
const irq = new InterruptController(image.controlSab, image.controlLayout.irq, image.cores.length, control);
const rt = new CoreRuntime({ index: info.index, name: info.name, irq, control });

const j7: J721eCore | undefined = image.platform === 'j721e' ? wireJ721eCore(image, info, rt, irq, control) : undefined;
const nrf: Nrf5340Core | undefined = image.platform === 'nrf5340' ? wireNrf5340Core(image, info, rt, irq) : undefined;
const bus = (j7 ?? nrf)!.bus;

let firmware: FirmwareMain | undefined;
let firmwarePath = '';
let pdk: PdkIpc | undefined;
let linuxHost: LinuxRpmsgHost | undefined;
let zephyr: ZephyrIpcStack | undefined;
let running: Promise<CoreRunResult> | undefined;

const errorInfo = (err: unknown): { message: string; stack?: string; where?: string } => {
  const e = err instanceof CoreFault ? err.original : err;
  const where = err instanceof CoreFault ? err.where : undefined;
  if (e instanceof Error) return { message: e.message, stack: e.stack, where };
  return { message: String(e), where };
};

process.on('uncaughtException', (err) => rt.raiseFault(err, 'a callback outside any task'));
process.on('unhandledRejection', (err) => rt.raiseFault(err, 'an unhandled promise rejection'));

control.setState(info.index, CoreState.Booting);

const api = {
  /** Imports the firmware module; fails with the module's own error (file and line) if it does not load. */
  async load(path: string): Promise<void> {
    firmwarePath = path;
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
    } catch (err) {
      const e = err as Error;
      throw new Error(`core ${info.name}: firmware ${path} does not load: ${e.stack ?? e.message}`);
    }
    if (typeof mod.default !== 'function') {
      throw new Error(`core ${info.name}: firmware ${path} must export a default function main(ctx); found ${typeof mod.default}`);
    }
    firmware = mod.default as FirmwareMain;
  },

  /** Powers the core on and runs main(ctx); resolves when main returns or the core faults. */
  run(args: Record<string, string>): Promise<CoreRunResult> {
    if (!firmware) return Promise.reject(new Error(`core ${info.name}: no firmware loaded`));
    if (running) return running;
    // Stress runs: the run's start (t0) is known only now; fault times count from it.
    if (boot.perturb && args.t0 !== undefined) installPerturbation({ ...boot.perturb, t0: Number(args.t0) });
    const main = firmware;
    running = new Promise<CoreRunResult>((resolve) => {
      const faulted = (f: CoreFault) => resolve({ name: info.name, state: 'faulted', error: errorInfo(f) });
      rt.onFault(faulted);
      rt.start();
      void rt.spawn('main', async () => {
        if (boot.bootDelayMs > 0) await rt.sleep(boot.bootDelayMs);
        const ctx = buildContext(args);
        const result = await main(ctx);
        if (!rt.fault) {
          control.setState(info.index, CoreState.Finished);
          resolve({ name: info.name, state: 'finished', result: toCloneable(result) });
        }
      });
    });
    return running;
  },

  status(): CoreStatus {
    return {
      name: info.name,
      state: CORE_STATE_NAMES[control.state(info.index)],
      tasks: rt.taskList(),
      waits: rt.waits(),
      stats: {
        isrs: control.isrCount(info.index),
        spuriousIrqs: rt.spurious,
        waiting: { ...rt.waitStats, spinBudgetUs: Math.round(rt.spinBudgetUs) },
        ...(j7 ? { mailbox: { ...j7.mailbox.stats, backlog: j7.mailbox.backlog, txDrops: j7.mailbox.txDrops } } : {}),
        ...(nrf ? { mbox: { ...nrf.mbox.stats, ...nrf.ipcBank.stats(image.nrfIpc!.cores[info.name]!.instance) } } : {}),
        ...(zephyr ? { ipc: zephyr.service.status(), endpoints: zephyr.service.endpoints.map((e) => ({ ...e })) } : {}),
        ...(pdk ? { rpmsg: { ...pdk.stats } } : {}),
        ...(linuxHost ? { rpmsg: linuxHost.statistics() } : {}),
        ...(boot.perturb ? { perturb: perturbStats() } : {}),
      },
      error: rt.fault ? errorInfo(rt.fault) : undefined,
    };
  },

  stop(): void {
    rt.stop();
  },
};

function buildContext(args: Record<string, string>): FirmwareContext {
  const parts = {
    rt, info, cores: image.cores, platform: image.platform, profile: image.profile,
    log, args, bus, spinlock: j7?.spinlock, mailbox: j7?.mailbox,
  };
  if (info.os === 'zephyr') {
    const z = image.zephyr[info.name];
    if (!nrf || !z) throw new Error(`core ${info.name}: a Zephyr core needs an nRF-style SoC with its devicetree configuration`);
    zephyr = createZephyrIpc({ core: info.name, rt, bus, mbox: nrf.mbox, image: z });
    return createContext({ ...parts, zephyr: zephyrApi(zephyr.service, rt, bus) });
  }
  const { mailbox } = j7!;
  if (info.os === 'rtos') {
    pdk = new PdkIpc({
      rt, bus, mailbox, log, selfProcId: info.procId, procNames: J721E_PROC_NAMES, rscTableAddr: image.rscTables[info.name],
    });
    return createContext({ ...parts, ipc: pdkApi(pdk) });
  }
  if (info.os === 'linux') {
    const remotes = image.cores
      .filter((c) => c.os === 'rtos' && image.rscTables[c.name] !== undefined && image.dmaRegions[c.name] !== undefined)
      .map((c) => ({ procId: c.procId, name: c.name, rscTableAddr: image.rscTables[c.name]!, dmaBase: image.dmaRegions[c.name]! }));
    linuxHost = new LinuxRpmsgHost({ rt, bus, mailbox, log, selfProcId: IPC_MPU1_0, remotes });
    linuxHost.probe();
    return createContext({ ...parts, rpmsgChar: createTiRpmsgChar(linuxHost, rt, log, image.platform) });
  }
  return createContext(parts);
}

/** main()'s result travels to the host by structured clone; anything else becomes a description. */
function toCloneable(v: unknown): unknown {
  try {
    structuredClone(v);
    return v;
  } catch {
    return String(v);
  }
}

export type CoreApi = typeof api;

Comlink.expose(api, nodeEndpoint(parentPort!));
log.debug('core worker up');
