// Firewalls: rule lookup (nesting, ties, gaps), the bus refusing writes and read-write windows
// before anything lands, the built-in J721E and nRF5340 rules, and profile-declared rules.

import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SocImage } from '../../cores/boot.js';
import { wireJ721eCore } from '../../cores/j721e-core.js';
import { wireNrf5340Core } from '../../cores/nrf5340-core.js';
import { PdkIpc } from '../../cores/rtos/pdk-ipc.js';
import { IPC_SOK } from '../../cores/rtos/pdk-types.js';
import { CoreRuntime } from '../../cores/runtime.js';
import { createZephyrIpc } from '../../cores/zephyr/instances.js';
import { Bus, BusError, type DeviceModel } from '../../shared/bus.js';
import { CoreControl } from '../../shared/core-control.js';
import {
  CoreFirewall, FIREWALL_MAP, FIREWALL_NONE, FIREWALL_WRITE, FirewallFault, type FirewallRule, compileFirewall, firewallRuleAt,
} from '../../shared/firewall.js';
import { InterruptController } from '../../shared/irq.js';
import {
  IPC_VRING_SIZE, J721E_MAILBOX_BASE, J721E_MAILBOX_CLUSTER_STRIDE, J721E_PROC_NAMES, J721E_VRING_BASE, pdkPairLayout,
} from '../../shared/j721e.js';
import { type RegionDescriptor, ramRegion } from '../../shared/memory-map.js';
import { firewallRules, firewallWanted } from '../../soc/firewall.js';
import { buildImage } from '../../soc/image.js';
import { loadProfileFile } from '../../soc/profile-file.js';
import { ProfileError, findProfile, type SocProfile } from '../../soc/profile.js';
import { PROJECT_ROOT } from '../../soc/soc.js';
import { loadZephyrConfigs } from '../../soc/zephyr-config.js';
import { capturingLogger } from '../support/two-cores.js';

const rule = (name: string, base: number, size: number, cores: string[], readers?: string[]): FirewallRule =>
  ({ name, base, size, owner: cores.join('+') || 'no core', cores, ...(readers ? { readers } : {}) });

/** Device stub that records register writes. */
function recorder(): DeviceModel & { writes: [number, number][] } {
  const writes: [number, number][] = [];
  return { writes, read32: () => 0, write32: (off, v) => void writes.push([off, v]) };
}

/** Catches what `fn` throws (expects it to throw). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

/** A bus for `core` over an image's regions with stub devices for every device region. */
function busOf(image: SocImage, core: string): Bus {
  const devices: Record<string, DeviceModel> = {};
  for (const r of image.regions) if (r.device) devices[r.device] = recorder();
  const info = image.cores.find((c) => c.name === core);
  return new Bus(image.regions, devices, { name: core, index: info?.index ?? 99 }, image.firewall);
}

