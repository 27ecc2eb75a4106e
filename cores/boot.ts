// What the host hands each core worker at spawn time (structured-clone safe; SharedArrayBuffers
// are shared, not copied). Shared by soc/ (which builds it) and cores/ (which reads it).

import type { MessagePort } from 'node:worker_threads';
import type { RegionDescriptor } from '../shared/memory-map.js';

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

export interface SocImage {
  platform: 'j721e';
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
}

export interface CoreBoot {
  image: SocImage;
  index: number;
  logLevel: string;
  logPort: MessagePort;
  /** Milliseconds the core waits after power-on before its OS starts (Linux boots late). */
  bootDelayMs: number;
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
