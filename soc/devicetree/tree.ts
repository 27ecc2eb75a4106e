// The merged devicetree (what dtc holds after reading all sources) and typed property accessors.
import { DevicetreeError, formatLoc, type DtLocation } from './errors.js';

export type { DtLocation } from './errors.js';

/** One cell inside `< >`: a number, or a phandle reference (`&label` or `&{/path}`). */
export type DtCell =
  | { kind: 'u32'; value: number; loc: DtLocation }
  | { kind: 'phandle'; ref: string; loc: DtLocation };

/** One comma-separated piece of a property value. `ref` is a label, or an absolute path for `&{/a/b}`. */
export type DtValue =
  | { kind: 'cells'; bits: 8 | 16 | 32 | 64; cells: DtCell[]; loc: DtLocation }
  | { kind: 'string'; value: string; loc: DtLocation }
  | { kind: 'bytes'; bytes: Uint8Array; loc: DtLocation }
  | { kind: 'reference'; ref: string; loc: DtLocation };

export interface DtProperty {
  name: string;
  /** Empty for a boolean property (`name;`). */
  values: DtValue[];
  /** Where the property name was written (the last definition wins). */
  loc: DtLocation;
}

export interface DtNode {
  /** Node name without unit address (`memory` for `memory@20070000`; `/` for the root). */
  name: string;
  unitAddress?: string;
  /** Absolute path, e.g. `/reserved-memory/memory@20070000`. */
  path: string;
  labels: string[];
  props: Map<string, DtProperty>;
  children: DtNode[];
  parent?: DtNode;
  /** Where the node was first opened. */
  loc: DtLocation;
}

export interface DtTree {
  root: DtNode;
  labels: Map<string, DtNode>;
  /** Every file read, in order, including `#include`d ones. */
  files: string[];
}

/** `name@unit` as written in a path. */
export const fullName = (n: DtNode): string => (n.unitAddress === undefined ? n.name : `${n.name}@${n.unitAddress}`);

/** How a reference is written in source. */
export const refText = (ref: string): string => (ref.startsWith('/') ? `&{${ref}}` : `&${ref}`);

export const hex = (v: number): string => `0x${v.toString(16)}`;

/** Finds a node by absolute path; a path component without `@unit` matches a unique child of that name. */
export function getNode(tree: DtTree, path: string): DtNode | undefined {
  let node: DtNode | undefined = tree.root;
  for (const part of path.split('/').filter((p) => p !== '')) {
    const exact: DtNode | undefined = node.children.find((c) => fullName(c) === part);
    const loose: DtNode[] = part.includes('@') ? [] : node.children.filter((c) => c.name === part);
    node = exact ?? (loose.length === 1 ? loose[0] : undefined);
    if (node === undefined) return undefined;
  }
  return node;
}

/** The node a label or `&{/path}` reference points to. */
export const resolveRef = (tree: DtTree, ref: string): DtNode | undefined =>
  ref.startsWith('/') ? getNode(tree, ref) : tree.labels.get(ref);

/** Visits `node` and all its descendants, parents first. */
export function walk(node: DtNode, fn: (n: DtNode) => void): void {
  fn(node);
  for (const c of node.children) walk(c, fn);
}

/** `status` absent, "okay" or "ok". */
export function isEnabled(node: DtNode): boolean {
  const s = propString(node, 'status');
  return s === undefined || s === 'okay' || s === 'ok';
}

function describe(p: DtProperty): string {
  if (p.values.length === 0) return 'an empty (boolean) property';
  const kinds = p.values.map((v) => (v.kind === 'cells' ? '<cells>' : v.kind === 'string' ? 'a string' : v.kind === 'bytes' ? '[bytes]' : 'a reference'));
  return kinds.join(', ');
}

/** All 32-bit cells of a property made only of `< >` groups, or undefined when absent. */
export function propCells(node: DtNode, name: string): DtCell[] | undefined {
  const p = node.props.get(name);
  if (p === undefined) return undefined;
  const cells: DtCell[] = [];
  for (const v of p.values) {
    if (v.kind !== 'cells' || v.bits !== 32) {
      throw new DevicetreeError(p.loc, `property "${name}" of ${node.path} is ${describe(p)}`, `32-bit cells: ${name} = <...>;`);
    }
    cells.push(...v.cells);
  }
  return cells;
}

