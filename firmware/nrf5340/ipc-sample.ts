// The nRF5340 profile's default firmware, after Zephyr's samples, for both cores (role "host" on
// cpuapp, "remote" on cpunet):
//  1. samples/subsys/ipc/ipc_service/multi_endpoint: instance ipc0 (ICBMsg) with endpoints "ipc0A"
//     and "ipc0B", instance ipc1 (ICMsg) with endpoint "ipc1"; each runs a ping-pong of
//     `--messages` (default 100) counters in its own thread, the remote answering every ping.
//  2. samples/subsys/ipc/ipc_service/icmsg's throughput phase on ipc1: both cores send at once for
//     `--duration` ms (default 1000) packets of 40..108 bytes {u32 cnt, u32 size, data[]}, whose data
//     cycles from 'a'..'z' (host) or 'A'..'Z' (remote); the receiver checks every byte, then the
//     sender's closing packet tells it how many to expect.
// main() returns what it measured and every check that failed, for the run report.
import type { FirmwareContext } from '../../cores/context.js';
import type { IpcEpt } from '../../cores/zephyr/backend.js';
import type { ThroughputReport } from '../../soc/report.js';

export type Role = 'host' | 'remote';

const PING_LEN = 4;
const END_LEN = 16;
const END_MAGIC = 0x21444e45; // "END!"
const MIN_LEN = 40;
const MAX_LEN = 108;


