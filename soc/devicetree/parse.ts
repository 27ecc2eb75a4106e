// Devicetree sources -> one merged tree, following dtc's merge rules (repeated nodes merge, later
// properties override, `&label { }` amends the labelled node, /delete-node/ and /delete-property/).
// The C preprocessor is limited to `#include "file"` and `#define NAME <integer>`.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Language, Parser, type Node } from 'web-tree-sitter';
import { DevicetreeError, type DtLocation } from './errors.js';
import { evalExpr, fitCell, type DtDefine } from './expr.js';
import { decodeBytes, decodeString, locOf, parseIntLiteral, syntaxError } from './syntax.js';
import { fullName, getNode, refText, where, type DtCell, type DtNode, type DtTree, type DtValue } from './tree.js';

export { DevicetreeError, formatLoc, type DtLocation } from './errors.js';
export * from './tree.js';

let parserPromise: Promise<Parser> | undefined;

/** The tree-sitter parser, initialised once per process (per thread). */
function getParser(): Promise<Parser> {
  parserPromise ??= (async () => {
    await Parser.init();
    const require = createRequire(import.meta.url);
    const lang = await Language.load(require.resolve('tree-sitter-devicetree/tree-sitter-devicetree.wasm'));
    const p = new Parser();
    p.setLanguage(lang);
    return p;
  })().catch((e: unknown) => {
    parserPromise = undefined;
    throw e;
  });
  return parserPromise;
}

/** A source to read: `source` is used as is, otherwise `path` is read from disk. */
export interface DtSource {
  path: string;
  source?: string;
}

/**
 * Parses `files` in order and merges them into one tree, as dtc does with a board file plus overlays.
 * `#define`s carry over from one file to the next (as in Zephyr, where overlays share one preprocessor run).
 * Throws DevicetreeError for any syntax error, unsupported preprocessor use or bad reference target.
 */
export async function parseDevicetree(files: DtSource[]): Promise<DtTree> {
  const b = new Builder(await getParser());
  for (const f of files) await b.file(f.path, f.source);
  if (b.root.loc.file === '' && files[0] !== undefined) b.root.loc = { file: files[0].path, line: 1, column: 1 };
  return { root: b.root, labels: b.labels, files: b.files };
}

const UNSUPPORTED_PREPROC: Record<string, string> = {
  preproc_function_def: 'function-like #define',
  preproc_if: '#if',
  preproc_ifdef: '#ifdef/#ifndef',
  preproc_undef: '#undef',
  preproc_elif: '#elif',
  preproc_else: '#else',
};

class Builder {
  readonly root: DtNode = { name: '/', path: '/', labels: [], props: new Map(), children: [], loc: { file: '', line: 1, column: 1 } };
  readonly labels = new Map<string, DtNode>();
  readonly files: string[] = [];
  private readonly defines = new Map<string, DtDefine>();
  private readonly stack: string[] = [];

  constructor(private readonly parser: Parser) {}

  async file(file: string, source?: string, includedAt?: DtLocation): Promise<void> {
    const at = includedAt ?? { file, line: 1, column: 1 };
    if (this.stack.includes(file)) {
      throw new DevicetreeError(at, `${file} includes itself (${[...this.stack, file].join(' -> ')})`, 'no circular #include');
    }
    if (source === undefined) {
      try {
        source = await readFile(file, 'utf8');
      } catch (e) {
        throw new DevicetreeError(at, `cannot read ${file}: ${(e as Error).message}`, 'an existing, readable devicetree file');
      }
    }
    this.files.push(file);
    const tree = this.parser.parse(source);
    if (tree === null) throw new DevicetreeError(at, `tree-sitter could not parse ${file}`, 'a devicetree source');
    try {
      const err = syntaxError(tree.rootNode, source, file);
      if (err) throw err;
      this.stack.push(file);
      await this.statements(tree.rootNode, file, undefined);
      this.stack.pop();
    } finally {
      tree.delete();
    }
  }