/** A property holding exactly one number (`name = <N>;`), or undefined when absent. */
export function propU32(node: DtNode, name: string): number | undefined {
  const cells = propCells(node, name);
  if (cells === undefined) return undefined;
  const c = cells[0];
  if (cells.length !== 1 || c === undefined || c.kind !== 'u32') {
    const p = node.props.get(name)!;
    throw new DevicetreeError(p.loc, `property "${name}" of ${node.path} must hold one number but has ${cells.length === 1 ? 'a phandle' : `${cells.length} cells`}`, `${name} = <N>;`);
  }
  return c.value;
}

/** A list of strings (`name = "a", "b";`), or undefined when absent. */
export function propStrings(node: DtNode, name: string): string[] | undefined {
  const p = node.props.get(name);
  if (p === undefined) return undefined;
  const out: string[] = [];
  for (const v of p.values) {
    if (v.kind !== 'string') throw new DevicetreeError(p.loc, `property "${name}" of ${node.path} is ${describe(p)}`, `strings: ${name} = "...";`);
    out.push(v.value);
  }
  return out;
}

/** A single string, or undefined when absent. */
export function propString(node: DtNode, name: string): string | undefined {
  const s = propStrings(node, name);
  if (s === undefined) return undefined;
  if (s.length !== 1) {
    throw new DevicetreeError(node.props.get(name)!.loc, `property "${name}" of ${node.path} has ${s.length} strings`, `exactly one: ${name} = "...";`);
  }
  return s[0];
}

/** Up to three labels closest to `want` (edit distance <= 2), for "did you mean" hints. */
function nearLabels(tree: DtTree, want: string): string[] {
  const dist = (a: string, b: string): number => {
    let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      const cur = [i];
      for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
    return prev[b.length]!;
  };
  const scored = [...tree.labels.keys()].map((l) => ({ l, d: dist(l, want) })).filter((x) => x.d <= 2);
  const best = Math.min(...scored.map((x) => x.d));
  return scored.filter((x) => x.d === best).map((x) => x.l).slice(0, 3);
}

/** Throws the standard "does not resolve" error for `ref` used in property `prop` of `node`. */
export function unresolved(tree: DtTree, node: DtNode, prop: string, ref: string, loc: DtLocation, what = 'an existing node'): never {
  const near = ref.startsWith('/') ? [] : nearLabels(tree, ref);
  const hint = near.length > 0 ? ` (did you mean ${near.map((l) => `&${l}`).join(' or ')}?)` : '';
  const why = ref.startsWith('/') ? `there is no node at path ${ref}` : `no node is labelled "${ref}"`;
  throw new DevicetreeError(loc, `property "${prop}" of ${node.path} refers to ${refText(ref)}, but ${why}${hint}`, `the label of ${what}`);
}

/** A property holding one phandle (`name = <&label>;`), resolved; undefined when absent. */
export function propPhandle(tree: DtTree, node: DtNode, name: string, what?: string): { node: DtNode; ref: string; loc: DtLocation } | undefined {
  const cells = propCells(node, name);
  if (cells === undefined) return undefined;
  const p = node.props.get(name)!;
  const c = cells[0];
  if (cells.length !== 1 || c === undefined || c.kind !== 'phandle') {
    throw new DevicetreeError(p.loc, `property "${name}" of ${node.path} must hold one phandle but has ${cells.length} cell(s)${c?.kind === 'u32' ? ' starting with a number' : ''}`, `${name} = <&label>;`);
  }
  const target = resolveRef(tree, c.ref);
  if (target === undefined) unresolved(tree, node, name, c.ref, p.loc, what);
  return { node: target, ref: c.ref, loc: p.loc };
}

/** One `<&controller arg...>` entry of a phandle-array property. */
export interface DtPhandleEntry {
  node: DtNode;
  ref: string;
  args: number[];
  loc: DtLocation;
}

/**
 * A phandle-array (`name = <&a 1>, <&b 2>;`), each entry's argument count taken from the target's
 * `cellsProp` (e.g. `#mbox-cells`). Undefined when absent.
 */
