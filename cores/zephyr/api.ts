// What firmware on a Zephyr core sees as `ctx.zephyr`: the ipc_service functions under their C
// names, DEVICE_DT_GET for instances by devicetree node name, k_timeout_t helpers, a few kernel
// calls, and Zephyr's errno values (negative returns compare against -EBUSY, -ENOMEM, ...).

import type { Bus } from '../../shared/bus.js';
import { SPSC_PBUF_CACHE, SpscPbuf } from '../../shared/spsc-pbuf.js';
import * as ERRNO from '../../shared/zephyr-errno.js';
import type { CoreRuntime } from '../runtime.js';
import type { IpcDevice, IpcEpt, IpcEptCfg, TxBufferRequest } from './backend.js';
import type { IpcService } from './ipc-service.js';
import { K_FOREVER, K_MSEC, K_NO_WAIT, type KTimeout } from './kernel.js';

type Errno = { readonly [K in keyof typeof ERRNO as (typeof ERRNO)[K] extends number ? K : never]: number };

export interface ZephyrApi extends Errno {
  /** DEVICE_DT_GET(DT_NODELABEL(name)): the instance; throws naming the instances that exist. */
  DEVICE_DT_GET(name: string): IpcDevice;
  /** device_get_binding(name): the instance or null. */
  device_get_binding(name: string): IpcDevice | null;
  ipc_service_open_instance(instance: IpcDevice): number;
  ipc_service_close_instance(instance: IpcDevice): number;
  ipc_service_register_endpoint(instance: IpcDevice, ept: IpcEpt, cfg: IpcEptCfg): number;
  ipc_service_deregister_endpoint(ept: IpcEpt): number;
  ipc_service_send(ept: IpcEpt, data: Uint8Array, len?: number): number;
  /** No backend here implements send_critical: -EIO, as the service layer answers a missing hook. */
  ipc_service_send_critical(ept: IpcEpt, data: Uint8Array, len?: number): number;
  ipc_service_get_tx_buffer_size(ept: IpcEpt): number;
  /** Resolves to 0 with req.data (a view onto shared memory) and req.size set, or a negative code. */
  ipc_service_get_tx_buffer(ept: IpcEpt, req: TxBufferRequest, wait: KTimeout): Promise<number>;
  ipc_service_drop_tx_buffer(ept: IpcEpt, data: Uint8Array): number;
  ipc_service_send_nocopy(ept: IpcEpt, data: Uint8Array, len: number): number;
  ipc_service_hold_rx_buffer(ept: IpcEpt, data: Uint8Array): number;
  ipc_service_release_rx_buffer(ept: IpcEpt, data: Uint8Array): number;
  readonly K_NO_WAIT: KTimeout;
  readonly K_FOREVER: KTimeout;
  K_MSEC(ms: number): KTimeout;
  k_msleep(ms: number): Promise<void>;
  /** k_uptime_get: milliseconds since the core started. */
  k_uptime_get(): number;
  /** Name of a (negative) errno value, e.g. "-ENOMEM". */
  errName(code: number): string;
  /**
   * spsc_pbuf_init(buf, blen, flags) on shared memory at physical address `addr`: the producer's
   * handle (write, alloc/commit). flags: SPSC_PBUF_CACHE for the cache-line layout.
   */
  spsc_pbuf_init(addr: number, blen: number, flags?: number): SpscPbuf;
  /** The consumer's handle (read, claim/free) on a buffer the producer initialised at `addr`. */
  spsc_pbuf_attach(addr: number, blen: number): SpscPbuf;
  readonly SPSC_PBUF_CACHE: number;
}

export function zephyrApi(service: IpcService, rt: CoreRuntime, bus: Bus): ZephyrApi {
  const t0 = rt.now();
  const api: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ERRNO)) if (typeof v === 'number') api[k] = v;
  Object.assign(api, {
    DEVICE_DT_GET: (name: string) => service.device(name),
    device_get_binding: (name: string) => {
      try {
        return service.device(name);
      } catch {
        return null;
      }
    },
    ipc_service_open_instance: (d: IpcDevice) => service.open_instance(d),
    ipc_service_close_instance: (d: IpcDevice) => service.close_instance(d),
    ipc_service_register_endpoint: (d: IpcDevice, e: IpcEpt, c: IpcEptCfg) => service.register_endpoint(d, e, c),
    ipc_service_deregister_endpoint: (e: IpcEpt) => service.deregister_endpoint(e),
    ipc_service_send: (e: IpcEpt, data: Uint8Array, len?: number) => service.send(e, data, len),
    ipc_service_send_critical: (e: IpcEpt) => (e ? (e.instance ? -ERRNO.EIO : -ERRNO.ENOENT) : -ERRNO.EINVAL),
    ipc_service_get_tx_buffer_size: (e: IpcEpt) => service.get_tx_buffer_size(e),
    ipc_service_get_tx_buffer: (e: IpcEpt, r: TxBufferRequest, w: KTimeout) => service.get_tx_buffer(e, r, w),
    ipc_service_drop_tx_buffer: (e: IpcEpt, d: Uint8Array) => service.drop_tx_buffer(e, d),
    ipc_service_send_nocopy: (e: IpcEpt, d: Uint8Array, len: number) => service.send_nocopy(e, d, len),
    ipc_service_hold_rx_buffer: (e: IpcEpt, d: Uint8Array) => service.hold_rx_buffer(e, d),
    ipc_service_release_rx_buffer: (e: IpcEpt, d: Uint8Array) => service.release_rx_buffer(e, d),
    K_NO_WAIT, K_FOREVER, K_MSEC,
    k_msleep: (ms: number) => rt.sleep(ms),
    k_uptime_get: () => Math.floor((rt.now() - t0) / 1000),
    errName: ERRNO.zephyrErrName,
    spsc_pbuf_init: (addr: number, blen: number, flags = 0) => {
      const w = bus.window(addr, blen);
      return SpscPbuf.init(w.sab, w.byteOffset, blen, { cache: (flags & SPSC_PBUF_CACHE) !== 0 });
    },
    spsc_pbuf_attach: (addr: number, blen: number) => {
      const w = bus.window(addr, blen);
      return new SpscPbuf(w.sab, w.byteOffset, blen);
    },
    SPSC_PBUF_CACHE,
  });
  return Object.freeze(api) as unknown as ZephyrApi;
}
