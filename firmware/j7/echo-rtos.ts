// Default firmware of every J7 RTOS core: TI's IPC echo test with the PDK IPC API.
// - announces "ti.ipc4.ping-pong" (endpoint 13) and "rpmsg_chrdev" (endpoint 14) to every core,
//   and answers every message on them with the same bytes;
// - pings every other RTOS core `--messages` times (one task per peer) and measures round trips;
// - pairs with Linux late (Linux boots after the RTOS cores): a monitor task polls
//   Ipc_isRemoteReady, then Ipc_lateVirtioCreate, RPMessage_lateInit and re-announces to Linux.
// main() returns the per-peer statistics; the responders keep running after it returns.

import type { FirmwareContext, PdkApi } from '../../cores/context.js';
import type { RPMessage_Handle } from '../../cores/rtos/pdk-types.js';

const PING_PONG = 'ti.ipc4.ping-pong';
const PING_PONG_ENDPT = 13;
const CHRDEV = 'rpmsg_chrdev';
const CHRDEV_ENDPT = 14;

function must(ctx: FirmwareContext, what: string, status: number): void {
  if (status !== 0) throw new Error(`${ctx.core.name}: ${what} failed with status ${status}`);
}

async function responder(ipc: PdkApi, h: RPMessage_Handle): Promise<void> {
  const buf = new Uint8Array(ipc.IPC_MAX_DATA_PAYLOAD);
  for (;;) {
    const r = await ipc.RPMessage_recv(h, buf, ipc.IPC_RPMESSAGE_TIMEOUT_FOREVER);
    if (r.status === ipc.IPC_E_UNBLOCKED) return;
    if (r.status !== ipc.IPC_SOK) continue;
    ipc.RPMessage_send(h, r.fromProcId, r.rplyEndPt, h.endPt, buf, r.len);
  }
}

async function pinger(ctx: FirmwareContext, ipc: PdkApi, remote: { name: string; procId: number }, count: number) {
  const pair = { from: ctx.core.name, to: remote.name, expected: count, sent: 0, received: 0, corrupt: 0, rttP50Us: 0, rttP99Us: 0, error: undefined as string | undefined };
  const found = await ipc.RPMessage_getRemoteEndPt(remote.procId, PING_PONG, 10_000);
  if (found.status !== ipc.IPC_SOK) {
    pair.error = `"${PING_PONG}" was not announced by ${remote.name} (status ${found.status})`;
    return pair;
  }
  const h = ipc.RPMessage_create({ ...ipc.RPMessageParams_init(), requestedEndpt: ipc.RPMESSAGE_ANY });
  if (!h) throw new Error(`${ctx.core.name}: RPMessage_create failed`);
  const encoder = new TextEncoder();
  const rx = new Uint8Array(ipc.IPC_MAX_DATA_PAYLOAD);
  const rtts: number[] = [];
  for (let i = 0; i < count; i++) {
    const msg = encoder.encode(`ping ${i} from ${ctx.core.name}`);
    const t0 = ctx.now();
    const st = ipc.RPMessage_send(h, found.remoteProcId, found.remoteEndPt, h.endPt, msg, msg.length);
    if (st !== ipc.IPC_SOK) {
      pair.error = `RPMessage_send #${i} failed with ${st}`;
      break;
    }
    pair.sent++;
    const r = await ipc.RPMessage_recv(h, rx, 10_000);
    if (r.status !== ipc.IPC_SOK) {
      pair.error = `no pong for ping #${i} (status ${r.status})`;
      break;
    }
    rtts.push(ctx.now() - t0);
    const same = r.len === msg.length && msg.every((b, k) => rx[k] === b);
    if (same) pair.received++;
    else pair.corrupt++;
  }
  ipc.RPMessage_delete(h);
  const s = ctx.stats.summarize(rtts);
  pair.rttP50Us = s.p50;
  pair.rttP99Us = s.p99;
  return pair;
}

export default async function main(ctx: FirmwareContext) {
  const ipc = ctx.ipc;
  if (!ipc) throw new Error(`${ctx.core.name}: echo-rtos needs an RTOS core with the PDK IPC API`);
  const count = Number(ctx.args.messages ?? 100);
  const self = ctx.core.procId;
  const others = ctx.cores.filter((c) => c.procId !== self);
  const linux = ctx.cores.find((c) => c.os === 'linux');
  const rtosPeers = others.filter((c) => c.os === 'rtos');

  must(ctx, 'Ipc_mpSetConfig', ipc.Ipc_mpSetConfig(self, others.length, others.map((c) => c.procId)));
  must(ctx, 'Ipc_init', ipc.Ipc_init(null));
  if (linux) must(ctx, 'Ipc_loadResourceTable', ipc.Ipc_loadResourceTable());
  must(ctx, 'Ipc_initVirtIO', ipc.Ipc_initVirtIO({
    vringBaseAddr: ipc.VRING_BASE_ADDRESS, vringBufSize: ipc.IPC_VRING_BUFFER_SIZE, timeoutCnt: 100,
  }));
  must(ctx, 'RPMessage_init', ipc.RPMessage_init(ipc.RPMessageParams_init()));

  const pingPong = ipc.RPMessage_create({ ...ipc.RPMessageParams_init(), requestedEndpt: PING_PONG_ENDPT });
  const chrdev = ipc.RPMessage_create({ ...ipc.RPMessageParams_init(), requestedEndpt: CHRDEV_ENDPT });
  if (!pingPong || !chrdev) throw new Error(`${ctx.core.name}: could not create endpoints ${PING_PONG_ENDPT} and ${CHRDEV_ENDPT}`);
  void ctx.task('responder ping-pong', () => responder(ipc, pingPong));
  void ctx.task('responder rpmsg_chrdev', () => responder(ipc, chrdev));
  ipc.RPMessage_announce(ipc.RPMESSAGE_ALL, PING_PONG_ENDPT, PING_PONG);
  ipc.RPMessage_announce(ipc.RPMESSAGE_ALL, CHRDEV_ENDPT, CHRDEV);

  if (linux && !ipc.Ipc_isRemoteVirtioCreated(linux.procId)) {
    void ctx.task('vdev monitor', async () => {
      while (!ipc.Ipc_isRemoteReady(linux.procId)) await ctx.sleep(10);
      must(ctx, 'Ipc_lateVirtioCreate', ipc.Ipc_lateVirtioCreate(linux.procId));
      must(ctx, 'RPMessage_lateInit', ipc.RPMessage_lateInit(linux.procId));
      ipc.RPMessage_announce(linux.procId, PING_PONG_ENDPT, PING_PONG);
      ipc.RPMessage_announce(linux.procId, CHRDEV_ENDPT, CHRDEV);
      ctx.log.info('paired with Linux late and announced to it');
    });
  }

  const pairs = await Promise.all(rtosPeers.map((peer) => pinger(ctx, ipc, peer, count)));
  return { pairs };
}
