// A running SoC instance: builds its shared memory, spawns one worker thread per core, loads each
// core's firmware, runs them, and collects what each core's main() returned. The host controls the
// cores through comlink (the control plane); the cores talk to each other only through shared
// memory. A core that faults is reported with its error and the others keep running.

import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type { CoreBoot, CoreRunResult, CoreStatus, Platform, SocImage, ZephyrCoreImage } from '../cores/boot.js';
import { nodeEndpoint } from '../cores/node-endpoint.js';
import type { CoreApi } from '../cores/worker.js';
import { prepareFirmware, type FirmwareBuild } from './firmware.js';
import { InterruptController } from '../shared/irq.js';
import { buildImage } from './image.js';
import type { LogSink } from './log.js';
import type { SocProfile } from './profile.js';
import type { PerturbConfig } from '../shared/perturb.js';
import { resetNrf5340Core } from './reset-nrf5340.js';
import { resetJ721eCore } from './reset-j721e.js';
import { loadZephyrConfigs } from './zephyr-config.js';
import { SocTrace, type TraceOptions, type TraceSummary } from './trace.js';

/** The project root (where package.json is), for built-in firmware paths. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The core thread's entry: the one-file bundle `npm run build` makes, else the plain module graph. */
const WORKER_BUNDLE = new URL('../cores/worker.bundle.mjs', import.meta.url);
const WORKER_URL = existsSync(WORKER_BUNDLE) ? WORKER_BUNDLE : new URL('../cores/worker.js', import.meta.url);

/** Core threads get source maps, and the profiler when the host runs under `node --cpu-prof`. */
const CORE_EXEC_ARGV = ['--enable-source-maps', ...process.execArgv.filter((a) => a.startsWith('--cpu-prof'))];

export class SocError extends Error {
  override name = 'SocError';
}

export interface SocOptions {
  /** core name -> firmware path (relative to cwd), replacing the profile's. */
  firmware?: Record<string, string>;
  sink: LogSink;
  hostCpus?: number;
  /** Turn firewalls on (built-in rules plus the profile's own). */
  firewall?: boolean;
  /**
   * Stress runs: each core's perturbation configuration, by core index and incarnation (1 at
   * power-on, 2 after the first reset...).
   */
  perturb?: (coreIndex: number, incarnation: number) => PerturbConfig | undefined;
  /**
   * Tracing: every core records its ISRs and IPC calls into a ring that the host turns into
   * Chrome/Perfetto trace JSON at `path` (soc/trace.ts); the summary is `traceSummary` after shutdown().
   */
  trace?: TraceOptions;
}

export interface CoreOutcome {
  name: string;
  state: string;
  result?: unknown;
  error?: { message: string; stack?: string; where?: string };
  /** For a core still running at the deadline: what its tasks wait on. */
  waits?: string[];
  stats?: Record<string, unknown>;
  /** Times the core was reset during the run. */
  resets?: number;
}

interface CoreHandle {
  name: string;
  index: number;
  /** 0 for the core booted at power-on, +1 per reset. */
  generation: number;
  resets: number;
  running?: Promise<CoreRunResult>;
  worker: Worker;
  api: Comlink.Remote<CoreApi>;
  dead: Promise<CoreRunResult>;
  exited: boolean;
  firmware?: FirmwareBuild;
}

/**
 * What a platform does when one of its cores is reset, around the end of the old worker
 * (`terminate`) and before the new one boots. Resolves when the new worker may boot.
 */
type ResetHook = (image: SocImage, index: number, terminate: () => Promise<unknown>) => Promise<void>;

/** Per-platform reset work; a platform without one just terminates the old worker. */
const RESET_HOOKS: Partial<Record<Platform, ResetHook>> = {
  // Mailbox held across the terminate, resource table reloaded, Linux told with RP_MBOX_CRASH.
  j721e: resetJ721eCore,
  // The other cores' IPC lines re-asserted where an enabled event is set (level-triggered on silicon).
  nrf5340: resetNrf5340Core,
};

const withTimeout = <T>(p: Promise<T>, ms: number, fallback: T): Promise<T> =>
  Promise.race([p, new Promise<T>((r) => setTimeout(() => r(fallback), ms).unref())]);