describe('firewall rule lookup', () => {
  it('the smallest rule containing an address decides; gaps are open; equal sizes: the last declared wins', () => {
    const rules = [
      rule('outer', 0x1000, 0x1000, ['a']),
      rule('inner', 0x1400, 0x100, ['b']),
      rule('same size, first', 0x3000, 0x100, ['a']),
      rule('same size, last', 0x3000, 0x100, ['c']),
    ];
    const segs = compileFirewall(rules);
    expect(segs.map((s) => [s.base, s.end, s.rule.name])).to.deep.equal([
      [0x1000, 0x1400, 'outer'], [0x1400, 0x1500, 'inner'], [0x1500, 0x2000, 'outer'], [0x3000, 0x3100, 'same size, last'],
    ]);
    expect(firewallRuleAt(segs, 0x0FFF)).to.equal(undefined);
    expect(firewallRuleAt(segs, 0x1000)!.name).to.equal('outer');
    expect(firewallRuleAt(segs, 0x14FF)!.name).to.equal('inner');
    expect(firewallRuleAt(segs, 0x1500)!.name).to.equal('outer');
    expect(firewallRuleAt(segs, 0x2000)).to.equal(undefined);
    expect(firewallRuleAt(segs, 0x3050)!.name).to.equal('same size, last');
  });

  it('partially overlapping rules: each address goes to the smaller of the rules holding it', () => {
    const segs = compileFirewall([rule('big', 0, 0x100, ['a']), rule('small', 0x80, 0x90, ['b'])]);
    expect(segs.map((s) => [s.base, s.end, s.rule.name])).to.deep.equal([[0, 0x80, 'big'], [0x80, 0x110, 'small']]);
  });

  it('a core may write where it is listed, map where it is a reader, neither elsewhere', () => {
    const fw = new CoreFirewall([rule('tx', 0x100, 0x100, ['s'], ['r']), rule('rd_idx', 0x100, 8, ['r', 's'])], 'r');
    expect(fw.accessAt(0x100)).to.equal(FIREWALL_WRITE);
    expect(fw.accessAt(0x108)).to.equal(FIREWALL_MAP);
    expect(fw.accessAt(0x300)).to.equal(FIREWALL_WRITE);
    expect(new CoreFirewall([rule('tx', 0x100, 0x100, ['s'], ['r'])], 'x').accessAt(0x150)).to.equal(FIREWALL_NONE);
  });

  it('refuses rules with size 0 or outside the 32-bit address space', () => {
    expect(() => compileFirewall([rule('empty', 0, 0, ['a'])])).to.throw(/"empty".*size > 0/);
    expect(() => compileFirewall([rule('far', 0xFFFF_F000, 0x2000, ['a'])])).to.throw(/"far".*32-bit/);
  });
});

