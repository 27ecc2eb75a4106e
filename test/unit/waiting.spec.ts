// The waiting machinery in one thread: interrupt raises (coalescing, waking a sleeping core and
// counting it awake exactly once), the awake count the polling policy reads, and task timeouts
// served by one deadline timer per core.

import { expect } from 'chai';
import { CoreRuntime, Semaphore } from '../../cores/runtime.js';
import { CoreControl } from '../../shared/core-control.js';
import { IRQ_PENDING, IRQ_SLEEPING, IRQ_CORE_STRIDE, InterruptController } from '../../shared/irq.js';

function bank(cores = 2, hostCpus = 2) {
  const sab = new SharedArrayBuffer(CoreControl.byteLength(cores) + InterruptController.byteLength(cores));
  const control = new CoreControl(sab, 0, cores);
  control.hostCpus = hostCpus;
  const irq = new InterruptController(sab, CoreControl.byteLength(cores), cores, control);
  return { control, irq };
}

describe('interrupt raise and the awake count', () => {
  it('a raise of a line still pending writes nothing more: the wake word moves once for two raises', () => {
    const { irq } = bank();
    irq.enable(1, 3);
    const before = irq.wakeSeq(1);
    irq.raise(1, 3);
    irq.raise(1, 3);
    expect(irq.wakeSeq(1)).to.equal(before + 1);
    expect(irq.take(1)).to.equal(1 << 3);
    irq.raise(1, 3);
    expect(irq.wakeSeq(1)).to.equal(before + 2);
  });

  it('a raise that finds the core asleep counts it awake, and the core does not count itself again', () => {
    const { irq, control } = bank();
    control.addAwake(1); // core 1 runs
    irq.setSleeping(1, true); // ... and goes to sleep
    control.addAwake(-1);
    expect(control.awake).to.equal(0);
    irq.raise(1, 0);
    expect(control.awake).to.equal(1);
    expect(Atomics.load(irq.words, IRQ_CORE_STRIDE + IRQ_SLEEPING)).to.equal(0);
    expect(irq.claimWake(1)).to.equal(false);
    expect(control.awake).to.equal(1);
  });

  it('a core that wakes by itself (no raiser) claims its own wake once', () => {
    const { irq } = bank();
    irq.setSleeping(0, true);
    expect(irq.claimWake(0)).to.equal(true);
    expect(irq.claimWake(0)).to.equal(false);
  });

  it('without an awake counter (host-side raisers) a raise leaves the count to the woken core', () => {
    const { irq: coreSide, control } = bank();
    const host = new InterruptController(coreSide.words.buffer as SharedArrayBuffer, coreSide.words.byteOffset, 2);
    coreSide.setSleeping(1, true);
    host.raise(1, 2);
    expect(control.awake).to.equal(0);
    expect(Atomics.load(coreSide.words, IRQ_CORE_STRIDE + IRQ_PENDING)).to.equal(1 << 2);
    expect(coreSide.claimWake(1)).to.equal(true);
  });

  it('canSpin holds while the awake cores do not outnumber the host CPUs', () => {
    const { control } = bank(4, 2);
    control.addAwake(2);
    expect(control.canSpin()).to.equal(true);
    control.addAwake(1);
    expect(control.canSpin()).to.equal(false);
  });
});

describe('task timeouts (one deadline timer per core)', () => {
  it('times out each waiter at its own deadline, in deadline order, and a post before the deadline wins', async () => {
    const { irq, control } = bank();
    const rt = new CoreRuntime({ index: 0, name: 'c0', irq, control });
    const a = new Semaphore(rt, 'a');
    const b = new Semaphore(rt, 'b');
    const c = new Semaphore(rt, 'c');
    const order: string[] = [];
    const t0 = performance.now();
    const pa = a.pend(60).then((ok) => order.push(`a ${ok}`));
    const pb = b.pend(20).then((ok) => order.push(`b ${ok}`));
    const pc = c.pend(40).then((ok) => order.push(`c ${ok}`));
    c.post();
    await Promise.all([pa, pb, pc]);
    expect(order).to.deep.equal(['c true', 'b false', 'a false']);
    expect(performance.now() - t0).to.be.at.least(59);
    expect(a.waiterCount + b.waiterCount + c.waiterCount).to.equal(0);
    rt.stop();
  });

  it('a halted core leaves its timed waiters blocked (no more firmware runs) and keeps no timer', async () => {
    const { irq, control } = bank();
    const rt = new CoreRuntime({ index: 0, name: 'c0', irq, control });
    const s = new Semaphore(rt, 's');
    let settled = false;
    void s.pend(10).then(() => {
      settled = true;
    });
    rt.stop();
    await new Promise((r) => setTimeout(r, 30));
    expect(settled).to.equal(false);
  });
});
