// Bench firmware of the J7 RTOS cores (TI PDK IPC). Every scenario starts with the usual PDK IPC
// start-up (as firmware/j7/echo-rtos.ts): an echo endpoint "rpmsg_chrdev" (14) announced to every
// core, late pairing with Linux, then RPMessage_getRemoteEndPt of every other RTOS core's echo
// service. ctx.args.scenario then picks:
//   boot        return (the core keeps echoing): j7.boot, j7.idle
//   rpmsg-rtt   come up, then the core named args.client pings args.server's echo endpoint:
//               args.warmup + args.samples round trips of 32 bytes; returns { samples } in us
//   linux-rtt   come up (Linux measures against an echo endpoint)
//   all-to-all  come up, wait for the host's go, then ping every other core (one pinger per peer,
//               one 32-byte message outstanding each) until the host's stop; returns { roundTrips: { peer: count } }
// "Come up" = boot, then +1 on the control block's ready word (firmware/bench/j7-common.ts).

import type { FirmwareContext, PdkApi } from '../../cores/context.js';
import type { RPMessage_Handle } from '../../cores/rtos/pdk-types.js';
import {
  CTRL_MSGS, CTRL_STOP, CTRL_STRIDE, ECHO_ENDPT, ECHO_NAME, PAYLOAD, PING_LINUX_ENDPT, PING_LINUX_NAME, POLL_MS, WAIT_LIMIT_MS,
  allArrived, arrive, fill, hostGo, intArg, intact,
} from './j7-common.js';

/** A lost message shows up as a recv timeout this long. */
const RECV_TIMEOUT_MS = 2000;

function must(ctx: FirmwareContext, what: string, status: number): void {
  if (status !== 0) throw new Error(`${ctx.core.name}: ${what} failed with status ${status}`);
}

/** Answers every message on `h` with the same bytes (runs after main returns, too). */
async function echo(ctx: FirmwareContext, ipc: PdkApi, h: RPMessage_Handle): Promise<void> {
  const buf = new Uint8Array(ipc.IPC_MAX_DATA_PAYLOAD);
  for (;;) {
    const r = await ipc.RPMessage_recv(h, buf, ipc.IPC_RPMESSAGE_TIMEOUT_FOREVER);
    if (r.status === ipc.IPC_E_UNBLOCKED) return;
    if (r.status !== ipc.IPC_SOK) throw new Error(`${ctx.core.name}: echo endpoint ${h.endPt}: RPMessage_recv failed with ${r.status}`);
    const st = ipc.RPMessage_send(h, r.fromProcId, r.rplyEndPt, h.endPt, buf, r.len);
    if (st !== ipc.IPC_SOK) throw new Error(`${ctx.core.name}: echo to ${ipc.Ipc_mpGetName(r.fromProcId)}:${r.rplyEndPt}: RPMessage_send failed with ${st}`);
  }
}

/** Where each RTOS peer's echo service is, after the PDK start-up. */
interface Booted {
  peers: { name: string; procId: number; endPt: number }[];
  linux?: { procId: number };
  /** all-to-all: the endpoint this core pings Linux from. */
  pingLinux?: RPMessage_Handle;
}