describe('Bus with firewall rules', () => {
  const BASE = 0x8000_0000;
  let ram: RegionDescriptor;
  let u8: Uint8Array;
  let dev: ReturnType<typeof recorder>;
  const rules = [
    rule('vring mcu2_0<->mcu2_1', BASE, 0x1000, ['mcu2_0', 'mcu2_1']),
    rule('rd_idx of mcu1_0', BASE + 0x800, 8, ['mcu1_0', 'mcu2_0']),
    rule('mailbox cluster 3', 0x4000_0000, 0x1000, ['mcu2_0']),
  ];
  const bus = (core: string, fw: readonly FirewallRule[] | null = rules) => new Bus([ram, {
    name: 'mbox', base: 0x4000_0000, size: 0x2000, kind: 'device', device: 'mbox', sab: new SharedArrayBuffer(4), byteOffset: 0,
  }], { mbox: dev }, { name: core, index: 0 }, fw ?? undefined);

  beforeEach(() => {
    ram = ramRegion('ram', BASE, 0x2000);
    u8 = new Uint8Array(ram.sab);
    dev = recorder();
  });

  it('a refused write32 does not land and the fault names core, address, region and owner', () => {
    const err = thrown(() => bus('mcu1_0').write32(BASE + 0x10, 0xDEADBEEF));
    expect(err).to.be.instanceOf(FirewallFault).and.instanceOf(BusError);
    const f = err as FirewallFault;
    expect([f.core, f.op, f.address, f.size, f.region, f.owner]).to.deep.equal(['mcu1_0', 'write32', BASE + 0x10, 4, 'vring mcu2_0<->mcu2_1', 'mcu2_0+mcu2_1']);
    expect(f.message).to.equal(
      'firewall: core mcu1_0 may not write32 0x80000010 (4 bytes): region "vring mcu2_0<->mcu2_1" belongs to mcu2_0+mcu2_1; the write was refused');
    expect(u8.subarray(0x10, 0x14)).to.deep.equal(new Uint8Array(4));
  });

  it('write16 and write8 are refused the same way; reads stay free', () => {
    u8[0x20] = 7;
    const b = bus('mcu1_0');
    expect(thrown(() => b.write16(BASE + 0x20, 0xFFFF)).message).to.include('may not write16 0x80000020 (2 bytes)');
    expect(thrown(() => b.write8(BASE + 0x20, 0xFF)).message).to.include('may not write8 0x80000020 (1 bytes)');
    expect(u8[0x20]).to.equal(7);
    expect(b.read8(BASE + 0x20)).to.equal(7);
    expect(b.read32(BASE + 0x20)).to.equal(7);
    expect(b.readBytes(BASE + 0x20, 2)).to.deep.equal(Uint8Array.of(7, 0));
  });

  it('writeBytes must be allowed over its whole range: partly refused, none of it lands', () => {
    // mcu1_0 may write rd_idx (0x800..0x807) but not what follows.
    const b = bus('mcu1_0');
    b.writeBytes(BASE + 0x800, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    expect([...u8.subarray(0x800, 0x808)]).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    const err = thrown(() => b.writeBytes(BASE + 0x804, new Uint8Array(16).fill(0xAA))) as FirewallFault;
    expect(err.refusedAddress).to.equal(BASE + 0x808);
    expect(err.message).to.equal('firewall: core mcu1_0 may not writeBytes 0x80000804 (16 bytes): 0x80000808 is in region ' +
      '"vring mcu2_0<->mcu2_1", which belongs to mcu2_0+mcu2_1; the write was refused');
    expect([...u8.subarray(0x800, 0x818)]).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, ...new Array(16).fill(0)]);
    // A range that runs from a rule into open memory is refused as a whole.
    expect(thrown(() => b.writeBytes(BASE + 0xFFC, new Uint8Array(8))).message).to.include('may not writeBytes 0x80000FFC (8 bytes)');
    expect(u8.subarray(0xFFC, 0x1004)).to.deep.equal(new Uint8Array(8));
  });

  it('the cores a rule lists write normally, and memory no rule covers is open to everyone', () => {
    bus('mcu2_1').write32(BASE + 0x10, 0x11223344);
    expect(bus('mcu2_1').read32(BASE + 0x10)).to.equal(0x11223344);
    bus('mcu1_0').write32(BASE + 0x1800, 5);
    expect(bus('mcu1_0').read32(BASE + 0x1800)).to.equal(5);
    // The nested rule decides inside it: mcu2_1 (allowed by the outer rule) may not write rd_idx.
    expect(thrown(() => bus('mcu2_1').write32(BASE + 0x800, 1)).message).to.include('region "rd_idx of mcu1_0" belongs to mcu1_0+mcu2_0');
  });

  it('a read-write window over a refused range is refused, naming the region; one inside allowed memory is given', () => {
    const err = thrown(() => bus('mcu1_0').window(BASE + 0x7F0, 0x20)) as FirewallFault;
    expect(err).to.be.instanceOf(FirewallFault);
    expect(err.op).to.equal('map');
    expect(err.message).to.equal('firewall: core mcu1_0 may not map 0x800007F0 (32 bytes) read-write: region "vring mcu2_0<->mcu2_1" ' +
      'belongs to mcu2_0+mcu2_1; the mapping was refused');
    expect(bus('mcu1_0').window(BASE + 0x800, 8).byteOffset).to.equal(0x800);
    expect(bus('mcu2_0').window(BASE, 0x1000).byteOffset).to.equal(0);
  });

  it('device registers are covered by address: a refused mailbox write never reaches the device', () => {
    expect(thrown(() => bus('mcu1_0').write32(0x4000_0040, 9)).message).to.include('region "mailbox cluster 3" belongs to mcu2_0');
    expect(dev.writes).to.deep.equal([]);
    bus('mcu2_0').write32(0x4000_0040, 9);
    bus('mcu1_0').write32(0x4000_1040, 10); // the next cluster has no rule
    expect(dev.writes).to.deep.equal([[0x40, 9], [0x1040, 10]]);
  });

  it('without rules nothing is checked', () => {
    bus('mcu1_0', null).write32(BASE + 0x10, 1);
    expect(bus('mcu1_0', null).window(BASE, 0x2000).byteOffset).to.equal(0);
    expect(u8[0x10]).to.equal(1);
  });
});

