// Zephyr IPC service configuration (bindings zephyr,ipc-icmsg / zephyr,ipc-icbmsg and nordic,mbox-nrf-ipc)
// read from a merged devicetree, with the checks Zephyr's build and drivers would apply, and more.
import { icbmsgRegionLayout, ICBMSG_MAX_BLOCKS } from '../../shared/icbmsg-layout.js';
import { DevicetreeError, formatLoc, type DtLocation } from './errors.js';
import {
  checkReferences, getNode, hex, isEnabled, nodeReg, propCells, propPhandle, propPhandles, propString, propStrings,
  propU32, refText, resolveRef, unresolved, walk, type DtNode, type DtReg, type DtTree,
} from './tree.js';

export { checkPeerConfigs } from './zephyr-ipc-peer.js';

export const ZEPHYR_IPC_COMPATIBLES = ['zephyr,ipc-icmsg', 'zephyr,ipc-icbmsg'] as const;
export type ZephyrIpcCompatible = (typeof ZEPHYR_IPC_COMPATIBLES)[number];
export const ZEPHYR_IPC_UNBOUND_MODES = ['disable', 'enable', 'detect'] as const;
export type ZephyrIpcUnbound = (typeof ZEPHYR_IPC_UNBOUND_MODES)[number];
/** The only MBOX controller hetsoc models for Zephyr (nRF5340 IPC peripheral). */
export const NRF_MBOX_COMPATIBLE = 'nordic,mbox-nrf-ipc';
/** Zephyr's binding: `unbound` other than "disable" needs at least this dcache-alignment. */
export const UNBOUND_MIN_DCACHE_ALIGNMENT = 8;

export interface ZephyrIpcRegion {
  /** The reference used (`tx` for `<&tx>`; an absolute path for `<&{/a/b}>`). */
  label: string;
  /** Path of the memory node. */
  path: string;
  base: number;
  size: number;
  /** The tx-region / rx-region property. */
  loc: DtLocation;
  /** The memory node's reg property. */
  regLoc: DtLocation;
}

export interface ZephyrIpcMbox {
  /** Path of the MBOX controller node. */
  controller: string;
  channel: number;
  /** The mboxes property. */
  loc: DtLocation;
}

export interface ZephyrIpcInstance {
  /** Node name, e.g. "ipc0". */
  name: string;
  labels: string[];
  path: string;
  compatible: ZephyrIpcCompatible;
  txRegion: ZephyrIpcRegion;
  rxRegion: ZephyrIpcRegion;
  /** ICBMsg only. */
  txBlocks?: number;
  rxBlocks?: number;
  mboxTx: ZephyrIpcMbox;
  mboxRx: ZephyrIpcMbox;
  /** 0 when absent. */
  dcacheAlignment: number;
  /** "disable" when absent. */
  unbound: ZephyrIpcUnbound;
  /** The instance node. */
  loc: DtLocation;
  /** Where each property of the instance was written; absent properties are missing (use `loc`). */
  propLocs: Record<string, DtLocation>;
}

export interface ZephyrIpcConfig {
  /** Files the tree was read from, in order. */
  files: string[];
  instances: ZephyrIpcInstance[];
}

export interface SharedRamRange {
  name: string;
  base: number;
  size: number;
}

const isIpcCompatible = (c: string): c is ZephyrIpcCompatible => (ZEPHYR_IPC_COMPATIBLES as readonly string[]).includes(c);
const supportedList = ZEPHYR_IPC_COMPATIBLES.map((c) => `"${c}"`).join(' or ');
const span = (base: number, size: number): string => `[${hex(base)}..${hex(base + size)})`;
const nodeName = (n: DtNode): string => (n.labels[0] !== undefined ? `&${n.labels[0]} (${n.path})` : n.path);

/**
 * Reads every enabled IPC instance (a node whose compatible includes "zephyr,ipc-icmsg" or
 * "zephyr,ipc-icbmsg", anywhere in the tree) and validates it against the bindings, the nRF IPC MBOX,
 * the other instances and `opts.sharedRam`. Throws DevicetreeError at the offending property.
 */
