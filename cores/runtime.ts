// The core runtime: what runs on each simulated CPU's thread underneath the firmware.
//
// - Interrupts: devices raise lines in the core's interrupt controller (shared memory); the
//   interrupt loop takes pending lines and runs their ISRs on this thread, between task segments
//   (an ISR never runs in the middle of a task's synchronous code, as on a single-CPU RTOS).
// - Tasks: cooperative async functions. A task that throws faults the core.
// - Waiting: when there is nothing to do the loop spins briefly on its wake word, but only while the
//   cores that are awake do not outnumber the host CPUs; otherwise, and after the spin budget, it
//   sleeps in Atomics.waitAsync (the event loop stays free for timers and the control plane).
// - Stress runs: each ISR entry is a perturbation point (PT_ISR, shared/perturb.ts); one constant-
//   false branch when no perturbation is installed in this thread.

import { performance } from 'node:perf_hooks';
import { CoreControl, CoreState } from '../shared/core-control.js';
import { IRQ_LINES, InterruptController } from '../shared/irq.js';
import { PERTURB, PT_ISR, perturbAt } from '../shared/perturb.js';

/** Spin iterations (each one Atomics.load) before sleeping, when spinning is allowed. */
export const DEFAULT_SPIN_BUDGET = 2000;

export class CoreFault extends Error {
  override name = 'CoreFault';
  constructor(readonly core: string, readonly where: string, readonly original: unknown) {
    super(`core ${core} faulted in ${where}: ${original instanceof Error ? original.message : String(original)}`);
  }
}

export interface IsrEntry {
  name: string;
  handler: () => void;
}

export interface TaskInfo {
  name: string;
  state: 'running' | 'done' | 'faulted';
}

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const RESOLVED_TRUE: Promise<boolean> = Promise.resolve(true);

export class CoreRuntime {
  readonly index: number;
  readonly name: string;
  readonly irq: InterruptController;
  readonly control: CoreControl;
  spinBudget = DEFAULT_SPIN_BUDGET;

  private readonly isrs: (IsrEntry | undefined)[] = new Array(IRQ_LINES).fill(undefined);
  private readonly tasks: { name: string; state: TaskInfo['state'] }[] = [];
  private readonly waiting = new Set<Semaphore>();
  private loop: Promise<void> | undefined;
  private stopped = false;
  private fault_: CoreFault | undefined;
  private readonly faultListeners: ((f: CoreFault) => void)[] = [];
  /** Interrupts that arrived on a line without an ISR. */
  spurious = 0;

  constructor(opts: { index: number; name: string; irq: InterruptController; control: CoreControl }) {
    this.index = opts.index;
    this.name = opts.name;
    this.irq = opts.irq;
    this.control = opts.control;
  }