describe('J721E built-in firewall rules', () => {
  const image = buildImage(findProfile('j7'), 2, {}, { firewall: true });
  const rtos = image.cores.filter((c) => c.os === 'rtos').map((c) => c.name);
  const proc = (n: string) => J721E_PROC_NAMES.indexOf(n);

  it('are off unless asked for', () => {
    expect(buildImage(findProfile('j7'), 2).firewall).to.equal(undefined);
    expect(image.firewall!.length).to.be.greaterThan(0);
  });

  it('let both cores of every RTOS pair map their vrings and buffers, and refuse every third core', () => {
    const buses = Object.fromEntries(image.cores.map((c) => [c.name, busOf(image, c.name)]));
    for (const a of rtos) {
      for (const b of rtos) {
        if (a === b) continue;
        const l = pdkPairLayout(proc(a), proc(b), J721E_VRING_BASE);
        for (const addr of [l.txVring, l.txBufs, l.rxVring, l.rxBufs]) buses[a]!.window(addr, IPC_VRING_SIZE);
        const third = rtos.find((c) => c !== a && c !== b)!;
        const err = thrown(() => buses[third]!.window(l.txVring, 0x100)) as FirewallFault;
        const [lo, hi] = proc(a) < proc(b) ? [a, b] : [b, a];
        expect([err.core, err.region, err.owner]).to.deep.equal([third, `vring ${lo}<->${hi}`, `${lo}+${hi}`]);
        expect(() => buses['mpu1_0']!.write32(l.rxBufs, 1)).to.throw(FirewallFault);
      }
    }
  });

  it('the PDK driver sets up its vrings with firewalls on', () => {
    const control = new CoreControl(image.controlSab, image.controlLayout.coreControl, image.cores.length);
    const irq = new InterruptController(image.controlSab, image.controlLayout.irq, image.cores.length);
    for (const [name, peer] of [['mcu2_0', 'mcu2_1'], ['mcu2_1', 'mcu2_0']] as const) {
      const info = image.cores.find((c) => c.name === name)!;
      const rt = new CoreRuntime({ index: info.index, name, irq, control });
      const { bus, mailbox } = wireJ721eCore(image, info, rt, irq, control);
      const pdk = new PdkIpc({ rt, bus, mailbox, log: capturingLogger(), selfProcId: info.procId, procNames: J721E_PROC_NAMES, rscTableAddr: image.rscTables[name] });
      expect(pdk.Ipc_mpSetConfig(info.procId, 1, [proc(peer)])).to.equal(IPC_SOK);
      expect(pdk.Ipc_init(null)).to.equal(IPC_SOK);
      expect(pdk.Ipc_loadResourceTable()).to.equal(IPC_SOK);
      expect(pdk.Ipc_initVirtIO({ vringBaseAddr: J721E_VRING_BASE, vringBufSize: 0x1C0_0000, timeoutCnt: 100 })).to.equal(IPC_SOK);
    }
  });

  it('give each DMA region and resource table to its core and Linux only', () => {
    const rsc = image.rscTables['mcu3_0']!;
    busOf(image, 'mcu3_0').window(rsc, 140);
    busOf(image, 'mpu1_0').window(rsc, 140);
    busOf(image, 'mpu1_0').write32(image.dmaRegions['mcu3_0']!, 1);
    expect(thrown(() => busOf(image, 'mcu3_1').window(rsc, 140)).message).to.include(`region "rsc-table.mcu3_0" belongs to mcu3_0+mpu1_0`);
    expect(thrown(() => busOf(image, 'C7X_1').write32(image.dmaRegions['mcu3_0']!, 1)).message).to.include('region "dma.mcu3_0"');
  });

  it('give each mailbox cluster to the cores whose queues are on it; spinlocks and MSMC stay open', () => {
    // Cluster 1: Linux <-> mcu2_0/mcu2_1 (and mpu1_1); cluster 5: the RTOS inboxes of mcu2_0 and mcu2_1.
    const c1 = J721E_MAILBOX_BASE + 1 * J721E_MAILBOX_CLUSTER_STRIDE;
    const c5 = J721E_MAILBOX_BASE + 5 * J721E_MAILBOX_CLUSTER_STRIDE;
    busOf(image, 'mcu2_0').write32(c1 + 0x40, 1);
    busOf(image, 'mpu1_0').write32(c1 + 0x40, 1);
    busOf(image, 'C7X_1').write32(c5 + 0x40, 1);
    expect(thrown(() => busOf(image, 'mcu1_0').write32(c1 + 0x40, 1)).message)
      .to.include('region "mailbox cluster 1" belongs to mpu1_0+mcu2_0+mcu2_1+mpu1_1');
    expect(thrown(() => busOf(image, 'mpu1_0').write32(c5 + 0x40, 1)).message).to.include('region "mailbox cluster 5"');
    expect(thrown(() => busOf(image, 'mcu1_0').write32(J721E_MAILBOX_BASE + 10 * J721E_MAILBOX_CLUSTER_STRIDE, 1)).message)
      .to.include('belongs to no core');
    busOf(image, 'mcu1_0').write32(0x30E0_0800, 0);
    busOf(image, 'C66X_2').write32(0x7000_0000, 1);
  });
});