export function extractZephyrIpc(tree: DtTree, opts: { sharedRam: SharedRamRange[] }): ZephyrIpcConfig {
  const instances: ZephyrIpcInstance[] = [];
  const regionNodes: DtNode[] = [];
  walk(tree.root, (n) => {
    if (!isEnabled(n)) return;
    const compat = propStrings(n, 'compatible');
    const supported = compat?.find(isIpcCompatible);
    if (supported !== undefined) {
      const inst = readInstance(tree, n, supported);
      instances.push(inst);
      regionNodes.push(resolveRef(tree, inst.txRegion.label)!, resolveRef(tree, inst.rxRegion.label)!);
    } else if (n.parent?.name === 'ipc') {
      const at = n.props.get('compatible')?.loc ?? n.loc;
      const what = compat === undefined ? 'has no compatible' : `has compatible ${compat.map((c) => `"${c}"`).join(', ')}, which hetsoc does not support`;
      throw new DevicetreeError(at, `IPC instance ${n.path} ${what}`, `compatible = ${supportedList} (or status = "disabled")`);
    }
  });
  checkSharing(instances);
  checkOverlaps(tree, regionNodes);
  for (const inst of instances) for (const r of [inst.txRegion, inst.rxRegion]) checkShared(inst, r, opts.sharedRam);
  checkReferences(tree);
  return { files: [...tree.files], instances };
}

function readInstance(tree: DtTree, n: DtNode, compatible: ZephyrIpcCompatible): ZephyrIpcInstance {
  const icb = compatible === 'zephyr,ipc-icbmsg';
  const required: Record<string, string> = {
    'tx-region': '`tx-region = <&label>;` naming a memory node with reg',
    'rx-region': '`rx-region = <&label>;` naming a memory node with reg',
    ...(icb ? { 'tx-blocks': `\`tx-blocks = <N>;\` with N in 1..${ICBMSG_MAX_BLOCKS}`, 'rx-blocks': `\`rx-blocks = <N>;\` with N in 1..${ICBMSG_MAX_BLOCKS}` } : {}),
    mboxes: '`mboxes = <&mbox TX_CHANNEL>, <&mbox RX_CHANNEL>;`',
    'mbox-names': '`mbox-names = "tx", "rx";` (in the order of mboxes)',
  };
  for (const [prop, how] of Object.entries(required)) {
    if (!n.props.has(prop)) throw new DevicetreeError(n.loc, `IPC instance ${n.path} (${compatible}) has no "${prop}" property`, how);
  }
  const propLocs: Record<string, DtLocation> = Object.fromEntries([...n.props.values()].map((p) => [p.name, p.loc]));
  const txRegion = readRegion(tree, n, 'tx-region');
  const rxRegion = readRegion(tree, n, 'rx-region');
  if (txRegion.path === rxRegion.path) {
    throw new DevicetreeError(rxRegion.loc, `rx-region of ${n.path} is the same node as its tx-region (${rxRegion.path})`, 'two different memory regions, one per direction');
  }
  const [mboxTx, mboxRx] = readMboxes(tree, n);
  const dcacheAlignment = propU32(n, 'dcache-alignment') ?? 0;
  if (dcacheAlignment !== 0 && (dcacheAlignment & (dcacheAlignment - 1)) !== 0) {
    throw new DevicetreeError(propLocs['dcache-alignment']!, `dcache-alignment = <${dcacheAlignment}> of ${n.path} is not a power of two`, '0 (no data cache) or a power of two such as 8, 32 or 64');
  }
  const unbound = propString(n, 'unbound') ?? 'disable';
  if (!(ZEPHYR_IPC_UNBOUND_MODES as readonly string[]).includes(unbound)) {
    throw new DevicetreeError(propLocs['unbound']!, `unbound = "${unbound}" of ${n.path} is not a known mode`, '"disable", "enable" or "detect"');
  }
  if (unbound !== 'disable' && dcacheAlignment < UNBOUND_MIN_DCACHE_ALIGNMENT) {
    const dc = n.props.has('dcache-alignment') ? `dcache-alignment = <${dcacheAlignment}>` : 'no dcache-alignment (0)';
    throw new DevicetreeError(propLocs['unbound']!, `unbound = "${unbound}" of ${n.path} needs dcache-alignment of at least ${UNBOUND_MIN_DCACHE_ALIGNMENT}, but the node has ${dc}`, `dcache-alignment = <${UNBOUND_MIN_DCACHE_ALIGNMENT}>; (or more), or unbound = "disable"`);
  }
  const inst: ZephyrIpcInstance = {
    name: n.name, labels: [...n.labels], path: n.path, compatible, txRegion, rxRegion, mboxTx, mboxRx,
    dcacheAlignment, unbound: unbound as ZephyrIpcUnbound, loc: n.loc, propLocs,
  };
  if (icb) {
    inst.txBlocks = readBlocks(n, 'tx-blocks');
    inst.rxBlocks = readBlocks(n, 'rx-blocks');
    checkLayout(inst, 'tx-blocks', txRegion, inst.txBlocks, inst.rxBlocks);
    checkLayout(inst, 'rx-blocks', rxRegion, inst.rxBlocks, inst.txBlocks);
  }
  return inst;
}

