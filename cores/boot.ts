// What the host hands each core worker at spawn time (structured-clone safe; SharedArrayBuffers
// are shared, not copied). Shared by soc/ (which builds it) and cores/ (which reads it).

import type { MessagePort } from 'node:worker_threads';
import type { RegionDescriptor } from '../shared/memory-map.js';
import type { FirewallRule } from '../shared/firewall.js';
import type { PerturbConfig } from '../shared/perturb.js';
import type { TraceBoot } from '../shared/trace-ring.js';

export type CoreKind = 'a72' | 'r5f' | 'c66x' | 'c7x' | 'cortex-m33';
export type CoreOs = 'linux' | 'rtos' | 'zephyr';

export interface CoreInfo {
  /** Index of the core in the SoC (its interrupt controller, its bit in shared masks). */
  index: number;
  name: string;
  kind: CoreKind;
  os: CoreOs;
  /** Platform processor id (TI PDK proc id on J721E). */
  procId: number;
}

/** One IPC instance of a Zephyr core, as its devicetree describes it (checked by soc/devicetree). */
export interface ZephyrIpcInstanceImage {
  /** Node name ("ipc0"): what firmware looks the instance up by. */
  name: string;
  labels: string[];
  compatible: 'zephyr,ipc-icmsg' | 'zephyr,ipc-icbmsg';
  txRegion: { label: string; base: number; size: number };
  rxRegion: { label: string; base: number; size: number };
  txBlocks?: number;
  rxBlocks?: number;
  mboxTx: number;
  mboxRx: number;
  dcacheAlignment: number;
  unbound: 'disable' | 'enable' | 'detect';
  /** Where it was defined, for messages ("app.overlay:14:5"). */
  where: string;
}

/** A Zephyr core's configuration from its devicetree and Kconfig. */
export interface ZephyrCoreImage {
  instances: ZephyrIpcInstanceImage[];
  /** The MBOX controller's masks (nordic,mbox-nrf-ipc tx-mask / rx-mask). */
  mboxTxMask: number;
  mboxRxMask: number;
  /** Devicetree files the configuration came from. */
  dtFiles: string[];
  kconfig: Record<string, number>;
}

export type Platform = 'j721e' | 'nrf5340';

export type { FirewallRule } from '../shared/firewall.js';

export interface SocImage {
  platform: Platform;
  profile: string;
  cores: CoreInfo[];
  regions: RegionDescriptor[];
  /** [CoreControl | InterruptController | MailboxTxWait], offsets below. */
  controlSab: SharedArrayBuffer;
  controlLayout: { coreControl: number; irq: number; txWait: number };
  hostCpus: number;
  /** Resource table address linked into each RTOS core's image (J7: cores that talk to Linux). */
  rscTables: Record<string, number>;
  /** Linux DMA region of each remote core (J7). */
  dmaRegions: Record<string, number>;
  /** Zephyr cores' IPC configuration, by core name (nRF5340). */
  zephyr: Record<string, ZephyrCoreImage>;
  /** nRF5340: which IPC instance each core owns, its base address and interrupt line. */
  nrfIpc?: { instances: number; cores: Record<string, { instance: number; base: number; line: number }> };
  /** Firewall rules, when firewalls are on (stress runs, `soc --firewall`, or the profile's own rules). */
  firewall?: FirewallRule[];
}

export interface CoreBoot {
  image: SocImage;
  index: number;
  logLevel: string;
  logPort: MessagePort;
  /** Milliseconds the core waits after power-on before its OS starts (Linux boots late). */
  bootDelayMs: number;
  /** Stress runs: this core's seeded timing perturbation and fault hooks (shared/perturb.ts). */
  perturb?: PerturbConfig;
  /** Tracing: the ring this core (this incarnation) records into (shared/trace-ring.ts). */
  trace?: TraceBoot;
}

export interface CoreRunResult {
  name: string;
  state: string;
  result?: unknown;
  error?: { message: string; stack?: string; where?: string };
}

export interface CoreStatus {
  name: string;
  state: string;
  tasks: { name: string; state: string }[];
  waits: string[];
  stats: Record<string, unknown>;
  error?: { message: string; stack?: string; where?: string };
}
