// TI remoteproc resource table (PDK include/ipc_rsctypes.h + examples/common/src/ipc_rsctable.h,
// 32-bit da variant used by the R5F/C66x firmwares), 140 bytes, little-endian.
//
// Byte layout (offsets from the table start) and who writes each word:
//   0   ver u32 = 1                      firmware (static)
//   4   num u32 = 2                      firmware (static)
//   8   reserved[2] u32 = 0              firmware (static)
//   16  offset[0] u32 = 24 -> vdev       firmware (static)
//   20  offset[1] u32 = 92 -> trace      firmware (static)
//   24  vdev: type u32 = 3, id u32 @28 = 7, notifyid u32 @32, dfeatures u32 @36 = 1 (firmware),
//       gfeatures u32 @40 (Linux writes negotiated features), config_len u32 @44 = 0,
//       status u8 @48 (Linux writes; remote polls for 0x7), num_of_vrings u8 @49 = 2, reserved u8[2] @50
//   52  vring0 {da, align, num, notifyid, reserved} u32 each  (Linux writes da and notifyid)
//   72  vring1 {da, align, num, notifyid, reserved}           (Linux writes da and notifyid)
//   92  trace: type u32 = 2, da u32 @96, len u32 @100 = 0x80000, reserved u32 @104, name[32] @108
//   140 end
//
// vring0 is Linux RX / remote TX, vring1 is Linux TX / remote RX.
// Concurrency: the status byte is accessed with Atomics on a Uint8Array at offset 48 (a byte-wide
// atomic, so it never touches num_of_vrings at 49). Linux-written u32 words (vring da/notifyid,
// gfeatures) use Atomics on a Uint32Array; Linux stores them before it stores status 0x7.

/** Resource types. */
export const RSC_CARVEOUT = 0;
export const RSC_DEVMEM = 1;
export const RSC_TRACE = 2;
export const RSC_VDEV = 3;
/** "Let the host pick the address". */
export const FW_RSC_ADDR_ANY = 0xffffffff;
/** virtio device id of rpmsg. */
export const VIRTIO_ID_RPMSG = 7;
/** rpmsg feature bit number: remote supports name service. */
export const VIRTIO_RPMSG_F_NS = 0;

/** virtio device status bits (status byte of the vdev entry). */
export const VIRTIO_CONFIG_S_ACKNOWLEDGE = 0x01;
export const VIRTIO_CONFIG_S_DRIVER = 0x02;
export const VIRTIO_CONFIG_S_DRIVER_OK = 0x04;
export const VIRTIO_CONFIG_S_FEATURES_OK = 0x08;
export const VIRTIO_CONFIG_S_NEEDS_RESET = 0x40;
export const VIRTIO_CONFIG_S_FAILED = 0x80;
/** Status value TI remotes wait for (ACK | DRIVER | DRIVER_OK): PDK Ipc_isRemoteReady. */
export const TI_VDEV_STATUS_READY = 0x07;

/** Header. */
export const RSC_VER_OFF = 0;
export const RSC_NUM_OFF = 4;
export const RSC_RESERVED_OFF = 8;
export const RSC_OFFSETS_OFF = 16;
/** Expected header values. */
export const RSC_TABLE_VERSION = 1;
export const TI_RSC_NUM_ENTRIES = 2;

/** vdev entry (absolute offsets). */
export const RSC_VDEV_OFF = 24;
export const RSC_VDEV_TYPE_OFF = 24;
export const RSC_VDEV_ID_OFF = 28;
export const RSC_VDEV_NOTIFYID_OFF = 32;
export const RSC_VDEV_DFEATURES_OFF = 36;
export const RSC_VDEV_GFEATURES_OFF = 40;
export const RSC_VDEV_CONFIG_LEN_OFF = 44;
export const RSC_VDEV_STATUS_OFF = 48;
export const RSC_VDEV_NUM_VRINGS_OFF = 49;
export const RSC_VDEV_RESERVED_OFF = 50;

