// `npm run soc -- --profile j7 [options]`: boot a SoC, run its firmware to completion, report.

import { parseArgs } from 'node:util';
import { DevicetreeError } from '../soc/devicetree/errors.js';
import { loadProfileFile } from '../soc/profile-file.js';
import { BUILTIN_PROFILES, ProfileError, findProfile, type SocProfile } from '../soc/profile.js';
import { createLogSink, LOG_LEVELS } from '../soc/log.js';
import { buildReport, formatReport } from '../soc/report.js';
import { PROJECT_ROOT, Soc } from '../soc/soc.js';
import { checkTracePath, formatTraceSummary } from '../soc/trace.js';

const HELP = `hetsoc: run a heterogeneous SoC's cores as threads and their IPC in shared memory

Usage: npm run soc -- --profile NAME|FILE.json [options]

Options:
  --profile NAME         SoC profile to boot (default: j7). Built-in: ${Object.keys(BUILTIN_PROFILES).join(', ')};
                         or the path of your own board's profile file (JSON, see README "Your own board")
  --firmware CORE=PATH   run PATH (.ts or .js, default export async main(ctx)) on CORE instead of the
                         profile's firmware; repeatable. PATH is relative to the current directory.
  --cores LIST           power on only these cores (comma-separated names); the others stay off
  --messages N           pings per core pair for the default echo firmware (j7: default 100,
                         nrf5340: ping-pong messages per endpoint, default 100)
  --duration MS          length of the nrf5340 throughput phase (default 1000)
  --arg KEY=VALUE        extra argument for every core's firmware (ctx.args.KEY); repeatable
  --timeout MS           watchdog: a core whose main() has not returned by then is reported
                         with what it waits on (default 60000)
  --firewall             firewalls on: each core may write only the memory its IPC needs (its
                         vrings, its ICMsg regions, its mailbox clusters; README "Firewalls"); a
                         write outside faults the core, naming the address, region and owner.
                         On anyway when the profile file declares "firewall" rules.
  --json                 print one JSON document on stdout instead of the table (logs go to stderr)
  --trace FILE           record a timeline of the run and write it to FILE as Chrome/Perfetto
                         trace JSON (open it in ui.perfetto.dev): one track per core, slices for
                         ISRs and IPC calls, an arrow per message from its send to its receive,
                         counters for mailbox FIFOs, free vring buffers and ICBMsg blocks
                         (README "Timeline (Perfetto)")
  --log-level LEVEL      ${LOG_LEVELS.join(', ')} (default warn); -v is --log-level info
  -v, --verbose          same as --log-level info
  -h, --help             this text

Exit status: 0 when every core finished and every check passed; 1 when the run failed (a core
faulted or got stuck, a message was lost or corrupt); 2 for a usage error, an unknown profile or a
devicetree error (reported with file:line:column).

Profiles:
${Object.values(BUILTIN_PROFILES).map((p) => `  ${p.name.padEnd(10)} ${p.description}\n  ${''.padEnd(10)} cores: ${p.cores.map((c) => c.name).join(', ')}`).join('\n')}
`;

class UsageError extends Error {}

function keyValues(list: string[] | undefined, option: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const i = item.indexOf('=');
    if (i <= 0 || i === item.length - 1) throw new UsageError(`${option} ${item}: expected KEY=VALUE`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

function positiveInt(v: string | undefined, option: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${option} ${v}: expected a positive integer`);
  return n;
}

/** --trace FILE: its directory must exist and be writable, and FILE must not be a directory. */
function tracePath(file: string): string {
  try {
    return checkTracePath(file);
  } catch (err) {
    throw new UsageError(`--trace ${file}: ${(err as Error).message}`);
  }
}

function selectCores(profile: SocProfile, list: string | undefined): SocProfile {
  if (list === undefined) return profile;
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  const known = new Set(profile.cores.map((c) => c.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length || names.length === 0) {
    throw new UsageError(`--cores ${list}: profile ${profile.name} has no core ${unknown.map((n) => `"${n}"`).join(', ') || '(empty list)'}; cores: ${[...known].join(', ')}`);
  }
  return { ...profile, cores: profile.cores.filter((c) => names.includes(c.name)) };
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        profile: { type: 'string' },
        firmware: { type: 'string', multiple: true },
        cores: { type: 'string' },
        messages: { type: 'string' },
        duration: { type: 'string' },
        arg: { type: 'string', multiple: true },
        timeout: { type: 'string' },
        firewall: { type: 'boolean' },
        json: { type: 'boolean' },
        trace: { type: 'string' },
        'log-level': { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const name = values.profile ?? 'j7';
  const base = /[\\/]|\.json$/i.test(name) ? loadProfileFile(name, PROJECT_ROOT) : findProfile(name);
  const profile = selectCores(base, values.cores);
  const firmware = keyValues(values.firmware, '--firmware');
  const args: Record<string, string> = {
    ...profile.defaults,
    ...keyValues(values.arg, '--arg'),
    messages: String(positiveInt(values.messages, '--messages', 100)),
  };
  if (values.duration !== undefined || profile.defaults?.duration !== undefined) {
    args.duration = String(positiveInt(values.duration ?? profile.defaults?.duration, '--duration', 1000));
  }
  const timeoutMs = positiveInt(values.timeout, '--timeout', 60_000);
  const level = values['log-level'] ?? (values.verbose ? 'info' : 'warn');
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level ${level}: use one of ${LOG_LEVELS.join(', ')}`);
  const sink = createLogSink(level);
  const trace = values.trace !== undefined ? { path: tracePath(values.trace) } : undefined;

  const t0 = performance.now();
  const soc = await Soc.create(profile, { firmware, sink, firewall: values.firewall ?? false, trace });
  let report;
  try {
    sink.root.info({ profile: profile.name, cores: profile.cores.length, firewallRules: soc.image.firewall?.length ?? 0 }, 'SoC booted');
    const outcomes = await soc.run(args, timeoutMs);
    report = buildReport(profile.name, outcomes, performance.now() - t0);
  } finally {
    await soc.shutdown();
  }
  process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report) + '\n');
  if (soc.traceSummary) {
    const line = formatTraceSummary(soc.traceSummary) + '\n';
    if (values.json) process.stderr.write(line);
    else process.stdout.write(line);
  }
  return report.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    const usage = err instanceof UsageError || err instanceof ProfileError || err instanceof DevicetreeError;
    process.stderr.write(`hetsoc: ${err.message}\n${usage ? 'Run with --help for usage.\n' : ''}`);
    process.exit(usage ? 2 : 1);
  },
);
