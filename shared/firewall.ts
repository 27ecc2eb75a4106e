// Firewalls: per-core write access rules over the physical address space, checked by each core's
// bus (shared/bus.ts). As on silicon (TI's firewalls, Nordic's SPU), a refused write does not land.

/**
 * A firewall rule: only `cores` may write [base, base+size). Writes by any other core through its
 * bus are refused (the write does not land) with a FirewallFault. Addresses no rule covers are
 * open to every core that has them mapped.
 */
export interface FirewallRule {
  /** What the range is ("vring mcu1_0<->mcu2_0", "ipc0 tx of cpuapp"). */
  name: string;
  base: number;
  size: number;
  /** The core (or cores, "a+b") the range belongs to, for messages. */
  owner: string;
  /** Cores allowed to write. */
  cores: string[];
}
