import { expect } from 'chai';
import {
  MAILBOX_ALL_NOTFULL, MAILBOX_CLUSTER_STRIDE, MAILBOX_FIFO_DEPTH, MAILBOX_FIFOSTATUS_FULL, MAILBOX_FIFOS,
  MAILBOX_IRQ_EOI, MAILBOX_J721E_BASE, MAILBOX_REVISION, MAILBOX_SYSCONFIG, MAILBOX_SYSCONFIG_SOFTRESET,
  MAILBOX_USERS, MBOX_ST_CLUSTER_BYTES, MBOX_ST_FIFO_BYTES, MBOX_ST_FIFO_COUNT, MBOX_ST_FIFO_DROPS,
  MBOX_ST_FIFO_HEAD, MBOX_ST_FIFO_SLOTS, MBOX_ST_FIFOS, MBOX_ST_HEADER_BYTES, MBOX_ST_LOCK, MBOX_ST_USER_BYTES,
  MBOX_ST_USER_ENABLE, MBOX_ST_USER_RAW, MBOX_ST_USERS, MBOX_ST_WAITERS, MailboxBank, MailboxError,
  fifoStatusReg, irqEnableClrReg, irqEnableSetReg, irqStatusClrReg, irqStatusRawReg, mailboxClusterBase,
  messageReg, msgStatusReg, newMsgBit, notFullBit,
} from '../../shared/mailbox.js';

interface Rig {
  sab: SharedArrayBuffer;
  bank: MailboxBank;
  calls: string[];
}

/** A bank of `clusters` clusters at `offset` in a fresh SAB; output calls are logged as "c/u". */
function rig(clusters = 12, offset = 0): Rig {
  const sab = new SharedArrayBuffer(offset + MailboxBank.byteLength(clusters));
  MailboxBank.init(sab, offset, clusters);
  const calls: string[] = [];
  const bank = new MailboxBank(sab, offset, clusters, (c, u) => { calls.push(`${c}/${u}`); });
  return { sab, bank, calls };
}

