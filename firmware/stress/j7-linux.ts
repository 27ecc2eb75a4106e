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
// - core-reset: when the core crashes, Linux's remoteproc removes its virtio device and the
//   device fails with -EPIPE (`removed`). Whoever sees that first (reader or sender) closes it and
//   opens a new one (rpmsg_char_open in a loop until the FIN deadline) once the recovered core has
//   announced the service again, says HELLO again, and everyone goes on with the new device: the
//   Linux->core flow keeps its sequence numbers (the message that failed is sent again), the
//   core->Linux flow restarts at seq 0 with the core's new incarnation (the engine sees the
//   restart). A device to a reset core opened (or reopened) after the reset that then carried
//   messages of the core's new incarnation is reported in the report's `detected` (kind
//   core-reset): the host's evidence that the Linux link recovered. (A reset before Linux set up
//   the core's virtio device, or before it opened the device, needs no reopen.)
// main() returns the engine's StressCoreReport. Devices stay open afterwards, so a late FIN
// retransmission of a core still gets its ACK.

import type { FirmwareContext } from '../../cores/context.js';
import type { RpmsgCharDev, TiRpmsgChar } from '../../cores/linux/rpmsg-char.js';
import { EAGAIN, EPIPE } from '../../cores/linux/errno.js';
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

/**
 * The rpmsg_char device of one (RTOS core, channel) pair. `dev` is replaced when the core crashes
 * (see the file header); reader and senders always use the current one.
 */
class Device {
  reopens = 0;
  /** When the current device was opened, ms after t0. */
  openedAtMs: number;
  /** Messages read on the current device. */
  readSinceOpen = 0;
  /** A reopen failed: the device stays closed. */
  dead = false;
  private reopening: Promise<boolean> | undefined;

  constructor(
    private readonly ctx: FirmwareContext,
    private readonly rc: TiRpmsgChar,
    private readonly run: J7Run,
    readonly spec: DeviceSpec,
    readonly rprocId: number,
    readonly eptdev: string,
    public dev: RpmsgCharDev,
  ) {
    this.openedAtMs = run.engine.elapsedMs();
  }

  get what(): string {
    return `${this.spec.core} "${this.spec.ch.name}"`;
  }

  /**
   * After -EPIPE on `old`: true when a new device is open (now or already), false when `old` was
   * not removed or no new device could be opened by the FIN deadline. Concurrent callers share one
   * reopen.
   */
  recover(old: RpmsgCharDev): Promise<boolean> {
    if (this.dev !== old) return Promise.resolve(!this.dead);
    if (this.dead || !old.removed) return Promise.resolve(false);
    this.reopening ??= this.reopen(old).finally(() => {
      this.reopening = undefined;
    });
    return this.reopening;
  }

  private async reopen(old: RpmsgCharDev): Promise<boolean> {
    const { ctx, rc, run } = this;
    const engine = run.engine;
    rc.rpmsg_char_close(old);
    ctx.log.warn(`${old.devName} (${this.what}) was removed: ${this.spec.core} crashed; reopening once it announces "${this.spec.ch.name}" again`);
    const dev = await openDevice(ctx, rc, engine, this.spec, this.rprocId, this.eptdev, run.finMs);
    if (!dev) {
      this.dead = true;
      ctx.log.error(`${this.what}: no rpmsg_char device again by ${Math.round(run.finMs)} ms after the run's start; its flows stop`);
      return false;
    }
    const w = await sayHello(ctx, engine, dev, run.finMs);
    if (w !== CONTROL_LEN) ctx.log.warn(`${this.what}: HELLO on the reopened ${dev.devName} returned ${w}; the core falls back to the fixed address`);
    this.dev = dev;
    this.reopens++;
    this.openedAtMs = engine.elapsedMs();
    this.readSinceOpen = 0;
    ctx.log.info(`${this.what}: reopened as ${dev.devName} ${Math.round(this.openedAtMs)} ms after the run's start`);
    return true;
  }
}

/** rpmsg_char_open until it succeeds (the core has announced the channel) or `untilMs` after t0. */
async function openDevice(ctx: FirmwareContext, rc: TiRpmsgChar, engine: StressEngine, spec: DeviceSpec, rprocId: number, eptdev: string,
  untilMs: number): Promise<RpmsgCharDev | null> {
  const open = (): RpmsgCharDev | null => rc.rpmsg_char_open(rprocId, spec.ch.name, spec.ch.linuxEndPt, spec.ch.endPt, eptdev, rc.O_NONBLOCK);
  let dev = open();
  while (!dev && engine.elapsedMs() < untilMs) {
    await ctx.sleep(POLL_MS); // the core has not announced the service to Linux (yet, or again)
    dev = open();
  }
  return dev;
}

/** Writes the HELLO (tells the core the device's address); returns what write returned last. */
async function sayHello(ctx: FirmwareContext, engine: StressEngine, dev: RpmsgCharDev, untilMs: number): Promise<number> {
  const hello = new Uint8Array(CONTROL_LEN);
  encodeHello(hello);
  let w = await dev.write(hello);
  while (w === -EAGAIN && engine.elapsedMs() < untilMs) {
    await ctx.sleep(1);
    w = await dev.write(hello);
  }
  return w;
}

