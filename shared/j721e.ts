// TI J721E (Jacinto 7) platform facts: processor ids, the PDK mailbox queue table, the physical
// addresses of the IPC memories, and the PDK formula that places each core pair's vrings.
// Source: TI PDK packages/ti/drv/ipc soc/V1/ipc_soc.{c,h}, src/ipc_virtio.c (Ipc_updateVirtioInfo),
// examples/common/src/ipc_setup.h; Linux k3-j721e device trees (see reference/rpmsg-j7.md §4, §5).

/** PDK processor ids (soc/V1/ipc_soc.h). */
export const IPC_MPU1_0 = 0;
export const IPC_MCU1_0 = 1;
export const IPC_MCU1_1 = 2;
export const IPC_MCU2_0 = 3;
export const IPC_MCU2_1 = 4;
export const IPC_MCU3_0 = 5;
export const IPC_MCU3_1 = 6;
export const IPC_C66X_1 = 7;
export const IPC_C66X_2 = 8;
export const IPC_C7X_1 = 9;
export const IPC_MPU1_1 = 10;
export const IPC_MAX_PROCS = 11;

/** Names as Ipc_mpGetName returns them, indexed by proc id. */
export const J721E_PROC_NAMES: readonly string[] = [
  'mpu1_0', 'mcu1_0', 'mcu1_1', 'mcu2_0', 'mcu2_1', 'mcu3_0', 'mcu3_1', 'C66X_1', 'C66X_2', 'C7X_1', 'mpu1_1',
];

export const J721E_MAILBOX_BASE = 0x31F8_0000;
export const J721E_MAILBOX_CLUSTERS = 12;
export const J721E_MAILBOX_CLUSTER_STRIDE = 0x1000;
export const J721E_SPINLOCK_BASE = 0x30E0_0000;
export const J721E_SPINLOCK_SIZE = 0x1000;
/** VRING_BASE_ADDRESS of the PDK examples for J721E (rtos_ipc_memory_region). */
export const J721E_VRING_BASE = 0xAA00_0000;
/** IPC_VRING_BUFFER_SIZE for J721E: 28 MiB. */
export const IPC_VRING_BUFFER_SIZE = 0x1C0_0000;
/** MSMC SRAM (J721E: 8 MiB at 0x70000000); hetsoc maps its first 512 KiB, shared by every core. */
export const J721E_MSMC_BASE = 0x7000_0000;
export const J721E_MSMC_SIZE = 0x8_0000;
/** IPC_VRING_SIZE: one region of a pair, 256 buffers of 512 bytes. */
export const IPC_VRING_SIZE = 0x2_0000;

/**
 * DMA memory regions Linux uses for each remote core's vrings and buffers (k3-j721e-som-p0.dtsi:
 * *_dma_memory_region), 1 MiB each, followed by the core's firmware memory where the resource table
 * is linked.
 */
export const J721E_DMA_REGION: Readonly<Record<string, number>> = {
  mcu1_0: 0xA000_0000, mcu1_1: 0xA100_0000, mcu2_0: 0xA200_0000, mcu2_1: 0xA300_0000,
  mcu3_0: 0xA400_0000, mcu3_1: 0xA500_0000, C66X_1: 0xA600_0000, C66X_2: 0xA700_0000, C7X_1: 0xA800_0000,
};
export const J721E_DMA_REGION_SIZE = 0x10_0000;
/** Offset of the resource table from the start of the DMA region (start of the firmware memory). */
export const J721E_RSC_TABLE_OFFSET = 0x10_0000;
export const J721E_RSC_TABLE_REGION_SIZE = 0x1000;

/** A mailbox queue: the FIFO a receiver reads, and which user's interrupt it sees it through. */
export interface MailboxQueue {
  cluster: number;
  user: number;
  fifo: number;
}

