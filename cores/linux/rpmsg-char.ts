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
import { RPMSG_ADDR_ANY, RPMSG_MAX_PAYLOAD, RPMSG_RESERVED_ADDRESSES } from '../../shared/rpmsg.js';
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

/** Slot size of MsgQueue: the largest virtio rpmsg payload. */
const MSG_SLOT_SIZE = RPMSG_MAX_PAYLOAD;
/** MsgQueue keeps at most this many slots once it has emptied (a flood's slots are let go). */
const MSG_SLOTS_KEPT = 64;

/**
 * FIFO of copied messages (the eptdev skb queue, no length cap). Payloads are copied into reused
 * slots of MSG_SLOT_SIZE bytes (a longer one gets a slot of its own size): no allocation per message
 * once grown. Copies go a 32-bit word at a time when source and slot allow it.
 */
class MsgQueue {
  private slots: Uint8Array[] = [];
  /** slots[i] by 32-bit word. */
  private slotWords: Int32Array[] = [];
  /** views[i]: the last view of slots[i] a read copied from (reused while its length fits). */
  private views: (Uint8Array | undefined)[] = [];
  private lens: number[] = [];
  private head = 0;
  private count = 0;
  /** The last source array pushed from, and its words (undefined when it cannot be read by word). */
  private src: Uint8Array | undefined;
  private srcWords: Int32Array | undefined;

  get length(): number {
    return this.count;
  }

  /** Queues a copy of data[off, off + len) (what data.slice(off, off + len) holds). */
  push(data: Uint8Array, off: number, len: number): void {
    if ((off >>> 0) !== off || (len >>> 0) !== len || off + len > data.length) {
      // Not a range inside data: take what slice makes of it.
      data = data.slice(off, off + len);
      off = 0;
      len = data.length;
    }
    if (this.count === this.slots.length) this.grow();
    const i = (this.head + this.count) % this.slots.length;
    let slot = this.slots[i]!;
    if (len > slot.length) {
      slot = new Uint8Array(len);
      this.slots[i] = slot;
      this.slotWords[i] = new Int32Array(slot.buffer, 0, len >>> 2);
      this.views[i] = undefined;
    }
    let k = 0;
    if (data !== this.src) this.setSource(data);
    const from = this.srcWords;
    if (from !== undefined && (off & 3) === 0) {
      const to = this.slotWords[i]!;
      const words = len >>> 2;
      for (let w = 0, s = off >>> 2; w < words; w++) to[w] = from[s + w]!;
      k = words << 2;
    }
    for (; k < len; k++) slot[k] = data[off + k]!;
    this.lens[i] = len;
    this.count++;
  }

  /**
   * Moves the oldest message out: copies min(buf.length, its length) bytes into `buf` (the rest is
   * discarded) and returns that count; -1 when the queue is empty.
   */
  shiftInto(buf: Uint8Array): number {
    if (this.count === 0) return -1;
    const i = this.head;
    const n = Math.min(buf.length, this.lens[i]!);
    let view = this.views[i];
    if (view === undefined || view.length !== n) {
      view = this.slots[i]!.subarray(0, n);
      this.views[i] = view;
    }
    // Dropped before the copy (as the skb is dequeued before copy_to_user).
    this.head = (i + 1) % this.slots.length;
    if (--this.count === 0) {
      this.head = 0;
      if (this.slots.length > MSG_SLOTS_KEPT) this.trim(MSG_SLOTS_KEPT);
    }
    buf.set(view);
    return n;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    this.trim(0);
    this.src = undefined;
    this.srcWords = undefined;
  }

  private setSource(data: Uint8Array): void {
    const b = data.buffer as ArrayBufferLike & { resizable?: boolean; growable?: boolean };
    this.src = data;
    // A view of a resizable buffer can shrink: such a source is read byte by byte.
    this.srcWords = (data.byteOffset & 3) === 0 && b.resizable !== true && b.growable !== true
      ? new Int32Array(b, data.byteOffset, data.length >>> 2) : undefined;
  }

