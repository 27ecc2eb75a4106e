// A core's view of the physical address space: reads and writes by address, dispatched to RAM
// (SharedArrayBuffer) or to a device model's registers (with their side effects).
// Aligned 32-bit RAM accesses use Atomics so that a value written by one core is seen whole by the
// others; device registers must be accessed as aligned 32-bit words, as on the TI and Nordic buses.
// With firewall rules (shared/firewall.ts), every write and every read-write mapping (window) is
// checked before anything lands; reads are never refused. Without rules the check is one branch.

import { BusError } from './bus-error.js';
import { CoreFirewall, type FirewallRule } from './firewall.js';
import { type RegionDescriptor, findRegion, hex, validateRegions } from './memory-map.js';

export { BusError } from './bus-error.js';

/** Registers of a device, addressed by byte offset from the region base. */
export interface DeviceModel {
  read32(offset: number, accessor: number): number;
  write32(offset: number, value: number, accessor: number): void;
}

interface MappedRegion {
  desc: RegionDescriptor;
  u8?: Uint8Array;
  i32?: Int32Array;
  dv?: DataView;
  device?: DeviceModel;
}

export class Bus {
  private readonly sorted: RegionDescriptor[];
  private readonly mapped = new Map<RegionDescriptor, MappedRegion>();
  /** This core's compiled rules; undefined when firewalls are off. */
  private readonly fw: CoreFirewall | undefined;

  /**
   * @param regions the SoC memory map
   * @param devices device models by name (RegionDescriptor.device)
   * @param who the accessing core: its name (for messages) and index (passed to devices as accessor)
   * @param firewall write-access rules (undefined: firewalls off); a refused write or window
   *   throws FirewallFault (a BusError) and nothing is written
   */
  constructor(regions: readonly RegionDescriptor[], devices: Readonly<Record<string, DeviceModel>>,
              readonly who: { name: string; index: number }, readonly firewall?: readonly FirewallRule[]) {
    this.sorted = validateRegions(regions);
    this.fw = firewall ? new CoreFirewall(firewall, who.name) : undefined;
    for (const r of this.sorted) {
      if (r.kind === 'ram') {
        this.mapped.set(r, {
          desc: r,
          u8: new Uint8Array(r.sab, r.byteOffset, r.size),
          i32: r.byteOffset % 4 === 0 ? new Int32Array(r.sab, r.byteOffset, r.size >> 2) : undefined,
          dv: new DataView(r.sab, r.byteOffset, r.size),
        });
      } else {
        const device = r.device !== undefined ? devices[r.device] : undefined;
        if (!device) throw new BusError(`bus of ${who.name}: device region "${r.name}" has no model "${r.device}"`, r.base);
        this.mapped.set(r, { desc: r, device });
      }
    }
  }

  /** All regions, sorted by base address. */
  get regions(): readonly RegionDescriptor[] {
    return this.sorted;
  }

  private resolve(addr: number, len: number, op: string): MappedRegion {
    if (!Number.isInteger(addr) || addr < 0 || addr > 0xFFFF_FFFF) {
      throw new BusError(`${this.who.name}: bus error: ${op} at ${String(addr)}: not a 32-bit physical address`, addr);
    }
    const r = findRegion(this.sorted, addr, len);
    if (!r) {
      const start = findRegion(this.sorted, addr, 1);
      const why = start ? `runs past the end of region "${start.name}" (ends at ${hex(start.base + start.size - 1)})` : 'no region is mapped there';
      throw new BusError(`${this.who.name}: bus error: ${op} at ${hex(addr)} (${len} bytes): ${why}`, addr);
    }
    return this.mapped.get(r)!;
  }

  private device(m: MappedRegion, addr: number, op: string): DeviceModel {
    if (addr % 4 !== 0) {
      throw new BusError(`${this.who.name}: bus error: ${op} at ${hex(addr)}: device "${m.desc.name}" registers need aligned 32-bit access`, addr);
    }
    return m.device!;
  }

  read32(addr: number): number {
    const m = this.resolve(addr, 4, 'read32');
    const off = addr - m.desc.base;
    if (m.device) return this.device(m, addr, 'read32').read32(off, this.who.index) >>> 0;
    if (m.i32 && off % 4 === 0) return Atomics.load(m.i32, off >> 2) >>> 0;
    return m.dv!.getUint32(off, true);
  }

  write32(addr: number, value: number): void {
    const m = this.resolve(addr, 4, 'write32');
    if (this.fw !== undefined) this.fw.checkWrite(addr, 4, 'write32');
    const off = addr - m.desc.base;
    if (m.device) return this.device(m, addr, 'write32').write32(off, value >>> 0, this.who.index);
    if (m.i32 && off % 4 === 0) Atomics.store(m.i32, off >> 2, value | 0);
    else m.dv!.setUint32(off, value >>> 0, true);
  }

  read16(addr: number): number {
    const m = this.ram(addr, 2, 'read16');
    return m.dv!.getUint16(addr - m.desc.base, true);
  }

  write16(addr: number, value: number): void {
    const m = this.ram(addr, 2, 'write16');
    if (this.fw !== undefined) this.fw.checkWrite(addr, 2, 'write16');
    m.dv!.setUint16(addr - m.desc.base, value & 0xFFFF, true);
  }

  read8(addr: number): number {
    const m = this.ram(addr, 1, 'read8');
    return m.u8![addr - m.desc.base]!;
  }

  write8(addr: number, value: number): void {
    const m = this.ram(addr, 1, 'write8');
    if (this.fw !== undefined) this.fw.checkWrite(addr, 1, 'write8');
    m.u8![addr - m.desc.base] = value & 0xFF;
  }

  /** Copies `len` bytes starting at `addr` out of RAM. */
  readBytes(addr: number, len: number): Uint8Array {
    const m = this.ram(addr, len, 'readBytes');
    const off = addr - m.desc.base;
    return m.u8!.slice(off, off + len);
  }

  /** Copies bytes into RAM at `addr`. */
  writeBytes(addr: number, data: Uint8Array): void {
    const m = this.ram(addr, data.length, 'writeBytes');
    if (this.fw !== undefined) this.fw.checkWrite(addr, data.length, 'writeBytes');
    m.u8!.set(data, addr - m.desc.base);
  }

  /**
   * The backing store of [addr, addr+len) for code that keeps its own typed-array views of a
   * shared structure (vrings, packet buffers). The range must lie inside one RAM region. A window
   * is a read-write mapping: with firewalls on, every byte of it must be writable by this core or
   * readable under a rule that lists it as a reader (FirewallFault otherwise).
   */
  window(addr: number, len: number): { sab: SharedArrayBuffer; byteOffset: number; region: RegionDescriptor } {
    const m = this.ram(addr, len, 'map');
    if (this.fw !== undefined) this.fw.checkMap(addr, len);
    return { sab: m.desc.sab, byteOffset: m.desc.byteOffset + (addr - m.desc.base), region: m.desc };
  }

  /** The region holding `addr`, if any. */
  regionAt(addr: number): RegionDescriptor | undefined {
    return findRegion(this.sorted, addr, 1);
  }

  private ram(addr: number, len: number, op: string): MappedRegion {
    const m = this.resolve(addr, len, op);
    if (m.device) {
      throw new BusError(`${this.who.name}: bus error: ${op} at ${hex(addr)}: device "${m.desc.name}" registers need aligned 32-bit access`, addr);
    }
    return m;
  }
}
