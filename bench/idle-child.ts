// Child process of the j7.idle scenario (bench/j7.ts): boots a j7 with the bench firmware in
// "boot" mode (every endpoint announced and found, then main() returns; the cores keep serving
// interrupts), measures this process's CPU time (all threads) over the window given as the first
// argument, in ms, and its RSS at the end, and prints one JSON line (IdleReport) on stdout.
// Core warnings and errors go to stderr.

import { Soc } from '../soc/soc.js';
import { findProfile } from '../soc/profile.js';
import { benchSink, checkOutcomes, ipcFirmware, type IdleReport } from './j7.js';

const windowMs = Number(process.argv[2] ?? 2000);
/** Time after boot before the window opens (the host's last status calls, firmware cleanup). */
const SETTLE_MS = 250;

async function main(): Promise<void> {
  if (!(windowMs > 0)) throw new Error(`idle-child: window "${process.argv[2]}" is not a positive number of ms`);
  const profile = findProfile('j7');
  const sink = benchSink((line) => process.stderr.write(line + '\n'));
  const t0 = performance.now();
  const soc = await Soc.create(profile, { sink, firmware: ipcFirmware(profile) });
  try {
    checkOutcomes('j7 idle', await soc.run({ scenario: 'boot' }, 60_000), sink.errors);
    const bootMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, windowMs));
    const cpu = process.cpuUsage(c0);
    const wall = performance.now() - w0;
    const report: IdleReport = {
      cpuPercent: ((cpu.user + cpu.system) / 1000 / wall) * 100,
      rssMb: process.memoryUsage().rss / 1e6,
      windowMs: Math.round(wall),
      bootMs,
    };
    process.stdout.write(JSON.stringify(report) + '\n');
  } finally {
    await soc.shutdown();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`idle-child: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
