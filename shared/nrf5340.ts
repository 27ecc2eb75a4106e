// nRF5340 facts the emulator uses (nRF5340 Product Specification; Zephyr's nrf5340_cpuapp/cpunet
// devicetrees; Zephyr samples' IPC overlays). Addresses are the ones both cores use.

/** Application core's IPC instance (secure alias; 0x4002A000 is the non-secure one). */
export const NRF5340_APP_IPC_BASE = 0x5002A000;
export const NRF5340_APP_IPC_BASE_NS = 0x4002A000;
/** Network core's IPC instance. */
export const NRF5340_NET_IPC_BASE = 0x41012000;
/** NVIC IRQ numbers of the IPC peripheral on each core. */
export const NRF5340_APP_IPC_IRQ = 42;
export const NRF5340_NET_IPC_IRQ = 18;
/**
 * hetsoc's per-core interrupt controllers have 32 lines, so an NVIC IRQ number n arrives on line
 * n mod 32 (the application core's IPC IRQ 42 is line 10; the network core's 18 is line 18).
 */
export const nvicToLine = (irq: number): number => irq & 31;
/** Application core SRAM0 and the IPC shared RAM: its last 64 KiB, reachable from both cores. */
export const NRF5340_APP_SRAM_BASE = 0x20000000;
export const NRF5340_APP_SRAM_SIZE = 0x80000;
export const NRF5340_IPC_SHM_BASE = 0x20070000;
export const NRF5340_IPC_SHM_SIZE = 0x10000;
