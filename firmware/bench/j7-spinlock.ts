// Bench firmware for the hardware spinlock (every J7 core runs it). args.cores lists the cores
// that take BENCH_LOCK; every other core only comes up.
//   args.mode = uncontended  the one listed core waits for every core, then times batches of
//                            args.batch lock+unlock pairs (args.warmup batches first, then
//                            args.samples); returns { samples } in ns per pair
//   args.mode = contended    each listed core waits for the host's go, then loops lock, increment
//                            the shared counter CTRL_COUNTER, unlock until the host's stop (the host
//                            reads the counter per window); returns { acquisitions }
// lock() busy-waits or blocks the core's thread, as a hardware spinlock does (no task runs meanwhile).

import type { FirmwareContext } from '../../cores/context.js';
import { BENCH_LOCK, CTRL_COUNTER, CTRL_STOP, allArrived, arrive, hostGo, intArg } from './j7-common.js';

/** A lock not taken within this long is a bug (a holder that never lets go). */
const LOCK_TIMEOUT_MS = 5000;
/** Contended loop: acquisitions between two looks at the host's stop word. */
const STOP_CHECK_EVERY = 64;

export default async function main(ctx: FirmwareContext) {
  const sl = ctx.spinlock;
  if (!sl) throw new Error(`${ctx.core.name}: bench/j7-spinlock needs a J7 core with hardware spinlocks`);
  arrive(ctx);
  if (!(ctx.args.cores ?? '').split(',').includes(ctx.core.name)) return {};
  const fail = (rc: number, after: number): never => {
    throw new Error(`${ctx.core.name}: lock(${BENCH_LOCK}) returned ${rc} after ${after} acquisitions (holder ${sl.holder(BENCH_LOCK)})`);
  };

  if (ctx.args.mode === 'uncontended') {
    const batch = intArg(ctx, 'batch', 10_000);
    const warmup = intArg(ctx, 'warmup', 20);
    const samples = new Float64Array(intArg(ctx, 'samples', 200));
    await allArrived(ctx);
    for (let s = -warmup; s < samples.length; s++) {
      const t0 = ctx.now();
      for (let i = 0; i < batch; i++) {
        const rc = sl.lock(BENCH_LOCK, LOCK_TIMEOUT_MS);
        if (rc !== 0) fail(rc, i);
        sl.unlock(BENCH_LOCK);
      }
      const t1 = ctx.now();
      if (s >= 0) samples[s] = ((t1 - t0) * 1000) / batch;
      await ctx.yield(); // let interrupts in between batches
    }
    return { samples };
  }

  if (!(await hostGo(ctx))) return { acquisitions: 0 };
  const bus = ctx.bus;
  let n = 0;
  do {
    for (let i = 0; i < STOP_CHECK_EVERY; i++) {
      const rc = sl.lock(BENCH_LOCK, LOCK_TIMEOUT_MS);
      if (rc !== 0) fail(rc, n + i);
      bus.write32(CTRL_COUNTER, bus.read32(CTRL_COUNTER) + 1);
      sl.unlock(BENCH_LOCK);
    }
    n += STOP_CHECK_EVERY;
  } while (bus.read32(CTRL_STOP) === 0);
  return { acquisitions: n };
}
