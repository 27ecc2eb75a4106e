// Linux rpmsg_char / rpmsg_ctrl (drivers/rpmsg/rpmsg_char.c, rpmsg_ctrl.c) and TI's ti-rpmsg-char
// library (6-argument rpmsg_char_open, library 6.0), as a Linux user-space firmware script sees them.
//
// - rpmsg_char_open = find the remoteproc and its virtio device, check the announced channel
//   `virtio<N>.<dev_name>.-1.<remote_endpt>`, RPMSG_CREATE_EPT_IOCTL {eptdev_name, local, remote},
//   open /dev/rpmsgK (O_RDWR | flags), read back the bound local address ("src" in sysfs).
// - An eptdev queues every incoming message (skb queue, no length cap) from ISR context; read()
//   returns one message per call, truncating silently; write() sends one message.
// - Blocking uses the core runtime's Semaphore (tasks wait, ISRs post).
// - When the remote crashes, its virtio device (with its rpmsg_ctrl and every eptdev made through
//   it) is removed: an open device stays open but is dead (`removed`): read and write return
//   -EPIPE at once (queued messages are lost, as rpmsg_eptdev_read checks the endpoint first),
//   blocked readers wake with -EPIPE, select reports it (EPOLLERR). The application closes it and
//   opens a new one once the recovered remote has announced its service again.
// - Tracing (cores/trace.ts): write() and the completion of read() are slices (only their
//   synchronous parts: a slice never spans a wait, other tasks of the core run meanwhile).

import { J721E_PROC_NAMES, TIRC_RPROC } from '../../shared/j721e.js';
import { RPMSG_ADDR_ANY, RPMSG_RESERVED_ADDRESSES } from '../../shared/rpmsg.js';
import { TN_RPMSG_CHAR_READ, TN_RPMSG_CHAR_WRITE } from '../../shared/trace-ring.js';
import { type CoreRuntime, Semaphore } from '../runtime.js';
import { TRACE, traceBegin, traceEnd } from '../trace.js';
import { EAGAIN, EINVAL, ENOENT, EPIPE, errnoName } from './errno.js';
import type { LinuxLog, LinuxRpmsgEndpoint, LinuxRpmsgHost } from './virtio-rpmsg.js';

/** open(2) flag O_NONBLOCK (Linux asm-generic). */
export const O_NONBLOCK = 0o4000;
/** ti-rpmsg-char RPMSG_DEV_NAME_MAXLEN: names are shorter than this (NUL included). */
export const RPMSG_DEV_NAME_MAXLEN = 32;
/** Channel name used when rpmsg_char_open gets dev_name NULL. */
export const TIRC_DEFAULT_DEV_NAME = 'rpmsg_chrdev';
/** First file descriptor handed out (0..2 are stdio). */
export const FIRST_FD = 3;

/** SoC families this emulation knows (ti-rpmsg-char src/soc.c family names, lower case). */
const KNOWN_SOCS = ['j721e'];

/** An open /dev/rpmsgK (the library's rpmsg_char_dev_t plus the file operations). */
export interface RpmsgCharDev {
  /** File descriptor of /dev/rpmsgK. */
  readonly fd: number;
  /** Local endpoint address bound at open (sysfs `src`). */
  readonly endpt: number;
  /** "/dev/rpmsgK". */
  readonly devName: string;
  /** Name given to RPMSG_CREATE_EPT_IOCTL. */
  readonly eptdevName: string;
  /** ti-rpmsg-char rproc id of the remote. */
  readonly rprocId: number;
  /** Remote address messages are written to. */
  readonly remoteEndpt: number;
  /** False once closed. */
  readonly isOpen: boolean;
  /** True once the remote's virtio device was removed (the remote crashed): the device is dead. */
  readonly removed: boolean;
  /**
   * read(2): one message per call. Blocks until one is queued (-EAGAIN at once with O_NONBLOCK),
   * -EPIPE once closed or removed. Copies min(buf.length, message length) bytes, discards the rest,
   * returns the number of bytes copied.
   */
  read(buf: Uint8Array): Promise<number>;
  /**
   * write(2): sends `data` as one message. Returns data.length, or -EMSGSIZE (> 496 bytes),
   * -EAGAIN (O_NONBLOCK and no TX buffer), -ERESTARTSYS (no TX buffer for 15 s), -EPIPE (closed,
   * removed, or the remote's vring1 was refused as corrupt).
   */
  write(data: Uint8Array): Promise<number>;
  /** True when a message is queued (poll EPOLLIN). */
  readable(): boolean;
  /** Messages queued. */
  readonly queued: number;
}