  /** Top-level statements (`target` undefined) or the body of a node. */
  private async statements(container: Node, file: string, target: DtNode | undefined): Promise<void> {
    for (let i = 0; i < container.childCount; i++) {
      const c = container.child(i)!;
      const field = container.fieldNameForChild(i);
      if (!c.isNamed || c.type === 'comment' || field === 'name' || field === 'label' || field === 'address') continue;
      const loc = locOf(c, file);
      switch (c.type) {
        case 'node':
          if (target === undefined) await this.topNode(c, file);
          else await this.statements(c, file, this.childNode(target, c, file));
          break;
        case 'omit_if_no_ref': {
          const inner = c.namedChildren.find((n) => n?.type === 'node');
          if (inner) {
            if (target === undefined) await this.topNode(inner, file);
            else await this.statements(inner, file, this.childNode(target, inner, file));
          }
          break;
        }
        case 'property':
          this.property(target!, c, file);
          break;
        case 'delete_property':
          target!.props.delete(c.childForFieldName('name')!.text);
          break;
        case 'delete_node':
          this.deleteNode(target, c, file);
          break;
        case 'preproc_include':
        case 'dtsi_include': {
          const p = c.childForFieldName('path')!;
          if (p.type !== 'string_literal') {
            throw new DevicetreeError(loc, `#include ${p.text} (system include paths) is not supported`, '#include "file.dtsi" relative to the including file');
          }
          if (target !== undefined) throw new DevicetreeError(loc, '#include inside a node is not supported', '#include at the top level of the file');
          const inc = decodeString(p.text);
          await this.file(path.isAbsolute(inc) ? inc : path.join(path.dirname(file), inc), undefined, loc);
          break;
        }
        case 'preproc_def':
          this.define(c, file);
          break;
        case 'file_version':
        case 'memory_reservation':
          break;
        case 'plugin':
          throw new DevicetreeError(loc, '/plugin/ overlays are not supported', 'a plain source (Zephyr overlays use `&label { ... };` without /plugin/)');
        default: {
          const what = UNSUPPORTED_PREPROC[c.type];
          if (what) throw new DevicetreeError(loc, `${what} is not supported`, 'only `#include "file"` and `#define NAME <integer>` preprocessor lines');
          throw new DevicetreeError(loc, `unexpected ${c.type} "${c.text.split('\n')[0]}"`, 'a property, a node, /delete-node/ or /delete-property/');
        }
      }
    }
  }

  private async topNode(c: Node, file: string): Promise<void> {
    const name = c.childForFieldName('name')!;
    let target: DtNode | undefined;
    if (name.type === 'reference') {
      const ref = refString(name);
      target = ref.startsWith('/') ? getNode({ root: this.root, labels: this.labels, files: [] }, ref) : this.labels.get(ref);
      if (target === undefined) {
        const why = ref.startsWith('/') ? `there is no node at ${ref}` : `no earlier node is labelled "${ref}"`;
        throw new DevicetreeError(locOf(name, file), `${refText(ref)} { ... } cannot be applied: ${why}`, 'a label defined earlier (e.g. in the SoC .dtsi) or an existing path');
      }
    } else if (name.text === '/') {
      target = this.root;
      if (this.root.loc.file === '') this.root.loc = locOf(c, file);
    } else {
      throw new DevicetreeError(locOf(name, file), `node "${name.text}" is at the top level`, `it inside the root node: / { ${name.text} { ... }; };`);
    }
    this.addLabels(target, c, file);
    await this.statements(c, file, target);
  }

  private childNode(parent: DtNode, c: Node, file: string): DtNode {
    const nameNode = c.childForFieldName('name')!;
    if (nameNode.type === 'reference') {
      throw new DevicetreeError(locOf(nameNode, file), `${nameNode.text} { ... } inside a node`, 'a `&label { ... };` overlay at the top level of the file');
    }
    const unit = c.childrenForFieldName('address').find((a) => a?.type === 'unit_address')?.text;
    const full = unit === undefined ? nameNode.text : `${nameNode.text}@${unit}`;
    let node = parent.children.find((ch) => fullName(ch) === full);
    if (node === undefined) {
      node = { name: nameNode.text, path: parent.path === '/' ? `/${full}` : `${parent.path}/${full}`, labels: [], props: new Map(), children: [], parent, loc: locOf(c, file) };
      if (unit !== undefined) node.unitAddress = unit;
      parent.children.push(node);
    }
    this.addLabels(node, c, file);
    return node;
  }

  private addLabels(node: DtNode, c: Node, file: string): void {
    for (const l of c.childrenForFieldName('label')) {
      if (!l) continue;
      const other = this.labels.get(l.text);
      if (other !== undefined && other !== node) {
        throw new DevicetreeError(locOf(l, file), `label "${l.text}" is already used by ${where(other)}`, 'each label on one node only');
      }
      this.labels.set(l.text, node);
      if (!node.labels.includes(l.text)) node.labels.push(l.text);
    }
  }

  private deleteNode(target: DtNode | undefined, c: Node, file: string): void {
    const name = c.childForFieldName('name')!;
    let victim: DtNode | undefined;
    if (name.type === 'reference') {
      const ref = refString(name);
      victim = ref.startsWith('/') ? getNode({ root: this.root, labels: this.labels, files: [] }, ref) : this.labels.get(ref);
      if (victim === undefined || victim === this.root) {
        throw new DevicetreeError(locOf(name, file), `/delete-node/ ${name.text}: ${victim ? 'the root cannot be deleted' : 'no such label or path'}`, 'a label or path of an existing node');
      }
    } else {
      if (target === undefined) throw new DevicetreeError(locOf(c, file), `/delete-node/ ${name.text} at the top level`, '/delete-node/ &label; or /delete-node/ inside the parent node');
      const unit = c.childrenForFieldName('address').find((a) => a?.type === 'unit_address')?.text;
      const full = unit === undefined ? name.text : `${name.text}@${unit}`;
      victim = target.children.find((ch) => fullName(ch) === full);
      if (victim === undefined) return; // like dtc: deleting an absent child is not an error
    }
    const parent = victim.parent!;
    parent.children = parent.children.filter((ch) => ch !== victim);
    const forget = (n: DtNode): void => {
      for (const l of n.labels) if (this.labels.get(l) === n) this.labels.delete(l);
      n.children.forEach(forget);
    };
    forget(victim);
  }

