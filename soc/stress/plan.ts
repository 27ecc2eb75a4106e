// Expands one seed into a stress run's plan (soc/stress/schema.ts StressPlan): the traffic flows
// between cores, the spinlock workload, the timing perturbation and the fault schedule. The plan is
// a pure function of (profile, seed, options): the same seed gives the same plan, so a failing run
// replays exactly. Each part draws from its own PRNG stream, so choosing fewer fault kinds leaves
// the flows, the perturbation and the remaining faults of a seed unchanged.

import type { Platform, ZephyrCoreImage, ZephyrIpcInstanceImage } from '../../cores/boot.js';
import { PBUF_RX_READ_BUF_SIZE } from '../../shared/icmsg-proto.js';
import { pbufHeaderOverhead } from '../../shared/icbmsg-layout.js';
import {
  IPC_VRING_SIZE, J721E_DMA_REGION, J721E_MSMC_BASE, j721eMailboxRouting, pdkPairLayout,
} from '../../shared/j721e.js';
import { NRF5340_APP_IPC_IRQ, NRF5340_NET_IPC_IRQ, nvicToLine } from '../../shared/nrf5340.js';
import { PERTURB_POINTS, mix32, mulberry32 } from '../../shared/perturb.js';
import { RPMSG_MAX_PAYLOAD } from '../../shared/rpmsg.js';
import type { CoreProfile, SocProfile } from '../profile.js';
import { PROJECT_ROOT } from '../soc.js';
import { loadZephyrConfigs } from '../zephyr-config.js';
import { FAULT_KINDS, type FaultEvent, type FaultKind, type FlowPlan, type SpinlockPlan, type StressPlan } from './schema.js';

/**
 * Fault kinds hetsoc cannot inject on any platform yet, and why. `--faults` refuses them and `all`
 * leaves them out; deleting an entry here is all it takes to enable a kind once it is implemented.
 * Kinds supported on some platforms only: see platformUnsupported.
 */
export const UNSUPPORTED_FAULTS: Readonly<Partial<Record<FaultKind, string>>> = {};

/**
 * Whether a core-reset fault can be scheduled on `platform`: Soc.resetCore works everywhere, but a
 * campaign needs the platform's recovery (and its checks) to be built.
 */
export function resetSupported(platform: Platform): boolean {
  switch (platform) {
    // Linux rproc recovery + rpmsg_char reopen; RTOS<->RTOS links reported (PDK has no recovery).
    case 'j721e': return true;
    // ICMsg re-bonding (session protocol: only when every ICMsg instance runs it on both cores, see
    // nrfResetBlocked); ICBMsg links reported (Zephyr's ICBMsg has no reset detection).
    case 'nrf5340': return true;
  }
}

/** Why `kind` cannot be injected on `platform` (undefined: it can, where it applies). */
export function platformUnsupported(platform: Platform, kind: FaultKind): string | undefined {
  if (kind === 'core-reset' && !resetSupported(platform)) return `core-reset is not supported on ${platform} yet`;
  return UNSUPPORTED_FAULTS[kind];
}

/** The fault kinds `all` stands for. */
export const SUPPORTED_FAULTS: readonly FaultKind[] = FAULT_KINDS.filter((k) => UNSUPPORTED_FAULTS[k] === undefined);

/** A `--faults` value that names no fault kind hetsoc can inject. */
export class FaultSpecError extends Error {
  override name = 'FaultSpecError';
}

/**
 * Parses a `--faults` value: `all` (every supported kind), `none` (traffic only) or a
 * comma-separated list of kinds. Throws FaultSpecError naming a wrong or unsupported kind.
 */
