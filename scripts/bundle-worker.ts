// Build step (after tsc): bundles the core thread's entry (dist/cores/worker.js and everything it
// imports, pino and comlink included) into one ES module, dist/cores/worker.bundle.mjs. Ten core
// threads then each load and compile one file instead of resolving some eighty modules: a j7 SoC
// starts in about two thirds of the time. soc/soc.ts falls back to worker.js when the bundle is
// missing (a build made with plain `tsc`).

import { build } from 'esbuild';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = resolve(dirname(fileURLToPath(import.meta.url)), '..');

await build({
  entryPoints: [resolve(dist, 'cores/worker.js')],
  outfile: resolve(dist, 'cores/worker.bundle.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // CommonJS packages (pino) call require() for Node built-ins; give the ES module one.
  banner: { js: "import { createRequire as __hetsocRequire } from 'node:module'; const require = __hetsocRequire(import.meta.url);" },
});
