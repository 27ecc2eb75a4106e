// Emulator-private "NotFull doorbell" for mailbox senders that own no user on the receiving
// cluster. On J721E the RTOS-to-RTOS inbox clusters (5..9) give all four users to receivers, so a
// sender there cannot enable a NotFull interrupt; TI's PDK polls FIFOSTATUS instead. hetsoc keeps
// the seed's software-queue driver and delivers the NotFull event to such a sender through this
// doorbell: the sender records itself as waiting on (cluster, fifo); a receiver that pops from that
// FIFO takes the waiters and raises their TX-ready line.

/** One Int32 per (cluster, fifo): bit c set = core c waits for room in that FIFO. */
export class MailboxTxWait {
  readonly words: Int32Array;

  static byteLength(clusters: number, fifos = 16): number {
    return clusters * fifos * 4;
  }

  constructor(sab: SharedArrayBuffer, byteOffset: number, readonly clusters: number, readonly fifos = 16) {
    this.words = new Int32Array(sab, byteOffset, clusters * fifos);
  }

  /** Sender side: note that `core` (0..31) waits for room in (cluster, fifo). */
  register(cluster: number, fifo: number, core: number): void {
    Atomics.or(this.words, cluster * this.fifos + fifo, 1 << core);
  }

  /** Receiver side, after popping: takes and returns the mask of waiting cores (cheap when none). */
  take(cluster: number, fifo: number): number {
    const i = cluster * this.fifos + fifo;
    return Atomics.load(this.words, i) === 0 ? 0 : Atomics.exchange(this.words, i, 0);
  }
}
