// Lexical helpers for the tree-sitter devicetree grammar: positions, literals, and turning the parser's
// ERROR / MISSING nodes into one precise DevicetreeError.
import type { Node } from 'web-tree-sitter';
import { DevicetreeError, type DtLocation } from './errors.js';

/** tree-sitter positions are 0-based (columns in UTF-16 units); ours are 1-based. */
export const locOf = (n: Node, file: string): DtLocation => ({ file, line: n.startPosition.row + 1, column: n.startPosition.column + 1 });

const atIndex = (source: string, index: number, file: string): DtLocation => {
  const before = source.slice(0, index);
  const nl = before.lastIndexOf('\n');
  return { file, line: before.split('\n').length, column: index - nl };
};

/** Decodes the text of a string_literal (with quotes) as dtc does: C escapes, \xHH, octal. */
export function decodeString(raw: string): string {
  const body = raw.slice(1, -1);
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '\\': '\\', '"': '"', "'": "'" };
  return body.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return simple[e] ?? e;
  });
}

/** Decodes `[00 11 aabb]`; undefined when the digits are not whole bytes. */
export function decodeBytes(raw: string): Uint8Array | undefined {
  const digits = raw.slice(1, -1).replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) return undefined;
  return Uint8Array.from(digits.match(/../g) ?? [], (h) => parseInt(h, 16));
}

/** An integer literal (decimal, 0x hex, leading-0 octal, optional U/L suffixes); undefined if malformed. */
export function parseIntLiteral(text: string): bigint | undefined {
  const m = /^(0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)(?:[uU]?[lL]{0,2}|[lL]{1,2}[uU])$/.exec(text.trim());
  if (m === null) return undefined;
  const d = m[1]!;
  return /^0[0-7]+$/.test(d) ? BigInt(`0o${d.slice(1)}`) : BigInt(d);
}

function firstProblem(n: Node): Node | undefined {
  if (n.isError || n.isMissing) return n;
  if (!n.hasError) return undefined;
  for (const c of n.children) {
    const found = c && firstProblem(c);
    if (found) return found;
  }
  return undefined;
}

function leaves(n: Node, out: Node[] = []): Node[] {
  if (n.childCount === 0) out.push(n);
  for (const c of n.children) if (c) leaves(c, out);
  return out;
}

const VALUE_TYPES = new Set(['integer_cells', 'string_literal', 'byte_string_literal', 'reference']);

/** What may legally appear where the error is, from the enclosing syntax node. */
function expectedIn(parent: Node | null): string {
  const prop = parent?.type === 'property' ? parent.childForFieldName('name')?.text : undefined;
  switch (parent?.type) {
    case 'integer_cells':
      return 'numbers, #define names, (expressions) or &label references, closed by ">"';
    case 'property':
      return `a value for property "${prop}" ("string", <cells>, [bytes] or &label), values separated by "," and the property ended by ";"`;
    case 'node':
      return 'a property (`name = value;` or `name;`), a child node (`name { ... };`) or "};" to close the node';
    default:
      return 'a top-level `/ { ... };`, `&label { ... };`, `/dts-v1/;`, `/delete-node/ &label;`, `#include "file.dtsi"` or `#define NAME value`';
  }
}

const snippet = (s: string): string => {
  const line = s.split('\n')[0]!.trim();
  return line.length > 30 ? `${line.slice(0, 30)}...` : line;
};

/** The first syntax error of a parse, as a DevicetreeError; undefined when the file parsed cleanly. */
export function syntaxError(root: Node, source: string, file: string): DevicetreeError | undefined {
  const bad = firstProblem(root);
  if (bad === undefined) return undefined;
  const parent = bad.parent;
  if (bad.isMissing) {
    const owner = parent?.type === 'node' ? ` to close node "${parent.childForFieldName('name')?.text}"`
      : parent?.type === 'property' ? ` to end property "${parent.childForFieldName('name')?.text}"` : '';
    return new DevicetreeError(locOf(bad, file), `missing "${bad.type}"`, `"${bad.type}"${owner}`);
  }
  const ls = leaves(bad);
  const quote = ls.find((l) => l.type === '"' && l.parent?.type !== 'string_literal');
  if (quote) return new DevicetreeError(locOf(quote, file), 'unterminated string', 'a closing `"` on the same line');
  const open: Node[] = [];
  for (const l of ls) {
    if (l.type === '{') open.push(l);
    else if (l.type === '}') open.pop();
  }
  const brace = open.at(-1);
  if (brace && bad.endIndex >= source.trimEnd().length) {
    return new DevicetreeError(locOf(brace, file), 'this "{" is never closed (the file ends first)', '"};" to close the node');
  }
  const first = bad.child(0);
  if (first?.type === 'integer_literal' && parent?.type === 'property') {
    return new DevicetreeError(locOf(first, file), `number ${first.text} outside < >`, `<${first.text}> (cells are written inside angle brackets)`);
  }
  if (first && VALUE_TYPES.has(first.type) && !first.hasError) {
    // A complete value followed by junk: most often a missing ";" or ",".
    const m = /\S/.exec(source.slice(first.endIndex));
    const idx = first.endIndex + (m?.index ?? 0);
    const token = /^[\w#,.+-]+|^"[^"\n]*"?|^\S/.exec(source.slice(idx))?.[0] ?? '';
    return new DevicetreeError(atIndex(source, idx, file), `unexpected \`${token}\` after a value`, `"," before another value, or ";" to end the property`);
  }
  const prev = /\S(?=\s*$)/.exec(source.slice(0, bad.startIndex));
  if (prev?.[0] === '}' && parent?.type === 'node') {
    return new DevicetreeError(atIndex(source, prev.index + 1, file), 'missing ";" after "}"', '"};" to close a node');
  }
  return new DevicetreeError(locOf(bad, file), `unexpected \`${snippet(bad.text)}\``, expectedIn(parent));
}