// Receive side of the PDK table g_IPC_MailboxInfo (reference/rpmsg-j7.md §5.3):
// receiver: sender=cCuUfF ... ; a sender's TX queue is the receiver's RX entry.
const QUEUE_TABLE = `
mpu1_0: mcu1_0=c0u0f0 mcu1_1=c0u0f2 mcu2_0=c1u0f0 mcu2_1=c1u0f2 mcu3_0=c2u0f0 mcu3_1=c2u0f2 C66X_1=c3u0f0 C66X_2=c3u0f2 C7X_1=c4u0f0 mpu1_1=c0u0f10
mcu1_0: mpu1_0=c0u1f1 mcu1_1=c0u1f4 mcu2_0=c7u0f0 mcu2_1=c7u0f1 mcu3_0=c7u0f2 mcu3_1=c7u0f3 C66X_1=c7u1f4 C66X_2=c7u1f5 C7X_1=c7u1f6 mpu1_1=c0u1f7
mcu1_1: mpu1_0=c0u2f3 mcu1_0=c0u2f5 mcu2_0=c7u2f8 mcu2_1=c7u2f9 mcu3_0=c7u2f10 mcu3_1=c7u2f11 C66X_1=c7u3f12 C66X_2=c7u3f13 C7X_1=c7u3f14 mpu1_1=c0u2f9
mcu2_0: mpu1_0=c1u1f1 mcu1_0=c5u0f2 mcu1_1=c5u0f3 mcu2_1=c1u1f4 mcu3_0=c5u0f0 mcu3_1=c5u0f1 C66X_1=c5u1f4 C66X_2=c5u1f5 C7X_1=c5u1f6 mpu1_1=c1u1f7
mcu2_1: mpu1_0=c1u2f3 mcu1_0=c5u2f10 mcu1_1=c5u2f11 mcu2_0=c1u2f5 mcu3_0=c5u2f8 mcu3_1=c5u2f9 C66X_1=c5u3f12 C66X_2=c5u3f13 C7X_1=c5u3f14 mpu1_1=c1u2f9
mcu3_0: mpu1_0=c2u1f1 mcu1_0=c6u0f2 mcu1_1=c6u0f3 mcu2_0=c6u0f0 mcu2_1=c6u0f1 mcu3_1=c2u1f4 C66X_1=c6u1f4 C66X_2=c6u1f5 C7X_1=c6u1f6 mpu1_1=c2u1f7
mcu3_1: mpu1_0=c2u2f3 mcu1_0=c6u2f10 mcu1_1=c6u2f11 mcu2_0=c6u2f8 mcu2_1=c6u2f9 mcu3_0=c2u2f5 C66X_1=c6u3f12 C66X_2=c6u3f13 C7X_1=c6u3f14 mpu1_1=c2u2f9
C66X_1: mpu1_0=c3u1f1 mcu1_0=c8u1f4 mcu1_1=c8u1f5 mcu2_0=c8u0f0 mcu2_1=c8u0f1 mcu3_0=c8u0f2 mcu3_1=c8u0f3 C66X_2=c3u1f4 C7X_1=c8u1f6 mpu1_1=c3u1f7
C66X_2: mpu1_0=c3u2f3 mcu1_0=c8u3f12 mcu1_1=c8u3f13 mcu2_0=c8u2f8 mcu2_1=c8u2f9 mcu3_0=c8u2f10 mcu3_1=c8u2f11 C66X_1=c3u2f5 C7X_1=c8u3f14 mpu1_1=c3u2f9
C7X_1: mpu1_0=c4u1f1 mcu1_0=c9u1f4 mcu1_1=c9u1f5 mcu2_0=c9u0f0 mcu2_1=c9u0f1 mcu3_0=c9u0f2 mcu3_1=c9u0f3 C66X_1=c9u1f6 C66X_2=c9u1f7 mpu1_1=c4u1f7
mpu1_1: mpu1_0=c0u3f11 mcu1_0=c0u3f6 mcu1_1=c0u3f8 mcu2_0=c1u3f6 mcu2_1=c1u3f8 mcu3_0=c2u3f6 mcu3_1=c2u3f8 C66X_1=c3u3f6 C66X_2=c3u3f8 C7X_1=c4u3f6
`;

function parseQueueTable(text: string): MailboxQueue[][] {
  const table: MailboxQueue[][] = J721E_PROC_NAMES.map(() => []);
  for (const line of text.trim().split('\n')) {
    const [recvName, rest] = line.split(':') as [string, string];
    const recv = J721E_PROC_NAMES.indexOf(recvName);
    for (const entry of rest.trim().split(/\s+/)) {
      const m = /^(\w+)=c(\d+)u(\d+)f(\d+)$/.exec(entry);
      if (!m) throw new Error(`j721e queue table: bad entry "${entry}"`);
      const sender = J721E_PROC_NAMES.indexOf(m[1]!);
      table[recv]![sender] = { cluster: Number(m[2]), user: Number(m[3]), fifo: Number(m[4]) };
    }
  }
  return table;
}

/** J721E_RX_QUEUE[receiver][sender]: the queue `receiver` reads messages from `sender` on. */
export const J721E_RX_QUEUE: readonly (readonly MailboxQueue[])[] = parseQueueTable(QUEUE_TABLE);