describe('nRF5340 built-in firewall rules', () => {
  let image: SocImage;
  before(async () => {
    const profile = findProfile('nrf5340');
    image = buildImage(profile, 2, await loadZephyrConfigs(profile, PROJECT_ROOT), { firewall: true });
  });

  it('let the receiver write rd_idx of its peer\'s TX region but not the data; the sender writes both', () => {
    // ipc1 (ICMsg, dcache-alignment 8): cpuapp's TX region at 0x20074000, rd_idx @0, wr_idx @8, data @12.
    const net = busOf(image, 'cpunet');
    net.write32(0x2007_4000, 0);
    const err = thrown(() => net.write32(0x2007_400C, 0xBAD)) as FirewallFault;
    expect([err.region, err.owner]).to.deep.equal(['ipc1 tx-region of cpuapp', 'cpuapp']);
    expect(net.read32(0x2007_400C)).to.equal(0);
    expect(() => net.write32(0x2007_4008, 4)).to.throw(/wr_idx|tx-region of cpuapp/);
    const app = busOf(image, 'cpuapp');
    app.write32(0x2007_4000, 0);
    app.write32(0x2007_400C, 1);
    // ipc0 (ICBMsg): the blocks are the sender's; the receiver maps them to read them.
    expect(() => net.writeBytes(0x2007_3000, Uint8Array.of(1))).to.throw(/ipc0 tx-region of cpuapp/);
    net.window(0x2007_0000, 0x4000);
    app.write32(0x2007_8000, 0);
  });

  it('give each core its own IPC peripheral and the rest of the shared RAM to the application core', () => {
    expect(() => busOf(image, 'cpunet').write32(0x5002_A000, 1)).to.throw(/region "ipc.cpuapp" belongs to cpuapp/);
    busOf(image, 'cpunet').write32(0x4101_2000, 1);
  });

  it('the ipc_service stack of both cores maps its regions with firewalls on', () => {
    const control = new CoreControl(image.controlSab, image.controlLayout.coreControl, image.cores.length);
    const irq = new InterruptController(image.controlSab, image.controlLayout.irq, image.cores.length);
    for (const info of image.cores) {
      const rt = new CoreRuntime({ index: info.index, name: info.name, irq, control });
      const { bus, mbox } = wireNrf5340Core(image, info, rt, irq);
      expect(() => createZephyrIpc({ core: info.name, rt, bus, mbox, image: image.zephyr[info.name]! })).to.not.throw();
    }
  });

  it('shared RAM no instance covers belongs to the application core', () => {
    const profile: SocProfile = { ...findProfile('nrf5340'), sharedMemory: [{ name: 'ipc-shm', base: 0x2007_0000, size: 0x1_0000 }, { name: 'extra', base: 0x2006_0000, size: 0x1000 }] };
    const img = buildImage(profile, 2, image.zephyr, { firewall: true });
    busOf(img, 'cpuapp').write32(0x2006_0000, 1);
    expect(() => busOf(img, 'cpunet').window(0x2006_0000, 16)).to.throw(/region "extra" belongs to cpuapp/);
  });
});

