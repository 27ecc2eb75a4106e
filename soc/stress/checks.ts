// Host-side invariant checks of one stress run (soc/stress/task.ts calls them after Soc.run, while
// the cores still serve their peers, before the SoC is shut down). Inputs: the run's plan, its SoC
// image (the shared memory, read here), and each core's outcome (state, what its stress firmware's
// main() returned = a StressCoreReport, its status() stats). Output: the failures (one per broken
// invariant instance, each naming the seed, cores, what was expected and seen, and the replay
// command), one FaultOutcome per planned fault, and the traffic totals.
//
// What is checked, in order:
// - progress: every core finished, except a core the plan makes throw (firmware-exception);
//   a stuck / unresponsive / crashed core is named with what its tasks wait on (the watchdog).
// - per flow, sender's tx against receiver's rx: no-loss (received + corrupt === sent, the FIN
//   carried `sent`, the sender's ACK agrees with the receiver's counts), unless lossExempt; the
//   firmware's own violations (no-duplicate, in-order, payload-intact...) are passed through.
// - payload-intact / bit-flip: per sending core, corrupt payloads counted by its receivers against
//   the bit flips fired on it (stats.perturb.fired).
// - spinlock-exclusive (J7): the shared counters in RAM against the reports' increments.
// - vring-ownership / no-leak (J7): every RTOS pair's two PDK vrings and every Linux link's two
//   resource-table vrings read from shared memory (see checkPrimedRing / checkLinuxTxRing).
// - mailbox-fifo-depth (J7): no FIFO count above 4 (FifoDepthMonitor samples during the run).
// - no-leak (nRF5340): every ICBMsg instance's TX blocks are free (or stranded by a fault).
// - fault promises (schema.ts FAULT_PROMISES), one FaultOutcome per planned fault. J7 core-reset
//   (the core's outcome is its new incarnation): survived when the Linux link recovered (Linux's
//   report detects a device opened after the reset carrying the new incarnation's messages, the
//   new incarnation got Linux's, Linux re-created the virtio device after a crash report); the
//   RTOS links are reported (the peers' refused rings: TI's PDK has no recovery between RTOS cores).
//   nRF5340 core-reset: survived when every ICMsg (session protocol) link of the reset core
//   re-bonded and carried traffic both ways after the reset (nrfResetOutcome); ICBMsg links are
//   reported (no reset detection in Zephyr), their block checks skipped with a note.

import type { SocImage } from '../../cores/boot.js';
import { J721E_MAILBOX_CLUSTERS, J721E_RX_QUEUE, J721E_VRING_BASE, IPC_MAX_PROCS, pdkPairLayout } from '../../shared/j721e.js';
import { MAILBOX_FIFOS, MAILBOX_FIFO_DEPTH, MBOX_ST_CLUSTERS, MailboxBank } from '../../shared/mailbox.js';
import { type RegionDescriptor, findRegion, hex } from '../../shared/memory-map.js';
import { RPMSG_BUF_SIZE, RPMSG_HDR_SIZE, hdrDst, hdrLen } from '../../shared/rpmsg.js';
import { RSC_TABLE_SIZE, ResourceTableView, TI_VDEV_STATUS_READY } from '../../shared/rsc-table.js';
import {
  CONTROL_LEN, FIN_MAGIC, OFF_FLOW, OFF_SEQ, STRESS_HDR, STRESS_MAGIC, controlFlow, controlKind,
} from '../../shared/stress-payload.js';
import { Vring, vringSize } from '../../shared/vring.js';
import type { CoreOutcome } from '../soc.js';
import {
  FAULT_PROMISES, type Failure, type FaultEvent, type FaultOutcome, type FlowPlan, type Invariant, type StressCoreReport,
  type StressPlan, faultingCores, lossExempt,
} from './schema.js';

/** What checkRun reports. */
export interface CheckResult {
  /** Individual invariant checks performed (one per core, flow, ring, lock, counter compared...). */
  checked: number;
  failures: Failure[];
  /** One per planned fault, in plan order. */
  faults: FaultOutcome[];
  /** Totals of the receivers' rx.received / rx.bytes. */
  messages: number;
  bytes: number;
  /** Checks skipped or relaxed, and why (informational; not failures). */
  notes: string[];
}

export interface CheckInput {
  plan: StressPlan;
  image: SocImage;
  outcomes: CoreOutcome[];
  replay: string;
}

/** Checks a finished stress run. Never throws on malformed reports or stats: they become failures. */
export function checkRun(c: CheckInput): CheckResult {
  return new RunChecker(c).run();
}

// ---- small helpers ------------------------------------------------------------------------------

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const asNum = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const U16 = 0xffff;
/** Linux's first message on an rpmsg_char device (firmware/stress/j7-rtos.ts HELLO_MAGIC, "HELO"). */
const HELLO_MAGIC = 0x4f4c4548;
/** Linux MAX_RPMSG_NUM_BUFS / 2: TX buffers of one virtio rpmsg device at most. */
const LINUX_MAX_TX_BUFS = 256;
/** Failure kinds that say a flow's traffic went wrong (used to tell whether a fault was survived). */
const TRAFFIC_INVARIANTS: ReadonlySet<string> = new Set(['no-loss', 'no-duplicate', 'in-order', 'payload-intact', 'progress']);
/** Ids listed in a failure's detail at most. */
const MAX_LISTED = 12;

const list = (ids: readonly (number | string)[]): string =>
  ids.length <= MAX_LISTED ? ids.join(', ') : `${ids.slice(0, MAX_LISTED).join(', ')}, ... (${ids.length} in all)`;

function isReport(v: unknown): v is StressCoreReport {
  const o = asObj(v);
  return o !== undefined && typeof o.core === 'string' && Array.isArray(o.tx) && Array.isArray(o.rx)
    && (o.detected === undefined || Array.isArray(o.detected)) && (o.violations === undefined || Array.isArray(o.violations));
}

/** The RAM region holding [addr, addr + len), sorted lookup. */
function ramAt(sorted: readonly RegionDescriptor[], addr: number, len: number): RegionDescriptor | undefined {
  const r = findRegion(sorted, addr, len);
  return r && r.kind === 'ram' ? r : undefined;
}

/** Bytes of RAM at a physical address (a view onto the shared memory), or undefined. */
function ramBytes(sorted: readonly RegionDescriptor[], addr: number, len: number): { u8: Uint8Array; off: number } | undefined {
  const r = ramAt(sorted, addr, len);
  if (!r) return undefined;
  return { u8: new Uint8Array(r.sab, r.byteOffset, r.size), off: addr - r.base };
}

/** A Vring view at a physical address, or undefined when no RAM region holds it. */
function vringAt(sorted: readonly RegionDescriptor[], addr: number, num: number, align: number, name: string): Vring | undefined {
  const r = ramAt(sorted, addr, vringSize(num, align));
  if (!r) return undefined;
  const off = r.byteOffset + addr - r.base;
  if (off % 16 !== 0) return undefined;
  return new Vring(r.sab, off, num, align, name);
}

/** Never initialised (still zero from power-on): no index moved and descriptor 0 was never written. */
const isBlank = (v: Vring): boolean => v.availIdx() === 0 && v.usedIdx() === 0 && v.descAddrLo(0) === 0 && v.descLen(0) === 0;

/** Stress payload, control message or other, as read from an RPMsg buffer (for messages left in a ring). */
interface RingMessage {
  /** FIN / ACK / HELLO: a trailing protocol message, benign when left unread at the end. */
  control: boolean;
  text: string;
}

function describeRpmsg(sorted: readonly RegionDescriptor[], addr: number, writtenLen: number): RingMessage {
  const b = ramBytes(sorted, addr, RPMSG_HDR_SIZE);
  if (!b) return { control: false, text: `buffer ${hex(addr)} outside RAM` };
  const dv = new DataView(b.u8.buffer, b.u8.byteOffset, b.u8.byteLength);
  const len = hdrLen(dv, b.off);
  const dst = hdrDst(dv, b.off);
  const p = b.off + RPMSG_HDR_SIZE;
  if (len > RPMSG_BUF_SIZE - RPMSG_HDR_SIZE || p + len > b.u8.length || (writtenLen >= 0 && RPMSG_HDR_SIZE + len > writtenLen)) {
    return { control: false, text: `${hex(addr)}: header length ${len} does not fit` };
  }
  const k = controlKind(b.u8, p, len);
  if (k !== 0) return { control: true, text: `${k === FIN_MAGIC ? 'FIN' : 'ACK'} of flow ${controlFlow(b.u8, p)}` };
  const word = len >= 4 ? dv.getUint32(p, true) : 0;
  if (len === CONTROL_LEN && word === HELLO_MAGIC) return { control: true, text: 'HELLO' };
  if (len >= STRESS_HDR && word === STRESS_MAGIC) {
    return { control: false, text: `data of flow ${dv.getUint16(p + OFF_FLOW, true)} seq ${dv.getUint32(p + OFF_SEQ, true)}` };
  }
  return { control: false, text: `${len} bytes to endpoint ${dst}` };
}

