// The core runtime: what runs on each simulated CPU's thread underneath the firmware.
//
// - Interrupts: devices raise lines in the core's interrupt controller (shared memory); the
//   interrupt loop takes pending lines and runs their ISRs on this thread, between task segments
//   (an ISR never runs in the middle of a task's synchronous code, as on a single-CPU RTOS).
// - Tasks: cooperative async functions. A task that throws faults the core.
// - Waiting (adaptive): after each interrupt the loop polls its wake word for a while before it
//   sleeps, because a cross-CPU wake from Atomics.wait costs ~50 us on these machines and a poll
//   that catches the next event costs ~0.2 us (node-platform.md section 6). It polls only while the
//   cores that are awake do not outnumber the host CPUs (CoreControl.canSpin), and it polls in
//   microtask steps (`await null`), so the tasks an ISR made ready run in between. The poll lasts
//   `spinBudgetUs`, which adapts: a sleep that an event ended soon after the core gave up doubles it
//   (up to SPIN_MAX_US); a long sleep halves it (down to SPIN_MIN_US). A core that keeps working
//   still lets its event loop run (timers, the control plane, ctx.yield()) every MACROTASK_SLICE_US.
//   Then it sleeps in Atomics.waitAsync (the event loop stays free for timers and the control plane).
// - Stress runs: each ISR entry is a perturbation point (PT_ISR, shared/perturb.ts); one constant-
//   false branch when no perturbation is installed in this thread.

import { performance } from 'node:perf_hooks';
import { CoreControl, CoreState } from '../shared/core-control.js';
import { IRQ_LINES, InterruptController } from '../shared/irq.js';
import { PERTURB, PT_ISR, perturbAt } from '../shared/perturb.js';
import { TRACE, traceIsrBegin, traceIsrEnd } from './trace.js';

/** First poll budget before sleeping, in microseconds (about one cross-CPU wake). */
export const DEFAULT_SPIN_BUDGET_US = 50;
/** Bounds of the adaptive poll budget, in microseconds. */
export const SPIN_MIN_US = 2;
export const SPIN_MAX_US = 400;
/** Longest stretch a busy core goes without letting its event loop run, in microseconds. */
export const MACROTASK_SLICE_US = 100;
/** Poll iterations between two looks at the clock. */
const CLOCK_EVERY = 16;
/**
 * A gap this long between two looks at the clock while polling means the host took the CPU away
 * (other processes, or more threads than CPUs): polling then only steals the CPU the peer needs,
 * so the core stops polling for POLL_BACKOFF_MS. (Longer than a young-generation GC pause, which
 * takes up to ~2.5 ms here and is no reason to stop.)
 */
export const PREEMPTED_MS = 3;
export const POLL_BACKOFF_MS = 20;
/** Most Atomics.load polls between two awaits of a polling core. */
const POLL_BURST_MAX = 32;

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
const NO_EXPIRE = (): void => {};

