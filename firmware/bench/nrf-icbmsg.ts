// nRF5340 benchmark firmware: ICBMsg zero-copy throughput with 4 KiB buffers (both cores; the
// board is firmware/bench/nrf5340-bench.json, whose ipc0 blocks hold one 4 KiB buffer each, run by
// bench/nrf5340.ts or `npm run soc -- --profile firmware/bench/nrf5340-bench.json`).
//
// Sender (args.sender, default cpuapp): ipc_service_get_tx_buffer(size 4096, K_MSEC(5000)) hands
// out a view onto a TX block in shared memory; the producer writes its data in place (here only a
// sequence number in the buffer's first and last 4 bytes: the transport must not move the payload,
// so the rest is left as it is) and ipc_service_send_nocopy(4096) publishes the block. When every
// block is in flight, get_tx_buffer waits on the backend's block semaphore, which the peer's
// release messages give: no polling.
// Receiver: its received() callback gets a view onto the block (checked to be shared memory, i.e.
// not a copy), checks the length, both stamps and the order, counts 4096 bytes, and returns; the
// backend releases the buffer when received() returns (the zero-copy user who is done with the data
// inside the callback; hold_rx_buffer/release_rx_buffer is for handing it to another thread).
// It measures (RateWindows) args.warmupMs of warm-up, then args.windows windows of args.windowMs,
// counting 4096 bytes per delivered buffer; after the last one it sends STOP (4 bytes, copied),
// the sender stops and sends END {magic, buffers} through a zero-copy buffer of its own, and the
// receiver checks that it got exactly the buffers that were sent.
// main() returns counters and windows; anything wrong is listed in `problems` (the bench throws).
// A stalled link makes main() throw (the core faults and the bench names it).
import type { FirmwareContext } from '../../cores/context.js';
import type { TxBufferRequest } from '../../cores/zephyr/backend.js';
import { MAGIC_END, StreamReceiver, StreamSender, bindEndpoint, getU32, setU32 } from './nrf-common.js';

const BUF_LEN = 4096;
const END_LEN = 8;
/** How long the sender waits for a free block before it calls the link stalled. */
const BLOCK_TIMEOUT_MS = 5000;

export default async function main(ctx: FirmwareContext) {
  const sender = ctx.core.name === (ctx.args.sender ?? 'cpuapp');
  const instance = ctx.args.instance ?? 'ipc0';
  return sender ? zeroCopySender(ctx, instance) : zeroCopyReceiver(ctx, instance);
}

async function zeroCopySender(ctx: FirmwareContext, instance: string) {
  const z = ctx.zephyr!;
  const tx = new StreamSender(ctx, instance);
  const { ept, problems } = tx;
  await tx.bind({ error: (msg) => tx.note(`${instance}: backend error: ${msg}`) });
  const max = z.ipc_service_get_tx_buffer_size(ept);
  if (max < BUF_LEN) throw new Error(`${instance}: the largest TX buffer is ${max} bytes, less than ${BUF_LEN}`);
  const req: TxBufferRequest = { size: BUF_LEN };
  let seq = 0;
  const start = ctx.now();
  const deadline = start + tx.limitUs;
  while (!tx.stop) {
    req.size = BUF_LEN;
    req.data = undefined;
    const r = await z.ipc_service_get_tx_buffer(ept, req, z.K_MSEC(BLOCK_TIMEOUT_MS));
    if (r !== 0) throw new Error(`${instance}: buffer ${seq}: ipc_service_get_tx_buffer(${BUF_LEN}) returned ${z.errName(r)} (no block freed within ${BLOCK_TIMEOUT_MS} ms?)`);
    const buf = req.data!;
    if (seq === 0 && !(buf.buffer instanceof SharedArrayBuffer)) throw new Error(`${instance}: get_tx_buffer returned a private buffer, not a view onto shared memory`);
    if (req.size < BUF_LEN) throw new Error(`${instance}: get_tx_buffer(${BUF_LEN}) returned a ${req.size}-byte buffer`);
    setU32(buf, 0, seq);
    setU32(buf, BUF_LEN - 4, seq);
    const s = z.ipc_service_send_nocopy(ept, buf, BUF_LEN);
    if (s !== BUF_LEN) throw new Error(`${instance}: buffer ${seq}: ipc_service_send_nocopy returned ${z.errName(s)}`);
    seq++;
    if ((seq & 255) === 0 && ctx.now() > deadline) break;
  }
  const elapsedUs = ctx.now() - start;
  if (!tx.stop) throw new Error(`${instance}: no STOP from the receiver within ${Math.round(elapsedUs / 1000)} ms (${seq} buffers sent)`);
  req.size = END_LEN;
  req.data = undefined;
  const r = await z.ipc_service_get_tx_buffer(ept, req, z.K_MSEC(BLOCK_TIMEOUT_MS));
  if (r !== 0) throw new Error(`${instance}: END: ipc_service_get_tx_buffer returned ${z.errName(r)}`);
  setU32(req.data!, 0, MAGIC_END);
  setU32(req.data!, 4, seq);
  const s = z.ipc_service_send_nocopy(ept, req.data!, END_LEN);
  if (s !== END_LEN) throw new Error(`${instance}: END: ipc_service_send_nocopy returned ${z.errName(s)}`);
  return { role: 'sender', buffers: seq, bytes: seq * BUF_LEN, elapsedMs: elapsedUs / 1000, problems };
}

async function zeroCopyReceiver(ctx: FirmwareContext, instance: string) {
  const rx = new StreamReceiver(ctx, instance, 'buffer');
  let endCount = -1;
  await bindEndpoint(ctx, instance, 'bench', rx.ept, {
    received: (data, len) => {
      if (len === BUF_LEN) {
        if (rx.messages === 0 && !(data.buffer instanceof SharedArrayBuffer)) rx.note(`${instance}: received() got a private copy, not a view onto the RX block`);
        rx.data(data, len, true);
      } else if (len === END_LEN && getU32(data, 0) === MAGIC_END) {
        endCount = getU32(data, 4);
        rx.end();
      } else {
        rx.unexpected(len);
      }
      // Returning releases the buffer (MSG_RELEASE_DATA): nothing here holds it.
    },
    error: (msg) => rx.note(`${instance}: backend error: ${msg}`),
  });
  await rx.finish(BLOCK_TIMEOUT_MS);
  if (endCount !== rx.messages) rx.note(`${instance}: the sender sent ${endCount} buffers (${endCount * BUF_LEN} bytes), the receiver got ${rx.messages} (${rx.bytes} bytes)`);
  return rx.result('buffers');
}