export function propPhandles(tree: DtTree, node: DtNode, name: string, cellsProp: string, what?: string): DtPhandleEntry[] | undefined {
  const cells = propCells(node, name);
  if (cells === undefined) return undefined;
  const p = node.props.get(name)!;
  const out: DtPhandleEntry[] = [];
  for (let i = 0; i < cells.length; ) {
    const c = cells[i]!;
    if (c.kind !== 'phandle') {
      throw new DevicetreeError(p.loc, `property "${name}" of ${node.path} has the number ${hex(c.value)} where a phandle must start an entry`, `entries of the form <&controller ${cellsProp.replace(/^#/, '').toUpperCase()}...>`);
    }
    const target = resolveRef(tree, c.ref);
    if (target === undefined) unresolved(tree, node, name, c.ref, p.loc, what);
    let j = i + 1;
    while (j < cells.length && cells[j]!.kind === 'u32') j++;
    const args = cells.slice(i + 1, j).map((a) => (a as { value: number }).value);
    const n = propU32(target, cellsProp);
    if (n === undefined) {
      throw new DevicetreeError(p.loc, `property "${name}" of ${node.path} refers to ${refText(c.ref)} (${target.path}), which has no "${cellsProp}" property`, `a controller that declares ${cellsProp}`);
    }
    if (args.length !== n) {
      throw new DevicetreeError(p.loc, `entry ${out.length} of "${name}" in ${node.path} gives ${args.length} cell(s) after ${refText(c.ref)}, but ${target.path} has ${cellsProp} = <${n}>`, `<${refText(c.ref)}${' N'.repeat(n)}>`);
    }
    out.push({ node: target, ref: c.ref, args, loc: c.loc });
    i = j;
  }
  return out;
}

/** One `reg` entry. Addresses and sizes above 2^53 lose precision. */
export interface DtReg {
  base: number;
  size: number;
  loc: DtLocation;
}

/** `reg` decoded with the parent's #address-cells (default 2) and #size-cells (default 1); undefined when absent. */
export function nodeReg(node: DtNode): DtReg[] | undefined {
  const cells = propCells(node, 'reg');
  if (cells === undefined) return undefined;
  const p = node.props.get('reg')!;
  const parent = node.parent;
  const ac = (parent && propU32(parent, '#address-cells')) ?? 2;
  const sc = (parent && propU32(parent, '#size-cells')) ?? 1;
  const where = parent?.props.has('#address-cells') ? parent.path : `${parent?.path ?? '/'} (dtc defaults: no #address-cells/#size-cells)`;
  if (cells.length === 0 || cells.length % (ac + sc) !== 0) {
    throw new DevicetreeError(p.loc, `"reg" of ${node.path} has ${cells.length} cell(s), but ${where} has #address-cells = <${ac}> and #size-cells = <${sc}>`, `a multiple of ${ac + sc} cells: <address${' cell'.repeat(ac - 1)} size${' cell'.repeat(sc - 1)}>`);
  }
  const num = (cs: DtCell[]): number =>
    cs.reduce((acc, c) => {
      if (c.kind !== 'u32') throw new DevicetreeError(p.loc, `"reg" of ${node.path} contains a phandle ${refText(c.ref)}`, 'numbers only');
      return acc * 2 ** 32 + c.value;
    }, 0);
  const out: DtReg[] = [];
  for (let i = 0; i < cells.length; i += ac + sc) {
    out.push({ base: num(cells.slice(i, i + ac)), size: num(cells.slice(i + ac, i + ac + sc)), loc: p.loc });
  }
  return out;
}

/** Throws for the first reference anywhere in the tree that does not resolve (dtc refuses these too). */
export function checkReferences(tree: DtTree): void {
  walk(tree.root, (n) => {
    for (const p of n.props.values()) {
      for (const v of p.values) {
        const refs = v.kind === 'reference' ? [v.ref] : v.kind === 'cells' ? v.cells.flatMap((c) => (c.kind === 'phandle' ? [c.ref] : [])) : [];
        for (const r of refs) if (resolveRef(tree, r) === undefined) unresolved(tree, n, p.name, r, p.loc);
      }
    }
  });
}

/** `path (file:line:column)`, for messages that mention a second place. */
export const where = (n: DtNode): string => `${n.path} (${formatLoc(n.loc)})`;