export class Soc {
  readonly image: SocImage;
  private readonly cores: CoreHandle[] = [];
  private runArgs: Record<string, string> | undefined;
  private readonly trace: SocTrace | undefined;
  /** What the trace file holds, once shutdown() has written it (SocOptions.trace). */
  traceSummary: TraceSummary | undefined;

  private constructor(readonly profile: SocProfile, private readonly opts: SocOptions, zephyr: Record<string, ZephyrCoreImage>) {
    this.image = buildImage(profile, opts.hostCpus ?? availableParallelism(), zephyr, { firewall: opts.firewall ?? false });
    if (opts.trace) {
      try {
        this.trace = new SocTrace(opts.trace, this.image);
      } catch (err) {
        throw new SocError(`trace file ${opts.trace.path}: ${(err as Error).message}`);
      }
    }
  }

  /** Builds the SoC (reading Zephyr cores' devicetrees), spawns its cores and loads their firmware. */
  static async create(profile: SocProfile, opts: SocOptions): Promise<Soc> {
    const zephyr = await loadZephyrConfigs(profile, profile.root ?? PROJECT_ROOT);
    const soc = new Soc(profile, opts, zephyr);
    const names = new Set(profile.cores.map((c) => c.name));
    for (const core of Object.keys(opts.firmware ?? {})) {
      if (!names.has(core)) throw new SocError(`--firmware ${core}=...: profile ${profile.name} has no core "${core}"; cores: ${[...names].join(', ')}`);
    }
    try {
      await soc.spawn();
    } catch (err) {
      await soc.shutdown();
      throw err;
    }
    return soc;
  }

  private async spawn(): Promise<void> {
    const builds = await Promise.all(this.profile.cores.map((c) => {
      const override = this.opts.firmware?.[c.name];
      return override !== undefined ? prepareFirmware(c.name, override, process.cwd()) : prepareFirmware(c.name, c.firmware, this.profile.root ?? PROJECT_ROOT);
    }));
    this.profile.cores.forEach((c, index) => this.cores.push(this.startWorker(index, builds[index])));
    await Promise.all(this.cores.map((h) => this.load(h)));
  }