/** vring descriptors inside the vdev entry. */
export const RSC_VRING0_OFF = 52;
export const RSC_VRING1_OFF = 72;
export const RSC_VRING_ENTRY_SIZE = 20;
/** Field offsets within one vring descriptor. */
export const RSC_VRING_DA_OFF = 0;
export const RSC_VRING_ALIGN_OFF = 4;
export const RSC_VRING_NUM_OFF = 8;
export const RSC_VRING_NOTIFYID_OFF = 12;
export const RSC_VRING_RESERVED_OFF = 16;
/** Vrings in the TI vdev. */
export const TI_RSC_NUM_VRINGS = 2;
/** Notify ids TI firmware requests (Linux overwrites them). */
export const TI_VRING0_NOTIFYID = 1;
export const TI_VRING1_NOTIFYID = 2;
/** TI vring geometry. */
export const TI_VRING_ALIGN = 4096;
export const TI_VRING_NUM = 256;

/** trace entry (absolute offsets). */
export const RSC_TRACE_OFF = 92;
export const RSC_TRACE_TYPE_OFF = 92;
export const RSC_TRACE_DA_OFF = 96;
export const RSC_TRACE_LEN_OFF = 100;
export const RSC_TRACE_RESERVED_OFF = 104;
export const RSC_TRACE_NAME_OFF = 108;
export const RSC_NAME_SIZE = 32;
/** TI trace buffer size (IPC_TRACE_BUFFER_MAX_SIZE). */
export const TI_TRACE_BUFFER_SIZE = 0x80000;

/** Total size of the TI table. */
export const RSC_TABLE_SIZE = 140;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function hex(x: number): string {
  return '0x' + x.toString(16);
}

function isPow2(x: number): boolean {
  return x > 0 && (x & (x - 1)) === 0;
}

/** Thrown when bytes are not a valid TI resource table. */
export class RscTableError extends Error {
  override name = 'RscTableError';
  /**
   * @param message full description
   * @param offset byte offset within the table of the bad field
   * @param value value found there
   */
  constructor(
    message: string,
    readonly offset: number,
    readonly value: number,
  ) {
    super(message);
  }
}

/** Options for {@link writeTiResourceTable}. */
export interface TiResourceTableOptions {
  /** Device address of the firmware's trace buffer (u32). */
  traceDa: number;
  /** Trace entry name, 1..31 ASCII chars (e.g. "trace:r5f0"). */
  traceName: string;
}

/** One vring descriptor of the vdev entry. */
export interface RscVringInfo {
  da: number;
  align: number;
  num: number;
  notifyid: number;
  reserved: number;
}

/** Result of {@link ResourceTableView.parse}. */
export interface RscTableInfo {
  ver: number;
  num: number;
  offsets: number[];
  vdev: {
    notifyid: number;
    dfeatures: number;
    gfeatures: number;
    configLen: number;
    status: number;
    numVrings: number;
    vrings: RscVringInfo[];
  };
  trace: { da: number; len: number; name: string };
}

/**
 * Write the default TI table (140 bytes) at `u8[off]`: vrings with da FW_RSC_ADDR_ANY,
 * align 4096, num 256, notifyid 1/2; dfeatures 1 (NS); status 0; trace entry with the given
 * da, length 0x80000 and name. Zeroes the 140 bytes first.
 */