// ---- FIFO depth ---------------------------------------------------------------------------------

/** A MailboxBank view over the image's mailbox state, with who reads and writes each FIFO. */
class FifoView {
  readonly bank: MailboxBank;
  readonly clusters: number;
  /** cluster * MAILBOX_FIFOS + fifo -> "sender->receiver" pairs of the PDK queue table present in the image. */
  private readonly users = new Map<number, { sender: string; receiver: string }[]>();

  constructor(image: SocImage, region: RegionDescriptor) {
    const header = new Int32Array(region.sab, region.byteOffset, 2);
    this.clusters = Atomics.load(header, MBOX_ST_CLUSTERS >> 2) || J721E_MAILBOX_CLUSTERS;
    this.bank = new MailboxBank(region.sab, region.byteOffset, this.clusters, () => undefined);
    const name = (proc: number): string | undefined => image.cores.find((c) => c.procId === proc)?.name;
    for (let r = 0; r < IPC_MAX_PROCS; r++) {
      for (let s = 0; s < IPC_MAX_PROCS; s++) {
        const q = J721E_RX_QUEUE[r]?.[s];
        const receiver = name(r);
        const sender = name(s);
        if (!q || receiver === undefined || sender === undefined) continue;
        const key = q.cluster * MAILBOX_FIFOS + q.fifo;
        const l = this.users.get(key) ?? [];
        l.push({ sender, receiver });
        this.users.set(key, l);
      }
    }
  }

  static of(image: SocImage): FifoView | undefined {
    const region = image.regions.find((r) => r.kind === 'device' && (r.device === 'mailbox' || r.name === 'mailbox'));
    return region ? new FifoView(image, region) : undefined;
  }

  /** Calls `bad` for every FIFO whose count exceeds MAILBOX_FIFO_DEPTH. */
  sweep(bad: (cluster: number, fifo: number, count: number) => void): void {
    for (let c = 0; c < this.clusters; c++) {
      for (let f = 0; f < MAILBOX_FIFOS; f++) {
        const n = this.bank.count(c, f);
        if (n > MAILBOX_FIFO_DEPTH) bad(c, f, n);
      }
    }
  }

  failure(seed: number, replay: string, cluster: number, fifo: number, count: number, when: string): Failure {
    const users = this.users.get(cluster * MAILBOX_FIFOS + fifo) ?? [];
    const cores = [...new Set(users.flatMap((u) => [u.sender, u.receiver]))];
    const who = users.length ? ` (the queue ${users.map((u) => `${u.sender}->${u.receiver}`).join(', ')})` : ' (no queue of the PDK table)';
    return {
      seed, invariant: 'mailbox-fifo-depth', cores, endpoint: `mailbox cluster ${cluster} fifo ${fifo}`,
      expected: `at most ${MAILBOX_FIFO_DEPTH} messages`, seen: `${count} messages`,
      detail: `${when}: mailbox cluster ${cluster} FIFO ${fifo}${who} holds ${count} messages, more than the hardware's ${MAILBOX_FIFO_DEPTH}`,
      replay,
    };
  }
}

/**
 * Samples every FIFO count of the J7 mailbox bank about every millisecond while a run goes on, and
 * reports the first time each FIFO holds more than MAILBOX_FIFO_DEPTH messages. On an image without
 * a mailbox bank (nRF5340) it does nothing. `checked` counts sweeps (one sweep = the invariant
 * checked over every FIFO at one instant).
 */
export class FifoDepthMonitor {
  private readonly view: FifoView | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checked = 0;
  private readonly failures: Failure[] = [];
  private readonly reported = new Set<number>();

  constructor(image: SocImage, private readonly replay: string, private readonly seed = 0) {
    this.view = FifoView.of(image);
  }

  /** Starts sampling (an unref'd interval: it never keeps the process alive). */
  start(): void {
    if (!this.view || this.timer) return;
    this.timer = setInterval(() => this.sample(), 1);
    this.timer.unref();
  }

  /** One sweep now (also what each interval tick does). */
  sample(): void {
    const v = this.view;
    if (!v) return;
    this.checked++;
    v.sweep((cluster, fifo, count) => {
      const key = cluster * MAILBOX_FIFOS + fifo;
      if (this.reported.has(key)) return;
      this.reported.add(key);
      this.failures.push(v.failure(this.seed, this.replay, cluster, fifo, count, `during the run (sample ${this.checked})`));
    });
  }

  /** Stops sampling; returns the sweeps done and the failures seen. May be called more than once. */
  stop(): { checked: number; failures: Failure[] } {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return { checked: this.checked, failures: [...this.failures] };
  }
}

// ---- the run checker ----------------------------------------------------------------------------

interface FlowCounts {
  corrupt: number;
  /** Every flow from this core has both reports and lost nothing (its corrupt count is evidence). */
  complete: boolean;
  flows: string[];
}

class RunChecker {
  private readonly plan: StressPlan;
  private readonly image: SocImage;
  private readonly replay: string;
  private readonly seed: number;
  private readonly sorted: RegionDescriptor[];
  private readonly byName = new Map<string, CoreOutcome>();
  private readonly reports = new Map<string, StressCoreReport>();
  private readonly exempt: Map<number, string>;
  /** Cores the plan makes throw (firmware-exception), with the fault. */
  private readonly dying = new Map<string, FaultEvent>();
  private readonly resets = new Map<string, FaultEvent>();
  private readonly failures: Failure[] = [];
  /** The flow a failure is about, when it is about one. */
  private readonly failureFlow = new Map<Failure, number>();
  private readonly notes: string[] = [];
  /** Per fault id: checks skipped or relaxed because of it (goes into its FaultOutcome detail). */
  private readonly faultNotes = new Map<number, string[]>();
  private checked = 0;
  private messages = 0;
  private bytes = 0;

  constructor(c: CheckInput) {
    this.plan = c.plan;
    this.image = c.image;
    this.replay = c.replay;
    this.seed = c.plan.seed;
    this.sorted = [...c.image.regions].sort((a, b) => a.base - b.base);
    for (const o of c.outcomes) this.byName.set(o.name, o);
    this.exempt = lossExempt(c.plan);
    const dyingAt = faultingCores(c.plan);
    for (const f of c.plan.faults) {
      if (f.kind === 'firmware-exception' && dyingAt.has(f.core)) this.dying.set(f.core, f);
      if (f.kind === 'core-reset') this.resets.set(f.core, f);
    }
  }

  run(): CheckResult {
    this.collectReports();
    this.checkProgress();
    this.checkReports();
    this.checkFlows();
    this.checkCorruption();
    this.checkSpinlocks();
    if (this.image.platform === 'j721e') {
      this.checkPdkVrings();
      this.checkLinuxVrings();
      this.checkFifosAtEnd();
    } else {
      this.checkIcbmsgBlocks();
    }
    const faults = this.plan.faults.map((f) => this.faultOutcome(f));
    return { checked: this.checked, failures: this.failures, faults, messages: this.messages, bytes: this.bytes, notes: this.notes };
  }

  // ---- plumbing ----

  private fail(invariant: Invariant, cores: readonly (string | undefined)[], detail: string,
               more: { endpoint?: string; expected?: string; seen?: string; flow?: number } = {}): void {
    const f: Failure = {
      seed: this.seed, invariant, cores: [...new Set(cores.filter((c): c is string => c !== undefined))],
      ...(more.endpoint !== undefined ? { endpoint: more.endpoint } : {}),
      ...(more.expected !== undefined ? { expected: more.expected } : {}),
      ...(more.seen !== undefined ? { seen: more.seen } : {}),
      detail, replay: this.replay,
    };
    this.failures.push(f);
    if (more.flow !== undefined) this.failureFlow.set(f, more.flow);
  }

  private noteFault(id: number, text: string): void {
    const l = this.faultNotes.get(id) ?? [];
    if (!l.includes(text)) l.push(text);
    this.faultNotes.set(id, l);
  }

  private stats(core: string): Obj | undefined {
    return asObj(this.byName.get(core)?.stats);
  }

  /** Times fault `id` fired, summed over every core's stats.perturb.fired. */
  private fired(id: number): number {
    let n = 0;
    for (const o of this.byName.values()) n += asNum(asObj(asObj(asObj(o.stats)?.perturb)?.fired)?.[id]) ?? 0;
    return n;
  }

  /** Whether some core's stats.perturb.fired has an entry for fault `id`. */
  private hasFiredEntry(id: number): boolean {
    for (const o of this.byName.values()) if (asNum(asObj(asObj(asObj(o.stats)?.perturb)?.fired)?.[id]) !== undefined) return true;
    return false;
  }

  private endpointOf(flow: FlowPlan): string {
    return flow.instance ? `${flow.instance}/${flow.channel}` : flow.channel;
  }

