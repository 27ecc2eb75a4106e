// The backend vtable behind ipc_service (include/zephyr/ipc/ipc_service_backend.h), and the
// structures firmware passes in (struct ipc_ept, struct ipc_ept_cfg, struct ipc_service_cb).
// A hook a backend lacks makes the service layer return -EIO, as in Zephyr.

import type { KTimeout } from './kernel.js';

export interface IpcServiceCb {
  bound?(priv: unknown): void;
  unbound?(priv: unknown): void;
  /** `data` is valid until the callback returns, unless held with ipc_service_hold_rx_buffer. */
  received?(data: Uint8Array, len: number, priv: unknown): void;
  error?(message: string, priv: unknown): void;
}

/** struct ipc_ept_cfg. */
export interface IpcEptCfg {
  name: string;
  prio?: number;
  cb: IpcServiceCb;
  priv?: unknown;
}

/** An instance: the devicetree node it was configured from (what DEVICE_DT_GET returns). */
export interface IpcDevice {
  readonly name: string;
  readonly compatible: string;
}

/** struct ipc_ept: filled in by ipc_service_register_endpoint. */
export interface IpcEpt {
  instance?: IpcDevice;
  token?: unknown;
}

/** ipc_service_get_tx_buffer's in/out arguments: `size` in (0 = largest), both out. */
export interface TxBufferRequest {
  data?: Uint8Array;
  size: number;
}

export interface IpcBackend {
  readonly compatible: string;
  open_instance?(): number;
  close_instance?(): number;
  /** Returns 0 and sets the endpoint's token through `setToken`, or a negative code. */
  register_endpoint(cfg: IpcEptCfg, setToken: (token: unknown) => void): number;
  deregister_endpoint?(token: unknown): number;
  send(token: unknown, data: Uint8Array, len: number): number;
  get_tx_buffer_size?(token: unknown): number;
  get_tx_buffer?(token: unknown, req: TxBufferRequest, wait: KTimeout): Promise<number>;
  drop_tx_buffer?(token: unknown, data: Uint8Array): number;
  send_nocopy?(token: unknown, data: Uint8Array, len: number): number;
  hold_rx_buffer?(token: unknown, data: Uint8Array): number;
  release_rx_buffer?(token: unknown, data: Uint8Array): number;
  /** Statistics and state for the report. */
  status(): Record<string, unknown>;
}