export function parseFaults(spec: string): FaultKind[] {
  const s = spec.trim();
  if (s === 'all') return [...SUPPORTED_FAULTS];
  if (s === 'none') return [];
  const names = s.split(',').map((x) => x.trim()).filter(Boolean);
  if (names.length === 0) throw new FaultSpecError(`--faults ${JSON.stringify(spec)}: empty list; use all, none or a comma-separated list of: ${FAULT_KINDS.join(', ')}`);
  const out: FaultKind[] = [];
  for (const n of names) {
    if (!(FAULT_KINDS as readonly string[]).includes(n)) {
      throw new FaultSpecError(`--faults ${spec}: unknown fault kind "${n}"; fault kinds: ${FAULT_KINDS.join(', ')} (or all, none)`);
    }
    const why = UNSUPPORTED_FAULTS[n as FaultKind];
    if (why !== undefined) throw new FaultSpecError(`--faults ${spec}: "${n}" is not supported yet: ${why}`);
    if (!out.includes(n as FaultKind)) out.push(n as FaultKind);
  }
  return out;
}

/** The smallest stress run that makes sense, ms. */
export const MIN_DURATION_MS = 50;
/**
 * Time from t0 (when the cores start running, their firmware already loaded) until traffic runs:
 * IPC initialisation and endpoint discovery. Fault times are this plus 15..60 % of the traffic
 * phase. It is a low estimate on purpose and leaves out boot delays (J7's RTOS cores start their
 * traffic without waiting for Linux): a fault that comes early still fires (hooks stay armed,
 * firmware faults and host interrupts happen as soon as they can), one that comes after a core's
 * traffic has ended does not.
 */
export const STARTUP_PER_CORE_MS = 20;

export function startupAllowanceMs(profile: SocProfile): number {
  return STARTUP_PER_CORE_MS * profile.cores.length;
}

/** A planning problem with the profile (e.g. an nRF-style board without exactly two Zephyr cores). */
export class PlanError extends Error {
  override name = 'PlanError';
}

export interface PlanOptions {
  /** Length of the traffic phase, ms. */
  durationMs: number;
  /** Fault kinds the run may inject (parseFaults). */
  faults: readonly FaultKind[];
  /** Firewalls on (the 'firewall' fault needs them). */
  firewall: boolean;
  /** nRF-style profiles: the Zephyr cores' devicetree configuration, when already read. */
  zephyr?: Record<string, ZephyrCoreImage>;
}

// ---- seeded randomness ------------------------------------------------------------------------


/** FNV-1a of a string (the profile name enters the plan's seed). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** [0, 1) */
  float(): number {
    return this.next();
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(list: readonly T[]): T {
    if (list.length === 0) throw new Error('Rng.pick from an empty list');
    return list[Math.floor(this.next() * list.length)]!;
  }
  /** k distinct integers of [lo, hi], ascending. */
  distinct(k: number, lo: number, hi: number): number[] {
    const out = new Set<number>();
    while (out.size < k) out.add(this.int(lo, hi));
    return [...out].sort((a, b) => a - b);
  }
  u32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }
}

// Stream ids: each part of the plan draws from its own stream.
const STREAM_FLOWS = 1;
const STREAM_SPINLOCK = 2;
const STREAM_PERTURB = 3;
const STREAM_FAULTS = 4;
const STREAM_FAULT_KIND = 0x100;

// ---- the plan ---------------------------------------------------------------------------------

/**
 * The plan of the run of `seed` on `profile`. Async because an nRF-style profile's devicetree is
 * read (instances, regions) unless `opts.zephyr` already carries it.
 */
