// The SoC's core control block: one state word per core and the count of cores that are awake,
// which the adaptive waiting policy reads (spin only while awake cores do not outnumber host CPUs).
// Emulator-private (no silicon counterpart); the host and every core see it.

/** Header words. */
export const CC_HOST_CPUS = 0;
/** Cores currently awake (not sleeping in their idle wait). Each core adds 1 on waking, -1 on sleeping. */
export const CC_AWAKE = 1;
/** The header takes one 64-byte cache line (CC_AWAKE changes on every sleep and wake). */
export const CC_HEADER_WORDS = 16;
/** Per-core words: one 64-byte cache line per core (the ISR counter is written on every dispatch). */
export const CC_CORE_STRIDE = 16;
export const CC_STATE = 0;
/** Reserved (word 1). */
/** Number of completed ISR dispatches (progress counter for the watchdog). */
export const CC_ISR_COUNT = 2;

export enum CoreState {
  Off = 0,
  Booting = 1,
  Running = 2,
  /** main() returned; the core goes on serving interrupts and its tasks. */
  Finished = 3,
  Faulted = 4,
  Stopped = 5,
}

export const CORE_STATE_NAMES: Record<CoreState, string> = {
  [CoreState.Off]: 'off',
  [CoreState.Booting]: 'booting',
  [CoreState.Running]: 'running',
  [CoreState.Finished]: 'finished',
  [CoreState.Faulted]: 'faulted',
  [CoreState.Stopped]: 'stopped',
};

export class CoreControl {
  readonly words: Int32Array;

  static byteLength(cores: number): number {
    return (CC_HEADER_WORDS + cores * CC_CORE_STRIDE) * 4;
  }

  constructor(sab: SharedArrayBuffer, byteOffset: number, readonly cores: number) {
    this.words = new Int32Array(sab, byteOffset, CC_HEADER_WORDS + cores * CC_CORE_STRIDE);
  }

  private at(core: number, field: number): number {
    return CC_HEADER_WORDS + core * CC_CORE_STRIDE + field;
  }

  get hostCpus(): number {
    return Atomics.load(this.words, CC_HOST_CPUS);
  }

  set hostCpus(n: number) {
    Atomics.store(this.words, CC_HOST_CPUS, n);
  }

  get awake(): number {
    return Atomics.load(this.words, CC_AWAKE);
  }

  /** +1 when a core wakes or starts, -1 when it sleeps or stops. */
  addAwake(delta: number): void {
    Atomics.add(this.words, CC_AWAKE, delta);
  }

  /** True while spinning cannot starve another awake core of a host CPU. */
  canSpin(): boolean {
    return Atomics.load(this.words, CC_AWAKE) <= Atomics.load(this.words, CC_HOST_CPUS);
  }

  state(core: number): CoreState {
    return Atomics.load(this.words, this.at(core, CC_STATE)) as CoreState;
  }

  setState(core: number, s: CoreState): void {
    Atomics.store(this.words, this.at(core, CC_STATE), s);
  }

  isrCount(core: number): number {
    return Atomics.load(this.words, this.at(core, CC_ISR_COUNT));
  }

  countIsr(core: number): void {
    Atomics.add(this.words, this.at(core, CC_ISR_COUNT), 1);
  }
}
