// Stress firmware of the J7 A72 (Linux user space, ti-rpmsg-char). It runs the flows of the run's
// plan that start or end on Linux through the shared StressEngine (./engine.ts):
// - one rpmsg_char device per (RTOS core, channel) used by a flow with that core: channel
//   'rpmsg-char' opens the core's "rpmsg_chrdev" service (endpoint 14), 'rpmsg' its
//   "hetsoc.stress" service (endpoint 20); opened O_NONBLOCK once the core has announced it (the
//   RTOS pairs with Linux late);
// - bound to a fixed local address per channel (J7Channel.linuxEndPt); right after opening, a
//   HELLO (16 bytes, no flow) tells the core the device exists, so the core's sender towards Linux
//   can start even when Linux has nothing to send it;
// - per device a reader task (select + read) gives everything to engine.onMessage with the flow
//   core->Linux of that channel; data, FIN and ACK travel the same device, ACKs are written back;
// - per Linux->core flow a sender: write() (-EAGAIN: the TX ring is full -> BUSY).
// main() returns the engine's StressCoreReport. Devices stay open afterwards, so a late FIN
// retransmission of a core still gets its ACK.

import type { FirmwareContext } from '../../cores/context.js';
import type { RpmsgCharDev, TiRpmsgChar } from '../../cores/linux/rpmsg-char.js';
import { EAGAIN } from '../../cores/linux/errno.js';
import { TIRC_RPROC } from '../../shared/j721e.js';
import { RPMSG_MAX_PAYLOAD } from '../../shared/rpmsg.js';
import { CONTROL_LEN } from '../../shared/stress-payload.js';
import type { FlowPlan } from '../../soc/stress/schema.js';
import { BUSY, SENT, StressEngine, type Fill, type Transport } from './engine.js';
import { encodeHello, excused, j7Channel, j7Deadlines, spinlockTask, type J7Channel, type J7Run } from './j7-rtos.js';

const POLL_MS = 5;
const SELECT_TIMEOUT_MS = 1000;

/** The flows of one (RTOS core, channel) pair: they share one rpmsg_char device. */
interface DeviceSpec {
  core: string;
  ch: J7Channel;
  tx: FlowPlan[];
  rx: FlowPlan | undefined;
}

async function readerTask(rc: TiRpmsgChar, engine: StressEngine, dev: RpmsgCharDev, rxFlowId: number): Promise<void> {
  const buf = new Uint8Array(RPMSG_MAX_PAYLOAD);
  const ack = new Uint8Array(CONTROL_LEN);
  const devs = [dev];
  // O_NONBLOCK write: copied at once; -EAGAIN loses the ACK and the FIN retransmission asks again.
  const reply = (fill: Fill): void => {
    fill(ack, 0);
    void dev.write(ack);
  };
  while (dev.isOpen) {
    const ready = await rc.select(devs, SELECT_TIMEOUT_MS);
    if (ready.length === 0) continue;
    for (;;) {
      const n = await dev.read(buf);
      if (n < 0) break; // -EAGAIN: drained; -EPIPE: closed
      engine.onMessage(rxFlowId, buf, 0, n, reply);
    }
  }
}

function transportOf(dev: RpmsgCharDev): Transport {
  const scratch = new Uint8Array(RPMSG_MAX_PAYLOAD);
  // write() sends the whole array it gets: one view per length, made once.
  const views: (Uint8Array | undefined)[] = new Array(RPMSG_MAX_PAYLOAD + 1);
  return {
    async send(_flow: FlowPlan, len: number, fill: Fill): Promise<number> {
      fill(scratch, 0);
      const view = views[len] ??= scratch.subarray(0, len);
      const w = await dev.write(view);
      if (w === len) return SENT;
      if (w === -EAGAIN) return BUSY;
      return w < 0 ? w : -1;
    },
  };
}

