// Helpers shared by the nRF5340 benchmark firmware (nrf-icmsg.ts, nrf-icbmsg.ts): arguments,
// opening an instance and binding one endpoint, little-endian stamps, and the receiver's
// measurement windows. Written as Zephyr application code would be, against ctx.zephyr.
import type { FirmwareContext } from '../../cores/context.js';
import type { IpcEpt, IpcServiceCb } from '../../cores/zephyr/backend.js';

/** How long the endpoints may take to bind. */
export const BIND_TIMEOUT_MS = 5000;

/** ctx.args[key] as a positive integer, or `dflt`; throws naming the argument when it is not one. */
export function intArg(ctx: FirmwareContext, key: string, dflt: number): number {
  const v = ctx.args[key];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`core ${ctx.core.name}: argument ${key}=${v} is not a positive integer`);
  return n;
}

/**
 * Opens `instance` (once; -EALREADY is fine), registers `ept` (the caller's struct ipc_ept, which
 * its callbacks may use from the first delivery on) as `name` with the user's callbacks and waits
 * for bound(). Throws naming the instance and the return code on failure.
 */
export async function bindEndpoint(ctx: FirmwareContext, instance: string, name: string, ept: IpcEpt, cb: IpcServiceCb): Promise<void> {
  const z = ctx.zephyr!;
  const dev = z.DEVICE_DT_GET(instance);
  const r = z.ipc_service_open_instance(dev);
  if (r < 0 && r !== -z.EALREADY) throw new Error(`core ${ctx.core.name}: ipc_service_open_instance(${instance}) returned ${z.errName(r)}`);
  const bound = ctx.semaphore(`${instance}/${name} bound`);
  const userBound = cb.bound;
  const reg = z.ipc_service_register_endpoint(dev, ept, {
    name,
    cb: {
      ...cb,
      bound: (priv) => {
        userBound?.(priv);
        bound.give();
      },
    },
  });
  if (reg < 0) throw new Error(`core ${ctx.core.name}: ipc_service_register_endpoint(${instance}, "${name}") returned ${z.errName(reg)}`);
  if (!(await bound.take(BIND_TIMEOUT_MS))) throw new Error(`core ${ctx.core.name}: endpoint "${name}" of ${instance} not bound within ${BIND_TIMEOUT_MS} ms`);
}

/** Reads a u32 little-endian at `off` (no DataView per message). */
export const getU32 = (b: Uint8Array, off: number): number => (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;

/** Writes `v` as a u32 little-endian at `off`. */
export function setU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xFF;
  b[off + 1] = (v >>> 8) & 0xFF;
  b[off + 2] = (v >>> 16) & 0xFF;
  b[off + 3] = (v >>> 24) & 0xFF;
}

const IDLE = 0;
const WARMING = 1;
const MEASURING = 2;
const DONE = 3;

/**
 * The receiver's throughput windows. Feed it the running byte total with tick() as data arrives:
 * the first tick starts a warm-up of `warmupMs`, then `count` windows of at least `windowMs` each
 * are measured back to back, each as bytes / elapsed µs on the core's clock (= MB/s, 1e6 bytes).
 * A window closes on the first tick after its time is up, so callers tick often (every few KiB).
 */
export class RateWindows {
  /** MB/s per window, in order. */
  readonly rates: Float64Array;
  /** Windows closed so far. */
  closed = 0;
  private phase = IDLE;
  private t0 = 0;
  private bytes0 = 0;
  private readonly windowUs: number;
  private readonly warmupUs: number;

  constructor(private readonly now: () => number, count: number, windowMs: number, warmupMs: number) {
    this.rates = new Float64Array(count);
    this.windowUs = windowMs * 1000;
    this.warmupUs = warmupMs * 1000;
  }

  get done(): boolean {
    return this.phase === DONE;
  }

  /** Returns true exactly once: on the tick that closes the last window. */
  tick(bytes: number): boolean {
    const phase = this.phase;
    if (phase === DONE) return false;
    const t = this.now();
    if (phase === IDLE) {
      this.phase = WARMING;
      this.t0 = t;
      return false;
    }
    if (phase === WARMING) {
      if (t - this.t0 < this.warmupUs) return false;
      this.phase = MEASURING;
      this.t0 = t;
      this.bytes0 = bytes;
      return false;
    }
    const dt = t - this.t0;
    if (dt < this.windowUs) return false;
    this.rates[this.closed++] = (bytes - this.bytes0) / dt;
    this.t0 = t;
    this.bytes0 = bytes;
    if (this.closed < this.rates.length) return false;
    this.phase = DONE;
    return true;
  }
}