async function readerTask(rc: TiRpmsgChar, engine: StressEngine, d: Device, rxFlowId: number): Promise<void> {
  const buf = new Uint8Array(RPMSG_MAX_PAYLOAD);
  const ack = new Uint8Array(CONTROL_LEN);
  // O_NONBLOCK write: copied at once; -EAGAIN loses the ACK and the FIN retransmission asks again.
  const reply = (fill: Fill): void => {
    fill(ack, 0);
    void d.dev.write(ack);
  };
  for (;;) {
    const dev = d.dev;
    if (!dev.isOpen) return;
    const ready = await rc.select([dev], SELECT_TIMEOUT_MS);
    if (ready.length === 0) continue;
    for (;;) {
      const n = await dev.read(buf);
      if (n < 0) break; // -EAGAIN: drained; -EPIPE: closed or removed
      if (d.dev === dev) d.readSinceOpen++;
      engine.onMessage(rxFlowId, buf, 0, n, reply);
    }
    if (dev.removed && !(await d.recover(dev))) return;
  }
}

function transportOf(d: Device): Transport {
  const scratch = new Uint8Array(RPMSG_MAX_PAYLOAD);
  // write() sends the whole array it gets: one view per length, made once.
  const views: (Uint8Array | undefined)[] = new Array(RPMSG_MAX_PAYLOAD + 1);
  return {
    async send(_flow: FlowPlan, len: number, fill: Fill): Promise<number> {
      const view = views[len] ??= scratch.subarray(0, len);
      for (;;) {
        const dev = d.dev;
        fill(scratch, 0);
        const w = await dev.write(view);
        if (w === len) return SENT;
        if (w === -EAGAIN) return BUSY;
        // The core crashed: send the same message again on the reopened device.
        if (w === -EPIPE && dev.removed && (await d.recover(dev))) continue;
        return w < 0 ? w : -1;
      }
    },
  };
}

async function runDevice(ctx: FirmwareContext, rc: TiRpmsgChar, run: J7Run, spec: DeviceSpec, devices: Device[]): Promise<void> {
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
  const dev = await openDevice(ctx, rc, engine, spec, rproc.id, eptdev, until);
  if (!dev) {
    fail(`an rpmsg_char device on ${spec.core}'s "${spec.ch.name}" (endpoint ${spec.ch.endPt})`, `not announced within ${Math.round(until)} ms of the run's start`);
    return;
  }
  const d = new Device(ctx, rc, run, spec, rproc.id, eptdev, dev);
  let w = await sayHello(ctx, engine, dev, until);
  // The core crashed right after the open: the reopen says HELLO on the new device.
  if (w === -EPIPE && dev.removed && (await d.recover(dev))) w = CONTROL_LEN;
  if (w !== CONTROL_LEN) {
    fail(`the first write to ${dev.devName} (${spec.core} "${spec.ch.name}")`, `write returned ${w}`);
    return;
  }
  devices.push(d);
  void ctx.task(`stress rx ${dev.devName} (${spec.core} ${spec.ch.name})`, () => readerTask(rc, engine, d, spec.rx?.id ?? -1));
  const transport = transportOf(d);
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

  const devices: Device[] = [];
  const work: Promise<void>[] = [...specs.values()].map((spec) => runDevice(ctx, rc, run, spec, devices));
  const sp = plan.spinlock;
  if (sp && sp.cores.includes(engine.me)) work.push(ctx.task('stress spinlock', () => spinlockTask(ctx, engine, sp, finMs)));
  await Promise.all(work);
  await engine.awaitFins(finsMs);
  reportReopens(ctx, engine, devices);
  return engine.report();
}

/**
 * A device to a reset core, opened (or reopened) after the reset, that then carried messages of
 * the core's new incarnation: detected (the Linux link recovered).
 */
function reportReopens(ctx: FirmwareContext, engine: StressEngine, devices: readonly Device[]): void {
  for (const d of devices) {
    const fault = engine.plan.faults.find((f) => f.kind === 'core-reset' && f.core === d.spec.core);
    if (!fault) continue;
    const when = `${d.reopens ? 'reopened' : 'opened'} ${Math.round(d.openedAtMs)} ms after the run's start`;
    if (d.openedAtMs < fault.atMs || d.readSinceOpen === 0) {
      ctx.log.warn(`${d.what}: ${d.dev.devName} ${when}${d.readSinceOpen ? '' : ', nothing read on it since'}; ${d.spec.core} was reset at ${fault.atMs} ms`);
      continue;
    }
    engine.detected.push({
      kind: 'core-reset', faultId: fault.id,
      detail: `${engine.me} ${when} its rpmsg_char device to ${d.what} (${d.dev.devName}, after ${d.spec.core}'s reset at ${fault.atMs} ms` +
        `${d.reopens ? `; ${d.reopens} reopen(s) after -EPIPE` : ''}) and read ${d.readSinceOpen} message(s) of the new incarnation on it`,
    });
  }
}
