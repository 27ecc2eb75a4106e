// Helpers shared by the nRF5340 benchmark firmware (nrf-icmsg.ts, nrf-icbmsg.ts): arguments,
// opening an instance and binding one endpoint, little-endian stamps, and the receiver's
// measurement windows. Written as Zephyr application code would be, against ctx.zephyr.
import type { FirmwareContext } from '../../cores/context.js';
import type { IpcEpt, IpcServiceCb } from '../../cores/zephyr/backend.js';

/** How long the endpoints may take to bind. */
export const BIND_TIMEOUT_MS = 5000;
/** The receiver's STOP message (4 bytes) and the sender's END message (magic first). */
export const CTRL_LEN = 4;
export const MAGIC_STOP = 0x504f5453; // "STOP"
export const MAGIC_END = 0x21444e45; // "END!"
/** Slack beyond the expected measurement time before a side gives up waiting for STOP or END. */
export const STOP_SLACK_MS = 30_000;
/** Problems a core reports at most. */
export const MAX_PROBLEMS = 5;

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

/**
 * The receiving side of a one-way throughput run: checks each data message's sequence stamp (its
 * first and last 4 bytes), counts messages and bytes, closes the measurement windows and sends STOP
 * after the last one, then waits for the sender's END. `unit` names a message in problems.
 */
export class StreamReceiver {
  readonly problems: string[] = [];
  readonly windows: number;
  readonly meter: RateWindows;
  /** The caller's endpoint (STOP goes out on it). */
  readonly ept: IpcEpt = {};
  messages = 0;
  bytes = 0;
  bad = 0;
  /** The stamp the next message must carry (resynchronised after a mismatch). */
  private next = 0;
  private readonly windowMs: number;
  private readonly warmupMs: number;
  private readonly ended: ReturnType<FirmwareContext['semaphore']>;
  private readonly stopMsg = new Uint8Array(CTRL_LEN);

  constructor(private readonly ctx: FirmwareContext, private readonly instance: string, private readonly unit: string) {
    this.windows = intArg(ctx, 'windows', 10);
    this.windowMs = intArg(ctx, 'windowMs', 100);
    this.warmupMs = intArg(ctx, 'warmupMs', 200);
    this.meter = new RateWindows(() => ctx.now(), this.windows, this.windowMs, this.warmupMs);
    this.ended = ctx.semaphore('end');
    setU32(this.stopMsg, 0, MAGIC_STOP);
  }

  note(p: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(p);
  }

  /** A data message of `len` bytes; `tick` says whether to look at the windows' clock this time. */
  data(data: Uint8Array, len: number, tick: boolean): void {
    const a = getU32(data, 0);
    const b = getU32(data, len - 4);
    const next = this.next;
    if (a !== next || b !== next) {
      this.bad++;
      this.note(`${this.instance}: ${this.unit} ${this.messages} is stamped ${a} at the start and ${b} at the end, expected ${next} (${a > next ? 'lost' : 'duplicated or reordered'})`);
    }
    this.next = a + 1;
    this.messages++;
    this.bytes += len;
    if (tick && this.meter.tick(this.bytes)) {
      const z = this.ctx.zephyr!;
      const r = z.ipc_service_send(this.ept, this.stopMsg);
      if (r !== CTRL_LEN) this.note(`${this.instance}: STOP: ipc_service_send returned ${z.errName(r)}`);
    }
  }

  /** The sender's END arrived. */
  end(): void {
    this.ended.give();
  }

  unexpected(len: number): void {
    this.bad++;
    this.note(`${this.instance}: unexpected ${len}-byte message after ${this.unit} ${this.messages}`);
  }

  /** Waits for END (at most the run's length plus `extraMs`); throws naming the instance if it never comes. */
  async finish(extraMs: number): Promise<void> {
    const limitMs = this.warmupMs + this.windows * this.windowMs + STOP_SLACK_MS + extraMs;
    if (!(await this.ended.take(limitMs))) {
      throw new Error(`${this.instance}: no END from the sender within ${limitMs} ms (${this.messages} ${this.unit}s, ${this.meter.closed}/${this.windows} windows)`);
    }
    if (!this.meter.done) this.note(`${this.instance}: END came after ${this.meter.closed} of ${this.windows} windows`);
  }

  /** What main() returns for this side. */
  result(counted: string): Record<string, unknown> {
    return { role: 'receiver', [counted]: this.messages, bytes: this.bytes, bad: this.bad, rates: this.meter.rates.slice(0, this.meter.closed), problems: this.problems };
  }
}

/** The sending side of a one-way throughput run: binds, notes problems, and stops on the receiver's STOP. */
export class StreamSender {
  readonly problems: string[] = [];
  /** The caller's endpoint. */
  readonly ept: IpcEpt = {};
  /** Set when the receiver's STOP arrived. */
  stop = false;
  /** How long the run may take before the sender gives up waiting for STOP, in µs. */
  readonly limitUs: number;

  constructor(private readonly ctx: FirmwareContext, private readonly instance: string) {
    const windows = intArg(ctx, 'windows', 10);
    const windowMs = intArg(ctx, 'windowMs', 100);
    const warmupMs = intArg(ctx, 'warmupMs', 200);
    this.limitUs = (warmupMs + windows * windowMs + STOP_SLACK_MS) * 1000;
  }

  note(p: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(p);
  }

  /** Binds the endpoint; `cb` may add the backend's error or unbound callbacks. */
  bind(cb: Omit<IpcServiceCb, 'received' | 'bound'> = {}): Promise<void> {
    return bindEndpoint(this.ctx, this.instance, 'bench', this.ept, {
      ...cb,
      received: (data, len) => {
        if (len === CTRL_LEN && getU32(data, 0) === MAGIC_STOP) this.stop = true;
        else this.note(`${this.instance}: unexpected ${len}-byte message from the receiver`);
      },
    });
  }
}