  /** Why the rings or blocks between a and b are not checked (planned faults); empty when they are. */
  private linkSkip(a: string, b: string): { why: string; fault: FaultEvent }[] {
    const out: { why: string; fault: FaultEvent }[] = [];
    for (const x of new Set([a, b])) {
      const d = this.dying.get(x);
      if (d) out.push({ why: `${x} throws on purpose (firmware-exception #${d.id})`, fault: d });
      const r = this.resets.get(x);
      if (r) out.push({ why: `${x} is reset on purpose (core-reset #${r.id})`, fault: r });
    }
    for (const f of this.plan.faults) {
      if (f.kind !== 'corrupt-index') continue;
      const hits = (f.core === a && (f.peer === undefined || f.peer === b)) || (f.core === b && (f.peer === undefined || f.peer === a));
      if (!hits) continue;
      const n = this.fired(f.id);
      if (n > 0) out.push({ why: `corrupt-index #${f.id} fired ${n} time(s) on ${f.core}->${f.peer ?? 'any peer'}`, fault: f });
    }
    return out;
  }

  // ---- progress and reports ----

  private collectReports(): void {
    for (const o of this.byName.values()) if (isReport(o.result)) this.reports.set(o.name, o.result);
  }

  /** progress: every core finished, except a core the plan makes throw. */
  private checkProgress(): void {
    for (const c of this.image.cores) {
      this.checked++;
      const o = this.byName.get(c.name);
      if (!o) {
        this.fail('progress', [c.name], `${c.name}: the run returned no outcome for this core`, { expected: 'finished', seen: 'no outcome' });
        continue;
      }
      if (o.state === 'finished') continue;
      if (o.state === 'faulted' && this.dying.has(c.name)) continue;
      const waits = o.waits?.length ? `; its tasks wait on: ${o.waits.join('; ')}` : '';
      const err = o.error ? `: ${o.error.message}${o.error.where ? ` (${o.error.where})` : ''}` : '';
      const what = o.state === 'stuck' || o.state === 'unresponsive' ? 'watchdog: ' : '';
      this.fail('progress', [c.name], `${what}${c.name} ${o.state}${err}${waits}`, { expected: 'finished', seen: o.state });
    }
    // Cores the plan needs a report from: flow ends, spinlock users, firewall fault targets.
    const needed = new Set<string>();
    for (const f of this.plan.flows) needed.add(f.from).add(f.to);
    for (const c of this.plan.spinlock?.cores ?? []) needed.add(c);
    for (const f of this.plan.faults) if (f.kind === 'firewall') needed.add(f.core);
    for (const core of needed) {
      if (this.reports.has(core)) continue;
      const o = this.byName.get(core);
      if (this.dying.has(core)) {
        this.notes.push(`${core} throws on purpose: its flows, increments and detections are not reported; flows to it are not checked`);
        continue;
      }
      if (o?.state !== 'finished') continue; // the progress failure above says why
      this.checked++;
      const got = o.result === undefined ? 'nothing' : typeof o.result === 'object' ? `an object with keys ${Object.keys(o.result as object).join(', ')}` : String(o.result);
      this.fail('progress', [core], `${core} finished but its main() returned no stress report (got ${got}); its flows cannot be checked`,
        { expected: 'a StressCoreReport', seen: got });
    }
  }

  /** The firmware's own violations become failures; totals of the traffic. */
  private checkReports(): void {
    for (const [core, r] of this.reports) {
      this.checked++;
      for (const v of r.violations ?? []) {
        this.fail(v.invariant, [v.core ?? core, v.peer], v.detail, {
          endpoint: v.endpoint, expected: v.expected, seen: v.seen, flow: v.flow,
        });
      }
      for (const rx of r.rx) {
        this.messages += asNum(rx.received) ?? 0;
        this.bytes += asNum(rx.bytes) ?? 0;
      }
    }
  }

  // ---- flows ----

  /** no-loss per flow, from the sender's tx and the receiver's rx report. */
  private checkFlows(): void {
    // Flows whose receiver already reported a missing FIN or gap itself (not repeated here).
    const firmwareLoss = new Set<number>();
    for (const r of this.reports.values()) {
      for (const v of r.violations ?? []) if (v.invariant === 'no-loss' && v.flow !== undefined) firmwareLoss.add(v.flow);
    }
    for (const flow of this.plan.flows) {
      const rxRep = this.reports.get(flow.to);
      const txRep = this.reports.get(flow.from);
      const rx = rxRep?.rx.find((x) => x.id === flow.id);
      const tx = txRep?.tx.find((x) => x.id === flow.id);
      const name = `flow ${flow.id} ${flow.from}->${flow.to} (${this.endpointOf(flow)})`;
      const endpoint = this.endpointOf(flow);
      if (rxRep && !rx) {
        this.checked++;
        this.fail('no-loss', [flow.from, flow.to], `${name}: the receiver's report has no entry for this flow`, { endpoint, flow: flow.id, expected: 'an rx entry', seen: 'none' });
      }
      if (txRep && !tx) {
        this.checked++;
        this.fail('no-loss', [flow.from, flow.to], `${name}: the sender's report has no entry for this flow`, { endpoint, flow: flow.id, expected: 'a tx entry', seen: 'none' });
      }
      if (!rx || !tx) continue; // a missing report: the core faulted on purpose, or progress says why
      const delivered = rx.received + rx.corrupt;
      const why = this.exempt.get(flow.id);
      const reset = this.resets.has(flow.from) || this.resets.has(flow.to);
      if (why !== undefined) {
        // Loss allowed (skipped > 0, no FIN); more deliveries than sends or a wrong FIN are not.
        this.notes.push(`${name}: loss allowed (${why}); ${tx.sent} sent, ${rx.received} received, ${rx.corrupt} corrupt, ${rx.skipped} skipped`);
        if (reset) continue; // a reset sender starts counting again
        this.checked++;
        if (delivered > tx.sent) {
          this.fail('no-duplicate', [flow.from, flow.to], `${name}: ${delivered - tx.sent} more message(s) delivered than the sender sent`,
            { endpoint, flow: flow.id, expected: `at most ${tx.sent} (sent)`, seen: `${rx.received} received + ${rx.corrupt} corrupt` });
        }
        if (rx.finSent !== undefined && rx.finSent !== tx.sent) {
          this.fail('no-loss', [flow.from, flow.to], `${name}: the FIN announced ${rx.finSent} messages, the sender's report says ${tx.sent}`,
            { endpoint, flow: flow.id, expected: `FIN with ${tx.sent}`, seen: `FIN with ${rx.finSent}` });
        }
        continue;
      }
      this.checked += 3;
      const countsOk = delivered === tx.sent;
      if (!countsOk) {
        const lost = delivered < tx.sent;
        this.fail(lost ? 'no-loss' : 'no-duplicate', [flow.from, flow.to],
          lost ? `${name}: ${tx.sent - delivered} of ${tx.sent} message(s) never delivered (${rx.skipped} skipped in sequence)`
            : `${name}: ${delivered - tx.sent} more message(s) delivered than the sender sent`,
          { endpoint, flow: flow.id, expected: `${tx.sent} delivered (received + corrupt)`, seen: `${rx.received} received + ${rx.corrupt} corrupt` });
      }
      if (rx.finSent !== tx.sent && !(rx.finSent === undefined && firmwareLoss.has(flow.id))) {
        this.fail('no-loss', [flow.from, flow.to],
          rx.finSent === undefined ? `${name}: the end-of-flow FIN never arrived (${tx.sent} sent)` : `${name}: the FIN announced ${rx.finSent} messages, the sender's report says ${tx.sent}`,
          { endpoint, flow: flow.id, expected: `FIN with ${tx.sent}`, seen: rx.finSent === undefined ? 'no FIN' : `FIN with ${rx.finSent}` });
      }
      // The ACK answers the FIN, which follows every data message: it must match the final counts
      // (checked when the counts agree; otherwise the failure above says it all).
      if (countsOk && tx.ackedReceived !== undefined && (tx.ackedReceived !== rx.received || (tx.ackedCorrupt ?? 0) !== rx.corrupt)) {
        this.fail('no-loss', [flow.from, flow.to],
          `${name}: the receiver's ACK (${tx.ackedReceived} received, ${tx.ackedCorrupt ?? 0} corrupt) disagrees with its final report`,
          { endpoint, flow: flow.id, expected: `ACK of ${rx.received} received + ${rx.corrupt} corrupt`, seen: `ACK of ${tx.ackedReceived} + ${tx.ackedCorrupt ?? 0}` });
      }
    }
  }