/** The ti-rpmsg-char API plus select(2) and O_NONBLOCK. */
export interface TiRpmsgChar {
  /** 0 ok, 1 already initialised, -ENOENT for an unknown SoC name. null/undefined = autodetect. */
  rpmsg_char_init(soc_name?: string | null): number;
  /** The 6-argument form (library 6.0). Returns null (and logs) on any failure. */
  rpmsg_char_open(rproc_id: number, dev_name: string | null, local_endpt: number, remote_endpt: number,
    eptdev_name: string, flags: number): RpmsgCharDev | null;
  /** 0, or -EINVAL when `dev` is not an open device of this library. */
  rpmsg_char_close(dev: RpmsgCharDev | null): number;
  /** Closes every open device and un-initialises the library. */
  rpmsg_char_exit(): void;
  /**
   * select(2)/poll(2) for reading: resolves with the devices in `devs` that have a queued message
   * (or are closed or removed: EPOLLERR counts as readable) as soon as there is one, or [] after `timeoutMs`.
   * timeoutMs 0 polls; a negative or infinite timeout waits forever.
   */
  select(devs: readonly RpmsgCharDev[], timeoutMs: number): Promise<RpmsgCharDev[]>;
  readonly O_NONBLOCK: number;
  /** Devices currently open. */
  openDevices(): RpmsgCharDev[];
}

