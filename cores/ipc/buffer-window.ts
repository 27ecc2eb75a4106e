// A window of physical memory holding message buffers (a vring's 256 x 512-byte buffers), with
// the check every receiver makes before it trusts an address read from shared memory: the buffer
// must lie wholly inside the window. A corrupted descriptor is refused, never followed.

import type { Bus } from '../../shared/bus.js';
import { hex } from '../../shared/memory-map.js';

export class BufferWindow {
  readonly u8: Uint8Array;
  readonly dv: DataView;

  constructor(bus: Bus, readonly base: number, readonly size: number, readonly label: string) {
    const w = bus.window(base, size);
    this.u8 = new Uint8Array(w.sab, w.byteOffset, size);
    this.dv = new DataView(w.sab, w.byteOffset, size);
  }

  /** Offset of [addr, addr+len) in the window, or -1 when it is not wholly inside. */
  offsetOf(addr: number, len: number): number {
    const off = addr - this.base;
    return off >= 0 && len >= 0 && off + len <= this.size ? off : -1;
  }

  describe(addr: number, len: number): string {
    return `${this.label}: buffer ${hex(addr)} (+${len}) is outside [${hex(this.base)}, ${hex(this.base + this.size - 1)}]`;
  }
}