  /**
   * payload-intact / bit-flip, per sending core: the corrupt payloads its receivers counted must
   * equal the bit flips fired on it (each flip hits one stress payload of one of its flows). More =
   * corruption nobody injected; fewer = a flip was delivered as good data or silently dropped.
   * Only flows that lost nothing count (rx.skipped 0, received + corrupt === sent): after a gap the
   * receiver cannot place a short payload (1..15 bytes carry no sequence number) and counts it
   * corrupt, so a lossy flow's corrupt count is no evidence. Fewer is allowed only when some flow
   * from that core did not count (loss, exempt, or no report).
   */
  private checkCorruption(): void {
    const byCore = new Map<string, FlowCounts>();
    for (const flow of this.plan.flows) {
      const c = byCore.get(flow.from) ?? { corrupt: 0, complete: true, flows: [] };
      byCore.set(flow.from, c);
      const rx = this.reports.get(flow.to)?.rx.find((x) => x.id === flow.id);
      const tx = this.reports.get(flow.from)?.tx.find((x) => x.id === flow.id);
      // A reset core's flows count two incarnations on one side and one on the other: no evidence.
      const reset = this.resets.has(flow.from) || this.resets.has(flow.to);
      const clean = !reset && rx !== undefined && tx !== undefined && rx.skipped === 0 && rx.received + rx.corrupt === tx.sent;
      if (!clean) {
        c.complete = false;
        if (rx && rx.corrupt > 0) {
          this.notes.push(`flow ${flow.id} ${flow.from}->${flow.to}: ${rx.corrupt} corrupt not compared with the bit flips (the flow lost messages: short payloads after a gap count as corrupt)`);
        }
        continue;
      }
      if (rx.corrupt > 0) {
        c.corrupt += rx.corrupt;
        c.flows.push(`flow ${flow.id} ->${flow.to}: ${rx.corrupt}`);
      }
    }
    const flips = new Map<string, { n: number; ids: number[] }>();
    for (const f of this.plan.faults) {
      if (f.kind !== 'bit-flip') continue;
      const e = flips.get(f.core) ?? { n: 0, ids: [] };
      e.n += this.fired(f.id);
      e.ids.push(f.id);
      flips.set(f.core, e);
    }
    for (const [core, c] of byCore) {
      this.checked++;
      const fl = flips.get(core) ?? { n: 0, ids: [] };
      const faults = fl.ids.length ? `bit-flip fault(s) #${fl.ids.join(', #')}` : 'no bit-flip fault';
      if (c.corrupt > fl.n) {
        for (const id of fl.ids) this.noteFault(id, `${c.corrupt} corrupt payloads from ${core} for ${fl.n} flip(s): corruption nobody injected`);
        this.fail('payload-intact', [core, ...this.plan.flows.filter((f) => f.from === core).map((f) => f.to)],
          `corrupt payloads from ${core} that no fault injected (${faults}, ${fl.n} flip(s) fired): ${list(c.flows)}`,
          { expected: `at most ${fl.n} corrupt (the bit flips fired on ${core})`, seen: `${c.corrupt} corrupt` });
      } else if (c.corrupt < fl.n) {
        if (c.complete) {
          for (const id of fl.ids) this.noteFault(id, `promise not kept: only ${c.corrupt} of ${fl.n} flip(s) on ${core} were detected`);
          this.fail('fault-promise', [core, ...this.plan.flows.filter((f) => f.from === core).map((f) => f.to)],
            `${fl.n - c.corrupt} bit flip(s) on ${core}'s payloads (${faults}) were not counted corrupt by any receiver: delivered as good data or dropped unseen`,
            { expected: `${fl.n} corrupt payloads (one per flip)`, seen: `${c.corrupt} corrupt` });
        } else {
          for (const id of fl.ids) {
            this.noteFault(id, `${fl.n - c.corrupt} flip(s) not seen corrupt: they may have hit messages of ${core}'s flows that lost messages or have no report`);
          }
        }
      }
    }
  }

  // ---- spinlocks ----

  /** spinlock-exclusive: the counters in shared RAM equal the increments the reports claim. */
  private checkSpinlocks(): void {
    const sp = this.plan.spinlock;
    if (!sp || sp.locks.length === 0) return;
    const bytes = ramBytes(this.sorted, sp.counterAddr, 4 * sp.locks.length);
    if (!bytes) {
      this.checked++;
      this.fail('spinlock-exclusive', sp.cores, `the spinlock counters at ${hex(sp.counterAddr)} (${sp.locks.length} u32) are not in a RAM region of the image`,
        { expected: 'counters in RAM', seen: 'no RAM there' });
      return;
    }
    const dv = new DataView(bytes.u8.buffer, bytes.u8.byteOffset, bytes.u8.byteLength);
    const missing = sp.cores.filter((c) => !this.reports.has(c));
    const reset = sp.cores.some((c) => this.resets.has(c));
    sp.locks.forEach((lock, k) => {
      this.checked++;
      const addr = sp.counterAddr + 4 * k;
      const seen = dv.getUint32(bytes.off + 4 * k, true);
      let known = 0;
      const parts: string[] = [];
      for (const [core, r] of this.reports) {
        const n = asNum(asObj(r.increments)?.[lock]) ?? 0;
        if (n === 0) continue;
        known += n;
        parts.push(`${core} ${n}`);
      }
      const claims = `increments claimed: ${parts.length ? parts.join(', ') : 'none'}`;
      if (missing.length === 0 && !reset) {
        if (seen !== known) {
          this.fail('spinlock-exclusive', sp.cores,
            `counter of spinlock ${lock} at ${hex(addr)} is ${seen}, the cores' locked increments add up to ${known} (${claims})${seen < known ? ': updates were lost, the lock did not exclude' : ''}`,
            { endpoint: `spinlock ${lock}`, expected: String(known), seen: String(seen) });
        }
        return;
      }
      // Cores without a report (thrown on purpose) or reset may have added an unknown share.
      const upper = reset ? Infinity : known + sp.incrementsPerCore * missing.length;
      this.notes.push(`spinlock ${lock}: ${missing.length ? `${missing.join(', ')} returned no report` : 'a participant is reset'}; counter ${seen} checked against [${known}, ${upper}]`);
      if (seen < known || seen > upper) {
        this.fail('spinlock-exclusive', sp.cores,
          `counter of spinlock ${lock} at ${hex(addr)} is ${seen}, outside [${known}, ${upper}] (${claims}; no report from ${missing.join(', ') || 'none'})`,
          { endpoint: `spinlock ${lock}`, expected: `${known}..${upper}`, seen: String(seen) });
      }
    });
  }

  // ---- J7 vrings ----

  /**
   * A ring whose owner ("sender", device role: getAvail then addUsed at once) was primed with
   * `expected` buffers and whose reader ("receiver", driver role: getUsed then addAvail at once)
   * gives each buffer back as soon as it has read it: PDK RTOS TX rings, and a remote core's
   * vring0 to Linux. Free-running counters: A = avail.idx, U = used.idx. At rest every buffer is
   * back in the avail ring: A - U === expected, the ids of avail[U..A) distinct and < num. The
   * receiver has reaped exactly A - expected used entries, so used[A - expected .. U) are entries it
   * has not reaped yet (each a buffer out of circulation): their ids must be distinct, < num, and
   * not in the avail window. Unreaped FIN/ACK/HELLO messages are tolerated (a retransmitted FIN or
   * its late ACK may still be on its way when the run ends); anything else is a leak.
   * A buffer the sender took from avail and never returned cannot be seen here: its slot still lies
   * in [U, A).
   */
  private checkPrimedRing(v: Vring, expected: number, sender: string, receiver: string, label: string): void {
    const num = v.num;
    const A = v.availIdx();
    const U = v.usedIdx();
    const inAvail = (A - U) & U16;
    const endpoint = label;
    this.checked += 2;
    const own = (detail: string, exp: string, seen: string): void =>
      this.fail('vring-ownership', [sender, receiver], `${label}: ${detail}`, { endpoint, expected: exp, seen });
    if (inAvail > expected) {
      own(`avail.idx ${A} is ${inAvail} ahead of used.idx ${U}: more buffers offered than the ${expected} that exist`,
        `avail.idx - used.idx <= ${expected}`, String(inAvail));
      return;
    }
    const inAvailSet = new Set<number>();
    const badAvail: string[] = [];
    for (let i = 0; i < inAvail; i++) {
      const slot = (U + i) & (num - 1);
      const id = v.availRing(slot);
      if (id >= num) badAvail.push(`avail.ring[${slot}] = ${id} (>= ${num})`);
      else if (inAvailSet.has(id)) badAvail.push(`descriptor ${id} twice (again at avail.ring[${slot}])`);
      else inAvailSet.add(id);
    }
    if (badAvail.length) {
      own(`the free buffers avail[${U}..${A}) hold ${list(badAvail)}: a buffer owned twice`, 'distinct descriptor ids < num', list(badAvail));
    }
    const missing = expected - inAvail;
    if (missing === 0) return;
    const start = (A - expected) & U16;
    const unreaped = new Set<number>();
    const badUsed: string[] = [];
    const messages: RingMessage[] = [];
    for (let i = 0; i < missing; i++) {
      const slot = (start + i) & (num - 1);
      const id = v.usedElemId(slot);
      if (id >= num) badUsed.push(`used.ring[${slot}].id = ${id} (>= ${num})`);
      else if (unreaped.has(id)) badUsed.push(`descriptor ${id} twice in the unreaped used entries (again at used.ring[${slot}])`);
      else if (inAvailSet.has(id)) badUsed.push(`descriptor ${id} both free in avail and unreaped in used.ring[${slot}]`);
      else {
        unreaped.add(id);
        messages.push(describeRpmsg(this.sorted, v.descAddrLo(id), v.usedElemLen(slot)));
      }
    }
    if (badUsed.length) {
      own(`the used entries [${start}..${U}) not reaped by ${receiver}: ${list(badUsed)}`, 'distinct descriptor ids < num, not free at the same time', list(badUsed));
      return;
    }
    if (messages.every((m) => m.control)) {
      this.notes.push(`${label}: ${missing} trailing control message(s) not yet read by ${receiver} (${list(messages.map((m) => m.text))})`);
      return;
    }
    this.fail('no-leak', [sender, receiver],
      `${label}: ${missing} of ${expected} buffers are not back in the avail ring at the end (avail.idx ${A}, used.idx ${U}); ` +
      `${receiver} never reaped them (a lost kick?) or reaped them without giving them back; descriptors ${list([...unreaped])} hold ${list(messages.map((m) => m.text))}`,
      { endpoint, expected: `${expected} buffers free (avail.idx - used.idx)`, seen: String(inAvail) });
  }

