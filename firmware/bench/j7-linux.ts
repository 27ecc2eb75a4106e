// Bench firmware of the J7 A72 (Linux user space, ti-rpmsg-char). It starts as
// firmware/j7/echo-linux.ts does: an rpmsg_char device to every RTOS core's "rpmsg_chrdev" service,
// opened once the core has announced it. ctx.args.scenario then picks:
//   boot        return (j7.boot, j7.idle); the devices stay open
//   rpmsg-rtt   come up, return
//   linux-rtt   come up, wait for every core, then args.warmup + args.samples round trips of
//               32 bytes (write, read) with args.server; returns { samples } in us
//   all-to-all  also open a device to every core's "bench.ping" endpoint and write a hello on it
//               (the core learns our address from it); one responder echoes whatever arrives on
//               those devices (select, read, write); come up, wait for the host's go, then one
//               pinger per core on its "rpmsg_chrdev" device until the host's stop; returns
//               { roundTrips: { peer: count } }
// "Come up" = +1 on the control block's ready word (firmware/bench/j7-common.ts).

import type { FirmwareContext } from '../../cores/context.js';
import type { RpmsgCharDev, TiRpmsgChar } from '../../cores/linux/rpmsg-char.js';
import { TIRC_RPROC } from '../../shared/j721e.js';
import {
  CTRL_MSGS, CTRL_STOP, CTRL_STRIDE, ECHO_ENDPT, ECHO_NAME, PAYLOAD, PING_LINUX_ENDPT, PING_LINUX_NAME, POLL_MS, WAIT_LIMIT_MS,
  allArrived, arrive, fill, hostGo, intArg, intact,
} from './j7-common.js';

const RPMSG_ADDR_ANY = 0xFFFF_FFFF;
/** A lost message shows up as a select timeout this long. */
const READ_TIMEOUT_MS = 2000;

interface Remote {
  name: string;
  rprocId: number;
  /** Our device to the core's echo service. */
  echo: RpmsgCharDev;
  /** all-to-all: our device to the core's ping endpoint (we answer its pings). */
  ping?: RpmsgCharDev;
}

/** rpmsg_char_open, retried until the core has announced `devName`. */
async function open(ctx: FirmwareContext, rc: TiRpmsgChar, rproc: { id: number; proc: string }, devName: string, endPt: number): Promise<RpmsgCharDev> {
  const eptdev = `bench-${rproc.id}-${endPt}`;
  const deadline = ctx.now() + WAIT_LIMIT_MS * 1000;
  for (;;) {
    const dev = rc.rpmsg_char_open(rproc.id, devName, RPMSG_ADDR_ANY, endPt, eptdev, 0);
    if (dev) return dev;
    if (ctx.now() > deadline) throw new Error(`${ctx.core.name}: no "${devName}" channel from ${rproc.proc} within ${WAIT_LIMIT_MS} ms`);
    await ctx.sleep(POLL_MS); // not announced yet
  }
}

/** select + read of message #seq from `dev`; throws when none comes within READ_TIMEOUT_MS. */
async function readOne(ctx: FirmwareContext, rc: TiRpmsgChar, dev: RpmsgCharDev, buf: Uint8Array, from: string, seq: number): Promise<number> {
  if (!dev.readable() && (await rc.select([dev], READ_TIMEOUT_MS)).length === 0) {
    throw new Error(`${ctx.core.name}: no echo #${seq} from ${from} within ${READ_TIMEOUT_MS} ms`);
  }
  const n = await dev.read(buf);
  if (n < 0) throw new Error(`${ctx.core.name}: read of echo #${seq} from ${from} returned ${n}`);
  return n;
}

/** write of message #seq to `dev`; throws unless all of it went. */
async function write(ctx: FirmwareContext, dev: RpmsgCharDev, data: Uint8Array, to: string, seq: number): Promise<void> {
  const w = await dev.write(data);
  if (w !== data.length) throw new Error(`${ctx.core.name}: write of message #${seq} to ${to} returned ${w}`);
}