export function writeTiResourceTable(u8: Uint8Array, off: number, opts: TiResourceTableOptions): void {
  if (!Number.isInteger(off) || off < 0 || off + RSC_TABLE_SIZE > u8.byteLength) {
    throw new RangeError(`resource table at offset ${off} (+${RSC_TABLE_SIZE}) is outside a view of ${u8.byteLength} bytes`);
  }
  const { traceDa, traceName } = opts;
  if (!Number.isInteger(traceDa) || traceDa < 0 || traceDa > 0xffffffff) {
    throw new RangeError(`resource table traceDa ${traceDa} must be a u32`);
  }
  if (traceName.length < 1 || traceName.length > RSC_NAME_SIZE - 1) {
    throw new RangeError(`resource table traceName ${JSON.stringify(traceName)} must have 1..${RSC_NAME_SIZE - 1} chars`);
  }
  for (let i = 0; i < traceName.length; i++) {
    const c = traceName.charCodeAt(i);
    if (c === 0 || c > 0x7f) {
      throw new RangeError(`resource table traceName ${JSON.stringify(traceName)}: char ${i} (code ${c}) is not non-NUL ASCII`);
    }
  }
  u8.fill(0, off, off + RSC_TABLE_SIZE);
  const dv = new DataView(u8.buffer, u8.byteOffset + off, RSC_TABLE_SIZE);
  const w32 = (o: number, v: number): void => dv.setUint32(o, v >>> 0, true);

  w32(RSC_VER_OFF, RSC_TABLE_VERSION);
  w32(RSC_NUM_OFF, TI_RSC_NUM_ENTRIES);
  w32(RSC_OFFSETS_OFF, RSC_VDEV_OFF);
  w32(RSC_OFFSETS_OFF + 4, RSC_TRACE_OFF);

  w32(RSC_VDEV_TYPE_OFF, RSC_VDEV);
  w32(RSC_VDEV_ID_OFF, VIRTIO_ID_RPMSG);
  w32(RSC_VDEV_NOTIFYID_OFF, 0);
  w32(RSC_VDEV_DFEATURES_OFF, 1 << VIRTIO_RPMSG_F_NS);
  w32(RSC_VDEV_GFEATURES_OFF, 0);
  w32(RSC_VDEV_CONFIG_LEN_OFF, 0);
  dv.setUint8(RSC_VDEV_STATUS_OFF, 0);
  dv.setUint8(RSC_VDEV_NUM_VRINGS_OFF, TI_RSC_NUM_VRINGS);

  const notifyIds = [TI_VRING0_NOTIFYID, TI_VRING1_NOTIFYID];
  for (let i = 0; i < TI_RSC_NUM_VRINGS; i++) {
    const v = RSC_VRING0_OFF + i * RSC_VRING_ENTRY_SIZE;
    w32(v + RSC_VRING_DA_OFF, FW_RSC_ADDR_ANY);
    w32(v + RSC_VRING_ALIGN_OFF, TI_VRING_ALIGN);
    w32(v + RSC_VRING_NUM_OFF, TI_VRING_NUM);
    w32(v + RSC_VRING_NOTIFYID_OFF, notifyIds[i]);
    w32(v + RSC_VRING_RESERVED_OFF, 0);
  }

  w32(RSC_TRACE_TYPE_OFF, RSC_TRACE);
  w32(RSC_TRACE_DA_OFF, traceDa);
  w32(RSC_TRACE_LEN_OFF, TI_TRACE_BUFFER_SIZE);
  w32(RSC_TRACE_RESERVED_OFF, 0);
  for (let i = 0; i < traceName.length; i++) dv.setUint8(RSC_TRACE_NAME_OFF + i, traceName.charCodeAt(i));
}

/**
 * A view of a TI resource table in a SharedArrayBuffer. Offsets are the fixed TI layout; call
 * {@link parse} once to check that the bytes really are such a table.
 */
export class ResourceTableView {
  /** Byte offset of the table in the SharedArrayBuffer. */
  readonly byteOffset: number;
  private readonly u8: Uint8Array;
  private readonly u32: Uint32Array;

