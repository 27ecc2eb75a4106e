// The nRF5340 IPC peripheral model: backbone routing by SEND_CNF/RECEIVE_CNF, one flag per event
// (several signals before the receiver clears it are seen once), level-triggered INTEN, registers.
import { expect } from 'chai';
import {
  NRF_IPC_EVENTS_RECEIVE, NRF_IPC_INTENSET, NRF_IPC_INTPEND, NRF_IPC_RECEIVE_CNF, NRF_IPC_SEND_CNF, NRF_IPC_TASKS_SEND, NrfIpcBank,
  NrfIpcError,
} from '../../shared/nrf-ipc.js';

function bank(): { b: NrfIpcBank; irqs: number[] } {
  const irqs: number[] = [];
  const b = new NrfIpcBank(new SharedArrayBuffer(NrfIpcBank.byteLength(2)), 0, 2, (i) => irqs.push(i));
  for (let ch = 0; ch < 16; ch++) {
    b.setSendCnf(0, ch, 1 << ch);
    b.setSendCnf(1, ch, 1 << ch);
    b.setReceiveCnf(0, ch, 1 << ch);
    b.setReceiveCnf(1, ch, 1 << ch);
  }
  return { b, irqs };
}

describe('nRF5340 IPC peripheral model', () => {
  it('TASKS_SEND[n] sets EVENTS_RECEIVE[n] of the instance whose RECEIVE_CNF shares the bit, and interrupts when enabled', () => {
    const { b, irqs } = bank();
    b.setInten(1, 1 << 3);
    b.send(0, 3);
    expect(b.event(1, 3)).to.equal(1);
    expect(b.intPend(1)).to.equal(1 << 3);
    expect(irqs).to.deep.equal([0, 1].filter((i) => i === 1));
  });

  it('sees several signals before the event is cleared as one: one interrupt, the rest counted as merged', () => {
    const { b, irqs } = bank();
    b.setInten(1, 1 << 0);
    for (let i = 0; i < 5; i++) b.send(0, 0);
    expect(irqs.filter((i) => i === 1)).to.have.length(1);
    expect(b.stats(1)).to.deep.include({ delivered: 1, merged: 4 });
    b.clearEvent(1, 0);
    b.send(0, 0);
    expect(irqs.filter((i) => i === 1)).to.have.length(2);
  });

  it('loses a signal sent before the receiver configured RECEIVE_CNF (as on silicon)', () => {
    const irqs: number[] = [];
    const b = new NrfIpcBank(new SharedArrayBuffer(NrfIpcBank.byteLength(2)), 0, 2, (i) => irqs.push(i));
    b.setSendCnf(0, 2, 1 << 2);
    b.send(0, 2);
    expect(b.events(1)).to.equal(0);
    b.setReceiveCnf(1, 2, 1 << 2);
    expect(b.events(1)).to.equal(0);
  });

  it('latches an event while the interrupt is disabled and interrupts when it is enabled (level-triggered)', () => {
    const { b, irqs } = bank();
    b.send(0, 5);
    expect(irqs).to.deep.equal([]);
    b.setInten(1, 1 << 5);
    expect(irqs).to.deep.equal([1]);
  });

  it('works through its registers: SEND_CNF, RECEIVE_CNF, INTENSET, TASKS_SEND, EVENTS_RECEIVE, INTPEND', () => {
    const irqs: number[] = [];
    const b = new NrfIpcBank(new SharedArrayBuffer(NrfIpcBank.byteLength(2)), 0, 2, (i) => irqs.push(i));
    b.writeReg(0, NRF_IPC_SEND_CNF + 4 * 7, 1 << 7);
    b.writeReg(1, NRF_IPC_RECEIVE_CNF + 4 * 7, 1 << 7);
    b.writeReg(1, NRF_IPC_INTENSET, 1 << 7);
    b.writeReg(0, NRF_IPC_TASKS_SEND + 4 * 7, 1);
    expect(b.readReg(1, NRF_IPC_EVENTS_RECEIVE + 4 * 7)).to.equal(1);
    expect(b.readReg(1, NRF_IPC_INTPEND)).to.equal(1 << 7);
    b.writeReg(1, NRF_IPC_EVENTS_RECEIVE + 4 * 7, 0);
    expect(b.readReg(1, NRF_IPC_INTPEND)).to.equal(0);
    expect(irqs).to.deep.equal([1]);
    expect(() => b.readReg(0, 0x800)).to.throw(NrfIpcError, /no register at offset 0x800/);
    expect(() => b.send(0, 16)).to.throw(NrfIpcError, /no channel 16/);
  });
});