function readRegion(tree: DtTree, n: DtNode, prop: 'tx-region' | 'rx-region'): ZephyrIpcRegion {
  const ph = propPhandle(tree, n, prop, 'a memory region node (e.g. `tx: memory@20070000 { reg = <0x20070000 0x800>; };`)')!;
  const r = ph.node;
  const is = `${prop} of ${n.path} refers to ${refText(ph.ref)} (${r.path}), which`;
  if (!isEnabled(r)) throw new DevicetreeError(ph.loc, `${is} has status "${propString(r, 'status')}"`, 'an enabled memory region (status absent or "okay")');
  const reg = nodeReg(r)?.[0];
  if (reg === undefined) throw new DevicetreeError(ph.loc, `${is} has no "reg" property`, 'a memory node with `reg = <base size>;`');
  if (reg.size === 0) throw new DevicetreeError(reg.loc, `${is} has size 0`, 'a region of at least a few hundred bytes');
  return { label: ph.ref, path: r.path, base: reg.base, size: reg.size, loc: ph.loc, regLoc: reg.loc };
}

/** Allowed channels of a mask, e.g. "0..15" or "0, 2..3". */
function channels(mask: number): string {
  const out: string[] = [];
  for (let i = 0; i < 32; i++) {
    if (((mask >>> i) & 1) === 0) continue;
    let j = i;
    while (j + 1 < 32 && ((mask >>> (j + 1)) & 1) === 1) j++;
    out.push(i === j ? `${i}` : `${i}..${j}`);
    i = j;
  }
  return out.length === 0 ? 'none (the mask is 0)' : out.join(', ');
}

function readMboxes(tree: DtTree, n: DtNode): [ZephyrIpcMbox, ZephyrIpcMbox] {
  const p = n.props.get('mboxes')!;
  const ctrlWhat = `an MBOX controller compatible with "${NRF_MBOX_COMPATIBLE}" (e.g. &mbox)`;
  for (const c of propCells(n, 'mboxes')!) {
    if (c.kind !== 'phandle') continue;
    const ctrl = resolveRef(tree, c.ref) ?? unresolved(tree, n, 'mboxes', c.ref, p.loc, ctrlWhat);
    const compat = propStrings(ctrl, 'compatible') ?? [];
    const is = `mboxes of ${n.path} refers to ${refText(c.ref)} (${ctrl.path}), which`;
    if (!compat.includes(NRF_MBOX_COMPATIBLE)) {
      throw new DevicetreeError(p.loc, `${is} ${compat.length ? `is compatible with ${compat.map((s) => `"${s}"`).join(', ')}` : 'has no compatible'}`, ctrlWhat);
    }
    if (!isEnabled(ctrl)) throw new DevicetreeError(p.loc, `${is} has status "${propString(ctrl, 'status')}"`, `an enabled MBOX controller (status = "okay" in ${ctrl.path})`);
  }
  const entries = propPhandles(tree, n, 'mboxes', '#mbox-cells', ctrlWhat)!;
  const names = propStrings(n, 'mbox-names')!;
  const namesLoc = n.props.get('mbox-names')!.loc;
  if (entries.length !== 2) {
    throw new DevicetreeError(p.loc, `mboxes of ${n.path} has ${entries.length} entries`, 'exactly two, one for "tx" and one for "rx": mboxes = <&mbox 0>, <&mbox 1>;');
  }
  const quoted = names.map((s) => `"${s}"`).join(', ');
  if (names.length !== 2 || [...names].sort().join() !== 'rx,tx') {
    throw new DevicetreeError(namesLoc, `mbox-names of ${n.path} is ${quoted || 'empty'}`, '"tx" and "rx" once each (any order), naming the two mboxes entries by position');
  }
  const out = (['tx', 'rx'] as const).map((dir): ZephyrIpcMbox => {
    const i = names.indexOf(dir);
    const e = entries[i]!;
    if (e.args.length !== 1) {
      const cellsLoc = e.node.props.get('#mbox-cells')!.loc;
      throw new DevicetreeError(cellsLoc, `${e.node.path} has #mbox-cells = <${e.args.length}>`, `#mbox-cells = <1> (the channel) for "${NRF_MBOX_COMPATIBLE}"`);
    }
    const ch = e.args[0]!;
    const maskName = `${dir}-mask`;
    const mask = propU32(e.node, maskName);
    if (mask === undefined) throw new DevicetreeError(e.node.loc, `MBOX controller ${e.node.path} has no ${maskName}`, `${maskName} = <0xffff>; (the channels this core may ${dir === 'tx' ? 'send' : 'receive'} on)`);
    if (ch >= 32 || ((mask >>> ch) & 1) === 0) {
      throw new DevicetreeError(p.loc, `the "${dir}" channel ${ch} of ${n.path} (mboxes entry ${i}, <${refText(e.ref)} ${ch}>) is not in ${maskName} ${hex(mask)} of ${e.node.path}`, `${dir === 'rx' ? 'an' : 'a'} ${dir} channel in ${channels(mask)}`);
    }
    return { controller: e.node.path, channel: ch, loc: p.loc };
  });
  return [out[0]!, out[1]!];
}