/** FIFO of copied messages (the eptdev skb queue), no allocation per push once grown. */
class MsgQueue {
  private items: (Uint8Array | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(m: Uint8Array): void {
    this.items.push(m);
  }

  shift(): Uint8Array | undefined {
    if (this.head >= this.items.length) return undefined;
    const m = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return m;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

class EptDev implements RpmsgCharDev {
  isOpen = true;
  removed = false;
  ept: LinuxRpmsgEndpoint | undefined;
  readonly queue = new MsgQueue();
  /** readq: readers wait here, the RX callback posts. */
  readonly readq: Semaphore;
  /** Semaphores of select() calls waiting on this device. */
  readonly selectors = new Set<Semaphore>();
  readonly nonblock: boolean;

  constructor(
    private readonly host: LinuxRpmsgHost,
    rt: CoreRuntime,
    readonly fd: number,
    readonly minor: number,
    readonly eptdevName: string,
    readonly rprocId: number,
    readonly remoteProc: number,
    readonly remoteEndpt: number,
    readonly flags: number,
  ) {
    this.readq = new Semaphore(rt, `/dev/rpmsg${minor} (${eptdevName}) read`);
    this.nonblock = (flags & O_NONBLOCK) !== 0;
  }

  get devName(): string {
    return `/dev/rpmsg${this.minor}`;
  }

  get endpt(): number {
    return this.ept ? this.ept.addr : -1;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** rpmsg_ept_cb, ISR context: queue a copy, wake one reader and every select. */
  onMessage(data: Uint8Array, off: number, len: number): void {
    if (!this.isOpen) return;
    this.queue.push(data.slice(off, off + len));
    if (this.readq.waiterCount > 0) this.readq.post();
    this.wakeSelectors();
  }

  wakeSelectors(): void {
    for (const s of this.selectors) if (s.waiterCount > 0) s.post();
  }

  readable(): boolean {
    return this.queue.length > 0;
  }

  async read(buf: Uint8Array): Promise<number> {
    for (;;) {
      if (!this.isOpen || this.removed) return -EPIPE;
      const msg = this.queue.shift();
      if (msg !== undefined) {
        if (TRACE.on) traceBegin(TN_RPMSG_CHAR_READ);
        const n = Math.min(buf.length, msg.length);
        buf.set(n === msg.length ? msg : msg.subarray(0, n));
        if (TRACE.on) traceEnd(TN_RPMSG_CHAR_READ);
        return n;
      }
      if (this.nonblock) return -EAGAIN;
      await this.readq.pend();
    }
  }

  async write(data: Uint8Array): Promise<number> {
    if (!this.isOpen || this.removed || this.ept === undefined) return -EPIPE;
    // The send's synchronous part (taking a buffer, filling it, publishing it) is the slice.
    if (TRACE.on) traceBegin(TN_RPMSG_CHAR_WRITE);
    const sending = this.host.send(this.remoteProc, this.ept.addr, this.remoteEndpt, data, this.nonblock);
    if (TRACE.on) traceEnd(TN_RPMSG_CHAR_WRITE);
    const r = await sending;
    // The remote crashed while the send waited: the eptdev is gone.
    if (r < 0 && this.removed) return -EPIPE;
    return r < 0 ? r : data.length;
  }

  /** rpmsg_eptdev_destroy (the virtio device went away): endpoint gone, queue purged, waiters get -EPIPE. */
  remove(): void {
    if (this.removed || !this.isOpen) return;
    this.removed = true;
    if (this.ept) this.host.destroyEndpoint(this.ept);
    this.queue.clear();
    this.readq.abandon();
    this.wakeSelectors();
  }

  /** rpmsg_eptdev_release + device removal: endpoint destroyed, queue purged, waiters get -EPIPE. */
  shutdown(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    if (this.ept) this.host.destroyEndpoint(this.ept);
    this.queue.clear();
    this.readq.abandon();
    this.wakeSelectors();
  }
}

/**
 * Creates the rpmsg_char driver + ti-rpmsg-char library instance of the Linux user space.
 * @param host the kernel's virtio rpmsg host (probed when Linux booted)
 * @param rt the A72 core runtime (for blocking)
 * @param log logger
 * @param soc what /sys/devices/soc0/family would tell autodetection ('j721e')
 */
export function createTiRpmsgChar(host: LinuxRpmsgHost, rt: CoreRuntime, log: LinuxLog, soc = 'j721e'): TiRpmsgChar {
  let inited = false;
  const open: EptDev[] = [];
  host.onVdev((ev, remote) => {
    if (ev !== 'remove') return;
    const gone = open.filter((d) => d.remoteProc === remote && !d.removed);
    for (const d of gone) d.remove();
    if (gone.length) {
      log.warn(`rpmsg_char: ${gone.map((d) => `${d.devName} ("${d.eptdevName}")`).join(', ')} removed: the remote ` +
        `${host.remoteName(remote) ?? `proc ${remote}`} crashed; reads and writes fail with -EPIPE until reopened`);
    }
  });

  function lowestFree(used: (d: EptDev) => number, from: number): number {
    let n = from;
    while (open.some((d) => used(d) === n)) n++;
    return n;
  }

  function rpmsg_char_init(soc_name?: string | null): number {
    if (inited) return 1;
    const name = soc_name ?? soc;
    if (!KNOWN_SOCS.includes(name.toLowerCase())) {
      log.error(`ti-rpmsg-char: rpmsg_char_init: SoC device family match failed for "${name}" (known: ${KNOWN_SOCS.join(', ')})`);
      return -ENOENT;
    }
    inited = true;
    return 0;
  }

  function rpmsg_char_open(rproc_id: number, dev_name: string | null, local_endpt: number, remote_endpt: number,
    eptdev_name: string, flags: number): RpmsgCharDev | null {
    const fail = (msg: string): null => {
      log.error(`ti-rpmsg-char: rpmsg_char_open: ${msg}`);
      return null;
    };
    if (!inited) return fail('cannot be invoked without initialization (call rpmsg_char_init first)');
    if (remote_endpt === RPMSG_ADDR_ANY) return fail('remote_endpt cannot be RPMSG_ADDR_ANY');
    if (!Number.isInteger(remote_endpt) || remote_endpt < 0 || remote_endpt > RPMSG_ADDR_ANY) {
      return fail(`remote_endpt ${remote_endpt} is not a u32 address`);
    }
    if (local_endpt !== RPMSG_ADDR_ANY && !(Number.isInteger(local_endpt) && local_endpt >= RPMSG_RESERVED_ADDRESSES &&
        local_endpt < RPMSG_ADDR_ANY)) {
      return fail(`local_endpt ${local_endpt} must be RPMSG_ADDR_ANY or >= ${RPMSG_RESERVED_ADDRESSES}`);
    }
    if (typeof eptdev_name !== 'string' || eptdev_name.length === 0 || eptdev_name.length >= RPMSG_DEV_NAME_MAXLEN) {
      return fail(`invalid eptdev_name ${JSON.stringify(eptdev_name)} (1..${RPMSG_DEV_NAME_MAXLEN - 1} chars)`);
    }
    const devName = dev_name ?? TIRC_DEFAULT_DEV_NAME;
    if (devName.length === 0 || devName.length >= RPMSG_DEV_NAME_MAXLEN) {
      return fail(`invalid dev_name ${JSON.stringify(devName)} (1..${RPMSG_DEV_NAME_MAXLEN - 1} chars)`);
    }
    const rproc = TIRC_RPROC.find((r) => r.id === rproc_id);
    if (!rproc) return fail(`SoC doesn't have rproc id ${rproc_id}`);
    const procId = J721E_PROC_NAMES.indexOf(rproc.proc);
    const vindex = host.virtioIndexOf(procId);
    if (vindex < 0 && host.isRecovering(procId)) {
      log.debug(`ti-rpmsg-char: rpmsg_char_open: ${rproc.device} (${rproc.proc}) is being recovered after a crash; no virtio device yet`);
      return null;
    }
    if (vindex < 0) {
      return fail(`${rproc.device} (${rproc.enumName}, ${rproc.proc}) does not have any virtio devices`);
    }
    const channel = `virtio${vindex}.${devName}.-1.${remote_endpt}`;
    if (!host.findChannel(procId, devName, remote_endpt)) {
      log.debug(`ti-rpmsg-char: rpmsg_char_open: channel ${channel} not announced yet`);
      return null;
    }
    if (open.some((d) => d.eptdevName === eptdev_name && !d.removed)) {
      return fail(`an endpoint device named "${eptdev_name}" is already open`);
    }
    const fd = lowestFree((d) => d.fd, FIRST_FD);
    const minor = lowestFree((d) => d.minor, 0);
    const dev = new EptDev(host, rt, fd, minor, eptdev_name, rproc_id, procId, remote_endpt, flags);
    const ept = host.createEndpoint(procId, local_endpt, remote_endpt, (data, off, len) => dev.onMessage(data, off, len));
    if (typeof ept === 'number') {
      return fail(`cannot create endpoint ${local_endpt === RPMSG_ADDR_ANY ? 'ANY' : local_endpt} on ${channel}: ` +
        `${errnoName(ept)} (failed to open eptdev /dev/rpmsg${minor})`);
    }
    dev.ept = ept;
    open.push(dev);
    log.debug(`ti-rpmsg-char: opened ${dev.devName} "${eptdev_name}" fd ${fd}: local ${ept.addr} -> ${rproc.proc}:${remote_endpt}`);
    return dev;
  }

  function rpmsg_char_close(dev: RpmsgCharDev | null): number {
    const i = dev ? open.indexOf(dev as EptDev) : -1;
    if (i < 0) {
      log.error(`ti-rpmsg-char: rpmsg_char_close: invalid handle (${dev ? dev.devName : 'null'} is not open)`);
      return -EINVAL;
    }
    const d = open[i]!;
    open.splice(i, 1);
    d.shutdown();
    return 0;
  }

  function rpmsg_char_exit(): void {
    if (!inited) {
      log.error('ti-rpmsg-char: rpmsg_char_exit: library not initialized previously');
      return;
    }
    if (open.length > 0) log.warn('ti-rpmsg-char: Application did not close some rpmsg_char devices');
    for (const d of open.splice(0)) d.shutdown();
    inited = false;
  }

  async function select(devs: readonly RpmsgCharDev[], timeoutMs: number): Promise<RpmsgCharDev[]> {
    const mine = devs.map((d) => {
      if (!(d instanceof EptDev)) throw new TypeError('select: not a device opened by rpmsg_char_open');
      return d;
    });
    const ready = (): RpmsgCharDev[] => mine.filter((d) => !d.isOpen || d.removed || d.readable());
    let r = ready();
    if (r.length > 0 || timeoutMs === 0) return r;
    const forever = !(timeoutMs > 0) || !Number.isFinite(timeoutMs);
    const deadline = rt.now() / 1000 + (forever ? 0 : timeoutMs);
    const sem = new Semaphore(rt, `select(${mine.map((d) => d.devName).join(', ')})`);
    for (const d of mine) d.selectors.add(sem);
    try {
      for (;;) {
        const remaining = forever ? Infinity : deadline - rt.now() / 1000;
        if (remaining <= 0) return [];
        await sem.pend(remaining);
        r = ready();
        if (r.length > 0) return r;
      }
    } finally {
      for (const d of mine) d.selectors.delete(sem);
    }
  }

  return {
    rpmsg_char_init,
    rpmsg_char_open,
    rpmsg_char_close,
    rpmsg_char_exit,
    select,
    O_NONBLOCK,
    openDevices: () => [...open],
  };
}
