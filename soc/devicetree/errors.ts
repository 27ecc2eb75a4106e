// Error type of hetsoc's devicetree layer: every syntax or semantic problem points at a file position.

/** A position in a devicetree source file. Line and column are 1-based; columns count UTF-16 code units. */
export interface DtLocation {
  file: string;
  line: number;
  column: number;
}

/** `file:line:column`, the form compilers and editors understand. */
export const formatLoc = (loc: DtLocation): string => `${loc.file}:${loc.line}:${loc.column}`;

/**
 * A devicetree that cannot be used. The message reads `file:line:column: what was wrong; expected ...`
 * (the `; expected` part is left out when the problem text already says what is needed).
 */
export class DevicetreeError extends Error {
  override readonly name = 'DevicetreeError';
  readonly loc: DtLocation;
  /** What was wrong, without the location. */
  readonly problem: string;
  /** What would have been accepted, if stated separately. */
  readonly expected: string | undefined;

  constructor(loc: DtLocation, problem: string, expected?: string) {
    super(`${formatLoc(loc)}: ${problem}${expected === undefined ? '' : `; expected ${expected}`}`);
    this.loc = loc;
    this.problem = problem;
    this.expected = expected;
  }
}
