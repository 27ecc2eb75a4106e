// The object a firmware script's `main(ctx)` receives: the core's identity, logger, time, tasks,
// interrupts, the bus and drivers, its arguments, and the platform's IPC API.

import type { Logger } from 'pino';
import type { Bus } from '../shared/bus.js';
import * as J721E from '../shared/j721e.js';
import type { CoreInfo } from './boot.js';
import type { HwSpinlockDriver } from './drivers/hwspinlock.js';
import type { MailboxDriver } from './drivers/mailbox.js';
import type { CoreRuntime } from './runtime.js';
import type { PdkIpc } from './rtos/pdk-ipc.js';
import * as PDK from './rtos/pdk-types.js';
import type { TiRpmsgChar } from './linux/rpmsg-char.js';
import { Semaphore } from './runtime.js';
import type { ZephyrApi } from './zephyr/api.js';

export interface LatencySummary {
  count: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Percentiles of a list of samples (nearest-rank). */
export function summarize(samples: ArrayLike<number>): LatencySummary {
  const a = Float64Array.from(samples).sort();
  const n = a.length;
  if (n === 0) return { count: 0, min: 0, p50: 0, p99: 0, max: 0, mean: 0 };
  const rank = (p: number): number => a[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += a[i]!;
  return { count: n, min: a[0]!, p50: rank(0.5), p99: rank(0.99), max: a[n - 1]!, mean: sum / n };
}

const PDK_METHODS = [
  'Ipc_mpSetConfig', 'Ipc_mpGetSelfId', 'Ipc_mpGetSelfName', 'Ipc_mpGetName', 'Ipc_mpGetId', 'Ipc_mpGetNumProcessors',
  'Ipc_mpGetRemoteProcId', 'IpcInitPrms_init', 'Ipc_init', 'Ipc_loadResourceTable', 'Ipc_isRemoteReady',
  'Ipc_isRemoteVirtioCreated', 'Ipc_getVqObjMemoryRequiredPerCore', 'Ipc_initVirtIO', 'Ipc_lateVirtioCreate',
  'RPMessageParams_init', 'RPMessage_getObjMemRequired', 'RPMessage_getMessageBufferSize', 'RPMessage_init',
  'RPMessage_lateInit', 'RPMessage_create', 'RPMessage_setCallback', 'RPMessage_delete', 'RPMessage_unblock',
  'RPMessage_send', 'RPMessage_recv', 'RPMessage_recvNb', 'RPMessage_announce', 'RPMessage_getRemoteEndPt',
] as const;

type PdkMethods = Pick<PdkIpc, (typeof PDK_METHODS)[number]>;
type Constants<T> = { readonly [K in keyof T as T[K] extends number ? K : never]: T[K] };

/** The TI PDK IPC API: functions (safe to destructure) and constants, including proc ids. */
export type PdkApi = PdkMethods & Constants<typeof PDK> & Constants<typeof J721E> & {
  readonly VRING_BASE_ADDRESS: number;
  readonly stats: PdkIpc['stats'];
};

export function pdkApi(pdk: PdkIpc): PdkApi {
  const api: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(PDK)) if (typeof v === 'number') api[k] = v;
  for (const [k, v] of Object.entries(J721E)) if (typeof v === 'number') api[k] = v;
  api.VRING_BASE_ADDRESS = J721E.J721E_VRING_BASE;
  for (const m of PDK_METHODS) {
    const fn = pdk[m] as (...args: unknown[]) => unknown;
    api[m] = fn.bind(pdk);
  }
  Object.defineProperty(api, 'stats', { get: () => pdk.stats, enumerable: true });
  return Object.freeze(api) as unknown as PdkApi;
}

export interface FirmwareContext {
  /** This core: name (PDK name on J7), kind, os, proc id, index. */
  readonly core: Readonly<CoreInfo>;
  /** Every core of the SoC. */
  readonly cores: readonly Readonly<CoreInfo>[];
  readonly soc: { readonly platform: string; readonly profile: string };
  /** pino logger bound to this core; all cores write to the process's one sink. */
  readonly log: Logger;
  /** Arguments from the command line (`--messages N`, `--arg KEY=VALUE`). */
  readonly args: Readonly<Record<string, string>>;
  /** The core's clock in microseconds. */
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Lets other tasks and pending interrupts run. */
  yield(): Promise<void>;
  /** Starts a cooperative task on this core. If it throws, the core faults. */
  task(name: string, fn: () => Promise<unknown> | unknown): Promise<void>;
  readonly irq: {
    register(line: number, name: string, handler: () => void): void;
    unregister(line: number): void;
  };
  /** Physical memory and device registers by address. */
  readonly bus: Bus;
  /** Hardware spinlocks and the TI mailbox driver (J721E cores). */
  readonly spinlock?: HwSpinlockDriver;
  readonly mailbox?: MailboxDriver;
  /** A counting semaphore for this core's tasks: give() from anywhere, take(timeoutMs) waits. */
  semaphore(name: string, initial?: number): { give(): void; take(timeoutMs?: number): Promise<boolean>; readonly count: number };
  /** Zephyr's ipc_service API, DEVICE_DT_GET and kernel helpers (Zephyr cores). */
  readonly zephyr?: ZephyrApi;
  /** TI PDK IPC (RTOS cores). */
  readonly ipc?: PdkApi;
  /** ti-rpmsg-char over emulated rpmsg_char devices (Linux cores). */
  readonly rpmsgChar?: TiRpmsgChar;
  readonly stats: { summarize: typeof summarize };
}

export interface ContextParts {
  rt: CoreRuntime;
  info: CoreInfo;
  cores: CoreInfo[];
  platform: string;
  profile: string;
  log: Logger;
  args: Record<string, string>;
  bus: Bus;
  spinlock?: HwSpinlockDriver;
  mailbox?: MailboxDriver;
  zephyr?: ZephyrApi;
  ipc?: PdkApi;
  rpmsgChar?: TiRpmsgChar;
}

export function createContext(p: ContextParts): FirmwareContext {
  const rt = p.rt;
  return Object.freeze({
    core: Object.freeze({ ...p.info }),
    cores: Object.freeze(p.cores.map((c) => Object.freeze({ ...c }))),
    soc: Object.freeze({ platform: p.platform, profile: p.profile }),
    log: p.log,
    args: Object.freeze({ ...p.args }),
    now: () => rt.now(),
    sleep: (ms: number) => rt.sleep(ms),
    yield: () => rt.yield(),
    task: (name: string, fn: () => Promise<unknown> | unknown) => rt.spawn(name, fn),
    irq: Object.freeze({
      register: (line: number, name: string, handler: () => void) => rt.registerIsr(line, name, handler),
      unregister: (line: number) => rt.unregisterIsr(line),
    }),
    bus: p.bus,
    spinlock: p.spinlock,
    mailbox: p.mailbox,
    semaphore: (name: string, initial = 0) => {
      const s = new Semaphore(rt, name, initial);
      return Object.freeze({
        give: () => s.post(),
        take: (timeoutMs = Infinity) => s.pend(timeoutMs),
        get count() {
          return s.value;
        },
      });
    },
    zephyr: p.zephyr,
    ipc: p.ipc,
    rpmsgChar: p.rpmsgChar,
    stats: Object.freeze({ summarize }),
  });
}
