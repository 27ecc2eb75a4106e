// What the J7 bench firmware (firmware/bench/j7-*.ts) and the bench host (bench/j7.ts) agree on:
// the echo service, the 32-byte payload, and a small control block in MSMC SRAM, which every core
// may write (firewalls leave it open), for the start barrier, the host's go/stop and counters.

import type { FirmwareContext } from '../../cores/context.js';
import { J721E_MSMC_BASE } from '../../shared/j721e.js';

/** The echo service every RTOS core announces: the channel name ti-rpmsg-char opens by default. */
export const ECHO_NAME = 'rpmsg_chrdev';
export const ECHO_ENDPT = 14;
/**
 * All-to-all: the endpoint an RTOS core pings Linux from. Linux opens an rpmsg_char device to it
 * and writes one hello, which tells the core the device's address (Linux cannot announce).
 */
export const PING_LINUX_NAME = 'bench.ping';
export const PING_LINUX_ENDPT = 15;
/** Payload of every bench message. */
export const PAYLOAD = 32;

// Control block: u32 words at the start of MSMC SRAM, each on its own 64-byte line.
/** Cores that are up (booted and, for IPC scenarios, found every peer): +1 each, under BARRIER_LOCK. */
export const CTRL_READY = J721E_MSMC_BASE + 0x00;
/** Written by the host: 1 = start (all-to-all, contended spinlock). */
export const CTRL_GO = J721E_MSMC_BASE + 0x40;
/** Written by the host: 1 = stop. */
export const CTRL_STOP = J721E_MSMC_BASE + 0x80;
/** Contended spinlock: the counter incremented under BENCH_LOCK. */
export const CTRL_COUNTER = J721E_MSMC_BASE + 0xC0;
/** All-to-all: messages (pings + pongs) completed by core i's pingers at CTRL_MSGS + i * CTRL_STRIDE (written by core i only). */
export const CTRL_MSGS = J721E_MSMC_BASE + 0x100;
export const CTRL_STRIDE = 0x40;
/** Bytes of MSMC the control block uses (room for 16 cores). */
export const CTRL_SIZE = 0x100 + 16 * CTRL_STRIDE;

/** Hardware spinlock guarding CTRL_READY. */
export const BARRIER_LOCK = 255;
/** Hardware spinlock the spinlock scenarios measure. */
export const BENCH_LOCK = 0;
/** How often a waiting core looks at the control block. */
export const POLL_MS = 1;
/** How long a core waits for its peers or the host before it gives up. */
export const WAIT_LIMIT_MS = 30_000;

/** This core is up: CTRL_READY += 1. */
export function arrive(ctx: FirmwareContext): void {
  const rc = ctx.spinlock!.lockedAdd32(BARRIER_LOCK, ctx.bus, CTRL_READY, 1, 5000);
  if (rc < 0) throw new Error(`${ctx.core.name}: start barrier: spinlock ${BARRIER_LOCK} not taken (${rc})`);
}

/** Waits until every core of the SoC has arrived. */
export async function allArrived(ctx: FirmwareContext): Promise<void> {
  const deadline = ctx.now() + WAIT_LIMIT_MS * 1000;
  while (ctx.bus.read32(CTRL_READY) < ctx.cores.length) {
    if (ctx.now() > deadline) {
      throw new Error(`${ctx.core.name}: only ${ctx.bus.read32(CTRL_READY)} of ${ctx.cores.length} cores came up within ${WAIT_LIMIT_MS} ms`);
    }
    await ctx.sleep(POLL_MS);
  }
}

/** Waits for the host's go (or stop). Returns false when the host said stop. */
export async function hostGo(ctx: FirmwareContext): Promise<boolean> {
  const deadline = ctx.now() + WAIT_LIMIT_MS * 1000;
  while (ctx.bus.read32(CTRL_GO) === 0 && ctx.bus.read32(CTRL_STOP) === 0) {
    if (ctx.now() > deadline) throw new Error(`${ctx.core.name}: no go from the bench host within ${WAIT_LIMIT_MS} ms`);
    await ctx.sleep(POLL_MS);
  }
  return ctx.bus.read32(CTRL_STOP) === 0;
}

/** Fills `buf[0..PAYLOAD)` with a pattern that depends on `seq` (an echo is checked byte for byte). */
export function fill(buf: Uint8Array, seq: number): void {
  for (let k = 0; k < PAYLOAD; k++) buf[k] = (seq + k * 7) & 0xFF;
}

/** True when `buf[0..len)` is exactly what fill(…, seq) wrote. */
export function intact(buf: Uint8Array, len: number, seq: number): boolean {
  if (len !== PAYLOAD) return false;
  for (let k = 0; k < PAYLOAD; k++) if (buf[k] !== ((seq + k * 7) & 0xFF)) return false;
  return true;
}

/** Integer argument `name` of ctx.args, or `dflt`. */
export function intArg(ctx: FirmwareContext, name: string, dflt: number): number {
  const v = ctx.args[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${ctx.core.name}: argument ${name}=${v} is not a non-negative integer`);
  return n;
}
