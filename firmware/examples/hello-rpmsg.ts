// A first firmware script: two RTOS cores of the j7 profile exchange one message with the TI PDK
// IPC API. Run it with (all other cores keep their default echo firmware):
//   npm run soc -- --profile j7 --cores mcu1_0,mcu2_0 \
//     --firmware mcu1_0=firmware/examples/hello-rpmsg.ts --firmware mcu2_0=firmware/examples/hello-rpmsg.ts
import type { FirmwareContext } from '../../cores/context.js';

const SERVICE = 'hello';
const ENDPT = 20;

export default async function main(ctx: FirmwareContext) {
  const ipc = ctx.ipc!;
  const self = ctx.core.procId;
  const others = ctx.cores.filter((c) => c.procId !== self).map((c) => c.procId);

  // The PDK boot sequence (see TI's "Developing IPC applications").
  ipc.Ipc_mpSetConfig(self, others.length, others);
  ipc.Ipc_init(null);
  if (ctx.cores.some((c) => c.os === 'linux')) ipc.Ipc_loadResourceTable(); // talk to Linux too
  ipc.Ipc_initVirtIO({ vringBaseAddr: ipc.VRING_BASE_ADDRESS, vringBufSize: ipc.IPC_VRING_BUFFER_SIZE, timeoutCnt: 100 });
  ipc.RPMessage_init(ipc.RPMessageParams_init());

  const buf = new Uint8Array(ipc.IPC_MAX_DATA_PAYLOAD);
  if (ctx.core.name === 'mcu2_0') {
    // Server: open endpoint 20, announce it, answer one request.
    const h = ipc.RPMessage_create({ ...ipc.RPMessageParams_init(), requestedEndpt: ENDPT })!;
    ipc.RPMessage_announce(ipc.RPMESSAGE_ALL, ENDPT, SERVICE);
    const r = await ipc.RPMessage_recv(h, buf, ipc.IPC_RPMESSAGE_TIMEOUT_FOREVER);
    const text = new TextDecoder().decode(buf.subarray(0, r.len));
    ctx.log.info({ from: ipc.Ipc_mpGetName(r.fromProcId), text }, 'request');
    const reply = new TextEncoder().encode(`hello back, ${ipc.Ipc_mpGetName(r.fromProcId)}`);
    ipc.RPMessage_send(h, r.fromProcId, r.rplyEndPt, h.endPt, reply, reply.length);
    return { served: text };
  }
  // Client: find the service, send, wait for the answer.
  const found = await ipc.RPMessage_getRemoteEndPt(ipc.IPC_MCU2_0, SERVICE, 5000);
  if (found.status !== ipc.IPC_SOK) throw new Error(`service "${SERVICE}" not announced (status ${found.status})`);
  const h = ipc.RPMessage_create(ipc.RPMessageParams_init())!;
  const msg = new TextEncoder().encode(`hello from ${ctx.core.name}`);
  ipc.RPMessage_send(h, found.remoteProcId, found.remoteEndPt, h.endPt, msg, msg.length);
  const r = await ipc.RPMessage_recv(h, buf, 5000);
  if (r.status !== ipc.IPC_SOK) throw new Error(`no answer (status ${r.status})`);
  const answer = new TextDecoder().decode(buf.subarray(0, r.len));
  ctx.log.info({ answer }, 'answer');
  return { answer };
}