  /** Every RTOS pair's two PDK vrings (pdkPairLayout at J721E_VRING_BASE). */
  private checkPdkVrings(): void {
    const rtos = this.image.cores.filter((c) => c.os === 'rtos' && c.procId >= 0 && c.procId < IPC_MAX_PROCS);
    const skipped = new Set<string>();
    for (let i = 0; i < rtos.length; i++) {
      for (let j = i + 1; j < rtos.length; j++) {
        const a = rtos[i]!;
        const b = rtos[j]!;
        const skip = this.linkSkip(a.name, b.name);
        if (skip.length) {
          for (const s of skip) {
            const text = `vring checks of the ${a.name}<->${b.name} link skipped (${s.why})`;
            this.noteFault(s.fault.id, `vring checks of ${a.name}<->${b.name} skipped`);
            if (!skipped.has(text)) this.notes.push(text);
            skipped.add(text);
          }
          continue;
        }
        for (const [s, r] of [[a, b], [b, a]] as const) {
          const l = pdkPairLayout(s.procId, r.procId, J721E_VRING_BASE);
          const label = `${s.name}->${r.name} vring @${hex(l.txVring)}`;
          const v = vringAt(this.sorted, l.txVring, 256, 4096, label);
          if (!v) {
            this.checked++;
            this.fail('vring-ownership', [s.name, r.name], `${label}: not in a RAM region of the image`, { endpoint: label, expected: 'a vring in RAM', seen: 'no RAM there' });
            continue;
          }
          if (isBlank(v)) continue; // never initialised: the link is not in use
          this.checkPrimedRing(v, v.num, s.name, r.name, label);
        }
      }
    }
  }

  /**
   * Linux links (resource table vrings of each remote, cores/linux/virtio-rpmsg.ts): vring0
   * (remote -> Linux) follows the primed-ring rule (the remote re-primes it; Linux re-posts each
   * buffer as soon as it has read it). vring1 (Linux -> remote) is checked by checkLinuxTxRing.
   */
  private checkLinuxVrings(): void {
    const linux = this.image.cores.find((c) => c.os === 'linux');
    if (!linux) return;
    for (const [core, addr] of Object.entries(this.image.rscTables)) {
      const rsc = ramAt(this.sorted, addr, RSC_TABLE_SIZE);
      if (!rsc) continue;
      const t = new ResourceTableView(rsc.sab, rsc.byteOffset + addr - rsc.base);
      if (t.vdevStatus() !== TI_VDEV_STATUS_READY) continue; // Linux never probed this remote
      const skip = this.linkSkip(linux.name, core);
      if (skip.length) {
        for (const s of skip) {
          this.noteFault(s.fault.id, `vring checks of ${linux.name}<->${core} skipped`);
          this.notes.push(`vring checks of the ${linux.name}<->${core} link skipped (${s.why})`);
        }
        continue;
      }
      let v0: Vring | undefined;
      let v1: Vring | undefined;
      try {
        const r0 = t.vring(0);
        const r1 = t.vring(1);
        v0 = vringAt(this.sorted, r0.da, r0.num, r0.align, `${core}->${linux.name} vring0 @${hex(r0.da)}`);
        v1 = vringAt(this.sorted, r1.da, r1.num, r1.align, `${linux.name}->${core} vring1 @${hex(r1.da)}`);
      } catch (err) {
        this.checked++;
        this.fail('vring-ownership', [linux.name, core], `${core}'s resource table describes unusable vrings: ${(err as Error).message}`);
        continue;
      }
      if (!v0 || !v1) {
        this.checked++;
        this.fail('vring-ownership', [linux.name, core], `${core}'s resource table vrings are not in RAM (vring0 da ${hex(t.vringDa(0))}, vring1 da ${hex(t.vringDa(1))})`);
        continue;
      }
      if (!isBlank(v0)) {
        // Buffers in circulation: what the remote primed (all num) or, before it attached, what Linux posted.
        let posted = 0;
        for (let i = 0; i < v0.num; i++) if (v0.descLen(i) !== 0) posted++;
        this.checkPrimedRing(v0, posted, core, linux.name, v0.name);
      }
      if (!isBlank(v1)) this.checkLinuxTxRing(v1, Math.min(v0.num, LINUX_MAX_TX_BUFS), linux.name, core);
    }
  }

  /**
   * vring1 of a Linux link: Linux (driver) owns `half` TX buffers, ids 0..half-1; it hands out the
   * never-used ones in order (lastSbuf, visible as the descriptors it has written), then reuses the
   * ones the remote returned (getUsed, only when it needs one). The remote consumes avail entries and
   * returns them to used at once. So with A = avail.idx, U = used.idx: Linux has reaped
   * max(0, A - half) used entries; Linux's buffers are the never-used ids [lastSbuf, half), the
   * unreaped used entries and the ones pending in avail [U, A), and these must be exactly the
   * `half` distinct ids (a duplicate = a buffer owned twice; since the counts add up to `half`, a
   * missing id shows as a duplicate). Pending messages at the end are tolerated when they are
   * FIN/ACK/HELLO; pending data is a no-leak failure.
   */
  private checkLinuxTxRing(v: Vring, half: number, linux: string, remote: string): void {
    const label = v.name;
    const A = v.availIdx();
    const U = v.usedIdx();
    this.checked += 2;
    const own = (detail: string, seen: string): void =>
      this.fail('vring-ownership', [linux, remote], `${label}: ${detail}`, { endpoint: label, expected: `the ${half} TX buffers of Linux, each in one place`, seen });
    let lastSbuf = 0;
    while (lastSbuf < half && v.descAddrLo(lastSbuf) !== 0) lastSbuf++;
    for (let i = lastSbuf; i < half; i++) {
      if (v.descAddrLo(i) !== 0) {
        own(`descriptor ${i} was written although ${lastSbuf} was never handed out (Linux hands sbufs out in order)`, `descriptor ${i} in use`);
        return;
      }
    }
    const pending = (A - U) & U16;
    if (pending > half) {
      own(`avail.idx ${A} is ${pending} ahead of used.idx ${U}: more than Linux's ${half} TX buffers offered`, String(pending));
      return;
    }
    if (lastSbuf < half && A !== lastSbuf) {
      own(`avail.idx ${A} but only ${lastSbuf} TX buffer(s) ever handed out`, `avail.idx ${A}`);
      return;
    }
    const lastUsed = lastSbuf < half ? 0 : (A - half) & U16;
    const unreaped = (U - lastUsed) & U16;
    if (unreaped + pending + (half - lastSbuf) !== half) {
      own(`used.idx ${U} is ahead of what Linux offered (avail.idx ${A})`, `used.idx ${U}`);
      return;
    }
    const where = new Map<number, string>();
    const bad: string[] = [];
    const take = (id: number, at: string): void => {
      if (id >= half) bad.push(`${at} = ${id} (>= ${half})`);
      else if (where.has(id)) bad.push(`descriptor ${id} both ${where.get(id)} and ${at}`);
      else where.set(id, at);
    };
    for (let id = lastSbuf; id < half; id++) take(id, 'never used');
    for (let i = 0; i < unreaped; i++) {
      const slot = (lastUsed + i) & (v.num - 1);
      take(v.usedElemId(slot), `used.ring[${slot}]`);
    }
    const pendingIds: number[] = [];
    for (let i = 0; i < pending; i++) {
      const slot = (U + i) & (v.num - 1);
      const id = v.availRing(slot);
      take(id, `avail.ring[${slot}]`);
      pendingIds.push(id);
    }
    if (bad.length) {
      own(list(bad), list(bad));
      return;
    }
    if (pending === 0) return;
    const messages = pendingIds.map((id) => describeRpmsg(this.sorted, v.descAddrLo(id), v.descLen(id)));
    if (messages.every((m) => m.control)) {
      this.notes.push(`${label}: ${pending} trailing control message(s) not yet consumed by ${remote} (${list(messages.map((m) => m.text))})`);
      return;
    }
    this.fail('no-leak', [linux, remote],
      `${label}: ${pending} buffer(s) Linux offered were never consumed by ${remote} (avail.idx ${A}, used.idx ${U}; a lost kick?): ${list(messages.map((m) => m.text))}`,
      { endpoint: label, expected: 'avail.idx === used.idx at the end', seen: `${pending} pending` });
  }