export async function runSample(ctx: FirmwareContext, role: Role) {
  const z = ctx.zephyr!;
  const { log } = ctx;
  const messages = Number(ctx.args.messages ?? 100);
  const durationMs = Number(ctx.args.duration ?? 1000);
  const peer = ctx.cores.find((c) => c.name !== ctx.core.name)?.name ?? 'peer';
  const ROLE = role.toUpperCase();
  const problems: string[] = [];
  const pingTimeoutMs = 5000;

  // ---- the multi-endpoint sample's endpoints -------------------------------------------------
  interface Channel {
    instance: string;
    name: string;
    title: string;
    ept: IpcEpt;
    bound: ReturnType<FirmwareContext['semaphore']>;
    rx: ReturnType<FirmwareContext['semaphore']>;
    last: number;
    pings: number;
  }
  const channels: Channel[] = [
    { instance: 'ipc0', name: 'ipc0A', title: 'INST 0 - ENDP A' },
    { instance: 'ipc0', name: 'ipc0B', title: 'INST 0 - ENDP B' },
    { instance: 'ipc1', name: 'ipc1', title: 'INST 1' },
  ].map((c) => ({ ...c, ept: {}, bound: ctx.semaphore(`${c.name} bound`), rx: ctx.semaphore(`${c.name} rx`), last: -1, pings: 0 }));

  // Throughput phase receive state (ipc1).
  const rxFirst = role === 'host' ? 0x41 : 0x61; // we receive the peer's letters
  const txFirst = role === 'host' ? 0x61 : 0x41;
  const rxState = { count: 0, bytes: 0, expectLen: MIN_LEN, bad: 0, firstUs: 0, lastUs: 0, end: undefined as undefined | { count: number; bytes: number } };
  const endSeen = ctx.semaphore('throughput end');

  const opened = new Set<string>();
  for (const ch of channels) {
    const inst = z.DEVICE_DT_GET(ch.instance);
    if (!opened.has(ch.instance)) {
      const r = z.ipc_service_open_instance(inst);
      if (r < 0 && r !== -z.EALREADY) throw new Error(`ipc_service_open_instance(${ch.instance}) failed: ${z.errName(r)}`);
      opened.add(ch.instance);
    }
    const r = z.ipc_service_register_endpoint(inst, ch.ept, {
      name: ch.name,
      cb: {
        bound: () => ch.bound.give(),
        received: (data, len) => {
          const dv = new DataView(data.buffer, data.byteOffset, len);
          if (len === PING_LEN) {
            ch.last = dv.getUint32(0, true);
            ch.rx.give();
          } else if (ch.name === 'ipc1' && len === END_LEN && dv.getUint32(0, true) === END_MAGIC) {
            rxState.end = { count: dv.getUint32(4, true), bytes: dv.getUint32(8, true) };
            endSeen.give();
          } else if (ch.name === 'ipc1') {
            checkPacket(data, len, dv);
          } else {
            problems.push(`${ch.name}: unexpected ${len}-byte message`);
          }
        },
        error: (msg) => problems.push(`${ch.name}: backend error: ${msg}`),
      },
    });
    if (r < 0) throw new Error(`ipc_service_register_endpoint(${ch.name}) failed: ${z.errName(r)}`);
  }

  function checkPacket(data: Uint8Array, len: number, dv: DataView): void {
    const t = ctx.now();
    if (rxState.count === 0) rxState.firstUs = t;
    rxState.lastUs = t;
    const cnt = dv.getUint32(0, true);
    const size = dv.getUint32(4, true);
    let ok = len === rxState.expectLen && size === len && cnt === rxState.count;
    for (let i = 8; ok && i < len; i++) ok = data[i] === rxFirst + ((cnt + i - 8) % 26);
    if (!ok && rxState.bad++ < 5) {
      problems.push(`ipc1 throughput: packet ${rxState.count} from ${peer} is wrong (len ${len}, expected ${rxState.expectLen}; cnt ${cnt}; size ${size})`);
    }
    rxState.count++;
    rxState.bytes += len;
    rxState.expectLen = rxState.expectLen === MAX_LEN ? MIN_LEN : rxState.expectLen + 1;
  }

  // ---- phase 1: ping-pong on every endpoint, each in its own thread ---------------------------
  const pingPong = async (ch: Channel): Promise<void> => {
    const tag = `IPC-service ${ROLE} [${ch.title}]`;
    log.info(`${tag} demo started`);
    if (!(await ch.bound.take(pingTimeoutMs))) {
      problems.push(`${ch.name}: endpoint not bound within ${pingTimeoutMs} ms`);
      return;
    }
    const out = new Uint8Array(PING_LEN);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < messages; i++) {
      if (role === 'host') {
        dv.setUint32(0, i, true);
        const s = z.ipc_service_send(ch.ept, out);
        if (s !== PING_LEN) return void problems.push(`${ch.name}: ping ${i}: ipc_service_send returned ${z.errName(s)}`);
      }
      if (!(await ch.rx.take(pingTimeoutMs))) return void problems.push(`${ch.name}: no message ${i} within ${pingTimeoutMs} ms`);
      if (ch.last !== i) return void problems.push(`${ch.name}: message ${i} carried ${ch.last}`);
      ch.pings++;
      if (role === 'remote') {
        dv.setUint32(0, i, true);
        const s = z.ipc_service_send(ch.ept, out);
        if (s !== PING_LEN) return void problems.push(`${ch.name}: pong ${i}: ipc_service_send returned ${z.errName(s)}`);
      }
    }
    log.info(`${tag} demo ended.`);
  };
  await Promise.all(channels.map((ch) => ctx.task(`${ch.name} thread`, () => pingPong(ch))));

  // ---- phase 2: the ICMsg sample's throughput, both directions at once ------------------------
  const ipc1 = channels[2]!;
  const throughput: ThroughputReport[] = [];
  if (problems.length === 0) {
    log.info(`IPC-service ${ROLE} demo started`);
    log.info('Ep bounded');
    log.info(`Perform sends for ${durationMs} [ms]`);
    const pkt = new Uint8Array(MAX_LEN);
    const dv = new DataView(pkt.buffer);
    let cnt = 0;
    let bytes = 0;
    let busy = 0;
    let errors = 0;
    let len = MIN_LEN;
    const start = ctx.now();
    const end = start + durationMs * 1000;
    while (ctx.now() < end) {
      dv.setUint32(0, cnt, true);
      dv.setUint32(4, len, true);
      for (let i = 8; i < len; i++) pkt[i] = txFirst + ((cnt + i - 8) % 26);
      const r = z.ipc_service_send(ipc1.ept, pkt, len);
      if (r === -z.ENOMEM) {
        busy++;
        await ctx.yield(); // the TX buffer is full: let the peer drain it
        continue;
      }
      if (r !== len) {
        if (errors++ < 5) problems.push(`ipc1 throughput: send of packet ${cnt} returned ${z.errName(r)}`);
        continue;
      }
      cnt++;
      bytes += len;
      len = len === MAX_LEN ? MIN_LEN : len + 1;
      if ((cnt & 63) === 0) await ctx.yield();
    }
    const elapsedMs = (ctx.now() - start) / 1000;
    log.info(`Sent ${bytes} [Bytes] over ${Math.round(elapsedMs)} [ms]`);
    // Closing packet: how many packets and bytes the peer must have received.
    const fin = new Uint8Array(END_LEN);
    const fdv = new DataView(fin.buffer);
    fdv.setUint32(0, END_MAGIC, true);
    fdv.setUint32(4, cnt, true);
    fdv.setUint32(8, bytes, true);
    let r: number;
    while ((r = z.ipc_service_send(ipc1.ept, fin)) === -z.ENOMEM) await ctx.yield();
    if (r !== END_LEN) problems.push(`ipc1 throughput: the closing packet could not be sent: ${z.errName(r)}`);
    throughput.push({
      from: ctx.core.name, to: peer, instance: 'ipc1', durationMs: Math.round(elapsedMs), messages: cnt, bytes,
      bytesPerSec: Math.round(bytes / (elapsedMs / 1000)), busy, errors,
    });
    if (!(await endSeen.take(durationMs + 10_000))) {
      problems.push(`ipc1 throughput: ${peer}'s closing packet did not arrive (${rxState.count} packets received)`);
    } else if (rxState.end!.count !== rxState.count || rxState.end!.bytes !== rxState.bytes) {
      problems.push(`ipc1 throughput: ${peer} sent ${rxState.end!.count} packets (${rxState.end!.bytes} B), ${ctx.core.name} received ${rxState.count} (${rxState.bytes} B)`);
    }
    log.info(`Received ${rxState.bytes} [Bytes] in ${rxState.count} packets`);
    log.info(`IPC-service ${ROLE} demo ended`);
  }

  return {
    endpoints: channels.map((c) => ({ instance: c.instance, name: c.name, pingPongs: c.pings })),
    throughput,
    received: { messages: rxState.count, bytes: rxState.bytes },
    problems,
  };
}
