// ICMsg's wire-level constants (subsys/ipc/ipc_service/lib/icmsg.c, include/zephyr/ipc/icmsg.h;
// protocol spec doc/services/ipc/ipc_service/backends/ipc_service_icmsg.rst). Each direction is a
// pbuf (shared/pbuf.ts); bonding in the "unbound = disable" mode is one packet holding the magic.

/** "Em1l1K0rn3li4": the bonding packet. A longer packet with this prefix is accepted too. */
export const ICMSG_MAGIC = Uint8Array.of(0x45, 0x6d, 0x31, 0x6c, 0x31, 0x4b, 0x30, 0x72, 0x6e, 0x33, 0x6c, 0x69, 0x34);

/** enum icmsg_state, in Zephyr's order. */
export const ICMSG_STATE_OFF = 0;
export const ICMSG_STATE_INITIALIZING_SID_DISABLED = 1;
export const ICMSG_STATE_INITIALIZING_SID_ENABLED = 2;
export const ICMSG_STATE_INITIALIZING_SID_DETECT = 3;
export const ICMSG_STATE_DISCONNECTED = 4;
export const ICMSG_STATE_CONNECTED_SID_DISABLED = 5;
export const ICMSG_STATE_CONNECTED_SID_ENABLED = 6;
export const ICMSG_STATE_NAMES = [
  'OFF', 'INITIALIZING_SID_DISABLED', 'INITIALIZING_SID_ENABLED', 'INITIALIZING_SID_DETECT', 'DISCONNECTED',
  'CONNECTED_SID_DISABLED', 'CONNECTED_SID_ENABLED',
] as const;

/** CONFIG_IPC_SERVICE_ICMSG_BOND_NOTIFY_REPEAT_TO_MS default (range 1..100). */
export const ICMSG_BOND_NOTIFY_REPEAT_TO_MS = 1;
/** CONFIG_PBUF_RX_READ_BUF_SIZE default: the largest message the receiver can take. */
export const PBUF_RX_READ_BUF_SIZE = 128;

/** True when `buf[0..len)` starts with the bonding magic. */
export function isIcmsgMagic(buf: Uint8Array, len: number): boolean {
  if (len < ICMSG_MAGIC.length) return false;
  for (let i = 0; i < ICMSG_MAGIC.length; i++) if (buf[i] !== ICMSG_MAGIC[i]) return false;
  return true;
}