  get fault(): CoreFault | undefined {
    return this.fault_;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  onFault(listener: (f: CoreFault) => void): void {
    this.faultListeners.push(listener);
  }

  /** Microseconds since an arbitrary origin (the core's clock). */
  now(): number {
    return performance.now() * 1000;
  }

  // ---- interrupts --------------------------------------------------------------------------

  /** Installs the ISR of `line` and enables the line. */
  registerIsr(line: number, name: string, handler: () => void): void {
    if (!(Number.isInteger(line) && line >= 0 && line < IRQ_LINES)) {
      throw new RangeError(`core ${this.name}: interrupt line ${line} does not exist (0..${IRQ_LINES - 1})`);
    }
    const existing = this.isrs[line];
    if (existing) throw new Error(`core ${this.name}: interrupt line ${line} already has ISR "${existing.name}"`);
    this.isrs[line] = { name, handler };
    this.irq.enable(this.index, line);
    // A line raised before its ISR existed is served now.
    if (this.irq.pending(this.index) & (1 << line)) this.irq.poke(this.index);
  }

  unregisterIsr(line: number): void {
    this.irq.disable(this.index, line);
    this.isrs[line] = undefined;
  }

  isrName(line: number): string | undefined {
    return this.isrs[line]?.name;
  }

  /** Runs the ISRs of every pending enabled line once. Returns false when nothing was pending. */
  private dispatch(): boolean {
    let lines = this.irq.take(this.index);
    if (lines === 0) return false;
    while (lines !== 0) {
      const bit = lines & -lines;
      lines ^= bit;
      const line = 31 - Math.clz32(bit);
      const isr = this.isrs[line];
      if (!isr) {
        this.spurious++;
        continue;
      }
      if (PERTURB.on) perturbAt(PT_ISR);
      try {
        isr.handler();
      } catch (err) {
        this.raiseFault(err, `ISR "${isr.name}" (line ${line})`);
        return false;
      }
    }
    this.control.countIsr(this.index);
    return true;
  }

  /** Starts the interrupt loop. */
  start(): void {
    if (this.loop) return;
    this.control.setState(this.index, CoreState.Running);
    this.loop = this.interruptLoop().catch((err) => this.raiseFault(err, 'interrupt loop'));
  }

  private async interruptLoop(): Promise<void> {
    const words = this.irq.words;
    const wake = this.irq.wakeIndex(this.index);
    this.control.addAwake(1);
    try {
      while (!this.stopped) {
        const seen = Atomics.load(words, wake);
        if (this.dispatch()) {
          // Let the tasks the ISRs made ready run before looking again.
          await immediate();
          continue;
        }
        if (this.spinBudget > 0 && this.control.canSpin()) {
          let n = this.spinBudget;
          while (n-- > 0 && Atomics.load(words, wake) === seen);
          if (n >= 0) continue;
        }
        this.irq.setSleeping(this.index, true);
        this.control.addAwake(-1);
        try {
          const r = Atomics.waitAsync(words, wake, seen);
          if (r.async) await r.value;
        } finally {
          this.irq.setSleeping(this.index, false);
          this.control.addAwake(1);
        }
      }
    } finally {
      this.control.addAwake(-1);
    }
  }

  /** Stops the interrupt loop and every task's progress; the core is then halted. */
  stop(state: CoreState = CoreState.Stopped): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.control.state(this.index) !== CoreState.Faulted) this.control.setState(this.index, state);
    for (let line = 0; line < IRQ_LINES; line++) this.irq.disable(this.index, line);
    this.irq.poke(this.index);
    // Tasks blocked now stay blocked: a halted core runs no more firmware code.
  }

  raiseFault(err: unknown, where: string): void {
    if (this.fault_) return;
    this.fault_ = err instanceof CoreFault ? err : new CoreFault(this.name, where, err);
    this.control.setState(this.index, CoreState.Faulted);
    this.stop(CoreState.Faulted);
    for (const l of this.faultListeners) l(this.fault_);
  }

  // ---- tasks -------------------------------------------------------------------------------

  /** Starts a cooperative task. If it throws, the core faults. */
  spawn(name: string, fn: () => Promise<unknown> | unknown): Promise<void> {
    if (this.stopped) throw new Error(`core ${this.name}: cannot start task "${name}": core is halted`);
    const rec = { name, state: 'running' as TaskInfo['state'] };
    this.tasks.push(rec);
    return (async () => {
      try {
        await fn();
        rec.state = 'done';
      } catch (err) {
        rec.state = 'faulted';
        this.raiseFault(err, `task "${name}"`);
      }
    })();
  }

  taskList(): TaskInfo[] {
    return this.tasks.map((t) => ({ ...t }));
  }

  /** Descriptions of everything a task is blocked on right now (for the watchdog). */
  waits(): string[] {
    return [...this.waiting].map((s) => `${s.name} (${s.waiterCount} waiting)`);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(() => {
      if (!this.stopped) resolve();
    }, Math.max(0, ms)));
  }

  /** Lets other tasks and pending interrupts run. */
  yield(): Promise<void> {
    return immediate();
  }

  /** @internal used by Semaphore */
  trackWaiting(s: Semaphore, waiting: boolean): void {
    if (waiting) this.waiting.add(s);
    else this.waiting.delete(s);
  }
}

interface Waiter {
  resolve: (ok: boolean) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * A counting semaphore for tasks of one core (RTOS SemaphoreP). `post` may be called from ISRs.
 * `pend` resolves true when taken, false on timeout or when the core halts.
 */
export class Semaphore {
  private count: number;
  private readonly waiters: Waiter[] = [];

  constructor(private readonly rt: CoreRuntime, readonly name: string, initial = 0) {
    this.count = initial;
  }

  get waiterCount(): number {
    return this.waiters.length;
  }

  get value(): number {
    return this.count;
  }

  post(): void {
    const w = this.waiters.shift();
    if (w) {
      if (w.timer) clearTimeout(w.timer);
      if (this.waiters.length === 0) this.rt.trackWaiting(this, false);
      w.resolve(true);
    } else {
      this.count++;
    }
  }

  /** Takes the semaphore without waiting; false when the count is 0. */
  tryPend(): boolean {
    if (this.count > 0) {
      this.count--;
      return true;
    }
    return false;
  }

  pend(timeoutMs = Infinity): Promise<boolean> {
    if (this.count > 0) {
      this.count--;
      return RESOLVED_TRUE;
    }
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const w: Waiter = { resolve, timer: undefined };
      if (Number.isFinite(timeoutMs)) {
        w.timer = setTimeout(() => {
          if (this.rt.isStopped) return;
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          if (this.waiters.length === 0) this.rt.trackWaiting(this, false);
          resolve(false);
        }, timeoutMs);
      }
      this.waiters.push(w);
      this.rt.trackWaiting(this, true);
    });
  }

  /** Wakes every waiter with false (core halted, endpoint unblocked). */
  abandon(): void {
    for (const w of this.waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(false);
    }
    this.rt.trackWaiting(this, false);
  }
}