describe('mailbox (unit)', () => {
  describe('constants and layout', () => {
    it('places registers at the OMAP4 / am654 offsets', () => {
      expect(MAILBOX_REVISION).to.equal(0x000);
      expect(MAILBOX_SYSCONFIG).to.equal(0x010);
      expect(messageReg(0)).to.equal(0x040);
      expect(messageReg(15)).to.equal(0x07c);
      expect(fifoStatusReg(3)).to.equal(0x08c);
      expect(msgStatusReg(15)).to.equal(0x0fc);
      expect([irqStatusRawReg(2), irqStatusClrReg(2), irqEnableSetReg(2), irqEnableClrReg(2)])
        .to.deep.equal([0x120, 0x124, 0x128, 0x12c]);
      expect(MAILBOX_IRQ_EOI).to.equal(0x140);
      expect([MAILBOX_FIFOS, MAILBOX_USERS, MAILBOX_FIFO_DEPTH]).to.deep.equal([16, 4, 4]);
    });

    it('puts cluster n at 0x31F80000 + n * 0x1000', () => {
      expect(MAILBOX_J721E_BASE).to.equal(0x31f80000);
      expect(MAILBOX_CLUSTER_STRIDE).to.equal(0x1000);
      expect(mailboxClusterBase(11)).to.equal(0x31f8b000);
    });

    it('gives NEWMSG_m bit 2m and NOTFULL_m bit 2m+1, as unsigned numbers', () => {
      expect(newMsgBit(0)).to.equal(0x1);
      expect(notFullBit(0)).to.equal(0x2);
      expect(newMsgBit(5)).to.equal(1 << 10);
      expect(notFullBit(5)).to.equal(1 << 11);
      expect(newMsgBit(15)).to.equal(0x40000000);
      expect(notFullBit(15)).to.equal(0x80000000);
    });

    it('sizes the state as header + one block per cluster', () => {
      expect(MBOX_ST_CLUSTER_BYTES).to.equal(0x440);
      expect(MailboxBank.byteLength(12)).to.equal(MBOX_ST_HEADER_BYTES + 12 * 0x440);
    });

    it('keeps FIFO and user state at the documented byte offsets, lock free after each operation', () => {
      const off = 64;
      const { sab, bank } = rig(3, off);
      bank.send(1, 2, 0x11223344);
      bank.send(1, 2, 0x55667788);
      bank.receive(1, 2);
      bank.send(1, 2, 0x7eadbeef);
      bank.enable(1, 3, 0x30);
      const dv = new DataView(sab);
      const cl = off + MBOX_ST_HEADER_BYTES + 1 * MBOX_ST_CLUSTER_BYTES;
      const f = cl + MBOX_ST_FIFOS + 2 * MBOX_ST_FIFO_BYTES;
      expect(dv.getInt32(f + MBOX_ST_FIFO_HEAD, true)).to.equal(1);
      expect(dv.getInt32(f + MBOX_ST_FIFO_COUNT, true)).to.equal(2);
      expect(dv.getInt32(f + MBOX_ST_FIFO_DROPS, true)).to.equal(0);
      expect(dv.getUint32(f + MBOX_ST_FIFO_SLOTS + 4, true)).to.equal(0x55667788);
      expect(dv.getUint32(f + MBOX_ST_FIFO_SLOTS + 8, true)).to.equal(0x7eadbeef);
      const u3 = cl + MBOX_ST_USERS + 3 * MBOX_ST_USER_BYTES;
      expect(dv.getUint32(u3 + MBOX_ST_USER_ENABLE, true)).to.equal(0x30);
      expect(dv.getUint32(u3 + MBOX_ST_USER_RAW, true)).to.equal((MAILBOX_ALL_NOTFULL | newMsgBit(2)) >>> 0);
      expect(dv.getInt32(cl + MBOX_ST_LOCK, true)).to.equal(0);
      expect(dv.getInt32(cl + MBOX_ST_WAITERS, true)).to.equal(0);
    });
  });

  describe('FIFO', () => {
    it('returns messages in write order and holds four', () => {
      const { bank } = rig();
      for (const v of [10, 20, 30, 40]) bank.writeReg(0, messageReg(7), v);
      expect(bank.readReg(0, msgStatusReg(7))).to.equal(4);
      expect([1, 2, 3, 4].map(() => bank.readReg(0, messageReg(7)))).to.deep.equal([10, 20, 30, 40]);
    });

    it('drops a write to a full FIFO and counts it per FIFO', () => {
      const { bank } = rig();
      for (let i = 1; i <= 4; i++) expect(bank.send(2, 5, i)).to.equal(true);
      bank.writeReg(2, messageReg(5), 99);
      expect(bank.send(2, 5, 100)).to.equal(false);
      expect(bank.drops(2, 5)).to.equal(2);
      expect(bank.drops(2, 4)).to.equal(0);
      expect(bank.count(2, 5)).to.equal(4);
      expect([1, 2, 3, 4].map(() => bank.receive(2, 5))).to.deep.equal([1, 2, 3, 4]);
      expect(bank.count(2, 5)).to.equal(0);
    });

    it('reads 0 from an empty FIFO, and pop() tells empty apart from a message 0', () => {
      const { bank } = rig();
      expect(bank.readReg(0, messageReg(0))).to.equal(0);
      expect(bank.receive(0, 0)).to.equal(0);
      bank.send(0, 0, 7);
      expect(bank.pop(0, 0)).to.equal(true);
      expect(bank.lastValue).to.equal(7);
      bank.send(0, 0, 0);
      expect(bank.pop(0, 0)).to.equal(true);
      expect(bank.lastValue).to.equal(0);
      expect(bank.pop(0, 0)).to.equal(false);
      expect(bank.count(0, 0)).to.equal(0);
    });

    it('reports FIFOSTATUS full only at four messages and MSGSTATUS as the count', () => {
      const { bank } = rig();
      const seen: Array<[number, number]> = [];
      for (let i = 0; i <= 4; i++) {
        seen.push([bank.readReg(0, fifoStatusReg(1)), bank.readReg(0, msgStatusReg(1))]);
        bank.send(0, 1, i);
      }
      expect(seen).to.deep.equal([[0, 0], [0, 1], [0, 2], [0, 3], [MAILBOX_FIFOSTATUS_FULL, 4]]);
      expect(bank.isFull(0, 1)).to.equal(true);
      bank.receive(0, 1);
      expect(bank.readReg(0, fifoStatusReg(1))).to.equal(0);
      expect(bank.isFull(0, 1)).to.equal(false);
    });

    it('passes full 32-bit values through unchanged (control words 0xFFFFFFxx)', () => {
      const { bank } = rig();
      bank.writeReg(0, messageReg(3), 0xffffff00);
      bank.send(0, 3, 0x80000000);
      bank.send(0, 3, -1);
      expect(bank.readReg(0, messageReg(3))).to.equal(0xffffff00);
      expect(bank.receive(0, 3)).to.equal(0x80000000);
      expect(bank.receive(0, 3)).to.equal(0xffffffff);
    });

    it('keeps order across many wraps of the ring', () => {
      const { bank } = rig();
      const out: number[] = [];
      let next = 1;
      for (let round = 0; round < 11; round++) {
        for (let i = 0; i < ((round & 1) === 0 ? 3 : 1); i++) expect(bank.send(4, 9, next++)).to.equal(true);
        for (let i = 0; i < 2; i++) out.push(bank.receive(4, 9));
      }
      while (bank.pop(4, 9)) out.push(bank.lastValue);
      expect(out).to.deep.equal(Array.from({ length: 23 }, (_, i) => i + 1));
      expect(bank.drops(4, 9)).to.equal(0);
    });

    it('keeps the FIFOs of a cluster independent', () => {
      const { bank } = rig();
      bank.send(0, 0, 1);
      bank.send(0, 15, 2);
      expect(bank.count(0, 0)).to.equal(1);
      expect(bank.count(0, 1)).to.equal(0);
      expect(bank.receive(0, 15)).to.equal(2);
      expect(bank.receive(0, 0)).to.equal(1);
    });
  });

  describe('status bits', () => {
    it('resets RAW to every NOTFULL bit, enables to 0, SYSCONFIG to 0', () => {
      const { bank } = rig();
      for (let u = 0; u < MAILBOX_USERS; u++) {
        expect(bank.readReg(5, irqStatusRawReg(u))).to.equal(0xaaaaaaaa);
        expect(bank.readReg(5, irqStatusClrReg(u))).to.equal(0);
        expect(bank.readReg(5, irqEnableSetReg(u))).to.equal(0);
        expect(bank.readReg(5, irqEnableClrReg(u))).to.equal(0);
      }
      expect(bank.readReg(5, MAILBOX_SYSCONFIG)).to.equal(0);
    });

    it('sets NEWMSG_m of all four users on a push', () => {
      const { bank } = rig();
      bank.send(1, 5, 0xabc);
      for (let u = 0; u < MAILBOX_USERS; u++) {
        expect(bank.rawStatus(1, u)).to.equal((0xaaaaaaaa | (1 << 10)) >>> 0);
      }
    });

    it('keeps NEWMSG set after the FIFO is drained, until cleared', () => {
      const { bank } = rig();
      bank.send(0, 2, 1);
      bank.receive(0, 2);
      expect(bank.rawStatus(0, 1) & newMsgBit(2)).to.not.equal(0);
      bank.writeReg(0, irqStatusClrReg(1), newMsgBit(2));
      expect(bank.rawStatus(0, 1) & newMsgBit(2)).to.equal(0);
      expect(bank.rawStatus(0, 0) & newMsgBit(2)).to.not.equal(0);
    });

    it('re-fires a cleared NEWMSG at once while the FIFO still holds messages', () => {
      const { bank } = rig();
      bank.send(0, 2, 1);
      bank.send(0, 2, 2);
      bank.clear(0, 0, newMsgBit(2));
      expect(bank.rawStatus(0, 0) & newMsgBit(2)).to.equal(newMsgBit(2));
      bank.receive(0, 2);
      bank.clear(0, 0, newMsgBit(2));
      expect(bank.rawStatus(0, 0) & newMsgBit(2)).to.equal(newMsgBit(2));
      bank.receive(0, 2);
      bank.clear(0, 0, newMsgBit(2));
      expect(bank.rawStatus(0, 0) & newMsgBit(2)).to.equal(0);
    });

    it('re-fires a cleared NOTFULL while the FIFO is not full; clears it while full; a pop sets it for all users', () => {
      const { bank } = rig();
      bank.clear(0, 2, notFullBit(6));
      expect(bank.rawStatus(0, 2) & notFullBit(6)).to.equal(notFullBit(6));
      for (let i = 0; i < 4; i++) bank.send(0, 6, i);
      for (let u = 0; u < MAILBOX_USERS; u++) bank.clear(0, u, notFullBit(6));
      for (let u = 0; u < MAILBOX_USERS; u++) expect(bank.rawStatus(0, u) & notFullBit(6)).to.equal(0);
      bank.receive(0, 6);
      for (let u = 0; u < MAILBOX_USERS; u++) expect(bank.rawStatus(0, u) & notFullBit(6)).to.equal(notFullBit(6));
    });

    it('sets bits on an IRQSTATUS_RAW write (test) and reads raw & enable from IRQSTATUS_CLR', () => {
      const { bank } = rig();
      bank.writeReg(3, irqStatusRawReg(1), newMsgBit(4) | newMsgBit(9));
      expect(bank.readReg(3, irqStatusRawReg(1))).to.equal((0xaaaaaaaa | newMsgBit(4) | newMsgBit(9)) >>> 0);
      bank.writeReg(3, irqEnableSetReg(1), newMsgBit(9) | notFullBit(0));
      expect(bank.readReg(3, irqStatusClrReg(1))).to.equal((newMsgBit(9) | notFullBit(0)) >>> 0);
      expect(bank.irqStatus(3, 1)).to.equal((newMsgBit(9) | notFullBit(0)) >>> 0);
      expect(bank.rawStatus(3, 0)).to.equal(0xaaaaaaaa);
    });

    it('enables with IRQENABLE_SET (0 bits no effect) and disables with IRQENABLE_CLR', () => {
      const { bank } = rig();
      bank.writeReg(0, irqEnableSetReg(3), 0x5);
      bank.writeReg(0, irqEnableSetReg(3), 0);
      expect(bank.readReg(0, irqEnableSetReg(3))).to.equal(0x5);
      bank.enable(0, 3, 0x80000000);
      expect(bank.enabled(0, 3)).to.equal(0x80000005);
      bank.writeReg(0, irqEnableClrReg(3), 0x1);
      expect(bank.readReg(0, irqEnableClrReg(3))).to.equal(0x80000004);
      bank.disable(0, 3, 0x80000000);
      expect(bank.enabled(0, 3)).to.equal(0x4);
      expect(bank.enabled(0, 2)).to.equal(0);
    });
  });

  describe('interrupt output', () => {
    it('is not called while nothing is enabled', () => {
      const { bank, calls } = rig();
      bank.send(0, 0, 1);
      bank.receive(0, 0);
      bank.setRaw(0, 1, 0xffffffff);
      bank.clear(0, 1, 0xffffffff);
      expect(calls).to.deep.equal([]);
    });

    it('is called for the (cluster, user) whose enabled event occurred, once per push', () => {
      const { bank, calls } = rig();
      bank.enable(3, 2, newMsgBit(7));
      bank.send(3, 7, 1);
      bank.send(3, 7, 2);
      expect(calls).to.deep.equal(['3/2', '3/2']);
    });

    it('is not called for an event that is not enabled, even while the line is asserted', () => {
      const { bank, calls } = rig();
      bank.enable(0, 1, newMsgBit(0));
      bank.send(0, 0, 1);
      expect(calls).to.deep.equal(['0/1']);
      bank.send(0, 1, 1);
      bank.send(1, 0, 1);
      expect(calls).to.deep.equal(['0/1']);
    });

    it('calls every user that enabled the event', () => {
      const { bank, calls } = rig();
      bank.enable(2, 0, newMsgBit(3));
      bank.enable(2, 3, newMsgBit(3));
      bank.send(2, 3, 1);
      expect(calls).to.deep.equal(['2/0', '2/3']);
    });

    it('is called when enabling a bit that is pending, not when enabling one that is not', () => {
      const { bank, calls } = rig();
      bank.enable(0, 0, newMsgBit(1));
      expect(calls).to.deep.equal([]);
      bank.enable(0, 0, notFullBit(1));
      expect(calls).to.deep.equal(['0/0']);
    });

    it('signals NOTFULL to a waiting sender when the receiver pops (tx-done pattern)', () => {
      const { bank, calls } = rig();
      for (let i = 0; i < 4; i++) bank.send(1, 4, i);
      expect(bank.send(1, 4, 9)).to.equal(false);
      bank.clear(1, 0, notFullBit(4));
      bank.enable(1, 0, notFullBit(4));
      expect(calls).to.deep.equal([]);
      bank.receive(1, 4);
      expect(calls).to.deep.equal(['1/0']);
    });

    it('is not called for a dropped write', () => {
      const { bank, calls } = rig();
      for (let i = 0; i < 4; i++) bank.send(0, 0, i);
      bank.enable(0, 2, newMsgBit(0));
      calls.length = 0;
      bank.send(0, 0, 5);
      bank.writeReg(0, messageReg(0), 6);
      expect(calls).to.deep.equal([]);
    });

    it('is called again when a cleared, enabled NEWMSG re-fires, and not when the clear sticks', () => {
      const { bank, calls } = rig();
      bank.enable(0, 1, newMsgBit(0));
      bank.send(0, 0, 1);
      bank.send(0, 0, 2);
      calls.length = 0;
      bank.writeReg(0, irqStatusClrReg(1), newMsgBit(0));
      expect(calls).to.deep.equal(['0/1']);
      bank.receive(0, 0);
      bank.receive(0, 0);
      calls.length = 0;
      bank.writeReg(0, irqStatusClrReg(1), newMsgBit(0));
      expect(calls).to.deep.equal([]);
      expect(bank.irqStatus(0, 1)).to.equal(0);
    });

    it('is called on an IRQSTATUS_RAW write of an enabled bit', () => {
      const { bank, calls } = rig();
      bank.enable(4, 3, newMsgBit(2));
      bank.writeReg(4, irqStatusRawReg(3), newMsgBit(1));
      expect(calls).to.deep.equal([]);
      bank.writeReg(4, irqStatusRawReg(3), newMsgBit(2));
      expect(calls).to.deep.equal(['4/3']);
    });

    it('stops after IRQENABLE_CLR', () => {
      const { bank, calls } = rig();
      bank.enable(0, 0, newMsgBit(0));
      bank.writeReg(0, irqEnableClrReg(0), newMsgBit(0));
      bank.send(0, 0, 1);
      expect(calls).to.deep.equal([]);
    });

    it('is called after the cluster lock is released, so an ISR may use the bank from inside it', () => {
      const sab = new SharedArrayBuffer(MailboxBank.byteLength(1));
      MailboxBank.init(sab, 0, 1);
      const got: number[] = [];
      const bank: MailboxBank = new MailboxBank(sab, 0, 1, (c, u) => {
        while (bank.pop(c, 0)) got.push(bank.lastValue);
        bank.clear(c, u, newMsgBit(0));
      });
      bank.enable(0, 1, newMsgBit(0));
      bank.send(0, 0, 42);
      bank.send(0, 0, 43);
      expect(got).to.deep.equal([42, 43]);
      expect(bank.irqStatus(0, 1)).to.equal(0);
    });

    it('accepts IRQ_EOI with no effect', () => {
      const { bank, calls } = rig();
      bank.enable(0, 0, newMsgBit(0));
      bank.send(0, 0, 1);
      calls.length = 0;
      bank.writeReg(0, MAILBOX_IRQ_EOI, 0);
      bank.writeReg(0, MAILBOX_IRQ_EOI, 1);
      expect(calls).to.deep.equal([]);
      expect(bank.readReg(0, MAILBOX_IRQ_EOI)).to.equal(0);
      expect(bank.count(0, 0)).to.equal(1);
      expect(bank.irqStatus(0, 0)).to.equal(newMsgBit(0));
    });
  });

  describe('SOFTRESET', () => {
    it('empties FIFOs, disables, restores RAW, keeps drop counters, and touches only its cluster', () => {
      const { bank } = rig();
      for (const c of [1, 2]) {
        for (let i = 0; i < 5; i++) bank.send(c, 3, i);
        bank.enable(c, 2, 0xff);
        bank.setRaw(c, 1, MAILBOX_ALL_NOTFULL >>> 1);
        bank.writeReg(c, MAILBOX_SYSCONFIG, 0x8);
      }
      expect(bank.readReg(1, MAILBOX_SYSCONFIG)).to.equal(0x8);
      bank.writeReg(1, MAILBOX_SYSCONFIG, MAILBOX_SYSCONFIG_SOFTRESET);
      expect(bank.readReg(1, MAILBOX_SYSCONFIG)).to.equal(0);
      expect(bank.count(1, 3)).to.equal(0);
      expect(bank.receive(1, 3)).to.equal(0);
      for (let u = 0; u < MAILBOX_USERS; u++) {
        expect(bank.rawStatus(1, u)).to.equal(0xaaaaaaaa);
        expect(bank.enabled(1, u)).to.equal(0);
      }
      expect(bank.drops(1, 3)).to.equal(1);
      expect(bank.count(2, 3)).to.equal(4);
      expect(bank.enabled(2, 2)).to.equal(0xff);
      expect(bank.readReg(2, MAILBOX_SYSCONFIG)).to.equal(0x8);
    });

    it('does the same through reset(), and the cluster works normally afterwards', () => {
      const { bank, calls } = rig();
      bank.send(0, 0, 1);
      bank.enable(0, 0, newMsgBit(0));
      bank.reset(0);
      calls.length = 0;
      bank.send(0, 0, 5);
      expect(calls).to.deep.equal([]);
      bank.enable(0, 0, newMsgBit(0));
      expect(calls).to.deep.equal(['0/0']);
      expect(bank.receive(0, 0)).to.equal(5);
    });

    it('reads REVISION as a constant that ignores writes', () => {
      const { bank } = rig();
      const r = bank.readReg(0, MAILBOX_REVISION);
      bank.writeReg(0, MAILBOX_REVISION, 0x1234);
      bank.writeReg(0, fifoStatusReg(0), 1);
      bank.writeReg(0, msgStatusReg(0), 3);
      expect(bank.readReg(0, MAILBOX_REVISION)).to.equal(r);
      expect(bank.count(0, 0)).to.equal(0);
    });
  });

  describe('errors', () => {
    it('names the cluster and hex offset of a read or write where no register is', () => {
      const { bank } = rig();
      for (const off of [0x004, 0x014, 0x03c, 0x144, 0x1fc, 0x200, 0x1000]) {
        const text = '0x' + off.toString(16).padStart(3, '0');
        expect(() => bank.readReg(2, off)).to.throw(MailboxError, new RegExp(`cluster 2: no register at offset ${text}`));
        expect(() => bank.writeReg(2, off, 0)).to.throw(MailboxError, new RegExp(`cluster 2: no register at offset ${text}`));
      }
      expect(() => bank.readReg(2, -4)).to.throw(MailboxError, /cluster 2: no register at offset -0x004/);
    });

    it('rejects misaligned offsets, naming them', () => {
      const { bank } = rig();
      expect(() => bank.readReg(1, 0x41)).to.throw(MailboxError, /cluster 1: misaligned .*0x041/);
      expect(() => bank.writeReg(1, 0x102, 1)).to.throw(MailboxError, /cluster 1: misaligned .*0x102/);
      expect(() => bank.readReg(1, 0.5)).to.throw(MailboxError, /cluster 1: register offset 0.5 is not an integer/);
    });

    it('rejects out-of-range clusters, FIFOs and users', () => {
      const { bank } = rig();
      expect(() => bank.send(12, 0, 1)).to.throw(MailboxError, /cluster 12 out of range \(0\.\.11\)/);
      expect(() => bank.readReg(-1, 0)).to.throw(MailboxError, /cluster -1 out of range/);
      expect(() => bank.count(1.5, 0)).to.throw(MailboxError, /cluster 1.5 out of range/);
      expect(() => bank.reset(12)).to.throw(MailboxError, /cluster 12/);
      expect(() => bank.send(3, 16, 1)).to.throw(MailboxError, /cluster 3: FIFO 16 out of range \(0\.\.15\)/);
      expect(() => bank.pop(3, -1)).to.throw(MailboxError, /FIFO -1 out of range/);
      expect(() => bank.enable(3, 4, 1)).to.throw(MailboxError, /cluster 3: user 4 out of range \(0\.\.3\)/);
      expect(() => bank.rawStatus(3, -1)).to.throw(MailboxError, /user -1 out of range/);
    });

    it('refuses state that was not initialised, was initialised for another cluster count, or does not fit', () => {
      const sab = new SharedArrayBuffer(MailboxBank.byteLength(12));
      const noop = (): void => {};
      expect(() => new MailboxBank(sab, 0, 12, noop)).to.throw(MailboxError, /not initialised.*MailboxBank\.init/);
      MailboxBank.init(sab, 0, 4);
      expect(() => new MailboxBank(sab, 0, 12, noop)).to.throw(MailboxError, /holds 4 clusters, bank built for 12/);
      expect(() => new MailboxBank(sab, 0, 13, noop)).to.throw(MailboxError, /needs \d+ bytes/);
      expect(() => MailboxBank.init(sab, 2, 1)).to.throw(MailboxError, /byteOffset 2/);
    });

    it('leaves the cluster usable after a rejected access', () => {
      const { bank } = rig();
      expect(() => bank.writeReg(0, 0x150, 1)).to.throw(MailboxError);
      expect(() => bank.send(0, 99, 1)).to.throw(MailboxError);
      expect(bank.send(0, 0, 1)).to.equal(true);
      expect(bank.receive(0, 0)).to.equal(1);
    });
  });

  describe('sharing', () => {
    it('keeps clusters independent and reports the right cluster to the output', () => {
      const { bank, calls } = rig();
      bank.enable(0, 0, newMsgBit(0));
      bank.enable(1, 0, newMsgBit(0));
      bank.send(1, 0, 11);
      expect(calls).to.deep.equal(['1/0']);
      expect(bank.count(0, 0)).to.equal(0);
      expect(bank.rawStatus(0, 0)).to.equal(0xaaaaaaaa);
      expect(bank.receive(0, 0)).to.equal(0);
      expect(bank.receive(1, 0)).to.equal(11);
    });

    it('lets two banks over the same SAB see one state, each calling its own output', () => {
      const off = 128;
      const sab = new SharedArrayBuffer(off + MailboxBank.byteLength(12));
      MailboxBank.init(sab, off, 12);
      const a: string[] = [];
      const b: string[] = [];
      const bankA = new MailboxBank(sab, off, 12, (c, u) => { a.push(`${c}/${u}`); });
      const bankB = new MailboxBank(sab, off, 12, (c, u) => { b.push(`${c}/${u}`); });
      bankB.enable(4, 1, newMsgBit(1));
      bankA.send(4, 1, 0x1234);
      expect(a).to.deep.equal(['4/1']);
      expect(b).to.deep.equal([]);
      expect(bankB.readReg(4, msgStatusReg(1))).to.equal(1);
      expect(bankB.receive(4, 1)).to.equal(0x1234);
      expect(bankA.count(4, 1)).to.equal(0);
    });
  });
});