export class CoreRuntime {
  readonly index: number;
  readonly name: string;
  readonly irq: InterruptController;
  readonly control: CoreControl;
  /** Current poll budget in microseconds (adaptive; 0 = never poll, always sleep at once). */
  spinBudgetUs = DEFAULT_SPIN_BUDGET_US;
  /** Waiting statistics: polls that caught an event, polls that ran out, sleeps, polls cut short by preemption. */
  readonly waitStats = { pollHits: 0, pollMisses: 0, sleeps: 0, preempted: 0 };
  /** performance.now() until which the core does not poll (it was preempted while polling). */
  private pollBackoffUntil = 0;

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
      // Tracing (cores/trace.ts): a slice named after the ISR around its handler.
      if (TRACE.on) traceIsrBegin(line, isr.name);
      try {
        isr.handler();
      } catch (err) {
        if (TRACE.on) traceIsrEnd(line);
        this.raiseFault(err, `ISR "${isr.name}" (line ${line})`);
        return false;
      }
      if (TRACE.on) traceIsrEnd(line);
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
    const control = this.control;
    const stats = this.waitStats;
    const sliceMs = MACROTASK_SLICE_US / 1000;
    control.addAwake(1);
    let sliceStart = performance.now();
    let dispatches = 0;
    try {
      while (!this.stopped) {
        const seen = Atomics.load(words, wake);
        if (this.dispatch()) {
          // The tasks the ISRs made ready run in the microtasks of this await.
          await null;
          if (++dispatches % CLOCK_EVERY === 0 && performance.now() - sliceStart >= sliceMs) {
            await immediate();
            sliceStart = performance.now();
          }
          continue;
        }
        let polled = this.spinBudgetUs > 0 && control.canSpin();
        if (polled && this.pollBackoffUntil !== 0) {
          if (performance.now() < this.pollBackoffUntil) polled = false;
          else this.pollBackoffUntil = 0;
        }
        if (polled) {
          // The clock is read every CLOCK_EVERY polls only; the budget counts from the first read.
          let last = 0;
          let deadline = Infinity;
          let hit = false;
          // Loads between two awaits: 1, 2, 4 ... POLL_BURST_MAX. The first awaits come quickly (the
          // tasks the last ISR made ready finish in them); later ones are rarer, since each await
          // allocates and a fast poll loop would otherwise keep the young generation collector busy.
          let burst = 1;
          for (let i = 1; ; i++) {
            let k = burst;
            while (k > 0 && Atomics.load(words, wake) === seen) k--;
            if (k > 0) {
              hit = true;
              break;
            }
            if (burst < POLL_BURST_MAX) burst <<= 1;
            await null;
            if (i % CLOCK_EVERY === 0) {
              const t = performance.now();
              if (last === 0) {
                last = t;
                deadline = t + this.spinBudgetUs / 1000;
              }
              if (t - last > PREEMPTED_MS) {
                stats.preempted++;
                this.pollBackoffUntil = t + POLL_BACKOFF_MS;
                break;
              }
              last = t;
              if (t >= deadline || this.stopped || !control.canSpin()) break;
              if (t - sliceStart >= sliceMs) {
                await immediate();
                sliceStart = last = performance.now();
              }
            }
          }
          if (hit) {
            stats.pollHits++;
            continue;
          }
          stats.pollMisses++;
        }
        if (this.stopped) break;
        stats.sleeps++;
        this.irq.setSleeping(this.index, true);
        control.addAwake(-1);
        const t0 = performance.now();
        try {
          const r = Atomics.waitAsync(words, wake, seen);
          if (r.async) await r.value;
        } finally {
          if (this.irq.claimWake(this.index)) control.addAwake(1);
        }
        sliceStart = performance.now();
        if (polled) this.adapt((sliceStart - t0) * 1000);
      }
    } finally {
      control.addAwake(-1);
    }
  }

  /**
   * Adapts the poll budget to a sleep of `sleptUs` that followed a poll which ran out: an event
   * that came soon after the core gave up means a longer poll would have caught it (and saved a
   * wake); a long sleep means the core is idle and polling wastes a host CPU.
   */
  private adapt(sleptUs: number): void {
    if (sleptUs < SPIN_MAX_US) {
      this.spinBudgetUs = Math.min(SPIN_MAX_US, Math.max(this.spinBudgetUs * 2, sleptUs * 1.5));
    } else {
      this.spinBudgetUs = Math.max(SPIN_MIN_US, this.spinBudgetUs / 2);
    }
  }

  /** Stops the interrupt loop and every task's progress; the core is then halted. */
  stop(state: CoreState = CoreState.Stopped): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.control.state(this.index) !== CoreState.Faulted) this.control.setState(this.index, state);
    for (let line = 0; line < IRQ_LINES; line++) this.irq.disable(this.index, line);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
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

  // ---- timeouts of blocked tasks -------------------------------------------------------------
  // One host timer for the earliest deadline of all timed waits of this core, instead of a
  // setTimeout/clearTimeout pair per wait: most waits end long before their timeout.

  private readonly timed = new Set<{ deadline: number; expire: () => void }>();
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private deadlineTimerAt = Infinity;

  /** @internal used by Semaphore */
  addDeadline(w: { deadline: number; expire: () => void }): void {
    this.timed.add(w);
    if (w.deadline < this.deadlineTimerAt) this.armDeadlineTimer(w.deadline);
  }

  /** @internal used by Semaphore (the timer stays armed; it finds nothing due and re-arms). */
  removeDeadline(w: { deadline: number; expire: () => void }): void {
    this.timed.delete(w);
  }

  private armDeadlineTimer(at: number): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimerAt = at;
    this.deadlineTimer = setTimeout(() => this.expireDeadlines(), Math.max(1, Math.ceil(at - performance.now())));
  }

  private expireDeadlines(): void {
    this.deadlineTimer = undefined;
    this.deadlineTimerAt = Infinity;
    if (this.stopped) return;
    const now = performance.now();
    let next = Infinity;
    for (const w of this.timed) {
      if (w.deadline <= now) {
        this.timed.delete(w);
        w.expire();
      } else if (w.deadline < next) {
        next = w.deadline;
      }
    }
    if (next !== Infinity) this.armDeadlineTimer(next);
  }

  /** @internal used by Semaphore */
  trackWaiting(s: Semaphore, waiting: boolean): void {
    if (waiting) this.waiting.add(s);
    else this.waiting.delete(s);
  }
}

interface Waiter {
  resolve: (ok: boolean) => void;
  /** performance.now() at which the wait times out (Infinity: never). */
  deadline: number;
  /** Called by the runtime's deadline timer. */
  expire: () => void;
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
      if (w.deadline !== Infinity) this.rt.removeDeadline(w);
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
      const w: Waiter = { resolve, deadline: Infinity, expire: NO_EXPIRE };
      if (Number.isFinite(timeoutMs)) {
        w.deadline = performance.now() + timeoutMs;
        w.expire = () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          if (this.waiters.length === 0) this.rt.trackWaiting(this, false);
          resolve(false);
        };
        this.rt.addDeadline(w);
      }
      this.waiters.push(w);
      this.rt.trackWaiting(this, true);
    });
  }

  /** Wakes every waiter with false (core halted, endpoint unblocked). */
  abandon(): void {
    for (const w of this.waiters.splice(0)) {
      if (w.deadline !== Infinity) this.rt.removeDeadline(w);
      w.resolve(false);
    }
    this.rt.trackWaiting(this, false);
  }
}