  /** Starts core `index`'s worker thread (power-on); its firmware is loaded by load(). */
  private startWorker(index: number, firmware: FirmwareBuild | undefined, generation = 0): CoreHandle {
    const c = this.profile.cores[index]!;
    const { sink } = this.opts;
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (line: string) => sink.write(line));
    port1.unref();
    const boot: CoreBoot = {
      image: this.image, index, logLevel: sink.level, logPort: port2, bootDelayMs: c.bootDelayMs ?? 0, perturb: this.opts.perturb?.(index, generation + 1),
      trace: this.trace?.ring(index, generation),
    };
    const worker = new Worker(WORKER_URL, { workerData: boot, transferList: [port2], execArgv: CORE_EXEC_ARGV });
    const handle: CoreHandle = {
      name: c.name, index, worker, api: Comlink.wrap<CoreApi>(nodeEndpoint(worker)), exited: false, firmware, dead: undefined!, generation, resets: 0,
    };
    handle.dead = new Promise<CoreRunResult>((resolve) => {
      worker.on('error', (err) => resolve({ name: c.name, state: 'faulted', error: { message: err.message, stack: err.stack, where: 'worker thread' } }));
      worker.on('exit', (code) => {
        handle.exited = true;
        resolve({ name: c.name, state: 'faulted', error: { message: `core thread exited (code ${code})`, where: 'worker thread' } });
      });
    });
    return handle;
  }

  private async load(h: CoreHandle): Promise<void> {
    const loaded = h.api.load(h.firmware!.path);
    const r = await Promise.race([loaded.then(() => undefined), h.dead]);
    if (r) throw new SocError(`core ${h.name}: ${r.error?.message}`);
  }

  private startRun(h: CoreHandle, args: Record<string, string>): void {
    h.running = Promise.race([h.api.run(args), h.dead]);
  }

  /** Names of the cores, in profile order. */
  get coreNames(): string[] {
    return this.cores.map((h) => h.name);
  }

  /**
   * Resets core `name` while the SoC runs: its worker thread is terminated (everything it had in
   * flight is lost, as on a real reset), its pending interrupts cleared, and a new worker boots the
   * same firmware, whose main() runs again with `args.incarnation` = "2", "3"... Shared memory is
   * left as the old incarnation left it: recovering is the protocols' job. A platform may do more
   * between the two (RESET_HOOKS; on J721E: the firmware's resource table is reloaded and Linux is
   * told of the crash, see soc/reset-j721e.ts). Rejects (SocError) when the reset itself fails.
   */
  async resetCore(name: string): Promise<void> {
    const i = this.cores.findIndex((h) => h.name === name);
    if (i < 0) throw new SocError(`reset: no core "${name}"; cores: ${this.coreNames.join(', ')}`);
    const old = this.cores[i]!;
    if (!this.runArgs) throw new SocError(`reset of ${name}: the SoC is not running`);
    const fresh = this.startWorker(i, old.firmware, old.generation + 1);
    fresh.resets = old.resets + 1;
    const hook = RESET_HOOKS[this.image.platform];
    const terminate = (): Promise<number> => old.worker.terminate();
    const booted = (async () => {
      try {
        await (hook ? hook(this.image, i, terminate) : terminate());
      } catch (err) {
        await terminate().catch(() => undefined);
        throw new SocError(`reset of ${name}: ${(err as Error).message}`);
      } finally {
        // The old incarnation's thread is gone: the rest of its trace ring is final.
        this.trace?.retire(i, old.generation);
      }
      new InterruptController(this.image.controlSab, this.image.controlLayout.irq, this.image.cores.length).take(i);
      await this.load(fresh);
    })();
    const runArgs = { ...this.runArgs, incarnation: String(fresh.generation + 1) };
    fresh.running = booted.then(
      () => Promise.race([fresh.api.run(runArgs), fresh.dead]),
      (err: Error) => ({ name, state: 'faulted', error: { message: `reset: the core did not boot again: ${err.message}`, where: 'reset' } }),
    );
    this.cores[i] = fresh;
    await booted;
  }

  /**
   * Runs every core's firmware until each main() returns or faults, or until `timeoutMs`.
   * Cores whose main returned keep serving their peers until all are done. A core reset during
   * the run (resetCore) is waited for in its new incarnation.
   */
  async run(args: Record<string, string>, timeoutMs: number): Promise<CoreOutcome[]> {
    this.runArgs = args;
    for (const h of this.cores) this.startRun(h, args);
    const settle = async (i: number): Promise<CoreRunResult> => {
      for (;;) {
        const h = this.cores[i]!;
        const r = await h.running!;
        if (this.cores[i] === h) return r;
      }
    };
    const results = await Promise.all(this.cores.map((_, i) => withTimeout(settle(i), timeoutMs, undefined as CoreRunResult | undefined)));
    const outcomes: CoreOutcome[] = [];
    for (const [i, h] of this.cores.entries()) {
      const r = results[i];
      const status = h.exited ? undefined : await withTimeout(h.api.status(), 2000, undefined as CoreStatus | undefined);
      const resets = h.resets > 0 ? { resets: h.resets } : {};
      if (!r) {
        outcomes.push({
          name: h.name, state: status ? 'stuck' : 'unresponsive', stats: status?.stats, ...resets,
          waits: status ? status.waits : ['no answer from the core thread: it is busy in firmware code that never yields'],
          error: { message: status ? `main() did not return within ${timeoutMs} ms` : `core did not answer within ${timeoutMs} ms`, where: 'watchdog' },
        });
        continue;
      }
      // A core whose main() returned may still fault later in one of its tasks.
      const late = status?.state === 'faulted' && r.state !== 'faulted' ? status.error : undefined;
      outcomes.push({
        name: h.name, state: late ? 'faulted' : r.state, result: r.result, error: late ?? r.error, stats: status?.stats, ...resets,
      });
    }
    return outcomes;
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.cores.map(async (h) => {
      h.firmware?.cleanup();
      if (!h.exited) await h.worker.terminate();
    }));
    // Every core thread has ended: what the rings hold is all there is.
    if (this.trace) this.traceSummary = this.trace.finish();
  }
}
