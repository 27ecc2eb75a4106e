// Memory layout and wire format of Zephyr's ICBMsg backend in its ICMsg-based design
// (subsys/ipc/ipc_service/backends/ipc_icbmsg.c before the 2026 rework; docs ipc_service_icbmsg.rst).
//
// Each region (tx-region written by its sender, rx-region by the peer) is split into:
//   [begin, begin + blocksOffset)          the ICMsg packet buffer (pbuf) carrying control messages
//   [begin + blocksOffset, end)            `blocks` equal blocks of `blockSize` bytes, end-aligned
// with align = MAX(4, dcache-alignment), begin = ROUND_UP(base, align), end = ROUND_DOWN(base + size, align).
// A buffer spans N contiguous blocks and starts with a 4-byte little-endian header holding the
// payload size (size_t on a 32-bit core), then the payload.

/** Bytes one control message takes in the ICMsg queue: ROUND_UP(3, sizeof(void *)) + pbuf header. */
export const ICBMSG_BYTES_PER_ICMSG_MESSAGE = 8;
/** PBUF_HEADER_OVERHEAD(align) = MAX(align, 4) + 4 (rd_idx word(s) + wr_idx). */
export const pbufHeaderOverhead = (align: number): number => Math.max(align, 4) + 4;
/** Size of the block header (payload size, u32 LE). */
export const ICBMSG_BLOCK_HEADER_SIZE = 4;
/** Control message length on the wire: {u8 type, u8 ept_addr, u8 block_index}. */
export const ICBMSG_CONTROL_MSG_LEN = 3;
export const ICBMSG_MSG_DATA = 0;
export const ICBMSG_MSG_RELEASE_DATA = 1;
export const ICBMSG_MSG_BOUND = 2;
export const ICBMSG_MSG_RELEASE_BOUND = 3;
/** Endpoint addresses 0x00..0xFD are valid; 0xFF marks an unassigned address. */
export const ICBMSG_EPT_ADDR_INVALID = 0xFF;
/** BUILD_ASSERT in the backend: at most 256 blocks per direction (the index is one byte). */
export const ICBMSG_MAX_BLOCKS = 256;
/** CONFIG_IPC_SERVICE_BACKEND_ICBMSG_NUM_EP default (range 1..254). */
export const ICBMSG_DEFAULT_NUM_EP = 4;

export interface IcbmsgRegionLayout {
  /** First byte used (physical address), ROUND_UP(base, align). */
  begin: number;
  /** Bytes between begin and ROUND_DOWN(base + size, align). */
  total: number;
  /** The ICMsg pbuf: [begin, begin + icmsgSize). */
  icmsgSize: number;
  /** Blocks start at begin + blocksOffset. */
  blocksOffset: number;
  blockSize: number;
  blocks: number;
}

const roundUp = (v: number, a: number): number => Math.ceil(v / a) * a;
const roundDown = (v: number, a: number): number => Math.floor(v / a) * a;

/**
 * Splits one region as the sender of its data (local = blocks in this region, remote = blocks in the
 * other direction's region; both count towards the control queue). Throws with a message naming the
 * region when the numbers cannot work (no room for one block, too many blocks).
 */
export function icbmsgRegionLayout(
  region: { name: string; base: number; size: number },
  localBlocks: number,
  remoteBlocks: number,
  dcacheAlignment: number,
): IcbmsgRegionLayout {
  for (const [what, n] of [['local', localBlocks], ['remote', remoteBlocks]] as const) {
    if (!(Number.isInteger(n) && n >= 1 && n <= ICBMSG_MAX_BLOCKS)) {
      throw new RangeError(`ICBMsg region ${region.name}: ${what} block count ${n} is outside 1..${ICBMSG_MAX_BLOCKS}`);
    }
  }
  const align = Math.max(4, dcacheAlignment);
  const begin = roundUp(region.base, align);
  const end = roundDown(region.base + region.size, align);
  const total = end - begin;
  const icmsgMin = roundUp(
    pbufHeaderOverhead(align) + 2 * ICBMSG_BYTES_PER_ICMSG_MESSAGE + ICBMSG_BYTES_PER_ICMSG_MESSAGE * (localBlocks + remoteBlocks),
    align,
  );
  const blockSize = roundDown(Math.floor((total - icmsgMin) / localBlocks), 4);
  if (!(blockSize > ICBMSG_BLOCK_HEADER_SIZE)) {
    throw new RangeError(
      `ICBMsg region ${region.name} (0x${region.base.toString(16)}, ${region.size} bytes): ${localBlocks} blocks leave ` +
        `${blockSize} bytes per block after the ${icmsgMin}-byte control queue; need more than ${ICBMSG_BLOCK_HEADER_SIZE}`,
    );
  }
  const blocksOffset = total - blockSize * localBlocks;
  return { begin, total, icmsgSize: blocksOffset, blocksOffset, blockSize, blocks: localBlocks };
}
