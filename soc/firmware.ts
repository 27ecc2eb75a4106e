// Resolves a core's firmware script and makes it loadable by a worker: JavaScript is imported as
// it is; TypeScript (.ts/.mts/.cts) is compiled on the host with esbuild into one ES module (with
// an inline source map, so faults point at the user's .ts lines). No manual build step.

import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { threadId } from 'node:worker_threads';
import { build, type Message } from 'esbuild';

export class FirmwareError extends Error {
  override name = 'FirmwareError';
}

const TS_EXT = new Set(['.ts', '.mts', '.cts']);
const JS_EXT = new Set(['.js', '.mjs', '.cjs']);
let counter = 0;

export interface FirmwareBuild {
  /** What the worker imports. */
  path: string;
  /** The user's file. */
  source: string;
  cleanup(): void;
}

function formatEsbuild(m: Message): string {
  const loc = m.location ? `${resolve(m.location.file)}:${m.location.line}:${m.location.column + 1}: ` : '';
  return `${loc}${m.text}`;
}

/** Where compiled TypeScript firmware modules go. */
export const FIRMWARE_BUILD_DIR = join(tmpdir(), 'hetsoc-firmware');

/**
 * @param path as given; @param base directory a relative path is taken from
 * @param prefix put before the compiled module's name (lets a caller find its modules again)
 */
export async function prepareFirmware(core: string, path: string, base: string, prefix = ''): Promise<FirmwareBuild> {
  const source = resolve(base, path);
  if (!existsSync(source) || !statSync(source).isFile()) {
    throw new FirmwareError(`core ${core}: firmware file not found: ${source}`);
  }
  const ext = extname(source);
  if (JS_EXT.has(ext)) return { path: source, source, cleanup: () => {} };
  if (!TS_EXT.has(ext)) {
    throw new FirmwareError(`core ${core}: firmware ${source}: unsupported file type "${ext}" (expected .ts, .mts, .cts, .js, .mjs or .cjs)`);
  }
  mkdirSync(FIRMWARE_BUILD_DIR, { recursive: true });
  // pid + thread id + counter: several SoCs may be built at once in one process (stress pool threads).
  const out = join(FIRMWARE_BUILD_DIR, `${prefix}${basename(source, ext)}-${process.pid}-${threadId}-${++counter}.mjs`);
  try {
    await build({
      entryPoints: [source], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node20',
      sourcemap: 'inline', logLevel: 'silent', packages: 'bundle',
    });
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors;
    const detail = errors?.length ? errors.map(formatEsbuild).join('\n') : (err as Error).message;
    throw new FirmwareError(`core ${core}: firmware ${source} does not compile:\n${detail}`);
  }
  return { path: out, source, cleanup: () => rmSync(out, { force: true }) };
}
