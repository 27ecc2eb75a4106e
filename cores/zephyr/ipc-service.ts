// Zephyr's ipc_service API (include/zephyr/ipc/ipc_service.h, subsys/ipc/ipc_service/ipc_service.c):
// one front for every backend, instances looked up by devicetree node name. The service layer does
// the argument checks and hook lookups (-EINVAL, -ENOENT, -EIO) and leaves the rest to the backend.
// It also counts what each endpoint sent and received, for the run report, whose B/s is bytes sent
// over the span of the sends. The clock is read on sends only, and after an endpoint's first
// EXACT_SEND_STAMPS sends on every SEND_STAMP_EVERY-th one: a clock read (~40 ns, more under
// load) costs a zero-copy send about a tenth of its throughput, and the span then misses at most
// the last SEND_STAMP_EVERY - 1 sends of thousands.
// Tracing (cores/trace.ts): ipc_service_send, _send_nocopy, _release_rx_buffer and the dispatch of
// an endpoint's received() callback are slices.

import { TN_IPC_SERVICE_SEND, TN_RECEIVED, TN_RELEASE_RX_BUFFER, TN_SEND_NOCOPY } from '../../shared/trace-ring.js';
import { EINVAL, EIO, ENOENT } from '../../shared/zephyr-errno.js';
import { TRACE, traceBegin, traceEnd } from '../trace.js';
import type { IpcBackend, IpcDevice, IpcEpt, IpcEptCfg, TxBufferRequest } from './backend.js';
import type { KTimeout } from './kernel.js';

export interface EndpointStats {
  instance: string;
  name: string;
  backend: string;
  sent: number;
  received: number;
  bytesSent: number;
  bytesReceived: number;
  /** Core clock (µs) of the first successful send. */
  firstSendUs: number;
  /**
   * Core clock (µs) of the last successful send, or, after the first EXACT_SEND_STAMPS sends, of
   * the last one whose count is a multiple of SEND_STAMP_EVERY.
   */
  lastSendUs: number;
  bound: boolean;
}

interface Instance {
  device: IpcDevice;
  backend: IpcBackend;
}

interface EndpointRecord {
  i: Instance;
  stats: EndpointStats;
  token: unknown;
}

/** Sends of an endpoint that each read the clock for lastSendUs; after them, one in SEND_STAMP_EVERY. */
export const EXACT_SEND_STAMPS = 4096;
/** A power of two. */
export const SEND_STAMP_EVERY = 64;

export class IpcServiceError extends Error {
  override name = 'IpcServiceError';
}

export class IpcService {
  private readonly instances = new Map<string, Instance>();
  private readonly byDevice = new Map<IpcDevice, Instance>();
  /** Every endpoint ever registered (kept after deregistration for the report). */
  readonly endpoints: EndpointStats[] = [];
  private readonly live = new WeakMap<IpcEpt, EndpointRecord>();
  /** The endpoint looked up last and its record (a send loop uses one endpoint): no WeakMap lookup. */
  private lastEpt: IpcEpt | undefined = undefined;
  private lastRec: EndpointRecord | undefined = undefined;

  constructor(private readonly core: string, private readonly now: () => number) {}

  /** Adds an instance (done by the core's boot from the devicetree). `aliases` are its labels. */
  addInstance(name: string, backend: IpcBackend, aliases: readonly string[] = []): IpcDevice {
    const device: IpcDevice = Object.freeze({ name, compatible: backend.compatible });
    const inst = { device, backend };
    for (const n of [name, ...aliases]) this.instances.set(n, inst);
    this.byDevice.set(device, inst);
    return device;
  }

  /** DEVICE_DT_GET(DT_NODELABEL(name)) / device_get_binding: the instance, or a clear error. */
  device(name: string): IpcDevice {
    const inst = this.instances.get(name);
    if (!inst) {
      const known = [...new Set([...this.instances.values()].map((i) => i.device.name))];
      throw new IpcServiceError(
        `core ${this.core}: no IPC instance "${name}" in the devicetree (enabled instances: ${known.length ? known.join(', ') : 'none'})`,
      );
    }
    return inst.device;
  }

