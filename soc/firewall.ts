// The SoCs' firewall rules: which core may write which memory (shared/firewall.ts enforces them in
// every core's bus). Built-in rules give each core the regions its IPC needs and nothing else;
// a profile may add its own rules, which come after (so, nested inside a built-in rule, the
// smaller one decides).
//
// J721E:
//   - "vring A<->B": the 512 KiB of each PDK core pair (both TX vrings and both buffer areas, as
//     pdkPairLayout places them from 0xAA000000): A and B only. Every PDK pair, so a board without
//     some core still keeps the others out of that core's pairs.
//   - "dma.X" and "rsc-table.X" (cores that talk to Linux): X and the Linux core(s).
//   - "mailbox cluster K": the 4 KiB register window of cluster K: the cores that receive on one of
//     its queues and the cores that send to those queues (PDK queue table); clusters no queue uses
//     belong to no core.
//   - open: the spinlock bank, MSMC SRAM, the tail of the vring region no pair uses.
// nRF5340:
//   - "<ram region>" (the IPC shared RAM): the application core (the first core) owns what no IPC
//     instance covers.
//   - "<inst> tx-region of S": each instance's TX region belongs to its sender S; its receiver R
//     (the core whose rx-region it is) may map it to read it;
//   - "<inst> rd_idx of R in S's tx-region": nested in it, the pbuf's reader words (rd_idx, and
//     the handshake word in session modes: everything before wr_idx, i.e. MAX(dcache-alignment, 4)
//     bytes at the pbuf start; ICBMsg's pbuf starts at the region rounded up to that alignment)
//     may be written by R (its rd_idx) and S (pbuf_tx_init resets it).
//   - "ipc.X": core X's own IPC peripheral window.

import type { SocImage } from '../cores/boot.js';
import { type FirewallRule, validateFirewallRules } from '../shared/firewall.js';
import { icbmsgRegionLayout } from '../shared/icbmsg-layout.js';
import {
  IPC_MAX_PROCS, IPC_VRING_SIZE, J721E_MAILBOX_BASE, J721E_MAILBOX_CLUSTERS, J721E_MAILBOX_CLUSTER_STRIDE, J721E_PROC_NAMES,
  J721E_RX_QUEUE, J721E_VRING_BASE, pdkPairLayout,
} from '../shared/j721e.js';
import { pbufWrIdxOffset } from '../shared/pbuf.js';
import type { SocProfile } from './profile.js';

/**
 * Whether a run has firewalls on: when asked (`soc --firewall`, stress runs), or when the profile
 * declares rules of its own (a board that declares access rules wants them enforced).
 */
export function firewallWanted(profile: SocProfile, requested: boolean | undefined): boolean {
  return requested === true || profile.firewall !== undefined;
}

const ownerOf = (cores: readonly string[]): string => (cores.length ? cores.join('+') : 'no core');

/** The built-in rules of the image's platform, then the profile's own. */
export function firewallRules(profile: SocProfile, image: SocImage): FirewallRule[] {
  const rules = image.platform === 'nrf5340' ? nrf5340FirewallRules(image) : j721eFirewallRules(image);
  for (const r of profile.firewall ?? []) {
    rules.push({ name: r.name, base: r.base, size: r.size, owner: ownerOf(r.cores), cores: [...r.cores], ...(r.readers ? { readers: [...r.readers] } : {}) });
  }
  validateFirewallRules(rules);
  return rules;
}

/** J721E: vring pairs, Linux DMA regions and resource tables, mailbox clusters. */
export function j721eFirewallRules(image: SocImage): FirewallRule[] {
  const rules: FirewallRule[] = [];
  const vringBase = image.regions.find((r) => r.name === 'vring')?.base ?? J721E_VRING_BASE;
  for (let a = 0; a < IPC_MAX_PROCS; a++) {
    for (let b = a + 1; b < IPC_MAX_PROCS; b++) {
      const areas = [pdkPairLayout(a, b, vringBase), pdkPairLayout(b, a, vringBase)].flatMap((l) => [l.txVring, l.txBufs, l.rxVring, l.rxBufs]);
      const base = Math.min(...areas);
      const size = Math.max(...areas) + IPC_VRING_SIZE - base;
      const pair = [J721E_PROC_NAMES[a]!, J721E_PROC_NAMES[b]!];
      rules.push({ name: `vring ${pair[0]}<->${pair[1]}`, base, size, owner: ownerOf(pair), cores: pair });
    }
  }
  const linux = image.cores.filter((c) => c.os === 'linux').map((c) => c.name);
  for (const r of image.regions) {
    const m = /^(dma|rsc-table)\.(.+)$/.exec(r.name);
    if (!m) continue;
    const cores = [m[2]!, ...linux];
    rules.push({ name: r.name, base: r.base, size: r.size, owner: ownerOf(cores), cores });
  }
  for (let k = 0; k < J721E_MAILBOX_CLUSTERS; k++) {
    const procs = new Set<number>();
    J721E_RX_QUEUE.forEach((queues, recv) => queues.forEach((q, sender) => {
      if (q && q.cluster === k) procs.add(recv).add(sender);
    }));
    const cores = [...procs].sort((x, y) => x - y).map((p) => J721E_PROC_NAMES[p]!);
    rules.push({
      name: `mailbox cluster ${k}`, base: J721E_MAILBOX_BASE + k * J721E_MAILBOX_CLUSTER_STRIDE, size: J721E_MAILBOX_CLUSTER_STRIDE,
      owner: ownerOf(cores), cores,
    });
  }
  return rules;
}

/** nRF5340: shared RAM to the application core, each instance's TX region to its sender, rd_idx to its reader. */
export function nrf5340FirewallRules(image: SocImage): FirewallRule[] {
  const rules: FirewallRule[] = [];
  const app = image.cores[0]?.name;
  if (app !== undefined) {
    for (const r of image.regions) {
      if (r.kind === 'ram') rules.push({ name: r.name, base: r.base, size: r.size, owner: app, cores: [app] });
    }
  }
  for (const c of image.cores) {
    for (const inst of image.zephyr[c.name]?.instances ?? []) {
      const tx = inst.txRegion;
      const readers = image.cores
        .filter((d) => d.name !== c.name && image.zephyr[d.name]?.instances.some((i) => i.rxRegion.base === tx.base))
        .map((d) => d.name);
      rules.push({ name: `${inst.name} tx-region of ${c.name}`, base: tx.base, size: tx.size, owner: c.name, cores: [c.name], readers });
      const pbufBase = inst.compatible === 'zephyr,ipc-icbmsg'
        ? icbmsgRegionLayout({ name: tx.label, ...tx }, inst.txBlocks ?? 1, inst.rxBlocks ?? 1, inst.dcacheAlignment).begin
        : tx.base;
      const readerWords = pbufWrIdxOffset(inst.dcacheAlignment, inst.unbound !== 'disable');
      const writers = [...readers, c.name];
      rules.push({
        name: `${inst.name} rd_idx of ${ownerOf(readers)} in ${c.name}'s tx-region`, base: pbufBase, size: readerWords,
        owner: readers.length ? ownerOf(readers) : c.name, cores: writers,
      });
    }
  }
  for (const [name, ipc] of Object.entries(image.nrfIpc?.cores ?? {})) {
    const r = image.regions.find((x) => x.name === `ipc.${name}` && x.base === ipc.base);
    if (r) rules.push({ name: r.name, base: r.base, size: r.size, owner: name, cores: [name] });
  }
  return rules;
}