function readBlocks(n: DtNode, prop: 'tx-blocks' | 'rx-blocks'): number {
  const v = propU32(n, prop)!;
  if (v < 1 || v > ICBMSG_MAX_BLOCKS) {
    throw new DevicetreeError(n.props.get(prop)!.loc, `${prop} = <${v}> of ${n.path} is outside 1..${ICBMSG_MAX_BLOCKS}`, `a block count from 1 to ${ICBMSG_MAX_BLOCKS} (ICBMsg block indexes are one byte)`);
  }
  return v;
}

function checkLayout(inst: ZephyrIpcInstance, prop: 'tx-blocks' | 'rx-blocks', r: ZephyrIpcRegion, local: number, remote: number): void {
  try {
    icbmsgRegionLayout({ name: refText(r.label), base: r.base, size: r.size }, local, remote, inst.dcacheAlignment);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const region = prop === 'tx-blocks' ? 'tx-region' : 'rx-region';
    throw new DevicetreeError(inst.propLocs[prop]!, `${prop} = <${local}> of ${inst.path} does not fit its ${region}: ${e.message}`, `fewer blocks or a larger ${region}`);
  }
}

function checkSharing(instances: ZephyrIpcInstance[]): void {
  const used = new Map<string, { inst: ZephyrIpcInstance; prop: string; loc: DtLocation }>();
  for (const inst of instances) {
    for (const [prop, r] of [['tx-region', inst.txRegion], ['rx-region', inst.rxRegion]] as const) {
      const prev = used.get(r.path);
      if (prev !== undefined) {
        throw new DevicetreeError(r.loc, `${prop} of ${inst.path} is ${refText(r.label)} (${r.path}), which is already the ${prev.prop} of ${prev.inst.path} (${formatLoc(prev.loc)})`, 'a memory region of its own for every instance and direction');
      }
      used.set(r.path, { inst, prop, loc: r.loc });
    }
  }
}

/** Regions used by IPC plus all enabled /reserved-memory children must not overlap. */
function checkOverlaps(tree: DtTree, ipcNodes: DtNode[]): void {
  const nodes = [...(getNode(tree, '/reserved-memory')?.children.filter(isEnabled) ?? []), ...ipcNodes];
  const regions: { node: DtNode; reg: DtReg }[] = [];
  for (const node of new Set(nodes)) for (const reg of nodeReg(node) ?? []) regions.push({ node, reg });
  for (let j = 0; j < regions.length; j++) {
    for (let i = 0; i < j; i++) {
      const a = regions[i]!;
      const b = regions[j]!;
      if (a.node === b.node || a.reg.size === 0 || b.reg.size === 0) continue;
      if (a.reg.base < b.reg.base + b.reg.size && b.reg.base < a.reg.base + a.reg.size) {
        throw new DevicetreeError(b.reg.loc, `region ${nodeName(b.node)} ${span(b.reg.base, b.reg.size)} overlaps region ${nodeName(a.node)} ${span(a.reg.base, a.reg.size)} (${formatLoc(a.reg.loc)})`, 'reserved-memory regions that do not overlap each other');
      }
    }
  }
}

function checkShared(inst: ZephyrIpcInstance, r: ZephyrIpcRegion, sharedRam: SharedRamRange[]): void {
  if (sharedRam.some((s) => r.base >= s.base && r.base + r.size <= s.base + s.size)) return;
  const role = r === inst.txRegion ? 'tx-region' : 'rx-region';
  const ranges = sharedRam.map((s) => `${s.name} ${span(s.base, s.size)}`).join(' or ');
  throw new DevicetreeError(r.regLoc, `${refText(r.label)} (${r.path}) ${span(r.base, r.size)}, the ${role} of ${inst.path}, is not entirely inside RAM shared by both cores`, ranges ? `a region inside ${ranges}` : 'a region inside shared RAM (none is configured)');
}