  private checkFifosAtEnd(): void {
    const view = FifoView.of(this.image);
    if (!view) return;
    this.checked++;
    view.sweep((cluster, fifo, count) => this.failures.push(view.failure(this.seed, this.replay, cluster, fifo, count, 'at the end of the run')));
  }

  // ---- nRF5340 ICBMsg ----

  /**
   * no-leak: every ICBMsg instance's TX blocks are back in the pool at the end (free + stranded ===
   * blocks, stranded = blocks announced with an index the corrupt-index fault corrupted, which the
   * peer can never release). Inconclusive (skipped, noted) while control messages of the instance
   * are still in flight between the two cores (one side's ICMsg `sent` differs from the other's
   * `received`): a release may be on its way.
   */
  private checkIcbmsgBlocks(): void {
    const inst = new Map<string, { core: string; st: Obj }[]>();
    for (const [core, o] of this.byName) {
      const ipc = asObj(asObj(o.stats)?.ipc);
      if (!ipc) continue;
      for (const [name, v] of Object.entries(ipc)) {
        const st = asObj(v);
        if (st) inst.set(name, [...(inst.get(name) ?? []), { core, st }]);
      }
    }
    for (const [name, sides] of inst) {
      for (const side of sides) {
        const tx = asObj(side.st.tx);
        const blocks = asNum(tx?.blocks);
        const free = asNum(tx?.free);
        if (blocks === undefined || free === undefined) continue; // ICMsg: no blocks
        const peer = sides.find((s) => s.core !== side.core);
        const skip = this.linkSkip(side.core, peer?.core ?? side.core).filter((s) => s.fault.kind !== 'corrupt-index');
        if (skip.length) {
          for (const s of skip) {
            this.noteFault(s.fault.id, s.fault.kind === 'core-reset'
              ? `ICBMsg block check of ${side.core} ${name} skipped (blocks the reset core held are stranded: expected, ICBMsg has no reset detection)`
              : `ICBMsg block check of ${side.core} ${name} skipped`);
            this.notes.push(`${side.core} ${name}: TX block check skipped (${s.why})`);
          }
          continue;
        }
        const stranded = asNum(tx?.stranded) ?? 0;
        const corrupt = this.plan.faults.filter((f) => f.kind === 'corrupt-index' && f.core === side.core && this.fired(f.id) > 0);
        if (peer) {
          const inFlight = [
            [side, peer], [peer, side],
          ].filter(([s, r]) => asNum(s!.st.sent) !== undefined && asNum(s!.st.sent) !== asNum(r!.st.received));
          if (inFlight.length) {
            const what = inFlight.map(([s, r]) => `${s!.core} sent ${asNum(s!.st.sent)}, ${r!.core} received ${asNum(r!.st.received) ?? '?'}`).join('; ');
            this.notes.push(`${side.core} ${name}: TX block check inconclusive, control messages still in flight (${what})`);
            continue;
          }
        }
        this.checked++;
        if (free + stranded === blocks) {
          if (stranded > 0) {
            for (const f of corrupt) this.noteFault(f.id, `${stranded} TX block(s) of ${side.core} ${name} stranded by the corrupted index (expected leak)`);
          }
          continue;
        }
        if (corrupt.length && tx?.stranded === undefined) {
          for (const f of corrupt) this.noteFault(f.id, `${blocks - free} TX block(s) of ${side.core} ${name} not free: expected after a corrupted block index`);
          this.notes.push(`${side.core} ${name}: ${blocks - free} TX block(s) not free, expected after corrupt-index #${corrupt.map((f) => f.id).join(', #')}`);
          continue;
        }
        const held = asNum(asObj(peer?.st.rx)?.held);
        this.fail('no-leak', [side.core, peer?.core],
          `${side.core} ${name}: ${blocks - free - stranded} TX block(s) never came back (${free} free of ${blocks}` +
          `${stranded ? `, ${stranded} stranded by a corrupt-index fault` : ''}; owned ${asNum(tx?.owned) ?? '?'}, in flight ${asNum(tx?.inFlight) ?? '?'})` +
          `${held ? `; ${peer!.core} still holds ${held} RX block(s)` : ''}`,
          { endpoint: name, expected: `${blocks - stranded} free TX blocks`, seen: `${free} free` });
      }
    }
  }

  /** The ipc_service instance `name` of an nRF core's devicetree (compatible, unbound mode). */
  private nrfInstance(core: string, name: string | undefined): { compatible: string; unbound: string } | undefined {
    return this.image.zephyr[core]?.instances.find((i) => i.name === name);
  }

