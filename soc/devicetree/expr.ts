// Integer expressions inside `< >` as dtc evaluates them (64-bit unsigned arithmetic), with
// object-like #define substitution for identifiers.
import type { Node } from 'web-tree-sitter';
import { DevicetreeError } from './errors.js';
import { locOf, parseIntLiteral } from './syntax.js';

const U64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const bool = (b: boolean): bigint => (b ? 1n : 0n);

/** A `#define NAME value` seen so far. */
export interface DtDefine {
  value: bigint;
}

/** Evaluates one cell expression node to an unsigned 64-bit value. */
export function evalExpr(n: Node, file: string, defines: Map<string, DtDefine>): bigint {
  const sub = (f: string): bigint => {
    const c = n.childForFieldName(f);
    if (c === null) throw new DevicetreeError(locOf(n, file), `incomplete expression "${n.text}"`, 'a complete expression');
    return evalExpr(c, file, defines);
  };
  switch (n.type) {
    case 'integer_literal': {
      const v = parseIntLiteral(n.text);
      if (v === undefined) throw new DevicetreeError(locOf(n, file), `malformed number "${n.text}"`, 'a decimal, 0x-hex or 0-octal integer');
      return v;
    }
    case 'identifier': {
      const d = defines.get(n.text);
      if (d === undefined) {
        throw new DevicetreeError(locOf(n, file), `"${n.text}" is not a number and no #define of that name came before it`, `a number, or \`#define ${n.text} <integer>\` earlier in the sources`);
      }
      return d.value;
    }
    case 'parenthesized_expression': {
      const inner = n.namedChildren.find((c) => c !== null && c.type !== 'comment');
      if (!inner) throw new DevicetreeError(locOf(n, file), 'empty parentheses', 'an expression inside ( )');
      return evalExpr(inner, file, defines);
    }
    case 'unary_expression': {
      const a = sub('argument');
      const op = n.childForFieldName('operator')?.type;
      return op === '-' ? U64(-a) : op === '~' ? U64(~a) : op === '!' ? bool(a === 0n) : a;
    }
    case 'conditional_expression':
      return sub('condition') !== 0n ? sub('consequence') : sub('alternative');
    case 'binary_expression': {
      const a = sub('left');
      const b = sub('right');
      const op = n.childForFieldName('operator')?.type;
      switch (op) {
        case '+': return U64(a + b);
        case '-': return U64(a - b);
        case '*': return U64(a * b);
        case '/':
        case '%':
          if (b === 0n) throw new DevicetreeError(locOf(n, file), `division by zero in "${n.text}"`, 'a non-zero divisor');
          return op === '/' ? a / b : a % b;
        case '<<': return b >= 64n ? 0n : U64(a << b);
        case '>>': return b >= 64n ? 0n : a >> b;
        case '&': return a & b;
        case '|': return a | b;
        case '^': return a ^ b;
        case '&&': return bool(a !== 0n && b !== 0n);
        case '||': return bool(a !== 0n || b !== 0n);
        case '==': return bool(a === b);
        case '!=': return bool(a !== b);
        case '<': return bool(a < b);
        case '>': return bool(a > b);
        case '<=': return bool(a <= b);
        case '>=': return bool(a >= b);
        default:
          throw new DevicetreeError(locOf(n, file), `unsupported operator "${op}"`, 'an arithmetic, bitwise or comparison operator');
      }
    }
    case 'call_expression':
      throw new DevicetreeError(locOf(n, file), `function-like macro call "${n.text}" is not supported`, 'numbers, object-like #define names or (expressions)');
    default:
      throw new DevicetreeError(locOf(n, file), `unexpected "${n.text}" inside < >`, 'numbers, #define names, (expressions) or &label references');
  }
}

/** Checks that a 64-bit value fits `bits` (like dtc: all-ones high bits count as a negative number). */
export function fitCell(v: bigint, bits: number, n: Node, file: string): number {
  const mask = (1n << BigInt(bits)) - 1n;
  if ((v & ~mask) !== 0n && (v | mask) !== U64(-1n)) {
    throw new DevicetreeError(locOf(n, file), `value 0x${v.toString(16)} of "${n.text}" does not fit in a ${bits}-bit cell`, `a value in 0..0x${mask.toString(16)}`);
  }
  return Number(v & mask);
}
