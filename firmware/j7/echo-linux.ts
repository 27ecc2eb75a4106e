// Default firmware of the J7 A72 (Linux user space): TI's rpmsg_char_simple against every RTOS
// core, with the ti-rpmsg-char library: open an rpmsg_char device to the core's "rpmsg_chrdev"
// service (endpoint 14) once the core has announced it, write `--messages` messages, read each echo.

import type { FirmwareContext } from '../../cores/context.js';
import { TIRC_RPROC } from '../../shared/j721e.js';

const REMOTE_ENDPT = 14;
const RPMSG_ADDR_ANY = 0xFFFF_FFFF;

export default async function main(ctx: FirmwareContext) {
  const rc = ctx.rpmsgChar;
  if (!rc) throw new Error(`${ctx.core.name}: echo-linux needs a Linux core with rpmsg_char`);
  const count = Number(ctx.args.messages ?? 100);
  if (rc.rpmsg_char_init(null) < 0) throw new Error('rpmsg_char_init failed');
  const present = new Set(ctx.cores.map((c) => c.name));
  const targets = TIRC_RPROC.filter((r) => present.has(r.proc));

  const pairs = await Promise.all(targets.map(async (rproc) => {
    const pair = { from: ctx.core.name, to: rproc.proc, expected: count, sent: 0, received: 0, corrupt: 0, rttP50Us: 0, rttP99Us: 0, error: undefined as string | undefined };
    const deadline = Date.now() + 10_000;
    let dev = rc.rpmsg_char_open(rproc.id, null, RPMSG_ADDR_ANY, REMOTE_ENDPT, `rpmsg-char-${rproc.id}-${process.pid}`, 0);
    while (!dev && Date.now() < deadline) {
      await ctx.sleep(10); // the remote has not announced rpmsg_chrdev yet
      dev = rc.rpmsg_char_open(rproc.id, null, RPMSG_ADDR_ANY, REMOTE_ENDPT, `rpmsg-char-${rproc.id}-${process.pid}`, 0);
    }
    if (!dev) {
      pair.error = `no rpmsg_chrdev channel from ${rproc.proc} (${rproc.device})`;
      return pair;
    }
    const encoder = new TextEncoder();
    const rx = new Uint8Array(512);
    const rtts: number[] = [];
    for (let i = 0; i < count; i++) {
      const msg = encoder.encode(`hello there ${i}!`);
      const t0 = ctx.now();
      const w = await dev.write(msg);
      if (w !== msg.length) {
        pair.error = `write #${i} returned ${w}`;
        break;
      }
      pair.sent++;
      const ready = await rc.select([dev], 10_000);
      if (ready.length === 0) {
        pair.error = `no echo for message #${i} within 10 s`;
        break;
      }
      const n = await dev.read(rx);
      rtts.push(ctx.now() - t0);
      if (n === msg.length && msg.every((b, k) => rx[k] === b)) pair.received++;
      else pair.corrupt++;
    }
    rc.rpmsg_char_close(dev);
    const s = ctx.stats.summarize(rtts);
    pair.rttP50Us = s.p50;
    pair.rttP99Us = s.p99;
    return pair;
  }));
  rc.rpmsg_char_exit();
  return { pairs };
}
