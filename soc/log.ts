// The process's one log sink. The host logs through it and every core worker forwards its pino
// lines (already serialized JSON) to it over a MessagePort; nothing logs on the data path.
// On a terminal the sink pretty-prints (pino-pretty, in-process); otherwise it writes JSON lines
// to stderr. stdout stays free for reports.

import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export interface LogSink {
  root: Logger;
  level: string;
  /** Writes one serialized pino line from a core. */
  write(line: string): void;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function createLogSink(level: string, prettyOutput = Boolean(process.stderr.isTTY)): LogSink {
  if (!LOG_LEVELS.includes(level)) throw new Error(`unknown log level "${level}"; use one of ${LOG_LEVELS.join(', ')}`);
  const stream = prettyOutput
    ? pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' })
    : pino.destination({ dest: 2, sync: true });
  const root = pino({ level, base: undefined }, stream);
  return { root, level, write: (line) => stream.write(line.endsWith('\n') ? line : line + '\n') };
}
