// Builds a Zephyr core's IPC instances from its devicetree configuration, as Zephyr's backends do
// at device init: pbufs on the regions (ICBMsg: on the regions' ICMsg parts, blocks after them),
// one shared ICMsg work queue, one ICBMsg endpoint-bound work queue, and the service front.

import type { Bus } from '../../shared/bus.js';
import { icbmsgRegionLayout } from '../../shared/icbmsg-layout.js';
import { PBUF_RX_READ_BUF_SIZE } from '../../shared/icmsg-proto.js';
import { Pbuf } from '../../shared/pbuf.js';
import type { ZephyrCoreImage, ZephyrIpcInstanceImage } from '../boot.js';
import type { CoreRuntime } from '../runtime.js';
import { IcbmsgBackend } from './backend-icbmsg.js';
import { IcmsgBackend } from './backend-icmsg.js';
import { Icmsg } from './icmsg.js';
import { IpcService } from './ipc-service.js';
import { WorkQueue } from './kernel.js';
import type { NrfMbox } from './mbox.js';

export interface ZephyrIpcStack {
  service: IpcService;
  icmsgWorkq: WorkQueue;
}

const kconfig = (image: ZephyrCoreImage, key: string, dflt: number): number => image.kconfig[key] ?? dflt;

/** `handshake`: the pbuf keeps a handshake word at @4 (ICMsg in the session modes). */
function pbufAt(bus: Bus, core: string, inst: ZephyrIpcInstanceImage, what: string, base: number, size: number, handshake: boolean): Pbuf {
  const w = bus.window(base, size);
  return new Pbuf(w.sab, w.byteOffset, size, {
    dcacheAlignment: inst.dcacheAlignment,
    handshake,
    name: `${core}/${inst.name} ${what} @0x${base.toString(16)}`,
  });
}

export function createZephyrIpc(opts: { core: string; rt: CoreRuntime; bus: Bus; mbox: NrfMbox; image: ZephyrCoreImage }): ZephyrIpcStack {
  const { core, rt, bus, mbox, image } = opts;
  const service = new IpcService(core, () => rt.now());
  const icmsgWorkq = new WorkQueue(rt, 'icmsg_workq');
  let boundWorkq: WorkQueue | undefined;
  const rxReadBufSize = kconfig(image, 'CONFIG_PBUF_RX_READ_BUF_SIZE', PBUF_RX_READ_BUF_SIZE);
  const bondNotifyRepeatMs = kconfig(image, 'CONFIG_IPC_SERVICE_ICMSG_BOND_NOTIFY_REPEAT_TO_MS', 1);

  for (const inst of image.instances) {
    const icmsgOpts = { name: inst.name, rt, mbox, txChannel: inst.mboxTx, rxChannel: inst.mboxRx, workq: icmsgWorkq, bondNotifyRepeatMs, rxReadBufSize };
    if (inst.compatible === 'zephyr,ipc-icmsg') {
      const session = inst.unbound !== 'disable';
      if (session && inst.dcacheAlignment < 8) {
        throw new Error(
          `core ${core}: ICMsg instance ${inst.name} (${inst.where}) sets unbound = "${inst.unbound}", whose handshake word needs dcache-alignment >= 8; it has ${inst.dcacheAlignment}`,
        );
      }
      const tx = pbufAt(bus, core, inst, 'tx-region', inst.txRegion.base, inst.txRegion.size, session);
      const rx = pbufAt(bus, core, inst, 'rx-region', inst.rxRegion.base, inst.rxRegion.size, session);
      const addrs = { txAddr: inst.txRegion.base, rxAddr: inst.rxRegion.base };
      service.addInstance(inst.name, new IcmsgBackend(new Icmsg({ ...icmsgOpts, ...addrs, unbound: inst.unbound, tx, rx })), inst.labels);
      continue;
    }
    // Legacy ICBMsg opens its control ICMsg in "disable" mode whatever `unbound` says (its pbufs have
    // no handshake word; with the dcache-alignment >= 8 the binding asks for, the layout is the same).
    const txBlocks = inst.txBlocks!;
    const rxBlocks = inst.rxBlocks!;
    const txL = icbmsgRegionLayout({ name: inst.txRegion.label, ...inst.txRegion }, txBlocks, rxBlocks, inst.dcacheAlignment);
    const rxL = icbmsgRegionLayout({ name: inst.rxRegion.label, ...inst.rxRegion }, rxBlocks, txBlocks, inst.dcacheAlignment);
    const tx = pbufAt(bus, core, inst, 'tx-region', txL.begin, txL.icmsgSize, false);
    const rx = pbufAt(bus, core, inst, 'rx-region', rxL.begin, rxL.icmsgSize, false);
    const txArea = bus.window(txL.begin + txL.blocksOffset, txL.blockSize * txL.blocks);
    const rxArea = bus.window(rxL.begin + rxL.blocksOffset, rxL.blockSize * rxL.blocks);
    boundWorkq ??= new WorkQueue(rt, 'icbmsg_ep_bound_work_q');
    const backend = new IcbmsgBackend({
      name: inst.name,
      rt,
      icmsg: new Icmsg({ ...icmsgOpts, tx, rx, txAddr: txL.begin, rxAddr: rxL.begin }),
      txAddr: txL.begin,
      tx: { sab: txArea.sab, byteOffset: txArea.byteOffset, blockSize: txL.blockSize, blocks: txL.blocks },
      rx: { sab: rxArea.sab, byteOffset: rxArea.byteOffset, blockSize: rxL.blockSize, blocks: rxL.blocks },
      initiator: inst.rxRegion.base < inst.txRegion.base,
      boundWorkq,
      numEndpoints: kconfig(image, 'CONFIG_IPC_SERVICE_BACKEND_ICBMSG_NUM_EP', 4),
    });
    service.addInstance(inst.name, backend, inst.labels);
  }
  return { service, icmsgWorkq };
}
