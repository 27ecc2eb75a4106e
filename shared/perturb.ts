// Seeded timing perturbation and fault hooks at the IPC primitive points (used by stress runs).
//
// Code at a point does `if (PERTURB.on) perturbAt(PT_X)`: one property load when off. When a stress
// run installs a configuration in a core's thread, the n-th occurrence of point P on core C is
// delayed or not by a hash of (seed, C, P, n) alone, so the same seed chooses the same perturbations.
// A delay blocks the core's thread in Atomics.wait (no CPU burnt), which widens the race window
// between, e.g., filling a buffer and publishing it, while the other cores' threads go on.
//
// Fault hooks (`takeFault`, `flipPayloadBit`, `deferIrq`) fire the faults of the run's schedule that
// target this core once their time has come, each at most `count` times, and count what they did.

/** Between filling a buffer (vring buffer, pbuf packet, ICBMsg block) and publishing its index. */
export const PT_PUBLISH = 0;
/** Between a mailbox / IPC peripheral write and the interrupt it raises. */
export const PT_MBOX_IRQ = 1;
/** On entry to an interrupt service routine. */
export const PT_ISR = 2;
/** While a hardware spinlock is held. */
export const PT_SPIN_HOLD = 3;
export const PERTURB_POINTS = 4;
export const POINT_NAMES: readonly string[] = ['publish', 'mbox-irq', 'isr', 'spin-hold'];

/** First word of every stress payload (little-endian "STRS"); bit flips only hit such payloads. */
export const STRESS_MAGIC = 0x53525453;

/** Faults that fire inside shared code on the core they target. */
export type HookFaultKind = 'mailbox-drop' | 'delayed-irq' | 'bit-flip' | 'corrupt-index';

export interface HookFault {
  /** Id of the fault in the run's schedule. */
  id: number;
  kind: HookFaultKind;
  /** Milliseconds after the run's start from which the fault is armed. */
  atMs: number;
  /** How many occurrences it fires at most. */
  count: number;
  /** Only on traffic towards this core (name), when given. */
  peer?: string;
  /** delayed-irq: how long the interrupt is held back. */
  delayMs?: number;
}

export interface PerturbConfig {
  seed: number;
  /** Index of the core whose thread this runs on (mixed into the hash). */
  core: number;
  /** Absolute start of the run in ms (performance.timeOrigin + performance.now()), shared by all cores. */
  t0: number;
  /** Per point (PT_*): probability that an occurrence is delayed, and the longest delay in µs. */
  points: { p: number; maxUs: number }[];
  faults: HookFault[];
}

export interface PerturbStats {
  /** Occurrences seen and delayed, per point. */
  seen: number[];
  delayed: number[];
  delayedUs: number;
  /** Per fault id: how many times it fired. */
  fired: Record<number, number>;
}

/** Hot-path guard. */
export const PERTURB = { on: false };

let cfg: PerturbConfig | undefined;
const counters = new Uint32Array(PERTURB_POINTS);
const delayed = new Uint32Array(PERTURB_POINTS);
let delayedUs = 0;
let fired: number[] = [];
let sleepCell: Int32Array | undefined;

/** 32-bit mix (murmur3 finalizer over a running combination). */
export function mix32(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: a small seeded 32-bit PRNG, values in [0, 1) (stress plans and traffic generators). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A number in [0, 1) fixed by (seed, core, point, n). */
export function occurrenceFraction(seed: number, core: number, point: number, n: number): number {
  return mix32(mix32(mix32(seed, core), point), n) / 4294967296;
}

/** Installs (or, with undefined, removes) this thread's perturbation configuration. */
export function installPerturbation(c: PerturbConfig | undefined): void {
  cfg = c;
  counters.fill(0);
  delayed.fill(0);
  delayedUs = 0;
  fired = c ? c.faults.map(() => 0) : [];
  PERTURB.on = c !== undefined;
}

export function elapsedMs(): number {
  return cfg ? performance.timeOrigin + performance.now() - cfg.t0 : 0;
}

/** Blocks this thread for `us` microseconds without spinning. */
export function blockFor(us: number): void {
  if (us <= 0) return;
  sleepCell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(sleepCell, 0, 0, us / 1000);
}

/** The seeded delay of this occurrence of `point`. */
export function perturbAt(point: number): void {
  const c = cfg;
  if (!c) return;
  const n = counters[point]!++;
  const pp = c.points[point];
  if (!pp || pp.p <= 0) return;
  if (occurrenceFraction(c.seed, c.core, point, n) >= pp.p) return;
  const us = 1 + Math.floor(occurrenceFraction(c.seed ^ 0x5bd1e995, c.core, point, n) * pp.maxUs);
  delayed[point]!++;
  delayedUs += us;
  blockFor(us);
}

/**
 * Consumes one occurrence of an armed fault of `kind` for traffic to `peer` (any peer when the
 * fault names none). Returns the fault, or undefined when none is armed.
 */
export function takeFault(kind: HookFaultKind, peer?: string): HookFault | undefined {
  const c = cfg;
  if (!c) return undefined;
  let now = -1;
  for (let i = 0; i < c.faults.length; i++) {
    const f = c.faults[i]!;
    if (f.kind !== kind || fired[i]! >= f.count) continue;
    if (f.peer !== undefined && peer !== undefined && f.peer !== peer) continue;
    if (now < 0) now = elapsedMs();
    if (now < f.atMs) continue;
    fired[i]!++;
    return f;
  }
  return undefined;
}

/**
 * Bit-flip fault: flips one bit of the stress payload at u8[off, off+len) after it was written and
 * before it is published, as a memory error would. Only payloads that start with STRESS_MAGIC and
 * carry at least 16 bytes are hit (never a protocol header), and never their magic word.
 */
export function flipPayloadBit(u8: Uint8Array, off: number, len: number, peer?: string): boolean {
  if (len < 16 || u8[off] !== (STRESS_MAGIC & 0xff) || u8[off + 1] !== ((STRESS_MAGIC >>> 8) & 0xff)
      || u8[off + 2] !== ((STRESS_MAGIC >>> 16) & 0xff) || u8[off + 3] !== STRESS_MAGIC >>> 24) return false;
  const f = takeFault('bit-flip', peer);
  if (!f) return false;
  const h = mix32(mix32(cfg!.seed, f.id), fired[cfg!.faults.indexOf(f)]!);
  const byte = 4 + (h % (len - 4));
  u8[off + byte]! ^= 1 << ((h >>> 24) & 7);
  return true;
}

/**
 * Delayed-interrupt fault: when armed, schedules `raise` after the fault's delay and returns true
 * (the caller must not raise the line itself); otherwise returns false.
 */
export function deferIrq(raise: () => void, peer?: string): boolean {
  const f = takeFault('delayed-irq', peer);
  if (!f) return false;
  setTimeout(raise, f.delayMs ?? 2);
  return true;
}

export function perturbStats(): PerturbStats {
  const out: Record<number, number> = {};
  cfg?.faults.forEach((f, i) => {
    out[f.id] = fired[i]!;
  });
  return { seen: [...counters], delayed: [...delayed], delayedUs, fired: out };
}
