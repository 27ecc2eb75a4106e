// Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h; ERESTARTSYS from
// include/linux/errno.h, kernel-internal) as returned, negated, by the emulated kernel paths.

export const EPERM = 1;
export const ENOENT = 2;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const EPIPE = 32;
export const ENODATA = 61;
export const EBADMSG = 74;
export const EMSGSIZE = 90;
export const ENOTSUP = 95;
export const ENETRESET = 102;
export const ENOBUFS = 105;
export const ETIMEDOUT = 110;
export const EALREADY = 114;
/** Kernel-internal "restart the system call" (never seen by real user space; hetsoc passes it up). */
export const ERESTARTSYS = 512;

const NAMES: Readonly<Record<number, string>> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [EAGAIN]: 'EAGAIN',
  [ENOMEM]: 'ENOMEM',
  [EBUSY]: 'EBUSY',
  [EEXIST]: 'EEXIST',
  [ENODEV]: 'ENODEV',
  [EINVAL]: 'EINVAL',
  [EPIPE]: 'EPIPE',
  [ENODATA]: 'ENODATA',
  [EBADMSG]: 'EBADMSG',
  [EMSGSIZE]: 'EMSGSIZE',
  [ENOTSUP]: 'ENOTSUP',
  [ENETRESET]: 'ENETRESET',
  [ENOBUFS]: 'ENOBUFS',
  [ETIMEDOUT]: 'ETIMEDOUT',
  [EALREADY]: 'EALREADY',
  [ERESTARTSYS]: 'ERESTARTSYS',
};

/**
 * Symbolic name of an errno, accepting the positive value or the negated return code:
 * errnoName(-90) === errnoName(90) === 'EMSGSIZE'. Unknown values give `errno <n>`; 0 gives 'OK'.
 */
export function errnoName(n: number): string {
  if (n === 0) return 'OK';
  const v = Math.abs(n);
  return NAMES[v] ?? `errno ${v}`;
}