  /**
   * @param sab shared memory holding the table
   * @param byteOffset start of the table; multiple of 4
   */
  constructor(sab: SharedArrayBuffer, byteOffset: number) {
    if (!LITTLE_ENDIAN) throw new RscTableError('host is big-endian; the resource table is little-endian', 0, 0);
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0) {
      throw new RangeError(`resource table byteOffset ${byteOffset} must be a non-negative multiple of 4`);
    }
    if (byteOffset + RSC_TABLE_SIZE > sab.byteLength) {
      throw new RangeError(
        `resource table of ${RSC_TABLE_SIZE} bytes at ${hex(byteOffset)} exceeds buffer of ${sab.byteLength} bytes`,
      );
    }
    this.byteOffset = byteOffset;
    this.u8 = new Uint8Array(sab, byteOffset, RSC_TABLE_SIZE);
    this.u32 = new Uint32Array(sab, byteOffset, RSC_TABLE_SIZE >>> 2);
  }

  private word(off: number): number {
    return Atomics.load(this.u32, off >>> 2);
  }

  private vringBase(i: number): number {
    if (i !== 0 && i !== 1) throw new RangeError(`resource table vring index ${i} must be 0 or 1`);
    return RSC_VRING0_OFF + i * RSC_VRING_ENTRY_SIZE;
  }

  /** Table version (offset 0). */
  ver(): number {
    return this.word(RSC_VER_OFF);
  }
  /** Number of entries (offset 4). */
  numEntries(): number {
    return this.word(RSC_NUM_OFF);
  }
  /** offset[k] (offset 16 + 4k). */
  entryOffset(k: number): number {
    return this.word(RSC_OFFSETS_OFF + 4 * k);
  }

  /** vdev status byte (offset 48), read with Atomics.load on a Uint8Array. Written by Linux. */
  vdevStatus(): number {
    return Atomics.load(this.u8, RSC_VDEV_STATUS_OFF);
  }
  /** Store the vdev status byte (Atomics.store; byte-wide, does not touch num_of_vrings). */
  setVdevStatus(v: number): void {
    Atomics.store(this.u8, RSC_VDEV_STATUS_OFF, v);
  }
  /** True when status equals TI's ready value 0x7 (PDK Ipc_isRemoteReady). */
  isLinuxReady(): boolean {
    return this.vdevStatus() === TI_VDEV_STATUS_READY;
  }
  /** vdev dfeatures (offered by the firmware). */
  vdevDfeatures(): number {
    return this.word(RSC_VDEV_DFEATURES_OFF);
  }
  /** vdev gfeatures (negotiated, written by Linux). */
  vdevGfeatures(): number {
    return this.word(RSC_VDEV_GFEATURES_OFF);
  }
  /** Store vdev gfeatures. */
  setVdevGfeatures(v: number): void {
    Atomics.store(this.u32, RSC_VDEV_GFEATURES_OFF >>> 2, v);
  }
  /** num_of_vrings byte (offset 49). */
  vdevNumVrings(): number {
    return this.u8[RSC_VDEV_NUM_VRINGS_OFF];
  }

  /** vring i (0 or 1) da. */
  vringDa(i: number): number {
    return this.word(this.vringBase(i) + RSC_VRING_DA_OFF);
  }
  /** vring i align. */
  vringAlign(i: number): number {
    return this.word(this.vringBase(i) + RSC_VRING_ALIGN_OFF);
  }
  /** vring i num. */
  vringNum(i: number): number {
    return this.word(this.vringBase(i) + RSC_VRING_NUM_OFF);
  }
  /** vring i notifyid. */
  vringNotifyId(i: number): number {
    return this.word(this.vringBase(i) + RSC_VRING_NOTIFYID_OFF);
  }
  /** All fields of vring i as a fresh object (not for hot paths). */
  vring(i: number): RscVringInfo {
    const b = this.vringBase(i);
    return {
      da: this.word(b + RSC_VRING_DA_OFF),
      align: this.word(b + RSC_VRING_ALIGN_OFF),
      num: this.word(b + RSC_VRING_NUM_OFF),
      notifyid: this.word(b + RSC_VRING_NOTIFYID_OFF),
      reserved: this.word(b + RSC_VRING_RESERVED_OFF),
    };
  }
  /** Store vring i da (Linux does this when it allocates the ring). */
  setVringDa(i: number, da: number): void {
    Atomics.store(this.u32, (this.vringBase(i) + RSC_VRING_DA_OFF) >>> 2, da);
  }
  /** Store vring i notifyid (Linux writes back the id it assigned). */
  setVringNotifyId(i: number, id: number): void {
    Atomics.store(this.u32, (this.vringBase(i) + RSC_VRING_NOTIFYID_OFF) >>> 2, id);
  }

  /** Trace buffer da. */
  traceDa(): number {
    return this.word(RSC_TRACE_DA_OFF);
  }
  /** Trace buffer length. */
  traceLen(): number {
    return this.word(RSC_TRACE_LEN_OFF);
  }
  /** Trace entry name (up to the first NUL, at most 31 chars). */
  traceName(): string {
    let s = '';
    for (let i = 0; i < RSC_NAME_SIZE - 1; i++) {
      const c = this.u8[RSC_TRACE_NAME_OFF + i];
      if (c === 0) break;
      s += String.fromCharCode(c);
    }
    return s;
  }

  private fail(off: number, field: string, value: number, expected: string): never {
    throw new RscTableError(
      `resource table @${hex(this.byteOffset)}: offset ${off} (${field}) = ${value} (${hex(value)}), expected ${expected}`,
      off,
      value,
    );
  }

  /**
   * Check that the bytes are a TI table: ver 1, 2 entries, every offset[] inside the table and at
   * the TI position (vdev 24, trace 92), vdev type 3 / id 7 / config_len 0 / 2 vrings with
   * power-of-two num and align and zero reserved, trace type 2. Throws RscTableError naming the
   * offset and value found. Returns the decoded fields.
   */
  parse(): RscTableInfo {
    const ver = this.ver();
    if (ver !== RSC_TABLE_VERSION) this.fail(RSC_VER_OFF, 'ver', ver, String(RSC_TABLE_VERSION));
    const num = this.numEntries();
    if (num !== TI_RSC_NUM_ENTRIES) this.fail(RSC_NUM_OFF, 'num', num, String(TI_RSC_NUM_ENTRIES));

    const hdrEnd = RSC_OFFSETS_OFF + 4 * num;
    const expectedAt = [RSC_VDEV_OFF, RSC_TRACE_OFF];
    const offsets: number[] = [];
    for (let k = 0; k < num; k++) {
      const at = RSC_OFFSETS_OFF + 4 * k;
      const o = this.entryOffset(k);
      if (o < hdrEnd || o + 4 > RSC_TABLE_SIZE || o % 4 !== 0) {
        this.fail(at, `offset[${k}]`, o, `a 4-aligned entry offset inside the table (${hdrEnd}..${RSC_TABLE_SIZE - 4})`);
      }
      if (o !== expectedAt[k]) this.fail(at, `offset[${k}]`, o, `${expectedAt[k]} (TI layout)`);
      offsets.push(o);
    }

    const type = this.word(RSC_VDEV_TYPE_OFF);
    if (type !== RSC_VDEV) this.fail(RSC_VDEV_TYPE_OFF, 'vdev.type', type, `${RSC_VDEV} (RSC_VDEV)`);
    const id = this.word(RSC_VDEV_ID_OFF);
    if (id !== VIRTIO_ID_RPMSG) this.fail(RSC_VDEV_ID_OFF, 'vdev.id', id, `${VIRTIO_ID_RPMSG} (VIRTIO_ID_RPMSG)`);
    const configLen = this.word(RSC_VDEV_CONFIG_LEN_OFF);
    if (configLen !== 0) this.fail(RSC_VDEV_CONFIG_LEN_OFF, 'vdev.config_len', configLen, '0');
    const numVrings = this.vdevNumVrings();
    if (numVrings !== TI_RSC_NUM_VRINGS) {
      this.fail(RSC_VDEV_NUM_VRINGS_OFF, 'vdev.num_of_vrings', numVrings, String(TI_RSC_NUM_VRINGS));
    }
    const vrings: RscVringInfo[] = [];
    for (let i = 0; i < TI_RSC_NUM_VRINGS; i++) {
      const v = this.vring(i);
      const b = this.vringBase(i);
      if (!isPow2(v.align)) this.fail(b + RSC_VRING_ALIGN_OFF, `vring${i}.align`, v.align, 'a power of two');
      if (!isPow2(v.num) || v.num > 32768) {
        this.fail(b + RSC_VRING_NUM_OFF, `vring${i}.num`, v.num, 'a power of two <= 32768');
      }
      if (v.reserved !== 0) this.fail(b + RSC_VRING_RESERVED_OFF, `vring${i}.reserved`, v.reserved, '0');
      vrings.push(v);
    }

    const ttype = this.word(RSC_TRACE_TYPE_OFF);
    if (ttype !== RSC_TRACE) this.fail(RSC_TRACE_TYPE_OFF, 'trace.type', ttype, `${RSC_TRACE} (RSC_TRACE)`);

    return {
      ver,
      num,
      offsets,
      vdev: {
        notifyid: this.word(RSC_VDEV_NOTIFYID_OFF),
        dfeatures: this.vdevDfeatures(),
        gfeatures: this.vdevGfeatures(),
        configLen,
        status: this.vdevStatus(),
        numVrings,
        vrings,
      },
      trace: { da: this.traceDa(), len: this.traceLen(), name: this.traceName() },
    };
  }
}