  /**
   * core-reset on nRF5340 (the plan schedules it only when every ICMsg instance runs the session
   * protocol on both cores). Survived when, for every ICMsg instance the reset core has flows on,
   * the link re-bonded (both ends CONNECTED_SID_* at the end: the survivor's unbound()
   * led it to register again and the handshake ran with the new incarnation) and traffic resumed
   * both ways: the survivor received the new incarnation's flow (restarts > 0, or data received
   * since its last unbound(), from the `sessions` its firmware reports) and the new incarnation
   * received the survivor's (its fresh report: received > 0). Otherwise a fault-promise failure names
   * what did not recover. ICBMsg instances are reported, not recovered (Zephyr's ICBMsg has no reset
   * detection): their flows are loss-exempt, their block checks skipped (noted by checkIcbmsgBlocks),
   * and the new incarnation leaves them closed. No core may crash. A peer that throws on purpose
   * (firmware-exception) leaves nothing to re-bond with: the recovery is then not required.
   */
  private nrfResetOutcome(f: FaultEvent, out: (fired: number, detail: string[]) => FaultOutcome): FaultOutcome {
    const o = this.byName.get(f.core);
    const fired = o?.resets ?? 0;
    if (fired === 0) return out(0, [`${f.core} was not reset (${o ? `it ended ${o.state}` : 'no outcome'})`]);
    const detail: string[] = [];
    const problems: string[] = [];
    const peer = this.image.cores.find((c) => c.name !== f.core && c.os === 'zephyr')?.name;
    const touching = this.plan.flows.filter((fl) => fl.from === f.core || fl.to === f.core);
    const byInstance = new Map<string, FlowPlan[]>();
    for (const fl of touching) byInstance.set(fl.instance ?? fl.channel, [...(byInstance.get(fl.instance ?? fl.channel) ?? []), fl]);
    const sessionsOf = (core: string | undefined): Obj[] => {
      const v = asObj(core === undefined ? undefined : this.byName.get(core)?.result)?.sessions;
      return Array.isArray(v) ? v.map(asObj).filter((x): x is Obj => x !== undefined) : [];
    };
    const ipcState = (core: string, inst: string): string | undefined => {
      const st = asObj(asObj(this.stats(core)?.ipc)?.[inst])?.state;
      return typeof st === 'string' ? st : undefined;
    };
    const peerDies = peer === undefined ? undefined : this.dying.get(peer);
    const resetRep = this.reports.get(f.core);
    const peerRep = peer === undefined ? undefined : this.reports.get(peer);
    for (const [inst, flows] of byInstance) {
      const cfg = this.nrfInstance(f.core, inst);
      if (cfg?.compatible === 'zephyr,ipc-icbmsg') {
        const closed = (resetRep?.detected ?? []).some((d) => d.kind === 'core-reset' && d.detail.includes(`${inst} (ICBMsg) not opened again`));
        detail.push(`${inst} (ICBMsg) reported, not recovered (Zephyr's ICBMsg has no reset detection): flows ${flows.map((x) => x.id).join(', ')} loss-exempt` +
          `${closed ? `; ${f.core}'s new incarnation left ${inst} closed` : ''}`);
        continue;
      }
      if (peer === undefined) continue;
      if (peerDies) {
        detail.push(`${inst}: re-bond not required, ${peer} throws on purpose (firmware-exception #${peerDies.id} at ${peerDies.atMs} ms)`);
        continue;
      }
      if (o?.state !== 'finished' || !peerRep || !resetRep) {
        // progress (or the missing report) already says why
        problems.push(`${inst}: ${!resetRep ? `no report from ${f.core}'s new incarnation` : !peerRep ? `no report from ${peer}` : `${f.core} ${o?.state}`}`);
        continue;
      }
      this.checked += 3;
      const lost: string[] = [];
      const ends = [ipcState(peer, inst), ipcState(f.core, inst)];
      // Unknown (no stats) counts as connected here: the traffic checks below decide then.
      const connected = (s: string | undefined): boolean => s === undefined || s.startsWith('CONNECTED_SID_');
      const ps = sessionsOf(peer).find((x) => x.instance === inst);
      const unbounds = asNum(ps?.unbounds) ?? 0;
      if (!connected(ends[0]) || !connected(ends[1])) {
        lost.push(`${inst} did not re-bond (${peer} ${ends[0] ?? '?'}, ${f.core} ${ends[1] ?? '?'}; ${peer} saw ${unbounds} unbound(), ${asNum(ps?.rebondTimeouts) ?? 0} re-bond timeout(s))`);
      } else {
        detail.push(`${inst} re-bonded (${peer} saw ${unbounds} unbound() and registered again${unbounds ? `, bound again at ${asNum(ps?.lastBoundMs) ?? '?'} ms` : ''})`);
      }
      const fromReset = flows.find((x) => x.from === f.core && x.to === peer);
      const toReset = flows.find((x) => x.from === peer && x.to === f.core);
      if (fromReset) {
        const rx = peerRep.rx.find((x) => x.id === fromReset.id);
        // Counted since the survivor's last unbound(); without one, only when it first bound after the
        // reset (it then never had a session with the old incarnation).
        const since = asNum(ps?.rxSinceUnbound) ?? 0;
        const newSession = unbounds > 0 || (asNum(ps?.lastBoundMs) ?? -1) >= f.atMs;
        if ((rx?.restarts ?? 0) > 0 || (since > 0 && newSession)) {
          detail.push(`flow ${fromReset.id} ${f.core}->${peer} resumed: ${since} message(s) since the re-bond${rx?.restarts ? `, started again at seq 0 (${rx.restarts} time(s))` : ''}`);
        } else {
          lost.push(`flow ${fromReset.id} ${f.core}->${peer}: nothing of the new incarnation arrived (${rx ? `${rx.received} received in all, no restart at seq 0` : 'no rx entry'}` +
            `${newSession ? '' : `; ${peer} never left its session with the old incarnation`})`);
        }
      }
      if (toReset) {
        const rx = resetRep.rx.find((x) => x.id === toReset.id);
        if ((rx?.received ?? 0) > 0) detail.push(`flow ${toReset.id} ${peer}->${f.core} resumed: the new incarnation received ${rx!.received}`);
        else lost.push(`flow ${toReset.id} ${peer}->${f.core}: the new incarnation received nothing (${rx ? `${rx.received} received, ${rx.skipped} skipped` : 'no rx entry'})`);
      }
      problems.push(...lost);
    }
    if (problems.length) {
      this.fail('fault-promise', [f.core, peer],
        `core-reset #${f.id} of ${f.core} at ${f.atMs} ms: ICMsg did not recover: ${problems.join('; ')}`,
        { expected: 'unbound(), re-registration, a new session, traffic both ways', seen: problems.join('; ') });
      detail.unshift(`promise not kept: ${problems.join('; ')}`);
    }
    this.resetCrashedNothing(f);
    return out(fired, detail);
  }

  /** A core reset must not crash any other core (one check). */
  private resetCrashedNothing(f: FaultEvent): void {
    const crashed = this.crashed();
    this.checked++;
    if (crashed.length) {
      this.fail('fault-promise', [f.core, ...crashed], `core-reset #${f.id} of ${f.core} must not crash a core; ${crashed.map((c) => `${c}: ${this.byName.get(c)?.error?.message ?? 'faulted'}`).join('; ')}`,
        { expected: 'no core faulted', seen: crashed.join(', ') });
    }
  }

  // ---- fault promises ----

  /** Traffic failures on the flows a fault on `f.core` (towards f.peer) touches. */
  private trafficFailures(f: FaultEvent): Failure[] {
    const touched = new Set(this.plan.flows
      .filter((fl) => (fl.from === f.core && (f.peer === undefined || fl.to === f.peer)) || (fl.to === f.core && (f.peer === undefined || fl.from === f.peer)))
      .map((fl) => fl.id));
    return this.failures.filter((x) => TRAFFIC_INVARIANTS.has(x.invariant)
      && ((this.failureFlow.has(x) && touched.has(this.failureFlow.get(x)!)) || (!this.failureFlow.has(x) && x.cores.includes(f.core))));
  }

  /** Cores that crashed without the plan asking for it. */
  private crashed(): string[] {
    return [...this.byName.values()].filter((o) => o.state === 'faulted' && !this.dying.has(o.name)).map((o) => o.name);
  }

  private refused(core: string): number | undefined {
    const s = this.stats(core);
    if (!s) return undefined;
    if (this.image.platform === 'j721e') {
      const r = asObj(s.rpmsg);
      if (!r) return undefined;
      const n = asNum(r.refused);
      return n ?? (asNum(r.droppedBad) ?? 0) + (asNum(r.badBuffers) ?? 0);
    }
    const ipc = asObj(s.ipc);
    if (!ipc) return undefined;
    let n = 0;
    for (const v of Object.values(ipc)) n += asNum(asObj(v)?.rejected) ?? 0;
    return n;
  }

  /**
   * core-reset on J7 (see the file header). Fired = the core's outcome counts the reset. The Linux
   * link must have recovered: when Linux had set up the core's virtio device before the reset it
   * re-created it (stats.rpmsg.remotes[core].recoveries); Linux's report detects an rpmsg_char
   * device opened after the reset that carried the new incarnation's messages (core->Linux); the
   * new incarnation received Linux's messages, or Linux's flow had ended before the reset
   * (Linux->core). Otherwise a fault-promise failure names what did not recover. No other core may
   * crash.
   */
  private j7ResetOutcome(f: FaultEvent, out: (fired: number, detail: string[]) => FaultOutcome): FaultOutcome {
    const o = this.byName.get(f.core);
    const fired = o?.resets ?? 0;
    if (fired === 0) return out(0, [`${f.core} was not reset (${o ? `it ended ${o.state}` : 'no outcome'})`]);
    const detail: string[] = [];
    const problems: string[] = [];
    const linux = this.image.cores.find((c) => c.os === 'linux');
    const toCore = linux && this.plan.flows.find((fl) => fl.from === linux.name && fl.to === f.core && fl.channel === 'rpmsg-char');
    const fromCore = linux && this.plan.flows.find((fl) => fl.from === f.core && fl.to === linux.name && fl.channel === 'rpmsg-char');
    if (linux && (toCore || fromCore) && o?.state === 'finished') {
      this.checked++;
      const lrep = this.reports.get(linux.name);
      const remote = asObj(asObj(asObj(this.stats(linux.name)?.rpmsg)?.remotes)?.[f.core]);
      const crashes = asNum(remote?.crashes) ?? 0;
      const recoveries = asNum(remote?.recoveries) ?? 0;
      if (crashes > 0 && recoveries < crashes) {
        problems.push(`${linux.name} tore ${f.core}'s virtio device down (${crashes} crash report(s)) but re-created it ${recoveries} time(s)`);
      } else {
        detail.push(crashes > 0 ? `${linux.name} re-created ${f.core}'s virtio device after the crash report` : `${linux.name} had not set up ${f.core}'s virtio device when it was reset`);
      }
      if (fromCore) {
        const det = (lrep?.detected ?? []).filter((d) => d.kind === 'core-reset' && (d.faultId === undefined || d.faultId === f.id));
        if (det.length) detail.push(det[0]!.detail);
        else problems.push(`${linux.name} read no message of ${f.core}'s new incarnation on an rpmsg_char device opened after the reset (no core-reset detection in its report)`);
        const restarts = lrep?.rx.find((x) => x.id === fromCore.id)?.restarts;
        if (restarts) detail.push(`flow ${fromCore.id} ${f.core}->${linux.name} started again at seq 0 (${restarts} time(s))`);
      }
      if (toCore) {
        const rx = this.reports.get(f.core)?.rx.find((x) => x.id === toCore.id);
        const tx = lrep?.tx.find((x) => x.id === toCore.id);
        if (rx && (rx.received + rx.corrupt > 0 || rx.finSent !== undefined)) {
          detail.push(`${f.core}'s new incarnation received ${rx.received} message(s) of flow ${toCore.id} from ${linux.name}${rx.finSent !== undefined ? ' and its FIN' : ''}`);
        } else if (tx?.ackedReceived !== undefined) {
          detail.push(`flow ${toCore.id} ${linux.name}->${f.core} had ended before the reset (its FIN acknowledged)`);
        } else {
          problems.push(`${f.core}'s new incarnation received nothing of flow ${toCore.id} from ${linux.name} (${rx ? `${rx.received} received` : 'no report'})`);
        }
      }
      if (problems.length) {
        this.fail('fault-promise', [f.core, linux.name],
          `core-reset #${f.id} of ${f.core} at ${f.atMs} ms: the link with ${linux.name} did not recover: ${problems.join('; ')}`,
          { expected: 'rproc recovery, the service announced again, rpmsg_char reopened, traffic both ways', seen: problems.join('; ') });
        detail.unshift(`promise not kept: ${problems.join('; ')}`);
      }
    }
    // RTOS links: reported, not recovered.
    const rtos = this.image.cores.filter((c) => c.os === 'rtos' && !this.dying.has(c.name));
    const refused = rtos.map((c) => `${c.name}${c.name === f.core ? ' (new incarnation)' : ''} ${this.refused(c.name) ?? '?'}`);
    if (rtos.length > 1) detail.push(`RTOS links (TI's PDK has no recovery; reported, loss allowed): rings refused: ${refused.join(', ')}`);
    this.resetCrashedNothing(f);
    return out(fired, detail);
  }

  private faultOutcome(f: FaultEvent): FaultOutcome {
    const promise = FAULT_PROMISES[f.kind].promise;
    const notes = (): string[] => this.faultNotes.get(f.id) ?? [];
    const out = (fired: number, detail: string[]): FaultOutcome => ({
      id: f.id, kind: f.kind, core: f.core, atMs: f.atMs, fired, outcome: fired > 0 ? promise : 'not fired',
      ...(detail.length || notes().length ? { detail: [...detail, ...notes()].join('; ') } : {}),
    });
    const others = this.image.cores.map((c) => c.name).filter((n) => n !== f.core && !this.dying.has(n));
    switch (f.kind) {
      case 'firmware-exception': {
        this.checked++;
        const o = this.byName.get(f.core);
        const msg = o?.error?.message ?? '';
        if (o?.state !== 'faulted') {
          this.fail('fault-promise', [f.core], `firmware-exception #${f.id} (at ${f.atMs} ms) did not fault ${f.core}: it ended ${o?.state ?? 'without an outcome'}${msg ? ` (${msg})` : ''}`,
            { expected: 'faulted with the injected exception', seen: o?.state ?? 'no outcome' });
          return out(0, [`${f.core} ended ${o?.state ?? 'without an outcome'}`]);
        }
        if (!/injected[^]*exception/i.test(msg)) {
          this.fail('fault-promise', [f.core], `${f.core} faulted, but not with the injected exception of fault #${f.id}: ${msg}`,
            { expected: 'the injected exception', seen: msg });
        }
        const notDone = others.filter((n) => this.byName.get(n)?.state !== 'finished');
        this.checked++;
        if (notDone.length) {
          this.fail('fault-promise', [f.core, ...notDone],
            `after ${f.core}'s injected exception (#${f.id}) the other cores must finish; ${notDone.map((n) => `${n} ${this.byName.get(n)?.state ?? 'has no outcome'}`).join(', ')}`,
            { expected: 'every other core finished', seen: notDone.join(', ') });
        }
        return out(1, [`${f.core} faulted: ${msg}`]);
      }
      case 'firewall': {
        const r = this.reports.get(f.core);
        if (!r) return out(0, [this.dying.has(f.core) ? `${f.core} throws on purpose; no report` : `${f.core} returned no report`]);
        this.checked++;
        const det = (r.detected ?? []).filter((d) => d.kind === 'firewall' && (d.faultId === undefined || d.faultId === f.id));
        if (det.length === 0) {
          const own = new RegExp(`#${f.id}\\b`);
          const already = (r.violations ?? []).some((v) => v.invariant === 'fault-promise' && own.test(v.detail));
          if (already) return out(1, ['the firmware reports the write was not refused']);
          // main() returns no earlier than durationMs after t0 when one of the core's flows runs to
          // its end (a sender sends for durationMs, then FIN/ACK); only then was the write surely due
          // before the report was taken. Otherwise the report may predate it: not fired, not failed.
          const due = f.atMs <= this.plan.durationMs && this.plan.flows.some((fl) => fl.from === f.core && !this.dying.has(fl.to) && !this.resets.has(fl.to));
          if (!due) {
            return out(0, [`no detection in ${f.core}'s report, which main() may have returned before the write at ${f.atMs} ms (traffic phase ${this.plan.durationMs} ms)`]);
          }
          this.fail('fault-promise', [f.core],
            `firewall #${f.id}: ${f.core}'s report records no firewall detection for its write${f.addr !== undefined ? ` to ${hex(f.addr)}` : ''} at ${f.atMs} ms, ` +
            `although main() cannot have returned before ${this.plan.durationMs} ms: the write was not refused, or the refusal was not caught`,
            { expected: 'a firewall detection in the report', seen: 'none' });
          return out(1, ['no detection in the report']);
        }
        const d = det[0]!.detail;
        this.checked++;
        const names = d.includes(f.core) && (f.addr === undefined || d.toLowerCase().includes(f.addr.toString(16)));
        if (!names) {
          this.fail('fault-promise', [f.core], `firewall #${f.id}: the fault raised does not name the core ${f.core}${f.addr !== undefined ? ` and address ${hex(f.addr)}` : ''}: ${d}`,
            { expected: `a fault naming ${f.core}${f.addr !== undefined ? ` and ${hex(f.addr)}` : ''}`, seen: d });
        }
        return out(det.length, [d]);
      }
      case 'corrupt-index': {
        const n = this.fired(f.id);
        if (n === 0) return out(0, []);
        const receivers = f.peer !== undefined ? [f.peer] : others;
        // A receiver reset later reports its new incarnation's stats: the refusals of the old one are
        // gone, so a 0 there proves nothing.
        const counts = receivers.map((c) => {
          const n = this.refused(c);
          return { c, n: n === 0 && this.resets.has(c) ? undefined : n };
        });
        const known = counts.filter((x) => x.n !== undefined && !this.dying.has(x.c));
        this.checked += 2;
        const detail = [`refused by ${counts.map((x) => `${x.c} ${x.n ?? '?'}`).join(', ')}`];
        if (known.length === 0) {
          const reset = counts.filter((x) => x.n === undefined && this.resets.has(x.c)).map((x) => x.c);
          detail.push(reset.length
            ? `no receiver stats to check the refusal against (${reset.join(', ')} reset later: the stats are its new incarnation's)`
            : 'no receiver stats to check the refusal against');
        } else if (!known.some((x) => x.n! > 0)) {
          const what = this.image.platform === 'j721e' ? 'stats.rpmsg.refused' : 'stats.ipc.*.rejected';
          this.fail('fault-promise', [f.core, ...receivers],
            `corrupt-index #${f.id} fired ${n} time(s) on ${f.core}->${f.peer ?? 'any peer'}, but no receiver refused anything (${what}: ${detail[0]!.slice(11)})`,
            { expected: `${what} > 0`, seen: '0' });
        }
        const crashed = this.crashed();
        if (crashed.length) {
          this.fail('fault-promise', [f.core, ...crashed], `corrupt-index #${f.id} must not crash a core; ${crashed.map((c) => `${c}: ${this.byName.get(c)?.error?.message ?? 'faulted'}`).join('; ')}`,
            { expected: 'no core faulted', seen: crashed.join(', ') });
        }
        return out(n, detail);
      }
      case 'bit-flip': {
        const n = this.fired(f.id);
        return out(n, n ? [`${n} flip(s) on ${f.core}'s payloads${f.peer ? ` to ${f.peer}` : ''}`] : []);
      }
      case 'mailbox-drop': case 'delayed-irq': case 'spurious-irq': case 'core-reset': {
        if (f.kind === 'core-reset' && this.image.platform === 'j721e') return this.j7ResetOutcome(f, out);
        if (f.kind === 'core-reset' && this.image.platform === 'nrf5340') return this.nrfResetOutcome(f, out);
        // spurious-irq is raised by the host (task.ts fills `fired`); core-reset: stats.resets when provided.
        let n = this.fired(f.id);
        if (f.kind === 'core-reset' && !this.hasFiredEntry(f.id)) n = asNum(this.stats(f.core)?.resets) ?? 0;
        const broken = this.trafficFailures(f);
        const detail = broken.length
          ? [`promise not kept: ${broken.length} traffic failure(s) on ${f.core}'s flows (${list(broken.map((x) => x.invariant))})`]
          : [`${f.core}'s traffic passed the loss checks`];
        if (f.kind === 'mailbox-drop') {
          const drops = asNum(asObj(this.stats(f.core)?.mailbox)?.txDrops);
          if (drops !== undefined) detail.push(`${drops} message(s) dropped by full FIFOs ${f.core} writes`);
        }
        return out(n, detail);
      }
    }
  }
}
