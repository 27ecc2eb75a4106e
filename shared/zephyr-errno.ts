// Zephyr's errno values (lib/libc/minimal/include/errno.h, the BSD-derived numbering Zephyr uses on
// every libc it ships), returned negated by spsc_pbuf, pbuf, ICMsg, ICBMsg and ipc_service.
// They differ from Linux's (EALREADY is 69 here, 114 on Linux): keep the two tables apart.

export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const ENXIO = 6;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EBUSY = 16;
export const EINVAL = 22;
export const ENOSPC = 28;
export const EPIPE = 32;
export const ENOTSUP = 35;
export const EMSGSIZE = 36;
export const ENOBUFS = 55;
export const ETIMEDOUT = 60;
export const EALREADY = 69;
export const ENOSYS = 71;
export const ECANCELED = 72;
export const EBADMSG = 77;
export const ENODATA = 78;

const NAMES: Readonly<Record<number, string>> = {
  [EPERM]: 'EPERM', [ENOENT]: 'ENOENT', [EIO]: 'EIO', [ENXIO]: 'ENXIO', [EAGAIN]: 'EAGAIN', [ENOMEM]: 'ENOMEM',
  [EBUSY]: 'EBUSY', [EINVAL]: 'EINVAL', [ENOSPC]: 'ENOSPC', [EPIPE]: 'EPIPE', [ENOTSUP]: 'ENOTSUP',
  [EMSGSIZE]: 'EMSGSIZE', [ENOBUFS]: 'ENOBUFS', [ETIMEDOUT]: 'ETIMEDOUT', [EALREADY]: 'EALREADY', [ENOSYS]: 'ENOSYS',
  [ECANCELED]: 'ECANCELED', [EBADMSG]: 'EBADMSG', [ENODATA]: 'ENODATA',
};

/** "-ENOMEM" for -12, the number itself for anything else. */
export function zephyrErrName(code: number): string {
  const n = NAMES[-code];
  return n ? `-${n}` : String(code);
}