/** linux-rtt: round trips on one device; one clock read per round trip. */
async function roundTrips(ctx: FirmwareContext, rc: TiRpmsgChar, r: Remote): Promise<Float64Array> {
  const warmup = intArg(ctx, 'warmup', 2000);
  const samples = new Float64Array(intArg(ctx, 'samples', 20000));
  const tx = new Uint8Array(PAYLOAD);
  const rx = new Uint8Array(512);
  const total = warmup + samples.length;
  let prev = ctx.now();
  for (let i = 0; i < total; i++) {
    fill(tx, i);
    await write(ctx, r.echo, tx, r.name, i);
    const n = await readOne(ctx, rc, r.echo, rx, r.name, i);
    if (!intact(rx, n, i)) throw new Error(`${ctx.core.name}: echo #${i} from ${r.name} is not what was sent (${n} bytes)`);
    const t = ctx.now();
    if (i >= warmup) samples[i - warmup] = t - prev;
    prev = t;
  }
  return samples;
}

/** all-to-all: the one responder, echoing on every core's ping device. */
async function responder(ctx: FirmwareContext, rc: TiRpmsgChar, devs: RpmsgCharDev[]): Promise<void> {
  const buf = new Uint8Array(512);
  let answered = 0;
  for (;;) {
    for (const dev of await rc.select(devs, -1)) {
      while (dev.readable()) {
        const n = await dev.read(buf);
        if (n < 0) return; // closed
        await write(ctx, dev, buf.subarray(0, n), 'an RTOS pinger (echo)', answered++);
      }
    }
  }
}

/** all-to-all: one pinger per core; `delivered` counts pings + pongs for the host. Round trips per peer. */
async function allToAll(ctx: FirmwareContext, rc: TiRpmsgChar, remotes: Remote[]): Promise<Record<string, number>> {
  void ctx.task('responder', () => responder(ctx, rc, remotes.map((r) => r.ping!)));
  arrive(ctx);
  if (!(await hostGo(ctx))) return {};
  const counter = CTRL_MSGS + ctx.core.index * CTRL_STRIDE;
  let delivered = 0;
  const counts = await Promise.all(remotes.map(async (r) => {
    const tx = new Uint8Array(PAYLOAD);
    const rx = new Uint8Array(512);
    let n = 0;
    while (ctx.bus.read32(CTRL_STOP) === 0) {
      fill(tx, n);
      await write(ctx, r.echo, tx, r.name, n);
      const len = await readOne(ctx, rc, r.echo, rx, r.name, n);
      if (!intact(rx, len, n)) throw new Error(`${ctx.core.name}: echo #${n} from ${r.name} is not what was sent (${len} bytes)`);
      n++;
      delivered += 2;
      ctx.bus.write32(counter, delivered);
    }
    return n;
  }));
  return Object.fromEntries(remotes.map((r, i) => [r.name, counts[i]!]));
}

export default async function main(ctx: FirmwareContext) {
  const rc = ctx.rpmsgChar;
  if (!rc) throw new Error(`${ctx.core.name}: bench/j7-linux needs a Linux core with rpmsg_char`);
  const scenario = ctx.args.scenario ?? 'boot';
  if (rc.rpmsg_char_init(null) < 0) throw new Error(`${ctx.core.name}: rpmsg_char_init failed`);
  const present = new Set(ctx.cores.map((c) => c.name));
  const remotes: Remote[] = await Promise.all(TIRC_RPROC.filter((r) => present.has(r.proc)).map(async (rproc) => {
    const r: Remote = { name: rproc.proc, rprocId: rproc.id, echo: await open(ctx, rc, rproc, ECHO_NAME, ECHO_ENDPT) };
    if (scenario === 'all-to-all') {
      r.ping = await open(ctx, rc, rproc, PING_LINUX_NAME, PING_LINUX_ENDPT);
      await write(ctx, r.ping, Uint8Array.of(0x68, 0x69), `${rproc.proc} (hello)`, 0);
    }
    return r;
  }));
  switch (scenario) {
    case 'boot':
      return { devices: remotes.length };
    case 'rpmsg-rtt':
      arrive(ctx);
      return {};
    case 'linux-rtt': {
      arrive(ctx);
      const server = remotes.find((r) => r.name === ctx.args.server);
      if (!server) throw new Error(`${ctx.core.name}: server ${ctx.args.server} is not an RTOS core`);
      await allArrived(ctx);
      return { samples: await roundTrips(ctx, rc, server) };
    }
    case 'all-to-all':
      return { roundTrips: await allToAll(ctx, rc, remotes) };
    default:
      throw new Error(`${ctx.core.name}: unknown scenario "${scenario}"`);
  }
}
