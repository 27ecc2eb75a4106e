// Bench firmware for the mailbox round trip (every J7 core runs it; no IPC stack on top).
// The core named args.server echoes every mailbox message from args.client from its receive
// handler (ISR context). The client sends, and its own handler takes the echo, records the round
// trip (one clock read per round trip) and sends the next one; main waits on a semaphore that
// the handler gives after args.warmup + args.samples round trips. Every other core only comes up.
// Returns { samples } (us) on the client.

import type { FirmwareContext } from '../../cores/context.js';
import { allArrived, arrive, intArg } from './j7-common.js';

export default async function main(ctx: FirmwareContext) {
  const mb = ctx.mailbox;
  if (!mb) throw new Error(`${ctx.core.name}: bench/j7-mailbox needs a J7 core with the mailbox driver`);
  const procOf = (name: string | undefined): number => {
    const c = ctx.cores.find((x) => x.name === name);
    if (!c) throw new Error(`${ctx.core.name}: no core named ${name}`);
    return c.procId;
  };
  const client = procOf(ctx.args.client);
  const server = procOf(ctx.args.server);

  if (ctx.core.procId === server) {
    mb.onReceive(client, (value) => mb.send(client, value));
    arrive(ctx);
    return {};
  }
  arrive(ctx);
  if (ctx.core.procId !== client) return {};

  const warmup = intArg(ctx, 'warmup', 2000);
  const samples = new Float64Array(intArg(ctx, 'samples', 20000));
  const total = warmup + samples.length;
  const done = ctx.semaphore('mailbox round trips done');
  let i = 0; // round trips completed = the value in flight
  let prev = 0;
  let wrong: number | undefined;
  mb.onReceive(server, (value) => {
    const t = ctx.now();
    if (value !== i) {
      wrong = value;
      done.give();
      return;
    }
    if (i >= warmup) samples[i - warmup] = t - prev;
    prev = t;
    if (++i === total) done.give();
    else mb.send(server, i);
  });
  await allArrived(ctx);
  prev = ctx.now();
  mb.send(server, 0);
  const timeoutMs = 10_000 + total; // 1 ms per round trip is already 100x too slow
  if (!(await done.take(timeoutMs))) {
    throw new Error(`${ctx.core.name}: mailbox echo #${i} from ${ctx.args.server} did not come within ${timeoutMs} ms (a message was lost)`);
  }
  if (wrong !== undefined) throw new Error(`${ctx.core.name}: mailbox echo #${i} from ${ctx.args.server} carried ${wrong}, expected ${i}`);
  return { samples };
}