describe('profile firewall rules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hetsoc-fw-'));
  const write = (name: string, doc: unknown): string => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify(doc));
    return p;
  };
  const board = (firewall: unknown) => ({
    platform: 'j721e', cores: [{ name: 'mcu1_0', firmware: 'a.ts' }, { name: 'mcu2_0', firmware: 'b.ts' }, { name: 'mcu2_1', firmware: 'c.ts' }], firewall,
  });

  it('are read from a profile file, turn firewalls on and nest inside the built-in rules', () => {
    const l = pdkPairLayout(3, 4);
    const path = write('ok.json', board([{ name: 'mcu2_0 tx only', base: `0x${l.txVring.toString(16)}`, size: '0x20000', cores: ['mcu2_0'] }]));
    const profile = loadProfileFile(path, PROJECT_ROOT);
    expect(profile.firewall).to.deep.equal([{ name: 'mcu2_0 tx only', base: l.txVring, size: 0x20000, cores: ['mcu2_0'] }]);
    expect(firewallWanted(profile, false)).to.equal(true);
    const image = buildImage(profile, 2);
    expect(image.firewall!.at(-1)).to.deep.equal({ name: 'mcu2_0 tx only', base: l.txVring, size: 0x20000, owner: 'mcu2_0', cores: ['mcu2_0'] });
    busOf(image, 'mcu2_0').write32(l.txVring, 1);
    expect(thrown(() => busOf(image, 'mcu2_1').write32(l.txVring, 1)).message).to.include('region "mcu2_0 tx only" belongs to mcu2_0');
    busOf(image, 'mcu2_1').write32(l.rxVring, 1); // the rest of the pair is still both cores'
    expect(() => busOf(image, 'mcu1_0').write32(l.rxVring, 1)).to.throw(/vring mcu2_0<->mcu2_1/);
  });

  it('an empty list turns firewalls on with the built-in rules only', () => {
    const profile = loadProfileFile(write('empty.json', board([])), PROJECT_ROOT);
    const rules = buildImage(profile, 2).firewall!;
    // No Linux on this board, so no DMA regions: the 55 PDK pairs and the 12 mailbox clusters.
    expect(rules.map((r) => r.name.split(' ')[0])).to.deep.equal([...new Array(55).fill('vring'), ...new Array(12).fill('mailbox')]);
    expect(firewallRules(profile, buildImage(profile, 2))).to.deep.equal(rules);
  });

  it('are refused with the file, the rule index and what is wrong', () => {
    const bad = (name: string, rules: unknown, re: RegExp) => {
      const path = write(name, board(rules));
      expect(() => loadProfileFile(path, PROJECT_ROOT)).to.throw(ProfileError, re);
    };
    bad('unknown.json', [{ name: 'x', base: 0, size: 4, cores: ['mcu1_0'] }, { name: 'y', base: 0, size: 4, cores: ['mcu9_9'] }],
      /unknown\.json: firewall\[1\]\.cores\[0\]: unknown core "mcu9_9"; this board's cores: mcu1_0, mcu2_0, mcu2_1/);
    bad('size0.json', [{ name: 'x', base: 0, size: 0, cores: ['mcu1_0'] }], /size0\.json: firewall\[0\]\.size: rule "x" has size 0/);
    bad('wide.json', [{ name: 'x', base: '0xFFFFF000', size: '0x2000', cores: [] }], /wide\.json: firewall\[0\]: rule "x" .* runs past the 32-bit address space/);
    bad('neg.json', [{ name: 'x', base: -4, size: 4, cores: [] }], /neg\.json: firewall\[0\]\.base: expected a non-negative integer/);
    bad('noname.json', [{ base: 0, size: 4, cores: [] }], /firewall\[0\]\.name: expected a non-empty string/);
    bad('notlist.json', { name: 'x' }, /firewall: expected an array/);
    bad('cores.json', [{ name: 'x', base: 0, size: 4, cores: 'mcu1_0' }], /firewall\[0\]\.cores: expected a list of core names/);
  });
});
