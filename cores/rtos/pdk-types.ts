// TI PDK IPC LLD constants and types (packages/ti/drv/ipc include/ipc_types.h, ipc_config.h,
// src/ipc_priv.h), as reference/rpmsg-j7.md §4.1 lists them.

export const IPC_SOK = 0;
export const IPC_EFAIL = -1;
export const IPC_EBADARGS = -2;
export const IPC_EINVALID_PARAMS = -3;
export const IPC_ETIMEOUT = -4;
export const IPC_EUNSUPPORTED = -6;
export const IPC_EALLOC = -8;
export const IPC_E_UNBLOCKED = -50;

export const IPC_RPMESSAGE_TIMEOUT_FOREVER = 0xFFFF_FFFF;
export const RPMESSAGE_ANY = 0xFFFF_FFFF;
export const RPMESSAGE_ALL = 0xFFFF_FFFF;
export const IPC_MP_INVALID_ID = 0xFFFF_FFFF;
export const IPC_CTRL_ENDPOINT_ID = 53;
export const IPC_MAX_DATA_PAYLOAD = 496;
/** Announcement table size; an insert fails when the count reaches IPC_MAX_NAME_ENTRY - 1. */
export const IPC_MAX_NAME_ENTRY = 100;
export const MAXENDPOINTS = 256;
export const RPMessage_MAX_RESERVED_ENDPOINT = 100;
export const RPMessage_Buffer_Count_Default = 16;
/** Service names are 1..31 characters (SERVICENAMELEN 32 with the NUL). */
export const SERVICENAMELEN = 32;

export type RPMessage_Callback = (handle: RPMessage_Handle, arg: unknown, data: Uint8Array, len: number, src: number, srcProcId: number) => void;

export interface Ipc_InitPrms {
  instId: number;
  newMsgFxn?: (srcEndPt: number, procId: number) => void;
  printFxn?: (msg: string) => void;
}

export interface Ipc_VirtIoParams {
  /** Accepted for source compatibility; hetsoc keeps its virtio objects in the core's own memory. */
  vqObjBaseAddr?: number;
  vqBufSize?: number;
  /** Base of the RTOS-to-RTOS vring memory (VRING_BASE_ADDRESS, 0xAA000000 on J721E). */
  vringBaseAddr: number;
  /** Must be at least IPC_VRING_BUFFER_SIZE (0x1C00000 on J721E). */
  vringBufSize: number;
  /** Mailbox-full retries in the PDK; hetsoc's mailbox driver queues instead (kept for compatibility). */
  timeoutCnt?: number;
}

export interface RPMessage_Params {
  requestedEndpt: number;
  /** Messages the endpoint can hold before new ones are dropped (PDK heap of numBufs elements). */
  numBufs: number;
  /** Accepted for source compatibility (memory is managed by the emulator). */
  buf?: unknown;
  bufSize?: number;
  stackBuffer?: unknown;
  stackSize?: number;
}

/** An endpoint handle (RPMessage_Handle); `endPt` is the local endpoint number. */
export interface RPMessage_Handle {
  readonly endPt: number;
}

export interface RPMessage_RecvResult {
  status: number;
  /** Payload bytes written into the caller's buffer. */
  len: number;
  /** The sender's endpoint (reply endpoint). */
  rplyEndPt: number;
  fromProcId: number;
}

export interface RPMessage_RemoteEndPt {
  status: number;
  remoteProcId: number;
  remoteEndPt: number;
}