/**
 * PDK Ipc_updateVirtioInfo layout: the four IPC_VRING_SIZE regions of the pair (a, b), a < b,
 * starting at base + 4 * cnt * IPC_VRING_SIZE with cnt = sum_{i<a}(11 - i - 1) + (b - a - 1).
 * Region 0: lower core's TX vring (vq id 1), 1: its buffers; 2: higher core's TX vring (vq id 0), 3: its buffers.
 */
export function pdkPairLayout(self: number, remote: number, base = J721E_VRING_BASE): {
  txVring: number; txBufs: number; rxVring: number; rxBufs: number; txVqId: number; rxVqId: number;
} {
  if (self === remote) throw new Error(`pdk vring layout: a core (${self}) has no vring pair with itself`);
  for (const p of [self, remote]) {
    if (!(Number.isInteger(p) && p >= 0 && p < IPC_MAX_PROCS)) throw new RangeError(`pdk vring layout: proc id ${p} is not 0..${IPC_MAX_PROCS - 1}`);
  }
  const a = Math.min(self, remote);
  const b = Math.max(self, remote);
  let cnt = 0;
  for (let i = 0; i < a; i++) cnt += IPC_MAX_PROCS - i - 1;
  cnt += b - a - 1;
  const start = base + 4 * cnt * IPC_VRING_SIZE;
  const lower = { vring: start, bufs: start + IPC_VRING_SIZE, vqId: 1 };
  const higher = { vring: start + 2 * IPC_VRING_SIZE, bufs: start + 3 * IPC_VRING_SIZE, vqId: 0 };
  const [tx, rx] = self === a ? [lower, higher] : [higher, lower];
  return { txVring: tx.vring, txBufs: tx.bufs, rxVring: rx.vring, rxBufs: rx.bufs, txVqId: tx.vqId, rxVqId: rx.vqId };
}

/** ti-rpmsg-char enum rproc_id (numbered since 2024) and the J721E remoteproc device names. */
export const TIRC_RPROC: readonly { id: number; enumName: string; device: string; proc: string }[] = [
  { id: 0, enumName: 'R5F_MCU0_0', device: '41000000.r5f', proc: 'mcu1_0' },
  { id: 1, enumName: 'R5F_MCU0_1', device: '41400000.r5f', proc: 'mcu1_1' },
  { id: 2, enumName: 'R5F_MAIN0_0', device: '5c00000.r5f', proc: 'mcu2_0' },
  { id: 3, enumName: 'R5F_MAIN0_1', device: '5d00000.r5f', proc: 'mcu2_1' },
  { id: 4, enumName: 'R5F_MAIN1_0', device: '5e00000.r5f', proc: 'mcu3_0' },
  { id: 5, enumName: 'R5F_MAIN1_1', device: '5f00000.r5f', proc: 'mcu3_1' },
  { id: 6, enumName: 'DSP_C66_0', device: '4d80800000.dsp', proc: 'C66X_1' },
  { id: 7, enumName: 'DSP_C66_1', device: '4d81800000.dsp', proc: 'C66X_2' },
  { id: 8, enumName: 'DSP_C71_0', device: '64800000.dsp', proc: 'C7X_1' },
];

/** Interrupt wiring of the mailboxes on a J721E with the given cores present (proc id -> core index). */
export interface J721eMailboxRouting {
  /** Per proc id: its (cluster, user) outputs and the line each raises on that core. */
  rxLines: { cluster: number; user: number; line: number }[][];
  /** cluster * 4 + user -> { core index, line }, for the bank's interrupt output. */
  route: ({ core: number; line: number } | undefined)[];
}

export function j721eMailboxRouting(coreIndexOfProc: ReadonlyMap<number, number>): J721eMailboxRouting {
  const rxLines: { cluster: number; user: number; line: number }[][] = J721E_PROC_NAMES.map(() => []);
  const route: ({ core: number; line: number } | undefined)[] = new Array(J721E_MAILBOX_CLUSTERS * 4).fill(undefined);
  for (const [proc, core] of coreIndexOfProc) {
    const lines = rxLines[proc]!;
    for (const q of J721E_RX_QUEUE[proc] ?? []) {
      if (!q || lines.some((l) => l.cluster === q.cluster && l.user === q.user)) continue;
      const line = lines.length;
      lines.push({ cluster: q.cluster, user: q.user, line });
      route[q.cluster * 4 + q.user] = { core, line };
    }
  }
  return { rxLines, route };
}