  private inst(dev: IpcDevice | undefined): Instance | undefined {
    return dev ? this.byDevice.get(dev) : undefined;
  }

  open_instance(dev: IpcDevice): number {
    if (!dev) return -EINVAL;
    const i = this.inst(dev);
    if (!i) return -EIO;
    return i.backend.open_instance ? i.backend.open_instance() : 0;
  }

  close_instance(dev: IpcDevice): number {
    if (!dev) return -EINVAL;
    const i = this.inst(dev);
    if (!i) return -EIO;
    return i.backend.close_instance ? i.backend.close_instance() : 0;
  }

  register_endpoint(dev: IpcDevice, ept: IpcEpt, cfg: IpcEptCfg): number {
    if (!dev || !ept || !cfg || typeof cfg !== 'object' || typeof cfg.cb !== 'object' || cfg.cb === null) return -EINVAL;
    const i = this.inst(dev);
    if (!i) return -EIO;
    // Registering a live endpoint again (ICMsg's session modes after unbound(), as Zephyr's
    // ipc_sessions tests do) keeps its counters: one report line per endpoint.
    const prev = this.live.get(ept);
    const again = prev !== undefined && prev.i === i && ept.instance === dev;
    ept.instance = dev;
    const stats: EndpointStats = again ? prev.stats : {
      instance: dev.name, name: String(cfg.name ?? ''), backend: i.backend.compatible, sent: 0, received: 0, bytesSent: 0,
      bytesReceived: 0, firstSendUs: 0, lastSendUs: 0, bound: false,
    };
    const user = cfg.cb;
    const counted: IpcEptCfg = {
      ...cfg,
      cb: {
        bound: (priv) => {
          stats.bound = true;
          user.bound?.(priv);
        },
        unbound: (priv) => {
          stats.bound = false;
          user.unbound?.(priv);
        },
        received: (data, len, priv) => {
          stats.received++;
          stats.bytesReceived += len;
          if (!TRACE.on) user.received?.(data, len, priv);
          else {
            traceBegin(TN_RECEIVED);
            user.received?.(data, len, priv);
            traceEnd(TN_RECEIVED);
          }
        },
        error: (msg, priv) => user.error?.(msg, priv),
      },
    };
    const rec: EndpointRecord = { i, stats, token: undefined };
    const r = i.backend.register_endpoint(counted, (token) => {
      rec.token = token;
    });
    if (r !== 0) return r;
    ept.token = rec.token;
    this.live.set(ept, rec);
    this.lastEpt = undefined;
    if (!again) this.endpoints.push(stats);
    return 0;
  }

  /** The live endpoint behind `ept` (no allocation: this is on every send), or -EINVAL / -ENOENT. */
  private lookup(ept: IpcEpt): EndpointRecord | number {
    if (!ept) return -EINVAL;
    if (!ept.instance) return -ENOENT;
    let rec = ept === this.lastEpt ? this.lastRec : undefined;
    if (rec === undefined) {
      rec = this.live.get(ept);
      if (!rec) return -ENOENT;
      this.lastEpt = ept;
      this.lastRec = rec;
    }
    if (rec.i.device !== ept.instance) return -ENOENT;
    return rec;
  }

  deregister_endpoint(ept: IpcEpt): number {
    const l = this.lookup(ept);
    if (typeof l === 'number') return l;
    if (!l.i.backend.deregister_endpoint) return -EIO;
    const r = l.i.backend.deregister_endpoint(l.token);
    if (r !== 0) return r;
    l.stats.bound = false;
    this.live.delete(ept);
    this.lastEpt = undefined;
    this.lastRec = undefined;
    ept.instance = undefined;
    return 0;
  }

