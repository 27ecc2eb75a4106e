// The SoC's physical memory map: regions backed by SharedArrayBuffer at their real physical
// addresses (J721E: mailboxes 0x31F80000, spinlocks 0x30E00000, VRINGs 0xAA000000; nRF5340: IPC
// shared RAM 0x20070000). A region is either RAM (plain bytes any core may read and write) or a
// device (registers with side effects, reached through a DeviceModel).
//
// The map is built once on the host and handed to every core; each thread then builds its own views.

/** Largest physical address + 1 (32-bit address space). */
export const ADDRESS_SPACE_END = 0x1_0000_0000;

export type RegionKind = 'ram' | 'device';

/** A region as it travels from the host to the cores (structured-clone safe: SABs are shared). */
export interface RegionDescriptor {
  /** Unique name, e.g. "vring", "mailbox", "rsc-table.mcu1_0". */
  name: string;
  /** Physical base address. */
  base: number;
  /** Size in bytes. */
  size: number;
  kind: RegionKind;
  /** For devices: which device model serves the registers ("mailbox", "spinlock", ...). */
  device?: string;
  /** Backing store. For RAM, byte 0 of the SAB is `base`; for devices, the model's state. */
  sab: SharedArrayBuffer;
  /** Byte offset of the region inside `sab` (RAM), or of the device state (device). */
  byteOffset: number;
  /** Who the region belongs to (a core name, or "shared"); used in diagnostics. */
  owner?: string;
}

export class MemoryMapError extends Error {
  override name = 'MemoryMapError';
}

export const hex = (v: number): string => '0x' + (v >>> 0).toString(16).toUpperCase().padStart(8, '0');

/**
 * Checks a set of regions: inside the 32-bit space, non-empty, backing store large enough, and no
 * two regions overlapping. Returns them sorted by base address. Throws MemoryMapError naming the
 * regions and addresses involved.
 */
export function validateRegions(regions: readonly RegionDescriptor[]): RegionDescriptor[] {
  const names = new Set<string>();
  for (const r of regions) {
    if (names.has(r.name)) throw new MemoryMapError(`memory map: region name "${r.name}" is used twice`);
    names.add(r.name);
    if (!Number.isInteger(r.base) || !Number.isInteger(r.size) || r.size <= 0) {
      throw new MemoryMapError(`memory map: region "${r.name}" has base ${r.base} and size ${r.size}; expected integers with size > 0`);
    }
    if (r.base < 0 || r.base + r.size > ADDRESS_SPACE_END) {
      throw new MemoryMapError(
        `memory map: region "${r.name}" [${hex(r.base)}, ${hex(r.base + r.size - 1)}] lies outside the 32-bit address space`);
    }
    if (r.kind === 'ram' && r.byteOffset + r.size > r.sab.byteLength) {
      throw new MemoryMapError(`memory map: region "${r.name}" needs ${r.size} bytes at offset ${r.byteOffset} but its buffer holds ${r.sab.byteLength}`);
    }
  }
  const sorted = [...regions].sort((a, b) => a.base - b.base);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.base < prev.base + prev.size) {
      throw new MemoryMapError(
        `memory map: region "${cur.name}" [${hex(cur.base)}, ${hex(cur.base + cur.size - 1)}] overlaps region "${prev.name}" [${hex(prev.base)}, ${hex(prev.base + prev.size - 1)}]`);
    }
  }
  return sorted;
}

/** Finds the region holding [addr, addr+len) in a list sorted by base, or undefined. */
export function findRegion(sorted: readonly RegionDescriptor[], addr: number, len = 1): RegionDescriptor | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = sorted[mid]!;
    if (addr < r.base) hi = mid - 1;
    else if (addr >= r.base + r.size) lo = mid + 1;
    else return addr + len <= r.base + r.size ? r : undefined;
  }
  return undefined;
}

/** Allocates one SharedArrayBuffer-backed RAM region. */
export function ramRegion(name: string, base: number, size: number, owner = 'shared'): RegionDescriptor {
  return { name, base, size, kind: 'ram', sab: new SharedArrayBuffer(size), byteOffset: 0, owner };
}
