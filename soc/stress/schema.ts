// The stress campaign's data: the plan a seed expands into (what every core's stress firmware and
// the host follow), what stress firmware returns from main(), and the failures a run reports.
// Pure data and pure functions: stress firmware imports this file too (bundled into its module).

import type { Platform } from '../../cores/boot.js';
import type { HookFault } from '../../shared/perturb.js';
import type { TraceSummary } from '../trace.js';

/** Fault kinds, in the order `--faults` lists them. */
export const FAULT_KINDS = [
  'mailbox-drop', 'spurious-irq', 'delayed-irq', 'core-reset', 'firmware-exception', 'bit-flip', 'corrupt-index', 'firewall',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What the system promises under each fault kind (printed by `stress --help` and the README). */
export const FAULT_PROMISES: Record<FaultKind, { promise: 'survived' | 'detected' | 'reported'; what: string }> = {
  'mailbox-drop': { promise: 'survived', what: 'a sender writes its mailbox without checking FIFOSTATUS, so kicks are dropped by a full FIFO; the vring still holds the messages and the next kick (or the FIN retransmission) delivers them: nothing is lost' },
  'spurious-irq': { promise: 'survived', what: 'an interrupt line is raised with nothing pending; the ISR finds nothing to do' },
  'delayed-irq': { promise: 'survived', what: 'the interrupt of a mailbox / IPC write arrives milliseconds late; nothing is lost or reordered' },
  'core-reset': { promise: 'survived', what: 'a core is reset mid-traffic (its worker terminated and booted again); links whose protocol recovers survive: J7 Linux<->core (remoteproc crash recovery: vdev re-created, late attach, re-announce, rpmsg_char reopened) and nRF5340 ICMsg in session mode (re-bond); links whose real protocol has no recovery (PDK RTOS<->RTOS, ICBMsg) are reported (the peer refuses them) and may lose messages; nothing is duplicated, reordered or corrupted and no other core crashes' },
  'firmware-exception': { promise: 'reported', what: 'a core\'s firmware throws; that core faults and the run names it; the other cores keep running and finish' },
  'bit-flip': { promise: 'detected', what: 'a bit of a payload flips in shared memory between fill and publish; the receiver\'s checksum catches it and counts it corrupt, it is never delivered as good data' },
  'corrupt-index': { promise: 'reported', what: 'a vring index (J7) or an ICBMsg block index (nRF5340) is corrupted; the receiver refuses it with an error naming the ring or block, without crashing or reading outside its region; that link\'s later traffic may be lost' },
  'firewall': { promise: 'reported', what: 'a core writes into a region it does not own; the firewall refuses the write (it does not land) and raises a fault naming the core, address, region and owner' },
};

export const INVARIANTS = [
  'no-loss', 'no-duplicate', 'in-order', 'payload-intact', 'spinlock-exclusive', 'mailbox-fifo-depth',
  'vring-ownership', 'no-leak', 'progress', 'fault-promise',
] as const;
export type Invariant = (typeof INVARIANTS)[number];

/** One direction of traffic between two cores. */
export interface FlowPlan {
  id: number;
  from: string;
  to: string;
  /** J7: 'rpmsg' (PDK RPMessage, RTOS<->RTOS and RTOS->Linux) or 'rpmsg-char' (Linux user space -> RTOS); nRF5340: the endpoint name. */
  channel: string;
  /** nRF5340: the ipc_service instance ("ipc0", "ipc1"). */
  instance?: string;
  /** Seeds the flow's payload bytes and lengths. */
  seed: number;
  minLen: number;
  maxLen: number;
  /** Percentage of 1..15-byte messages. */
  tinyPct: number;
  /** Largest burst sent back to back before a pause. */
  burstMax: number;
  /** Longest pause between bursts, µs. */
  gapMaxUs: number;
  /** nRF5340: send with ipc_service_get_tx_buffer / send_nocopy. */
  zeroCopy: boolean;
  /** nRF5340: the receiver holds some RX buffers and releases them later. */
  holdRx: boolean;
}

/** One fault of the schedule. */
export interface FaultEvent {
  id: number;
  kind: FaultKind;
  /** The core it happens on (the sender for mailbox-drop, bit-flip, corrupt-index, delayed-irq). */
  core: string;
  /** Milliseconds after the run's start. */
  atMs: number;
  /** Only on traffic to this core. */
  peer?: string;
  /** Occurrences (bit flips, dropped-check writes, delayed interrupts...). */
  count: number;
  delayMs?: number;
  /** spurious-irq: the interrupt line. */
  line?: number;
  /** firewall: the physical address the core tries to write (one it may not write). */
  addr?: number;
}

export interface SpinlockPlan {
  /** Hardware spinlock ids used (one counter per lock). */
  locks: number[];
  /** Physical address of the counters (u32 each, one per lock), in RAM every RTOS core reaches. */
  counterAddr: number;
  /** Locked increments each participating core performs per lock. */
  incrementsPerCore: number;
  /** Cores that take part. */
  cores: string[];
}

export interface StressPlan {
  version: 1;
  seed: number;
  profile: string;
  platform: Platform;
  /** Length of the traffic phase, ms. */
  durationMs: number;
  flows: FlowPlan[];
  spinlock?: SpinlockPlan;
  /** Per perturbation point (shared/perturb.ts PT_*): probability and longest delay (µs). */
  perturb: { p: number; maxUs: number }[];
  faults: FaultEvent[];
  /** Firewalls on in this run. */
  firewall: boolean;
}

/** The fault hooks of `core` (what shared code fires on that core's thread). */
export function hookFaultsOf(plan: StressPlan, core: string): HookFault[] {
  const out: HookFault[] = [];
  for (const f of plan.faults) {
    if (f.core !== core) continue;
    if (f.kind === 'mailbox-drop' || f.kind === 'delayed-irq' || f.kind === 'bit-flip' || f.kind === 'corrupt-index') {
      out.push({ id: f.id, kind: f.kind, atMs: f.atMs, count: f.count, peer: f.peer, delayMs: f.delayMs });
    }
  }
  return out;
}

/**
 * Flows whose end-to-end loss check does not apply, and why: flows to or from a core that faults
 * or resets, and flows over a link whose index is corrupted. Order, duplication and integrity are
 * still checked on them.
 */
export function lossExempt(plan: StressPlan): Map<number, string> {
  const out = new Map<number, string>();
  for (const f of plan.faults) {
    for (const flow of plan.flows) {
      if ((f.kind === 'firmware-exception' || f.kind === 'core-reset') && (flow.from === f.core || flow.to === f.core)) {
        out.set(flow.id, `${f.kind} of ${f.core} at ${f.atMs} ms`);
      }
      // A corrupted ring or block index breaks the link it is on: messages of both directions
      // may be lost (the reverse direction loses its ACKs, and on J7 the announcement to the
      // faulty side may never have got through).
      const forward = flow.from === f.core && (f.peer === undefined || flow.to === f.peer);
      const reverse = flow.to === f.core && (f.peer === undefined || flow.from === f.peer);
      if (f.kind === 'corrupt-index' && (forward || reverse)) {
        if (plan.platform === 'nrf5340' && flow.instance !== undefined && !flowOnIcbmsg(flow)) continue;
        out.set(flow.id, `corrupt-index on ${f.core}${f.peer ? `->${f.peer}` : ''} at ${f.atMs} ms`);
      }
    }
  }
  return out;
}

/** nRF5340: flows on the ICBMsg instance are the ones a block-index corruption can hit. */
export const flowOnIcbmsg = (flow: FlowPlan): boolean => flow.instance === 'ipc0';

/** A core that stops running stress traffic at some point of the run (its firmware throws). */
export function faultingCores(plan: StressPlan): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of plan.faults) if (f.kind === 'firmware-exception') out.set(f.core, f.atMs);
  return out;
}