  /** Doubles the slots (at least 4), keeping the queued messages in order from slot 0. */
  private grow(): void {
    const cap = this.slots.length;
    const slots: Uint8Array[] = [];
    const slotWords: Int32Array[] = [];
    const views: (Uint8Array | undefined)[] = [];
    const lens: number[] = [];
    for (let k = 0; k < cap; k++) {
      const j = (this.head + k) % cap;
      slots.push(this.slots[j]!);
      slotWords.push(this.slotWords[j]!);
      views.push(this.views[j]);
      lens.push(this.lens[j]!);
    }
    for (let k = cap, n = Math.max(4, 2 * cap); k < n; k++) {
      const slot = new Uint8Array(MSG_SLOT_SIZE);
      slots.push(slot);
      slotWords.push(new Int32Array(slot.buffer));
      views.push(undefined);
      lens.push(0);
    }
    this.slots = slots;
    this.slotWords = slotWords;
    this.views = views;
    this.lens = lens;
    this.head = 0;
  }

  /** Keeps only the first `n` slots (the queue is empty). */
  private trim(n: number): void {
    this.slots.length = Math.min(this.slots.length, n);
    this.slotWords.length = this.slots.length;
    this.views.length = this.slots.length;
    this.lens.length = this.slots.length;
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
  /**
   * The semaphore of a select() on this device alone, kept for the next one (a select leaves it with
   * no count and no waiter, as new); `selectSemBusy` while a select uses it.
   */
  selectSem: Semaphore | undefined;
  selectSemBusy = false;
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
    this.queue.push(data, off, len);
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
      if (this.queue.length > 0) {
        if (TRACE.on) traceBegin(TN_RPMSG_CHAR_READ);
        const n = this.queue.shiftInto(buf);
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

  /** The devices of `devs` select reports: a message queued, or closed or removed (EPOLLERR). */
  function readyOf(devs: readonly EptDev[]): RpmsgCharDev[] {
    const r: RpmsgCharDev[] = [];
    for (const d of devs) if (!d.isOpen || d.removed || d.readable()) r.push(d);
    return r;
  }

  async function select(devs: readonly RpmsgCharDev[], timeoutMs: number): Promise<RpmsgCharDev[]> {
    const mine = devs.map((d) => {
      if (!(d instanceof EptDev)) throw new TypeError('select: not a device opened by rpmsg_char_open');
      return d;
    });
    let r = readyOf(mine);
    if (r.length > 0 || timeoutMs === 0) return r;
    const forever = !(timeoutMs > 0) || !Number.isFinite(timeoutMs);
    const start = forever ? 0 : rt.now() / 1000;
    const deadline = start + (forever ? 0 : timeoutMs);
    // One device (the usual case): its kept semaphore, unless another select is using it.
    const one = mine.length === 1 ? mine[0]! : undefined;
    let sem: Semaphore;
    if (one !== undefined && one.selectSem !== undefined && !one.selectSemBusy) {
      sem = one.selectSem;
    } else {
      sem = new Semaphore(rt, `select(${mine.map((d) => d.devName).join(', ')})`);
      if (one !== undefined && one.selectSem === undefined) one.selectSem = sem;
    }
    const kept = one !== undefined && sem === one.selectSem;
    if (kept) one.selectSemBusy = true;
    for (const d of mine) d.selectors.add(sem);
    try {
      // The first wait is the whole timeout (the clock was read just above).
      for (let now = start; ;) {
        const remaining = forever ? Infinity : deadline - now;
        if (remaining <= 0) return [];
        await sem.pend(remaining);
        r = readyOf(mine);
        if (r.length > 0) return r;
        if (!forever) now = rt.now() / 1000;
      }
    } finally {
      for (const d of mine) d.selectors.delete(sem);
      if (kept) one.selectSemBusy = false;
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