  private countSend(stats: EndpointStats, r: number): void {
    if (r < 0) return;
    const n = ++stats.sent;
    stats.bytesSent += r;
    if (n > EXACT_SEND_STAMPS && (n & (SEND_STAMP_EVERY - 1)) !== 0) return;
    const t = this.now();
    if (n === 1) stats.firstSendUs = t;
    stats.lastSendUs = t;
  }

  send(ept: IpcEpt, data: Uint8Array, len?: number): number {
    const l = this.lookup(ept);
    if (typeof l === 'number') return l;
    if (!(data instanceof Uint8Array)) return -EINVAL;
    const n = len ?? data.length;
    if (!(Number.isInteger(n) && n >= 0 && n <= data.length)) return -EINVAL;
    if (TRACE.on) traceBegin(TN_IPC_SERVICE_SEND);
    const r = l.i.backend.send(l.token, data, n);
    if (TRACE.on) traceEnd(TN_IPC_SERVICE_SEND);
    this.countSend(l.stats, r);
    return r;
  }

  get_tx_buffer_size(ept: IpcEpt): number {
    const l = this.lookup(ept);
    if (typeof l === 'number') return l;
    return l.i.backend.get_tx_buffer_size ? l.i.backend.get_tx_buffer_size(l.token) : -EIO;
  }

  /** Not `async` itself: the backend's promise is passed on as it is (no extra promise per call). */
  get_tx_buffer(ept: IpcEpt, req: TxBufferRequest, wait: KTimeout): Promise<number> {
    const l = this.lookup(ept);
    if (typeof l === 'number') return Promise.resolve(l);
    if (!req || typeof req !== 'object') return Promise.resolve(-EINVAL);
    const b = l.i.backend;
    if (!b.get_tx_buffer || !b.send_nocopy) return Promise.resolve(-EIO);
    return b.get_tx_buffer(l.token, req, wait);
  }

  drop_tx_buffer(ept: IpcEpt, data: Uint8Array): number {
    const l = this.lookup(ept);
    if (typeof l === 'number') return l;
    if (!data) return -EINVAL;
    return l.i.backend.drop_tx_buffer ? l.i.backend.drop_tx_buffer(l.token, data) : -EIO;
  }

  send_nocopy(ept: IpcEpt, data: Uint8Array, len: number): number {
    const l = this.lookup(ept);
    if (typeof l === 'number') return l;
    if (!data) return -EINVAL;
    const b = l.i.backend;
    if (!b.get_tx_buffer || !b.send_nocopy) return -EIO;
    if (TRACE.on) traceBegin(TN_SEND_NOCOPY);
    const r = b.send_nocopy(l.token, data, len);
    if (TRACE.on) traceEnd(TN_SEND_NOCOPY);
    this.countSend(l.stats, r);
    return r;
  }

  hold_rx_buffer(ept: IpcEpt, data: Uint8Array): number {
    const l = this.lookup(ept);
    if (typeof l === 'number') return l;
    if (!data) return -EINVAL;
    const b = l.i.backend;
    return b.hold_rx_buffer && b.release_rx_buffer ? b.hold_rx_buffer(l.token, data) : -EIO;
  }

  release_rx_buffer(ept: IpcEpt, data: Uint8Array): number {
    const l = this.lookup(ept);
    if (typeof l === 'number') return l;
    if (!data) return -EINVAL;
    const b = l.i.backend;
    if (!b.hold_rx_buffer || !b.release_rx_buffer) return -EIO;
    if (!TRACE.on) return b.release_rx_buffer(l.token, data);
    traceBegin(TN_RELEASE_RX_BUFFER);
    const r = b.release_rx_buffer(l.token, data);
    traceEnd(TN_RELEASE_RX_BUFFER);
    return r;
  }

  /** Backend state per instance, for status(). */
  status(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [dev, i] of this.byDevice) out[dev.name] = i.backend.status();
    return out;
  }
}