// ---- what stress firmware returns ---------------------------------------------------------------

export interface Violation {
  invariant: Invariant;
  /** The core that saw it. */
  core: string;
  flow?: number;
  peer?: string;
  endpoint?: string;
  expected: string;
  seen: string;
  detail: string;
}

export interface FlowTxReport {
  id: number;
  sent: number;
  bytes: number;
  /** Sends refused by the IPC layer (no buffer: retried later). */
  busy: number;
  /** The receiver acknowledged the FIN with this count (undefined: never acknowledged). */
  ackedReceived?: number;
  ackedCorrupt?: number;
}

export interface FlowRxReport {
  id: number;
  received: number;
  bytes: number;
  /** Payloads whose checksum or content was wrong (detected corruption). */
  corrupt: number;
  /** Sequence numbers skipped (only allowed on loss-exempt flows). */
  skipped: number;
  /** The FIN arrived, carrying the sender's count. */
  finSent?: number;
  /** Times the sender restarted the flow at seq 0 (it was reset: core-reset). */
  restarts?: number;
}

/** Something a fault was promised to cause and the firmware observed (a caught firewall fault...). */
export interface Detection {
  kind: FaultKind;
  faultId?: number;
  detail: string;
}

export interface StressCoreReport {
  core: string;
  tx: FlowTxReport[];
  rx: FlowRxReport[];
  /** Locked increments done, per lock id. */
  increments?: Record<number, number>;
  detected: Detection[];
  violations: Violation[];
}

// ---- what a run and a campaign report ------------------------------------------------------------

export interface Failure {
  seed: number;
  invariant: string;
  /** Core(s) involved. */
  cores: string[];
  endpoint?: string;
  expected?: string;
  seen?: string;
  detail: string;
  /** The command that replays this seed. */
  replay: string;
}

export interface FaultOutcome {
  id: number;
  kind: FaultKind;
  core: string;
  atMs: number;
  /** Times it fired (0: it never came into play in this run). */
  fired: number;
  outcome: 'survived' | 'detected' | 'reported' | 'not fired';
  detail?: string;
}

export interface RunResult {
  seed: number;
  ok: boolean;
  messages: number;
  bytes: number;
  faults: FaultOutcome[];
  invariantsChecked: number;
  failures: Failure[];
  wallMs: number;
  /** The run was traced (`--trace-seed`): what its trace file holds. */
  trace?: TraceSummary;
}

export interface CampaignReport {
  ok: boolean;
  profile: string;
  mutation?: string;
  /** Seeds run (after sharding). */
  seeds: number[];
  shard?: { index: number; count: number };
  runs: number;
  messages: number;
  bytes: number;
  /** Faults injected (fired), total and per kind. */
  faults: number;
  faultsByKind: Record<string, number>;
  invariantsChecked: number;
  failures: Failure[];
  wallMs: number;
}
