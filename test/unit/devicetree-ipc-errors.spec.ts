import {
  appIpc, failsAt, ICBMSG_APP, ICBMSG_NET, ICMSG_APP, ICMSG_NET, netIpc,
} from '../support/devicetree-fixtures.js';
import { checkPeerConfigs } from '../../soc/devicetree/zephyr-ipc.js';

describe('devicetree: refused Zephyr IPC configurations (unit)', () => {
  describe('extractZephyrIpc: refused configurations', () => {
    const F = 'app.overlay';

    it('a tx-region phandle that does not resolve', async () => {
      const src = ICMSG_APP.replace('<&tx>', '<&txx>');
      await failsAt(() => appIpc(src), F, src, 'tx-region', /tx-region.*refers to &txx, but no node is labelled "txx" \(did you mean &tx\?\); expected the label of a memory region node/);
    });

    it('a tx-region that points to a disabled node', async () => {
      const src = ICMSG_APP.replace('reg = <0x20070000 0x0800>;', 'reg = <0x20070000 0x0800>; status = "disabled";');
      await failsAt(() => appIpc(src), F, src, 'tx-region', /refers to &tx \(\/reserved-memory\/memory@20070000\), which has status "disabled"; expected an enabled memory region/);
    });

    it('an rx-region that points to a node without reg', async () => {
      const src = ICMSG_APP.replace('<&rx>', '<&norg>') + '/ { soc { norg: thing { }; }; };\n';
      await failsAt(() => appIpc(src), F, src, 'rx-region', /rx-region of \/ipc\/ipc0 refers to &norg \(\/soc\/thing\), which has no "reg" property; expected a memory node with `reg = <base size>;`/);
    });

    for (const prop of ['tx-region', 'rx-region', 'mboxes', 'mbox-names']) {
      it(`a missing required ${prop}`, async () => {
        const src = ICMSG_APP.replace(new RegExp(`\\n\\t+${prop} = [^;]*;`), '');
        await failsAt(() => appIpc(src), F, src, 'ipc0: ipc0', new RegExp(`ipc0 \\(zephyr,ipc-icmsg\\) has no "${prop}" property; expected \`${prop} = `));
      });
    }

    for (const prop of ['tx-blocks', 'rx-blocks']) {
      it(`a missing ${prop} on an ICBMsg instance`, async () => {
        const src = ICBMSG_APP.replace(new RegExp(`\\n\\t+${prop} = [^;]*;`), '');
        await failsAt(() => appIpc(src), F, src, 'ipc0: ipc0', new RegExp(`\\(zephyr,ipc-icbmsg\\) has no "${prop}" property; expected \`${prop} = <N>;\` with N in 1\\.\\.256`));
      });
    }

    it('an unsupported compatible under ipc, naming the supported ones', async () => {
      const src = ICMSG_APP.replace('"zephyr,ipc-icmsg"', '"zephyr,ipc-openamp-static-vrings"');
      await failsAt(() => appIpc(src), F, src, 'compatible', /has compatible "zephyr,ipc-openamp-static-vrings", which hetsoc does not support; expected compatible = "zephyr,ipc-icmsg" or "zephyr,ipc-icbmsg"/);
    });

    it('mbox-names other than "tx" and "rx"', async () => {
      const src = ICMSG_APP.replace('"tx", "rx"', '"tx", "tx"');
      await failsAt(() => appIpc(src), F, src, 'mbox-names', /mbox-names of \/ipc\/ipc0 is "tx", "tx"; expected "tx" and "rx" once each/);
    });

    it('mbox-names whose count does not match mboxes', async () => {
      const src = ICMSG_APP.replace('"tx", "rx"', '"tx", "rx", "extra"');
      await failsAt(() => appIpc(src), F, src, 'mbox-names', /is "tx", "rx", "extra"; expected "tx" and "rx" once each .*naming the two mboxes entries by position/);
    });

    it('mboxes with other than two entries', async () => {
      const src = ICMSG_APP.replace('<&mbox 1>;', '<&mbox 1>, <&mbox 2>;');
      await failsAt(() => appIpc(src), F, src, 'mboxes', /mboxes of \/ipc\/ipc0 has 3 entries; expected exactly two/);
    });

    it('an MBOX controller that is not nordic,mbox-nrf-ipc', async () => {
      const src = ICMSG_APP.replace('<&mbox 1>', '<&tx 1>');
      await failsAt(() => appIpc(src), F, src, 'mboxes', /refers to &tx \(\/reserved-memory\/memory@20070000\), which has no compatible; expected an MBOX controller compatible with "nordic,mbox-nrf-ipc"/);
    });

    it('a disabled MBOX controller', async () => {
      const src = ICMSG_APP + '&mbox { status = "disabled"; };\n';
      await failsAt(() => appIpc(src), F, src, 'mboxes', /refers to &mbox \(\/soc\/mbox@2a000\), which has status "disabled"; expected an enabled MBOX controller/);
    });

    it('a tx channel outside the controller tx-mask', async () => {
      const src = ICMSG_APP.replace('<&mbox 0>', '<&mbox 16>');
      await failsAt(() => appIpc(src), F, src, 'mboxes', /the "tx" channel 16 .*is not in tx-mask 0xffff of \/soc\/mbox@2a000; expected a tx channel in 0\.\.15/);
    });

    it('an rx channel outside the controller rx-mask', async () => {
      const src = ICMSG_APP + '&mbox { rx-mask = <0x00f0>; };\n';
      await failsAt(() => appIpc(src), F, src, 'mboxes', /the "rx" channel 1 .*is not in rx-mask 0xf0 of \/soc\/mbox@2a000; expected an rx channel in 4\.\.7/);
    });

    it('an mboxes entry with the wrong number of cells for #mbox-cells', async () => {
      const src = ICMSG_APP.replace('<&mbox 0>', '<&mbox 0 7>');
      await failsAt(() => appIpc(src), F, src, 'mboxes', /entry 0 of "mboxes" in \/ipc\/ipc0 gives 2 cell\(s\) after &mbox, but \/soc\/mbox@2a000 has #mbox-cells = <1>; expected <&mbox N>/);
    });

    it('reserved-memory regions that overlap, naming both regions and ranges', async () => {
      const src = ICMSG_APP.replace('\t};\n\tipc {', '\t\tother: memory@20070400 {\n\t\t\treg = <0x20070400 0x100>;\n\t\t};\n\t};\n\tipc {');
      await failsAt(() => appIpc(src), F, src, 'reg = <0x20070400', /region &other \(\/reserved-memory\/memory@20070400\) \[0x20070400\.\.0x20070500\) overlaps region &tx \(\/reserved-memory\/memory@20070000\) \[0x20070000\.\.0x20070800\) \(app\.overlay:4:4\); expected reserved-memory regions that do not overlap/);
    });

    it('a region partly outside shared RAM', async () => {
      const src = ICMSG_APP.replace('<0x20078000 0x0800>', '<0x2007fc00 0x0800>').replace('memory@20078000', 'memory@2007fc00');
      await failsAt(() => appIpc(src), F, src, 'reg = <0x2007fc00', /&rx \(\/reserved-memory\/memory@2007fc00\) \[0x2007fc00\.\.0x20080400\), the rx-region of \/ipc\/ipc0, is not entirely inside RAM shared by both cores; expected a region inside sram0-ipc \[0x20070000\.\.0x20080000\)/);
    });

    it('tx-region equal to rx-region', async () => {
      const src = ICMSG_APP.replace('<&rx>', '<&tx>');
      await failsAt(() => appIpc(src), F, src, 'rx-region', /rx-region of \/ipc\/ipc0 is the same node as its tx-region .*; expected two different memory regions/);
    });

    it('two instances sharing a region', async () => {
      const second = '\t\tipc1 {\n\t\t\tcompatible = "zephyr,ipc-icmsg";\n\t\t\ttx-region = <&tx2>;\n\t\t\trx-region = <&rx>;\n\t\t\tmboxes = <&mbox 2>, <&mbox 3>;\n\t\t\tmbox-names = "tx", "rx";\n\t\t};\n';
      const src = ICMSG_APP.replace('\t};\n\tipc {', '\t\ttx2: memory@20071000 {\n\t\t\treg = <0x20071000 0x0800>;\n\t\t};\n\t};\n\tipc {')
        .replace('\t};\n};\n', `${second}\t};\n};\n`);
      await failsAt(() => appIpc(src), F, src, 'rx-region', /rx-region of \/ipc\/ipc1 is &rx .*which is already the rx-region of \/ipc\/ipc0 \(app\.overlay:17:4\); expected a memory region of its own/, 1);
    });

    it('tx-blocks outside 1..256', async () => {
      const src = ICBMSG_APP.replace('tx-blocks = <16>', 'tx-blocks = <300>');
      await failsAt(() => appIpc(src), F, src, 'tx-blocks', /tx-blocks = <300> of \/ipc\/ipc0 is outside 1\.\.256; expected a block count from 1 to 256/);
    });

    it('rx-blocks = <0>', async () => {
      const src = ICBMSG_APP.replace('rx-blocks = <32>', 'rx-blocks = <0>');
      await failsAt(() => appIpc(src), F, src, 'rx-blocks', /rx-blocks = <0> of \/ipc\/ipc0 is outside 1\.\.256/);
    });

    it('more tx-blocks than the tx-region can hold', async () => {
      const src = ICBMSG_APP.replace(/0x8000/g, '0x0800').replace('tx-blocks = <16>', 'tx-blocks = <256>');
      await failsAt(() => appIpc(src), F, src, 'tx-blocks', /tx-blocks = <256> of \/ipc\/ipc0 does not fit its tx-region: ICBMsg region &tx \(0x20070000, 2048 bytes\): 256 blocks leave -4 bytes per block .*; expected fewer blocks or a larger tx-region/);
    });

    it('more rx-blocks than the rx-region can hold (laid out as rx local, tx remote)', async () => {
      const src = ICBMSG_APP.replace(/0x8000/g, '0x0800').replace('tx-blocks = <16>', 'tx-blocks = <1>').replace('rx-blocks = <32>', 'rx-blocks = <250>');
      await failsAt(() => appIpc(src), F, src, 'rx-blocks', /rx-blocks = <250> of \/ipc\/ipc0 does not fit its rx-region: ICBMsg region &rx .*250 blocks leave 0 bytes per block.*; expected fewer blocks or a larger rx-region/);
    });

    it('dcache-alignment that is not a power of two', async () => {
      const src = ICMSG_APP.replace('status = "okay";', 'dcache-alignment = <12>;');
      await failsAt(() => appIpc(src), F, src, 'dcache-alignment', /dcache-alignment = <12> of \/ipc\/ipc0 is not a power of two; expected 0 \(no data cache\) or a power of two/);
    });

    it('an unknown unbound mode', async () => {
      const src = ICMSG_APP.replace('status = "okay";', 'unbound = "auto";');
      await failsAt(() => appIpc(src), F, src, 'unbound', /unbound = "auto" of \/ipc\/ipc0 is not a known mode; expected "disable", "enable" or "detect"/);
    });

    it('unbound "detect" or "enable" with dcache-alignment below 8', async () => {
      const src = ICMSG_APP.replace('status = "okay";', 'unbound = "enable";\n\t\t\tdcache-alignment = <4>;');
      await failsAt(() => appIpc(src), F, src, 'unbound', /unbound = "enable" of \/ipc\/ipc0 needs dcache-alignment of at least 8, but the node has dcache-alignment = <4>; expected dcache-alignment = <8>;/);
      const src2 = ICMSG_APP.replace('status = "okay";', 'unbound = "detect";');
      await failsAt(() => appIpc(src2), F, src2, 'unbound', /"detect" .*no dcache-alignment \(0\)/);
    });

    it('a dangling reference elsewhere in the tree (dtc refuses these too)', async () => {
      const src = ICMSG_APP + '/ { chosen { zephyr,ipc = &nope; }; };\n';
      await failsAt(() => appIpc(src), F, src, 'zephyr,ipc =', /property "zephyr,ipc" of \/chosen refers to &nope, but no node is labelled "nope"; expected the label of an existing node/);
    });
  });

  describe('checkPeerConfigs', () => {
    const pair = async (appSrc: string, netSrc: string): Promise<void> =>
      checkPeerConfigs({ core: 'app', config: await appIpc(appSrc) }, { core: 'net', config: await netIpc(netSrc) });
    const N = 'net.overlay';

    it('an instance missing on the other core, naming it and the files that lack it', async () => {
      const netSrc = ICMSG_NET.replace(/ipc0/g, 'ipc1');
      await failsAt(() => pair(ICMSG_APP, netSrc), 'app.overlay', ICMSG_APP, 'ipc0: ipc0', /core app has IPC instance "ipc0" \(zephyr,ipc-icmsg\), but core net has no enabled instance of that name in soc-net\.dtsi, net\.overlay; expected a node named "ipc0"/);
    });

    it('an instance only the second core has, located at that core\'s node', async () => {
      const extra = '\t\tipc1 {\n\t\t\tcompatible = "zephyr,ipc-icmsg";\n\t\t\ttx-region = <&tx1>;\n\t\t\trx-region = <&rx1>;\n\t\t\tmboxes = <&mbox 2>, <&mbox 3>;\n\t\t\tmbox-names = "tx", "rx";\n\t\t};\n';
      const netSrc = ICMSG_NET.replace('\t};\n};\n', `${extra}\t};\n};\n`) + '/ { reserved-memory { tx1: memory@20071000 { reg = <0x20071000 0x800>; }; rx1: memory@20079000 { reg = <0x20079000 0x800>; }; }; };\n';
      await failsAt(() => pair(ICMSG_APP, netSrc), N, netSrc, 'ipc1 {', /core net has IPC instance "ipc1" \(zephyr,ipc-icmsg\), but core app has no enabled instance of that name in soc-app\.dtsi, app\.overlay/);
    });

    it('a different compatible', async () => {
      const netSrc = ICBMSG_NET.replace(/0x8000/g, '0x0800');
      await failsAt(() => pair(ICMSG_APP, netSrc), N, netSrc, 'compatible', /core app \(app\.overlay:12:4\) says ipc0 is "zephyr,ipc-icmsg", so core net must have compatible = "zephyr,ipc-icmsg"; found "zephyr,ipc-icbmsg"/);
    });

    it('regions that are not swapped', async () => {
      await failsAt(() => pair(ICMSG_APP, ICMSG_APP), N, ICMSG_APP, 'rx-region',
        /core app \(app\.overlay:13:4\) says ipc0 has tx-region 0x20070000\.\.0x20070800 \(2048 bytes\), so core net must have rx-region at 0x20070000\.\.0x20070800 \(2048 bytes\); found 0x20078000\.\.0x20078800 \(2048 bytes, &rx = /);
    });

    it('MBOX channels that are not swapped', async () => {
      const netSrc = ICMSG_NET.replace('"rx", "tx"', '"tx", "rx"');
      await failsAt(() => pair(ICMSG_APP, netSrc), N, netSrc, 'mboxes', /core app \(app\.overlay:15:4\) says ipc0 sends on MBOX channel 0, so core net must have its "rx" mbox on channel 0; found channel 1/);
    });

    it('block counts that are not swapped', async () => {
      const netSrc = ICBMSG_APP.replace('<&tx>;\n\t\t\trx-region = <&rx>', '<&rx>;\n\t\t\trx-region = <&tx>').replace('"tx", "rx"', '"rx", "tx"');
      await failsAt(() => pair(ICBMSG_APP, netSrc), N, netSrc, 'rx-blocks', /core app \(.*\) says ipc0 has tx-blocks = <16>, so core net must have rx-blocks = <16>; found 32/);
    });

    it('a different dcache-alignment', async () => {
      const netSrc = ICMSG_NET.replace('status = "okay";', 'dcache-alignment = <32>;');
      await failsAt(() => pair(ICMSG_APP, netSrc), N, netSrc, 'dcache-alignment', /core app \(.*\) says ipc0 has dcache-alignment = <0>, so core net must have the same dcache-alignment .*; found 32/);
    });

    it('unbound "enable" on one core and "disable" on the other (modes that never bond)', async () => {
      const both = (s: string, mode: string): string => s.replace('status = "okay";', `dcache-alignment = <8>;\n\t\t\tunbound = "${mode}";`);
      const netSrc = both(ICMSG_NET, 'enable');
      await failsAt(() => pair(both(ICMSG_APP, 'disable'), netSrc), N, netSrc, 'unbound', /core app \(app\.overlay:\d+:\d+\) says ipc0 has unbound = "disable", so core net must have unbound = "disable" or "detect"; found "enable"; "enable" on one side and "disable" on the other never bond/);
    });
  });
});