async function runDevice(ctx: FirmwareContext, rc: TiRpmsgChar, run: J7Run, spec: DeviceSpec): Promise<void> {
  const { engine, startupMs, finMs } = run;
  const fail = (what: string, seen: string): void => {
    for (const flow of [...spec.tx, ...(spec.rx ? [spec.rx] : [])]) {
      if (excused(run, flow, spec.core)) continue;
      engine.violation('progress', {
        flow: flow.id, peer: spec.core, endpoint: flow.channel, expected: what, seen,
        detail: `flow ${flow.id} ${flow.from}->${flow.to}: ${what}: ${seen}`,
      });
    }
  };
  const rproc = TIRC_RPROC.find((r) => r.proc === spec.core);
  if (!rproc) {
    fail('an RTOS core with a remoteproc', `${spec.core} is not one`);
    return;
  }
  const until = Math.min(startupMs, engine.diesAt(spec.core) ?? Infinity);
  const eptdev = `hs-${rproc.id}-${spec.ch.tag}`;
  let dev = rc.rpmsg_char_open(rproc.id, spec.ch.name, spec.ch.linuxEndPt, spec.ch.endPt, eptdev, rc.O_NONBLOCK);
  while (!dev && engine.elapsedMs() < until) {
    await ctx.sleep(POLL_MS); // the core has not announced the service to Linux yet
    dev = rc.rpmsg_char_open(rproc.id, spec.ch.name, spec.ch.linuxEndPt, spec.ch.endPt, eptdev, rc.O_NONBLOCK);
  }
  if (!dev) {
    fail(`an rpmsg_char device on ${spec.core}'s "${spec.ch.name}" (endpoint ${spec.ch.endPt})`, `not announced within ${Math.round(until)} ms of the run's start`);
    return;
  }
  const hello = new Uint8Array(CONTROL_LEN);
  encodeHello(hello);
  let w = await dev.write(hello);
  while (w === -EAGAIN && engine.elapsedMs() < until) {
    await ctx.sleep(1);
    w = await dev.write(hello);
  }
  if (w !== CONTROL_LEN) {
    fail(`the first write to ${dev.devName} (${spec.core} "${spec.ch.name}")`, `write returned ${w}`);
    return;
  }
  void ctx.task(`stress rx ${dev.devName} (${spec.core} ${spec.ch.name})`, () => readerTask(rc, engine, dev, spec.rx?.id ?? -1));
  const transport = transportOf(dev);
  await Promise.all(spec.tx.map((flow) => ctx.task(`stress tx flow ${flow.id} -> ${flow.to}`, () => engine.runSender(flow, transport, finMs))));
}

export default async function main(ctx: FirmwareContext) {
  const rc = ctx.rpmsgChar;
  if (!rc) throw new Error(`${ctx.core.name}: j7-linux stress firmware needs a Linux core with rpmsg_char`);
  const engine = new StressEngine(ctx);
  const plan = engine.plan;
  const run = j7Deadlines(engine);
  const { finMs, finsMs } = run;
  if (rc.rpmsg_char_init(null) < 0) throw new Error(`${ctx.core.name}: rpmsg_char_init failed`);
  engine.armFaults();

  const specs = new Map<string, DeviceSpec>();
  const specOf = (flow: FlowPlan, core: string): DeviceSpec | undefined => {
    const ch = j7Channel(flow.channel);
    if (!ch) {
      engine.violation('progress', {
        flow: flow.id, peer: core, endpoint: flow.channel, expected: 'a J7 channel (rpmsg, rpmsg-char)',
        seen: `channel "${flow.channel}"`, detail: `flow ${flow.id}: ${engine.me} cannot run it`,
      });
      return undefined;
    }
    const key = `${core}/${ch.channel}`;
    let s = specs.get(key);
    if (!s) specs.set(key, (s = { core, ch, tx: [], rx: undefined }));
    return s;
  };
  for (const f of engine.txFlows) specOf(f, f.to)?.tx.push(f);
  for (const f of engine.rxFlows) {
    const s = specOf(f, f.from);
    if (s) s.rx = f;
  }

  const work: Promise<void>[] = [...specs.values()].map((spec) => runDevice(ctx, rc, run, spec));
  const sp = plan.spinlock;
  if (sp && sp.cores.includes(engine.me)) work.push(ctx.task('stress spinlock', () => spinlockTask(ctx, engine, sp, finMs)));
  await Promise.all(work);
  await engine.awaitFins(finsMs);
  return engine.report();
}
