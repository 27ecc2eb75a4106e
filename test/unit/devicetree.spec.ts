import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  getNode, parseDevicetree, propCells, propPhandles, propString, propStrings, propU32, type DtSource,
} from '../../soc/devicetree/parse.js';
import { checkPeerConfigs } from '../../soc/devicetree/zephyr-ipc.js';
import {
  app, appIpc, dtError, failsAt, ICBMSG_APP, ICBMSG_NET, ICMSG_APP, ICMSG_NET, netIpc,
} from '../support/devicetree-fixtures.js';

describe('devicetree: parsing and Zephyr IPC extraction (unit)', () => {
  describe('parsing and merging', () => {
    it('merges / blocks, &label overlays, later properties, /delete-property/ and /delete-node/ in order', async () => {
      const t = await app(`/ {
\tchosen { a = <1>; b = "x"; };
\tgone { };
};
/ { chosen { a = <2>; }; };
&mbox { tx-mask = <0x00ff>; };
/ { chosen { /delete-property/ b; }; /delete-node/ gone; };
/delete-node/ &{/soc};
`);
      expect(propU32(getNode(t, '/chosen')!, 'a')).to.equal(2);
      expect(getNode(t, '/chosen')!.props.has('b')).to.equal(false);
      expect(getNode(t, '/gone')).to.equal(undefined);
      expect(getNode(t, '/soc')).to.equal(undefined);
      expect(t.labels.has('mbox')).to.equal(false);
      expect(t.files).to.deep.equal(['soc-app.dtsi', 'app.overlay']);
    });

    it('records labels, unit addresses, paths, value kinds and 1-based locations', async () => {
      const src = '/ {\n\tn: node@10 {\n\t\ts = "a\\tb", "c";\n\t\tc = <1 (2 + 3) &n>, <&{/node@10}>;\n\t\tb = [0a 0B];\n\t\tr = &n;\n\t\tz;\n\t};\n};\n';
      const t = await parseDevicetree([{ path: 'x.dts', source: src }]);
      const n = getNode(t, '/node')!;
      expect([n.name, n.unitAddress, n.path, n.labels]).to.deep.equal(['node', '10', '/node@10', ['n']]);
      expect(n.loc).to.deep.equal({ file: 'x.dts', line: 2, column: 2 });
      expect(propStrings(n, 's')).to.deep.equal(['a\tb', 'c']);
      const c = n.props.get('c')!;
      expect(c.values[0]).to.deep.include({ kind: 'cells', bits: 32 });
      expect(c.values.flatMap((v) => (v.kind === 'cells' ? v.cells.map((x) => (x.kind === 'u32' ? x.value : x.ref)) : [])))
        .to.deep.equal([1, 5, 'n', '/node@10']);
      expect(c.loc).to.deep.equal({ file: 'x.dts', line: 4, column: 3 });
      expect(n.props.get('b')!.values[0]).to.deep.include({ kind: 'bytes', bytes: Uint8Array.of(10, 11) });
      expect(n.props.get('r')!.values[0]).to.deep.include({ kind: 'reference', ref: 'n' });
      expect(n.props.get('z')!.values).to.deep.equal([]);
    });

    it('substitutes #define integers in cells and reads #include "x.dtsi" relative to the including file', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'hetsoc-dt-'));
      try {
        await writeFile(path.join(dir, 'sub.dtsi'), '#define SHM_SIZE 0x800\n/ { from-include = <SHM_SIZE>; };\n');
        await writeFile(path.join(dir, 'main.dts'), '#include "sub.dtsi"\n#define TWO (2)\n/ { v = <TWO (SHM_SIZE * TWO)>; };\n');
        const files: DtSource[] = [{ path: path.join(dir, 'main.dts') }];
        const t = await parseDevicetree(files);
        expect(propU32(t.root, 'from-include')).to.equal(0x800);
        expect(propCells(t.root, 'v')!.map((c) => (c.kind === 'u32' ? c.value : c.ref))).to.deep.equal([2, 0x1000]);
        expect(t.files).to.deep.equal([path.join(dir, 'main.dts'), path.join(dir, 'sub.dtsi')]);
        const msg = await dtError(() => parseDevicetree([{ path: path.join(dir, 'main.dts'), source: '#include "missing.dtsi"\n' }]));
        expect(msg).to.match(/main\.dts:1:1: cannot read .*missing\.dtsi.*; expected an existing/);
      } finally {
        await rm(dir, { recursive: true });
      }
    });

    it('resolves phandle arrays with their #cells and reads strings', async () => {
      const t = await app(ICMSG_APP);
      const ipc0 = getNode(t, '/ipc/ipc0')!;
      const e = propPhandles(t, ipc0, 'mboxes', '#mbox-cells')!;
      expect(e.map((x) => [x.node.path, x.args])).to.deep.equal([['/soc/mbox@2a000', [0]], ['/soc/mbox@2a000', [1]]]);
      expect(propString(ipc0, 'status')).to.equal('okay');
    });

    it('reports a syntax error (missing ";") at the next token with what was expected', async () => {
      const src = '/ {\n\ta = <1>\n\tb = <2>;\n};\n';
      expect(await dtError(() => parseDevicetree([{ path: 'bad.dts', source: src }])))
        .to.equal('bad.dts:3:2: unexpected `b` after a value; expected "," before another value, or ";" to end the property');
    });

    it('reports a "}" without ";" right after the "}"', async () => {
      const src = '/ {\n\tn {\n\t\ta = <1>;\n\t}\n\tm { };\n};\n';
      expect(await dtError(() => parseDevicetree([{ path: 'bad.dts', source: src }])))
        .to.equal('bad.dts:4:3: missing ";" after "}"; expected "};" to close a node');
    });

    it('reports a node that is never closed at its "{"', async () => {
      const src = '/ {\n\tipc {\n\t\ta = <1>;\n';
      expect(await dtError(() => parseDevicetree([{ path: 'bad.dts', source: src }])))
        .to.match(/^bad\.dts:2:6: this "\{" is never closed .*; expected "\};"/);
    });

    it('refuses preprocessor directives other than #include "..." and #define NAME <integer>', async () => {
      const src = '/ {\n};\n#ifdef CONFIG_X\n/ { a; };\n#endif\n';
      expect(await dtError(() => parseDevicetree([{ path: 'pp.dts', source: src }])))
        .to.match(/^pp\.dts:3:1: #ifdef\/#ifndef is not supported; expected only `#include "file"` and `#define NAME <integer>`/);
    });

    it('refuses an identifier in cells that no earlier #define names', async () => {
      const src = '/ {\n\ta = <0x10 SHM_BASE>;\n};\n';
      await failsAt(() => parseDevicetree([{ path: 'm.dts', source: src }]), 'm.dts', src, 'SHM_BASE', /"SHM_BASE" is not a number .*; expected a number, or `#define SHM_BASE <integer>`/);
    });

    it('refuses &label { } when no earlier node carries the label', async () => {
      const src = '&mbx {\n\tstatus = "okay";\n};\n';
      await failsAt(() => app(src), 'app.overlay', src, '&mbx', /&mbx \{ \.\.\. \} cannot be applied: no earlier node is labelled "mbx"; expected a label defined earlier/);
    });

    it('refuses the same label on two nodes', async () => {
      const src = '/ { a: x { }; a: y { }; };';
      await failsAt(() => parseDevicetree([{ path: 'l.dts', source: src }]), 'l.dts', src, 'a: y', /label "a" is already used by \/x \(l\.dts:1:5\); expected each label on one node only/);
    });
  });

  describe('extractZephyrIpc: valid configurations', () => {
    it('extracts the ICMsg sample pair (regions, channels, defaults) and accepts them as peers', async () => {
      const a = await appIpc(ICMSG_APP);
      const n = await netIpc(ICMSG_NET);
      expect(a.files).to.deep.equal(['soc-app.dtsi', 'app.overlay']);
      expect(a.instances).to.have.length(1);
      const i = a.instances[0]!;
      expect([i.name, i.labels, i.path, i.compatible]).to.deep.equal(['ipc0', ['ipc0'], '/ipc/ipc0', 'zephyr,ipc-icmsg']);
      expect(i.txRegion).to.deep.include({ label: 'tx', path: '/reserved-memory/memory@20070000', base: 0x20070000, size: 0x800 });
      expect(i.rxRegion).to.deep.include({ label: 'rx', base: 0x20078000, size: 0x800 });
      expect(i.txRegion.loc).to.deep.equal({ file: 'app.overlay', line: 13, column: 4 });
      expect(i.mboxTx).to.deep.include({ controller: '/soc/mbox@2a000', channel: 0 });
      expect(i.mboxRx).to.deep.include({ controller: '/soc/mbox@2a000', channel: 1 });
      expect([i.dcacheAlignment, i.unbound, i.txBlocks, i.rxBlocks]).to.deep.equal([0, 'disable', undefined, undefined]);
      const j = n.instances[0]!;
      expect([j.txRegion.base, j.rxRegion.base, j.mboxTx.channel, j.mboxRx.channel, j.mboxTx.controller])
        .to.deep.equal([0x20078000, 0x20070000, 1, 0, '/soc/mbox@41012000']);
      checkPeerConfigs({ core: 'app', config: a }, { core: 'net', config: n });
      checkPeerConfigs({ core: 'net', config: n }, { core: 'app', config: a });
    });

    it('extracts the ICBMsg pair with block counts, dcache-alignment and unbound', async () => {
      const extra = (s: string): string => s.replace('status = "okay";', 'dcache-alignment = <8>;\n\t\t\tunbound = "detect";\n\t\t\tstatus = "okay";');
      const a = await appIpc(extra(ICBMSG_APP));
      const n = await netIpc(extra(ICBMSG_NET));
      const i = a.instances[0]!;
      expect([i.compatible, i.txRegion.base, i.txRegion.size, i.rxRegion.base, i.txBlocks, i.rxBlocks])
        .to.deep.equal(['zephyr,ipc-icbmsg', 0x20070000, 0x8000, 0x20078000, 16, 32]);
      expect([i.dcacheAlignment, i.unbound]).to.deep.equal([8, 'detect']);
      expect([n.instances[0]!.txBlocks, n.instances[0]!.rxBlocks]).to.deep.equal([32, 16]);
      checkPeerConfigs({ core: 'app', config: a }, { core: 'net', config: n });
    });

    it('skips instances whose status is not "okay" (even with an unsupported compatible under ipc)', async () => {
      const src = ICMSG_APP.replace('status = "okay";', 'status = "disabled";')
        .replace('\t};\n};\n', '\t\tipc1 { compatible = "zephyr,ipc-openamp-static-vrings"; status = "disabled"; };\n\t};\n};\n');
      expect((await appIpc(src)).instances).to.deep.equal([]);
    });

    it('finds instances anywhere in the tree and applies overlays that amend them', async () => {
      const src = ICMSG_APP.replace('ipc {', 'soc-ipc {') + '&ipc0 { mboxes = <&mbox 4>, <&mbox 5>; };\n';
      const c = await appIpc(src);
      expect(c.instances.map((i) => [i.path, i.mboxTx.channel, i.mboxRx.channel])).to.deep.equal([['/soc-ipc/ipc0', 4, 5]]);
    });
  });
});
