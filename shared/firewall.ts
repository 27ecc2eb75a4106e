// Firewalls: per-core write access rules over the physical address space, checked by each core's
// bus (shared/bus.ts). As with TI's firewalls and Nordic's SPU, a refused write does not land.
//
// Rules may nest: for every address, the SMALLEST rule containing it decides (among rules of equal
// size, the one declared last). So a region can belong to one core except a word inside it that a
// second core must write (an ICMsg TX region and its reader's rd_idx): declare the region, then
// the word. Addresses no rule covers are open to every core.
//
// Who may do what under the rule that decides an address:
//   - `cores` may write it through the bus and map it (Bus.window);
//   - `readers` may map it but not write it through the bus (drivers keep views of the memory
//     they read, e.g. a receiver's view of its peer's TX region; a window is a raw read-write
//     view, so the firewall can only vet who gets one);
//   - every other core may only read it (bus reads are never refused).

import { BusError } from './bus-error.js';
import { hex } from './memory-map.js';

/**
 * A firewall rule: only `cores` may write [base, base+size). Writes by any other core through its
 * bus are refused (the write does not land) with a FirewallFault. Addresses no rule covers are
 * open to every core that has them mapped.
 */
export interface FirewallRule {
  /** What the range is ("vring mcu1_0<->mcu2_0", "ipc0 tx-region of cpuapp"). */
  name: string;
  base: number;
  size: number;
  /** The core (or cores, "a+b") the range belongs to, for messages. */
  owner: string;
  /** Cores allowed to write. */
  cores: string[];
  /** Cores that may map the range (Bus.window) to read it, though their bus writes are refused. */
  readers?: string[];
}

/** What a core may do at an address (per rule, for one core). */
export const FIREWALL_NONE = 0;
export const FIREWALL_MAP = 1;
export const FIREWALL_WRITE = 2;

export class FirewallRuleError extends Error {
  override name = 'FirewallRuleError';
}

/**
 * A write (or a read-write mapping) the firewall refused. Nothing was written. `address` and `size`
 * are the access's; `refusedAddress` is its first byte the rule covers.
 */
export class FirewallFault extends BusError {
  override name = 'FirewallFault';
  constructor(
    /** The core that tried. */
    readonly core: string,
    /** "write32", "write16", "write8", "writeBytes" or "map". */
    readonly op: string,
    address: number,
    readonly size: number,
    readonly refusedAddress: number,
    /** The rule's name. */
    readonly region: string,
    readonly owner: string,
  ) {
    const where = refusedAddress === address ? `region "${region}"` : `${hex(refusedAddress)} is in region "${region}", which`;
    const what = op === 'map'
      ? `map ${hex(address)} (${size} bytes) read-write: ${where} belongs to ${owner}; the mapping was refused`
      : `${op} ${hex(address)} (${size} bytes): ${where} belongs to ${owner}; the write was refused`;
    super(`firewall: core ${core} may not ${what}`, address);
  }
}

/** Checks rules: names, integer ranges inside the 32-bit space, core lists. Throws FirewallRuleError. */
export function validateFirewallRules(rules: readonly FirewallRule[]): void {
  rules.forEach((r, i) => {
    const what = `firewall rule ${i} ("${r.name}")`;
    if (typeof r.name !== 'string' || r.name.length === 0) throw new FirewallRuleError(`firewall rule ${i}: needs a name`);
    if (!Number.isInteger(r.base) || r.base < 0 || !Number.isInteger(r.size) || r.size <= 0 || r.base + r.size > 0x1_0000_0000) {
      throw new FirewallRuleError(`${what}: base ${r.base} size ${r.size}; expected integers with size > 0 inside the 32-bit address space`);
    }
    if (!Array.isArray(r.cores) || r.cores.some((c) => typeof c !== 'string')) throw new FirewallRuleError(`${what}: cores must be a list of core names`);
    if (r.readers !== undefined && (!Array.isArray(r.readers) || r.readers.some((c) => typeof c !== 'string'))) {
      throw new FirewallRuleError(`${what}: readers must be a list of core names`);
    }
  });
}

/** A stretch of addresses decided by one rule. */
export interface FirewallSegment {
  base: number;
  /** One past the last address. */
  end: number;
  rule: FirewallRule;
}

/**
 * Flattens (possibly nested or overlapping) rules into disjoint segments sorted by address: each
 * address maps to the smallest rule containing it, the last declared among equal sizes. Gaps (no
 * rule) are left out. O(boundaries x rules), done once per bus.
 */
export function compileFirewall(rules: readonly FirewallRule[]): FirewallSegment[] {
  validateFirewallRules(rules);
  const bounds = [...new Set(rules.flatMap((r) => [r.base, r.base + r.size]))].sort((a, b) => a - b);
  const out: FirewallSegment[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const lo = bounds[k]!;
    const hi = bounds[k + 1]!;
    let best: FirewallRule | undefined;
    for (const r of rules) {
      if (r.base <= lo && r.base + r.size >= hi && (best === undefined || r.size <= best.size)) best = r;
    }
    if (!best) continue;
    const last = out[out.length - 1];
    if (last && last.rule === best && last.end === lo) last.end = hi;
    else out.push({ base: lo, end: hi, rule: best });
  }
  return out;
}

/** The rule that decides `addr`, or undefined when no rule covers it. */
export function firewallRuleAt(segments: readonly FirewallSegment[], addr: number): FirewallRule | undefined {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = segments[mid]!;
    if (addr < s.base) hi = mid - 1;
    else if (addr >= s.end) lo = mid + 1;
    else return s.rule;
  }
  return undefined;
}

/** One core's compiled view of the rules: what it may do per segment, looked up by binary search. */
export class CoreFirewall {
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  private readonly access: Uint8Array;
  private readonly rules: FirewallRule[];
  private readonly n: number;

  constructor(rules: readonly FirewallRule[], readonly core: string) {
    const segs = compileFirewall(rules);
    this.n = segs.length;
    this.starts = Float64Array.from(segs, (s) => s.base);
    this.ends = Float64Array.from(segs, (s) => s.end);
    this.rules = segs.map((s) => s.rule);
    this.access = Uint8Array.from(segs, (s) =>
      s.rule.cores.includes(core) ? FIREWALL_WRITE : s.rule.readers?.includes(core) ? FIREWALL_MAP : FIREWALL_NONE);
  }

  /** FIREWALL_WRITE, FIREWALL_MAP or FIREWALL_NONE for this core at `addr` (FIREWALL_WRITE where no rule applies). */
  accessAt(addr: number): number {
    const i = this.first(addr);
    return i < this.n && this.starts[i]! <= addr ? this.access[i]! : FIREWALL_WRITE;
  }

  /** Throws FirewallFault unless this core may write every byte of [addr, addr+len). */
  checkWrite(addr: number, len: number, op: string): void {
    this.check(addr, len, op, FIREWALL_WRITE);
  }

  /** Throws FirewallFault unless this core may map every byte of [addr, addr+len) (Bus.window). */
  checkMap(addr: number, len: number): void {
    this.check(addr, len, 'map', FIREWALL_MAP);
  }

  private check(addr: number, len: number, op: string, need: number): void {
    if (len <= 0) return;
    const end = addr + len;
    for (let i = this.first(addr); i < this.n && this.starts[i]! < end; i++) {
      if (this.access[i]! < need) {
        const r = this.rules[i]!;
        throw new FirewallFault(this.core, op, addr, len, Math.max(addr, this.starts[i]!), r.name, r.owner);
      }
    }
  }

  /** Index of the first segment ending after `addr` (n when none). */
  private first(addr: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid]! <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