  private define(c: Node, file: string): void {
    const name = c.childForFieldName('name')!.text;
    const raw = c.childForFieldName('value')?.text ?? '';
    let text = raw.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/.*$/m, '').trim();
    while (/^\(.*\)$/.test(text)) text = text.slice(1, -1).trim();
    const neg = text.startsWith('-');
    const v = parseIntLiteral(neg ? text.slice(1) : text);
    if (v === undefined) {
      throw new DevicetreeError(locOf(c, file), `#define ${name} has the value "${raw.trim()}"`, `an integer literal (#define ${name} 0x10); other macros are not supported`);
    }
    this.defines.set(name, { value: neg ? BigInt.asUintN(64, -v) : v });
  }

  private property(target: DtNode, c: Node, file: string): void {
    const name = c.childForFieldName('name')!.text;
    const bitsNode = c.childrenForFieldName('bits').find((b) => b?.type === 'integer_literal');
    const bits = bitsNode ? Number(parseIntLiteral(bitsNode.text) ?? 0) : 32;
    if (bits !== 8 && bits !== 16 && bits !== 32 && bits !== 64) {
      throw new DevicetreeError(locOf(bitsNode!, file), `/bits/ ${bitsNode!.text}`, '/bits/ 8, 16, 32 or 64');
    }
    const values: DtValue[] = [];
    for (const v of c.childrenForFieldName('value')) {
      if (!v || !v.isNamed) continue;
      const loc = locOf(v, file);
      switch (v.type) {
        case 'integer_cells':
          values.push({ kind: 'cells', bits, cells: this.cells(v, bits, file), loc });
          break;
        case 'string_literal':
          values.push({ kind: 'string', value: decodeString(v.text), loc });
          break;
        case 'byte_string_literal': {
          const bytes = decodeBytes(v.text);
          if (bytes === undefined) throw new DevicetreeError(loc, `byte string ${v.text} has an odd number of hex digits or a non-hex character`, 'pairs of hex digits, e.g. [00 1f 2a]');
          values.push({ kind: 'bytes', bytes, loc });
          break;
        }
        case 'reference':
          values.push({ kind: 'reference', ref: refString(v), loc });
          break;
        default:
          throw new DevicetreeError(loc, `${v.type} values are not supported`, '"strings", <cells>, [bytes] or &label');
      }
    }
    target.props.set(name, { name, values, loc: locOf(c, file) });
  }

  private cells(v: Node, bits: number, file: string): DtCell[] {
    const out: DtCell[] = [];
    let prevEnd = -1;
    for (const n of v.namedChildren) {
      if (!n || n.type === 'comment') continue;
      const loc = locOf(n, file);
      // The grammar splits `0x1ULL` into a literal and an identifier: take the identifier as the suffix.
      const suffix = n.type === 'identifier' && n.startIndex === prevEnd && /^(u|l|ul|lu|ll|ull|llu)$/i.test(n.text);
      prevEnd = n.type === 'integer_literal' ? n.endIndex : -1;
      if (suffix) continue;
      if (n.type === 'reference') {
        if (bits !== 32) throw new DevicetreeError(loc, `phandle ${n.text} inside /bits/ ${bits} cells`, 'phandles only in 32-bit cells');
        out.push({ kind: 'phandle', ref: refString(n), loc });
      } else if (n.type === 'call_expression' && this.defines.has(n.childForFieldName('function')?.text ?? '')) {
        // `NAME (expr)` with an object-like NAME: cpp expands it to two cells, `value (expr)`.
        const fn = n.childForFieldName('function')!;
        const args = n.childForFieldName('arguments')!.namedChildren.filter((c) => c !== null && c.type !== 'comment');
        if (args.length !== 1) throw new DevicetreeError(loc, `"${n.text}" is not a cell list`, `\`${fn.text} (expression)\` with one expression in the parentheses`);
        out.push({ kind: 'u32', value: fitCell(evalExpr(fn, file, this.defines), bits, fn, file), loc });
        out.push({ kind: 'u32', value: fitCell(evalExpr(args[0]!, file, this.defines), bits, args[0]!, file), loc: locOf(args[0]!, file) });
      } else {
        out.push({ kind: 'u32', value: fitCell(evalExpr(n, file, this.defines), bits, n, file), loc });
      }
    }
    return out;
  }
}

/** `&label` -> "label"; `&{/a/b@1}` -> "/a/b@1". */
function refString(n: Node): string {
  const label = n.childForFieldName('label');
  if (label) return label.text;
  return n.namedChildren.find((c) => c?.type === 'path')?.text ?? n.text;
}