async function boot(ctx: FirmwareContext, ipc: PdkApi, withPingLinux: boolean): Promise<Booted> {
  const self = ctx.core.procId;
  const others = ctx.cores.filter((c) => c.procId !== self);
  const linux = ctx.cores.find((c) => c.os === 'linux');
  must(ctx, 'Ipc_mpSetConfig', ipc.Ipc_mpSetConfig(self, others.length, others.map((c) => c.procId)));
  must(ctx, 'Ipc_init', ipc.Ipc_init(null));
  if (linux) must(ctx, 'Ipc_loadResourceTable', ipc.Ipc_loadResourceTable());
  must(ctx, 'Ipc_initVirtIO', ipc.Ipc_initVirtIO({
    vringBaseAddr: ipc.VRING_BASE_ADDRESS, vringBufSize: ipc.IPC_VRING_BUFFER_SIZE, timeoutCnt: 100,
  }));
  must(ctx, 'RPMessage_init', ipc.RPMessage_init(ipc.RPMessageParams_init()));

  // One echo endpoint serves every peer; 9 pingers keep at most 9 messages queued.
  const services: [number, string][] = [[ECHO_ENDPT, ECHO_NAME]];
  const echoEp = ipc.RPMessage_create({ ...ipc.RPMessageParams_init(), requestedEndpt: ECHO_ENDPT, numBufs: 64 });
  if (!echoEp) throw new Error(`${ctx.core.name}: RPMessage_create(${ECHO_ENDPT}) failed`);
  void ctx.task('echo', () => echo(ctx, ipc, echoEp));
  let pingLinux: RPMessage_Handle | undefined;
  if (withPingLinux && linux) {
    pingLinux = ipc.RPMessage_create({ ...ipc.RPMessageParams_init(), requestedEndpt: PING_LINUX_ENDPT }) ?? undefined;
    if (!pingLinux) throw new Error(`${ctx.core.name}: RPMessage_create(${PING_LINUX_ENDPT}) failed`);
    services.push([PING_LINUX_ENDPT, PING_LINUX_NAME]);
  }
  for (const [ep, name] of services) ipc.RPMessage_announce(ipc.RPMESSAGE_ALL, ep, name);

  // Linux boots later: pair with it when its virtio device is ready, then announce to it.
  const pairing = (async () => {
    if (!linux || ipc.Ipc_isRemoteVirtioCreated(linux.procId)) return;
    const deadline = ctx.now() + WAIT_LIMIT_MS * 1000;
    while (!ipc.Ipc_isRemoteReady(linux.procId)) {
      if (ctx.now() > deadline) throw new Error(`${ctx.core.name}: Linux's virtio device not ready within ${WAIT_LIMIT_MS} ms`);
      await ctx.sleep(POLL_MS);
    }
    must(ctx, 'Ipc_lateVirtioCreate', ipc.Ipc_lateVirtioCreate(linux.procId));
    must(ctx, 'RPMessage_lateInit', ipc.RPMessage_lateInit(linux.procId));
    for (const [ep, name] of services) must(ctx, `RPMessage_announce "${name}" to Linux`, ipc.RPMessage_announce(linux.procId, ep, name));
  })();
  pairing.catch(() => undefined); // awaited (and thrown) below, after the peers are found

  const peers = await Promise.all(others.filter((c) => c.os === 'rtos').map(async (c) => {
    const found = await ipc.RPMessage_getRemoteEndPt(c.procId, ECHO_NAME, WAIT_LIMIT_MS);
    if (found.status !== ipc.IPC_SOK) throw new Error(`${ctx.core.name}: "${ECHO_NAME}" of ${c.name} not announced within ${WAIT_LIMIT_MS} ms (status ${found.status})`);
    return { name: c.name, procId: found.remoteProcId, endPt: found.remoteEndPt };
  }));
  await pairing;
  return { peers, linux: linux && { procId: linux.procId }, pingLinux };
}

/** rpmsg-rtt client: round trips to `server`'s echo endpoint; one clock read per round trip. */
async function roundTrips(ctx: FirmwareContext, ipc: PdkApi, server: { name: string; procId: number; endPt: number }): Promise<Float64Array> {
  const warmup = intArg(ctx, 'warmup', 2000);
  const samples = new Float64Array(intArg(ctx, 'samples', 20000));
  const h = ipc.RPMessage_create(ipc.RPMessageParams_init());
  if (!h) throw new Error(`${ctx.core.name}: RPMessage_create failed`);
  const tx = new Uint8Array(PAYLOAD);
  const rx = new Uint8Array(ipc.IPC_MAX_DATA_PAYLOAD);
  const total = warmup + samples.length;
  let prev = ctx.now();
  for (let i = 0; i < total; i++) {
    fill(tx, i);
    const st = ipc.RPMessage_send(h, server.procId, server.endPt, h.endPt, tx, PAYLOAD);
    if (st !== ipc.IPC_SOK) throw new Error(`${ctx.core.name}: RPMessage_send #${i} to ${server.name} failed with ${st}`);
    const r = await ipc.RPMessage_recv(h, rx, RECV_TIMEOUT_MS);
    if (r.status !== ipc.IPC_SOK) throw new Error(`${ctx.core.name}: no echo from ${server.name} for message #${i} (status ${r.status})`);
    if (!intact(rx, r.len, i)) throw new Error(`${ctx.core.name}: echo #${i} from ${server.name} is not what was sent (${r.len} bytes)`);
    const t = ctx.now();
    if (i >= warmup) samples[i - warmup] = t - prev;
    prev = t;
  }
  ipc.RPMessage_delete(h);
  return samples;
}

