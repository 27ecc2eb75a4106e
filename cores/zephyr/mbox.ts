// Zephyr's MBOX driver for the nRF IPC peripheral (drivers/mbox/mbox_nrfx_ipc.c, compatible
// "nordic,mbox-nrf-ipc"): signal-only channels (MTU 0), identity mapping of channel n to backbone
// bit n, set up at device init for the channels in tx-mask and rx-mask. The ISR clears each set and
// enabled event and calls that channel's callback (it takes all pending events, then calls their
// callbacks); it looks again until nothing is pending, so a signal that lands while a callback runs
// is not lost (two signals may still be seen as one).

import { NRF_IPC_CHANNELS, type NrfIpcBank } from '../../shared/nrf-ipc.js';
import { EALREADY, EINVAL, EMSGSIZE } from '../../shared/zephyr-errno.js';
import type { CoreRuntime } from '../runtime.js';

export type MboxCallback = (channel: number) => void;

export interface NrfMboxOptions {
  /** Which IPC instance is this core's. */
  instance: number;
  /** hetsoc interrupt line of the IPC IRQ on this core. */
  line: number;
  /** DT tx-mask / rx-mask (default all 16 channels). */
  txMask?: number;
  rxMask?: number;
}

export class NrfMbox {
  readonly instance: number;
  readonly txMask: number;
  readonly rxMask: number;
  private readonly callbacks: (MboxCallback | undefined)[] = new Array(NRF_IPC_CHANNELS).fill(undefined);
  private enabledMask = 0;
  private isrInstalled = false;
  /** Signals sent, and callbacks run. */
  readonly stats = { sent: 0, received: 0 };

  constructor(private readonly rt: CoreRuntime, private readonly bank: NrfIpcBank, private readonly opts: NrfMboxOptions) {
    this.instance = opts.instance;
    this.txMask = opts.txMask ?? 0xFFFF;
    this.rxMask = opts.rxMask ?? 0xFFFF;
  }

  /** Device init (PRE_KERNEL): SEND_CNF[n] = RECEIVE_CNF[n] = BIT(n) for the masked channels, no interrupts. */
  init(): void {
    for (let ch = 0; ch < NRF_IPC_CHANNELS; ch++) {
      this.bank.setSendCnf(this.instance, ch, this.txMask & (1 << ch) ? 1 << ch : 0);
      this.bank.setReceiveCnf(this.instance, ch, this.rxMask & (1 << ch) ? 1 << ch : 0);
    }
    this.bank.setInten(this.instance, 0);
  }

  private validChannel(ch: number, mask: number): boolean {
    return Number.isInteger(ch) && ch >= 0 && ch < NRF_IPC_CHANNELS && (mask & (1 << ch)) !== 0;
  }

  /** mbox_send: 0, -EINVAL for a channel outside tx-mask, -EMSGSIZE when data is given (MTU 0). */
  send(ch: number, data?: Uint8Array): number {
    if (!this.validChannel(ch, this.txMask)) return -EINVAL;
    if (data && data.length > 0) return -EMSGSIZE;
    this.stats.sent++;
    this.bank.send(this.instance, ch);
    return 0;
  }

  /** mbox_register_callback: 0, or -EINVAL for a channel outside rx-mask. */
  registerCallback(ch: number, cb: MboxCallback | undefined): number {
    if (!this.validChannel(ch, this.rxMask)) return -EINVAL;
    this.callbacks[ch] = cb;
    return 0;
  }

  /** mbox_set_enabled: 0, -EINVAL, or -EALREADY when the channel already is in that state. */
  setEnabled(ch: number, enabled: boolean): number {
    if (!this.validChannel(ch, this.rxMask)) return -EINVAL;
    const bit = 1 << ch;
    if (((this.enabledMask & bit) !== 0) === enabled) return -EALREADY;
    if (enabled && !this.isrInstalled) {
      this.rt.registerIsr(this.opts.line, `nrf-ipc${this.instance}`, () => this.isr());
      this.isrInstalled = true;
    }
    this.enabledMask = enabled ? this.enabledMask | bit : this.enabledMask & ~bit;
    this.bank.setInten(this.instance, this.enabledMask);
    return 0;
  }

  /** INTPEND, each pending event cleared (one bank call), then the callbacks; again until none is pending. */
  private isr(): void {
    for (;;) {
      const pending = this.bank.takeEvents(this.instance);
      if (pending === 0) return;
      for (let bits = pending; bits !== 0; bits &= bits - 1) {
        const ch = 31 - Math.clz32(bits & -bits);
        this.stats.received++;
        this.callbacks[ch]?.(ch);
      }
    }
  }
}