export async function makePlan(profile: SocProfile, seed: number, opts: PlanOptions): Promise<StressPlan> {
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new PlanError(`seed ${seed}: expected an integer 0..4294967295`);
  if (!(Number.isFinite(opts.durationMs) && opts.durationMs >= MIN_DURATION_MS)) {
    throw new PlanError(`duration ${opts.durationMs} ms: expected at least ${MIN_DURATION_MS} ms`);
  }
  for (const k of opts.faults) {
    if (UNSUPPORTED_FAULTS[k] !== undefined) throw new PlanError(`fault kind ${k}: ${UNSUPPORTED_FAULTS[k]}`);
  }
  // A kind asked for that this platform cannot inject: left out of a list, refused when it is all there is.
  const notHere = opts.faults.filter((k) => platformUnsupported(profile.platform, k) !== undefined);
  if (notHere.length > 0 && notHere.length === opts.faults.length) {
    throw new PlanError(`--faults ${opts.faults.join(',')}: ${notHere.map((k) => platformUnsupported(profile.platform, k)).join('; ')}`);
  }
  const base = mix32(seed, hashString(profile.name));
  const stream = (id: number): Rng => new Rng(mix32(base, id));
  const platform = profile.platform;

  let flows: FlowPlan[];
  let spinlock: SpinlockPlan | undefined;
  let nrf: NrfTopology | undefined;
  if (platform === 'j721e') {
    flows = j7Flows(profile, stream(STREAM_FLOWS));
    spinlock = j7Spinlock(profile, stream(STREAM_SPINLOCK));
  } else {
    const zephyr = opts.zephyr ?? (await loadZephyrConfigs(profile, profile.root ?? PROJECT_ROOT));
    nrf = nrfTopology(profile, zephyr);
    flows = nrfFlows(nrf, stream(STREAM_FLOWS));
    const blocked = opts.faults.includes('core-reset') ? nrfResetBlocked(nrf) : undefined;
    if (blocked !== undefined && opts.faults.length === 1) throw new PlanError(`--faults core-reset on profile ${profile.name}: ${blocked}`);
  }

  const pr = stream(STREAM_PERTURB);
  const perturb: StressPlan['perturb'] = [];
  for (let i = 0; i < PERTURB_POINTS; i++) perturb.push({ p: round3(pr.float() * 0.2), maxUs: pr.int(20, 500) });

  const ctx: FaultContext = {
    profile, flows, nrf, durationMs: opts.durationMs, startMs: startupAllowanceMs(profile), firewall: opts.firewall, exceptionOrReset: new Set(),
  };
  const applicable = opts.faults.filter((k) => applies(k, ctx));
  const chosen = applicable.filter((k) => stream(STREAM_FAULT_KIND + FAULT_KINDS.indexOf(k)).chance(0.5));
  if (chosen.length === 0 && applicable.length > 0) chosen.push(stream(STREAM_FAULTS).pick(applicable));
  const faults: FaultEvent[] = [];
  for (const kind of FAULT_KINDS) {
    if (!chosen.includes(kind)) continue;
    const r = stream(STREAM_FAULT_KIND + FAULT_KINDS.indexOf(kind));
    r.float(); // the draw that chose the kind
    const ev = makeFault(kind, faults.length, r, ctx);
    if (ev) faults.push(ev);
  }
  // A reset sender starts its flows again at seq 0, which a receiver recognises only on payloads
  // that carry a sequence number: no 1..15-byte payloads on the flows of a reset core.
  for (const f of faults) {
    if (f.kind !== 'core-reset') continue;
    for (const flow of flows) if (flow.from === f.core || flow.to === f.core) flow.tinyPct = 0;
  }

  return {
    version: 1, seed, profile: profile.name, platform, durationMs: opts.durationMs, flows,
    ...(spinlock ? { spinlock } : {}), perturb, faults, firewall: opts.firewall,
  };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function flowShape(r: Rng, minLen: number, maxLen: number): Pick<FlowPlan, 'seed' | 'minLen' | 'maxLen' | 'tinyPct' | 'burstMax' | 'gapMaxUs'> {
  return { seed: r.u32(), minLen, maxLen, tinyPct: r.int(2, 8), burstMax: r.int(1, 32), gapMaxUs: r.int(0, 2000) };
}

// ---- J721E ------------------------------------------------------------------------------------

const rtosCores = (p: SocProfile): CoreProfile[] => p.cores.filter((c) => c.os === 'rtos');
const linuxCore = (p: SocProfile): CoreProfile | undefined => p.cores.find((c) => c.os === 'linux');
const procOf = (c: CoreProfile, p: SocProfile): number => c.procId ?? p.cores.indexOf(c);

/** RPMsg between every ordered pair of RTOS cores; rpmsg_char both ways between Linux and each RTOS core it reaches. */
function j7Flows(profile: SocProfile, r: Rng): FlowPlan[] {
  const flows: FlowPlan[] = [];
  const add = (from: string, to: string, channel: string): void => {
    flows.push({ id: flows.length, from, to, channel, ...flowShape(r, 1, RPMSG_MAX_PAYLOAD), zeroCopy: false, holdRx: false });
  };
  const rtos = rtosCores(profile);
  for (const a of rtos) for (const b of rtos) if (a !== b) add(a.name, b.name, 'rpmsg');
  const linux = linuxCore(profile);
  if (linux) {
    for (const c of rtos) {
      if (J721E_DMA_REGION[c.name] === undefined) continue;
      add(linux.name, c.name, 'rpmsg-char');
      add(c.name, linux.name, 'rpmsg-char');
    }
  }
  return flows;
}

function j7Spinlock(profile: SocProfile, r: Rng): SpinlockPlan | undefined {
  const cores = rtosCores(profile).map((c) => c.name);
  if (cores.length < 2) return undefined;
  return { locks: r.distinct(r.int(2, 4), 0, 255), counterAddr: J721E_MSMC_BASE, incrementsPerCore: r.int(50, 300), cores };
}

// ---- nRF5340 ----------------------------------------------------------------------------------

interface NrfTopology {
  cores: [string, string];
  /** Index of each core in the profile (its IPC instance and interrupt line follow from it). */
  index: Record<string, number>;
  zephyr: Record<string, ZephyrCoreImage>;
  /** Receive buffer of ICMsg on each core (CONFIG_PBUF_RX_READ_BUF_SIZE). */
  rxReadBuf: Record<string, number>;
}

function nrfTopology(profile: SocProfile, zephyr: Record<string, ZephyrCoreImage>): NrfTopology {
  const zc = profile.cores.filter((c) => c.os === 'zephyr');
  if (zc.length !== 2) {
    throw new PlanError(`profile ${profile.name}: a stress run on ${profile.platform} needs exactly two Zephyr cores (which instances pair up is known only then); found ${zc.length}`);
  }
  for (const c of zc) if (!zephyr[c.name]) throw new PlanError(`profile ${profile.name}: no devicetree configuration for Zephyr core ${c.name}`);
  const index = Object.fromEntries(zc.map((c) => [c.name, profile.cores.indexOf(c)]));
  const rxReadBuf = Object.fromEntries(zc.map((c) => [c.name, c.kconfig?.CONFIG_PBUF_RX_READ_BUF_SIZE ?? PBUF_RX_READ_BUF_SIZE]));
  return { cores: [zc[0]!.name, zc[1]!.name], index, zephyr, rxReadBuf };
}

/**
 * Why a core of this board cannot be reset in a campaign (undefined: it can). A reset core comes
 * back through ICMsg's session protocol (unbound = "enable" or "detect" on both sides: the peer gets
 * unbound() and re-registers); with the v1 protocol ("disable") the surviving side never notices and
 * the link stays dead, so every ICMsg instance must run a session mode on both cores. ICBMsg
 * instances cannot recover in Zephyr (no reset detection): their flows are reported, loss-exempt.
 */
export function nrfResetBlocked(t: Pick<NrfTopology, 'cores' | 'zephyr'>): string | undefined {
  const bad: string[] = [];
  let icmsg = 0;
  for (const core of t.cores) {
    for (const inst of t.zephyr[core]!.instances) {
      if (inst.compatible !== 'zephyr,ipc-icmsg') continue;
      icmsg++;
      if (inst.unbound === 'disable') bad.push(`${core} ${inst.name}`);
    }
  }
  if (icmsg === 0) return 'a reset core re-bonds only over ICMsg\'s session protocol, and the board has no ICMsg instance';
  if (bad.length) {
    return `a reset core re-bonds only over ICMsg's session protocol, but ${bad.join(', ')} ${bad.length > 1 ? 'have' : 'has'} unbound = "disable" ` +
      '(set unbound = "enable" on both sides, as Nordic recommends for warm restarts)';
  }
  return undefined;
}

/** Largest stress message on ICBMsg instances, and on ICMsg ones (further capped by the receiver's read buffer). */
export const NRF_ICBMSG_MAX_LEN = 384;
export const NRF_ICMSG_MAX_LEN = 256;

/** Endpoint names: "stress<N>A"/"stress<N>B" on an ICBMsg instance ipc<N>, "stress<N>" on an ICMsg one. */
function endpointNames(inst: ZephyrIpcInstanceImage, i: number): string[] {
  const n = /^ipc(\d+)$/.exec(inst.name)?.[1] ?? String(i);
  return inst.compatible === 'zephyr,ipc-icbmsg' ? [`stress${n}A`, `stress${n}B`] : [`stress${n}`];
}

function nrfFlows(t: NrfTopology, r: Rng): FlowPlan[] {
  const flows: FlowPlan[] = [];
  const [a, b] = t.cores;
  t.zephyr[a]!.instances.forEach((inst, i) => {
    const icbmsg = inst.compatible === 'zephyr,ipc-icbmsg';
    for (const ep of endpointNames(inst, i)) {
      for (const [from, to] of [[a, b], [b, a]] as const) {
        const maxLen = icbmsg ? NRF_ICBMSG_MAX_LEN : Math.min(NRF_ICMSG_MAX_LEN, t.rxReadBuf[to]!);
        const shape = flowShape(r, 1, maxLen);
        // Zephyr's ICMsg backend has neither send_nocopy nor hold_rx_buffer.
        const zeroCopy = icbmsg ? r.chance(0.5) : false;
        const holdRx = icbmsg ? r.chance(0.5) : false;
        flows.push({ id: flows.length, from, to, channel: ep, instance: inst.name, ...shape, zeroCopy, holdRx });
      }
    }
  });
  return flows;
}

// ---- faults -----------------------------------------------------------------------------------

interface FaultContext {
  profile: SocProfile;
  flows: FlowPlan[];
  nrf?: NrfTopology;
  durationMs: number;
  startMs: number;
  firewall: boolean;
  /** Cores that already got a firmware-exception or core-reset. */
  exceptionOrReset: Set<string>;
}

/** Whether a fault kind can happen on this profile at all. */
function applies(kind: FaultKind, c: FaultContext): boolean {
  const j7 = c.profile.platform === 'j721e';
  switch (kind) {
    case 'mailbox-drop': return j7 && c.flows.length > 0; // the nRF IPC peripheral has no FIFO
    case 'delayed-irq': case 'bit-flip': return c.flows.length > 0;
    case 'corrupt-index': return j7 ? c.flows.length > 0 : c.flows.some((f) => f.instance !== undefined && isIcbmsg(c, f.instance));
    case 'spurious-irq': return spuriousTargets(c).length > 0;
    case 'firmware-exception': return resettable(c).length > 0;
    case 'core-reset': return platformUnsupported(c.profile.platform, kind) === undefined && resettable(c).length > 0 && (!c.nrf || nrfResetBlocked(c.nrf) === undefined);
    case 'firewall': return c.firewall && firewallCores(c).length > 0;
  }
}

const isIcbmsg = (c: FaultContext, instance: string): boolean =>
  c.nrf!.zephyr[c.nrf!.cores[0]]!.instances.some((i) => i.name === instance && i.compatible === 'zephyr,ipc-icbmsg');

/** Cores a firmware exception (or reset) may hit: never Linux, at most one such fault per core. */
const resettable = (c: FaultContext): CoreProfile[] => c.profile.cores.filter((k) => k.os !== 'linux' && !c.exceptionOrReset.has(k.name));

/** Cores with IPC interrupt lines, and those lines. */
function spuriousTargets(c: FaultContext): { core: string; lines: number[] }[] {
  if (c.nrf) {
    // As soc/image-nrf5340.ts wires them: the first core has the application core's IPC IRQ, the others the network core's.
    return c.nrf.cores.map((name) => ({ core: name, lines: [nvicToLine(c.nrf!.index[name] === 0 ? NRF5340_APP_IPC_IRQ : NRF5340_NET_IPC_IRQ)] }));
  }
  const indexOfProc = new Map(c.profile.cores.map((k, i) => [procOf(k, c.profile), i]));
  const routing = j721eMailboxRouting(indexOfProc);
  return c.profile.cores
    .map((k) => ({ core: k.name, lines: (routing.rxLines[procOf(k, c.profile)] ?? []).map((l) => l.line) }))
    .filter((t) => t.lines.length > 0);
}

/** J7: RTOS cores with a vring pair of two other RTOS cores; nRF: both Zephyr cores. */
function firewallCores(c: FaultContext): string[] {
  if (c.nrf) return [...c.nrf.cores];
  const rtos = rtosCores(c.profile);
  return rtos.length >= 3 ? rtos.map((k) => k.name) : [];
}

function atMs(r: Rng, c: FaultContext): number {
  return Math.round(c.startMs + (0.15 + 0.45 * r.float()) * c.durationMs);
}

function makeFault(kind: FaultKind, id: number, r: Rng, c: FaultContext): FaultEvent | undefined {
  const at = atMs(r, c);
  switch (kind) {
    case 'mailbox-drop': case 'delayed-irq': case 'bit-flip': case 'corrupt-index': {
      const candidates = kind === 'corrupt-index' && c.nrf ? c.flows.filter((f) => f.instance !== undefined && isIcbmsg(c, f.instance)) : c.flows;
      const flow = r.pick(candidates);
      const count = kind === 'bit-flip' ? r.int(1, 4) : r.int(1, 8);
      return {
        id, kind, core: flow.from, atMs: at, peer: flow.to, count, ...(kind === 'delayed-irq' ? { delayMs: r.int(1, 5) } : {}),
      };
    }
    case 'spurious-irq': {
      const t = r.pick(spuriousTargets(c));
      return { id, kind, core: t.core, atMs: at, count: r.int(1, 8), line: r.pick(t.lines) };
    }
    case 'firmware-exception': case 'core-reset': {
      // nRF5340: two cores, so a core-reset (planned first, FAULT_KINDS order) leaves only its peer,
      // which must stay alive for the reset core to re-bond with: no exception in that run.
      if (kind === 'firmware-exception' && c.nrf && c.exceptionOrReset.size > 0) return undefined;
      const core = r.pick(resettable(c)).name;
      c.exceptionOrReset.add(core);
      return { id, kind, core, atMs: at, count: 1 };
    }
    case 'firewall': {
      const core = r.pick(firewallCores(c));
      return { id, kind, core, atMs: at, count: r.int(1, 8), ...firewallTarget(core, r, c) };
    }
  }
}

/** An address `core` may not write: J7, in the vrings of a pair it is not part of; nRF, in the peer's ICMsg TX data. */
function firewallTarget(core: string, r: Rng, c: FaultContext): { addr: number; peer?: string } {
  if (c.nrf) {
    const peer = c.nrf.cores.find((n) => n !== core)!;
    const insts = c.nrf.zephyr[peer]!.instances;
    const inst = insts.find((i) => i.name === 'ipc1') ?? insts.find((i) => i.compatible === 'zephyr,ipc-icmsg') ?? insts[0]!;
    const dataStart = inst.txRegion.base + pbufHeaderOverhead(inst.dcacheAlignment);
    const words = Math.floor((inst.txRegion.base + inst.txRegion.size - dataStart) / 4);
    return { addr: dataStart + 4 * r.int(0, words - 1), peer };
  }
  const others = rtosCores(c.profile).filter((k) => k.name !== core);
  const a = r.pick(others);
  const b = r.pick(others.filter((k) => k !== a));
  const pair = pdkPairLayout(procOf(a, c.profile), procOf(b, c.profile));
  const start = Math.min(pair.txVring, pair.rxVring);
  return { addr: start + 4 * r.int(0, (4 * IPC_VRING_SIZE) / 4 - 1) };
}