/** all-to-all: the pingers of this core; `delivered` counts pings + pongs for the host. Round trips per peer. */
async function allToAll(ctx: FirmwareContext, ipc: PdkApi, b: Booted): Promise<Record<string, number>> {
  // Linux's address: its device on our ping endpoint says hello first.
  let linuxAddr = -1;
  if (b.linux && b.pingLinux) {
    const rx = new Uint8Array(ipc.IPC_MAX_DATA_PAYLOAD);
    const r = await ipc.RPMessage_recv(b.pingLinux, rx, WAIT_LIMIT_MS);
    if (r.status !== ipc.IPC_SOK) throw new Error(`${ctx.core.name}: no hello from Linux on "${PING_LINUX_NAME}" (status ${r.status})`);
    linuxAddr = r.rplyEndPt;
  }
  arrive(ctx);
  if (!(await hostGo(ctx))) return {};
  const counter = CTRL_MSGS + ctx.core.index * CTRL_STRIDE;
  let delivered = 0;
  const pinger = async (name: string, procId: number, endPt: number, h: RPMessage_Handle): Promise<number> => {
    const tx = new Uint8Array(PAYLOAD);
    const rx = new Uint8Array(ipc.IPC_MAX_DATA_PAYLOAD);
    let n = 0;
    while (ctx.bus.read32(CTRL_STOP) === 0) {
      fill(tx, n);
      const st = ipc.RPMessage_send(h, procId, endPt, h.endPt, tx, PAYLOAD);
      if (st !== ipc.IPC_SOK) throw new Error(`${ctx.core.name}: RPMessage_send #${n} to ${name} failed with ${st}`);
      const r = await ipc.RPMessage_recv(h, rx, RECV_TIMEOUT_MS);
      if (r.status !== ipc.IPC_SOK) throw new Error(`${ctx.core.name}: no echo from ${name} for message #${n} (status ${r.status})`);
      if (!intact(rx, r.len, n)) throw new Error(`${ctx.core.name}: echo #${n} from ${name} is not what was sent (${r.len} bytes)`);
      n++;
      delivered += 2;
      ctx.bus.write32(counter, delivered);
    }
    return n;
  };
  const names = b.peers.map((p) => p.name);
  const pingers = b.peers.map((p) => {
    const h = ipc.RPMessage_create(ipc.RPMessageParams_init());
    if (!h) throw new Error(`${ctx.core.name}: RPMessage_create failed`);
    return pinger(p.name, p.procId, p.endPt, h);
  });
  if (b.linux && b.pingLinux) {
    names.push(ipc.Ipc_mpGetName(b.linux.procId) ?? 'Linux');
    pingers.push(pinger('Linux', b.linux.procId, linuxAddr, b.pingLinux));
  }
  const counts = await Promise.all(pingers);
  return Object.fromEntries(names.map((n, i) => [n, counts[i]!]));
}

export default async function main(ctx: FirmwareContext) {
  const ipc = ctx.ipc;
  if (!ipc) throw new Error(`${ctx.core.name}: bench/j7-rtos needs an RTOS core with the PDK IPC API`);
  const scenario = ctx.args.scenario ?? 'boot';
  const b = await boot(ctx, ipc, scenario === 'all-to-all');
  switch (scenario) {
    case 'boot':
      return { peers: b.peers.length };
    case 'all-to-all':
      return { roundTrips: await allToAll(ctx, ipc, b) };
    case 'rpmsg-rtt':
    case 'linux-rtt': {
      arrive(ctx);
      if (scenario === 'linux-rtt' || ctx.core.name !== ctx.args.client) return {};
      const server = b.peers.find((p) => p.name === ctx.args.server);
      if (!server) throw new Error(`${ctx.core.name}: server ${ctx.args.server} is not an RTOS peer`);
      await allArrived(ctx);
      return { samples: await roundTrips(ctx, ipc, server) };
    }
    default:
      throw new Error(`${ctx.core.name}: unknown scenario "${scenario}"`);
  }
}
