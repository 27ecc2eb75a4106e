// Shared devicetree sources and assertions for the devicetree unit tests.
import { expect } from 'chai';
import { DevicetreeError, parseDevicetree, type DtTree } from '../../soc/devicetree/parse.js';
import { extractZephyrIpc, type ZephyrIpcConfig } from '../../soc/devicetree/zephyr-ipc.js';

// Minimal per-core SoC files in the shape hetsoc ships (the IPC MBOX controller is labelled `mbox`).
export const socDtsi = (mboxAddr: string): string => `/dts-v1/;
/ {
\t#address-cells = <1>;
\t#size-cells = <1>;
\treserved-memory {
\t\t#address-cells = <1>;
\t\t#size-cells = <1>;
\t\tranges;
\t};
\tsoc {
\t\t#address-cells = <1>;
\t\t#size-cells = <1>;
\t\tmbox: mbox@${mboxAddr} {
\t\t\tcompatible = "nordic,mbox-nrf-ipc";
\t\t\treg = <0x${mboxAddr} 0x1000>;
\t\t\ttx-mask = <0xffff>;
\t\t\trx-mask = <0xffff>;
\t\t\t#mbox-cells = <1>;
\t\t\tstatus = "okay";
\t\t};
\t};
};
`;
export const APP_SOC = socDtsi('2a000');
export const NET_SOC = socDtsi('41012000');

/** The ICMsg sample overlay (seed 001): app sends on channel 0 from 0x20070000. */
export const ICMSG_APP = `/ {
\treserved-memory {
\t\ttx: memory@20070000 {
\t\t\treg = <0x20070000 0x0800>;
\t\t};
\t\trx: memory@20078000 {
\t\t\treg = <0x20078000 0x0800>;
\t\t};
\t};
\tipc {
\t\tipc0: ipc0 {
\t\t\tcompatible = "zephyr,ipc-icmsg";
\t\t\ttx-region = <&tx>;
\t\t\trx-region = <&rx>;
\t\t\tmboxes = <&mbox 0>, <&mbox 1>;
\t\t\tmbox-names = "tx", "rx";
\t\t\tstatus = "okay";
\t\t};
\t};
};
`;
/** The net side: regions and channel names swapped. */
export const ICMSG_NET = ICMSG_APP.replace('<&tx>;\n\t\t\trx-region = <&rx>', '<&rx>;\n\t\t\trx-region = <&tx>').replace('"tx", "rx"', '"rx", "tx"');

/** The ICBMsg example (seed 002) with two 32 KiB regions filling the shared 64 KiB. */
export const ICBMSG_APP = ICMSG_APP.replace('"zephyr,ipc-icmsg"', '"zephyr,ipc-icbmsg"')
  .replace(/0x0800/g, '0x8000')
  .replace('rx-region = <&rx>;', 'rx-region = <&rx>;\n\t\t\ttx-blocks = <16>;\n\t\t\trx-blocks = <32>;');
export const ICBMSG_NET = ICBMSG_APP.replace('<&tx>;\n\t\t\trx-region = <&rx>', '<&rx>;\n\t\t\trx-region = <&tx>')
  .replace('"tx", "rx"', '"rx", "tx"').replace('<16>', '<X>').replace('<32>', '<16>').replace('<X>', '<32>');

export const SHARED = { sharedRam: [{ name: 'sram0-ipc', base: 0x20070000, size: 0x10000 }] };

export const app = (overlay: string, soc = APP_SOC): Promise<DtTree> =>
  parseDevicetree([{ path: 'soc-app.dtsi', source: soc }, { path: 'app.overlay', source: overlay }]);
export const net = (overlay: string): Promise<DtTree> =>
  parseDevicetree([{ path: 'soc-net.dtsi', source: NET_SOC }, { path: 'net.overlay', source: overlay }]);
export const appIpc = async (overlay: string): Promise<ZephyrIpcConfig> => extractZephyrIpc(await app(overlay), SHARED);
export const netIpc = async (overlay: string): Promise<ZephyrIpcConfig> => extractZephyrIpc(await net(overlay), SHARED);

/** "line:column" (1-based) of the `nth` occurrence of `needle` in `src`. */
export function pos(src: string, needle: string, nth = 0): string {
  let i = -1;
  for (let k = 0; k <= nth; k++) {
    i = src.indexOf(needle, i + 1);
    if (i < 0) throw new Error(`test bug: "${needle}" not in source`);
  }
  const before = src.slice(0, i);
  return `${before.split('\n').length}:${i - before.lastIndexOf('\n')}`;
}

/** Runs `fn`, which must reject with a DevicetreeError; returns its message. */
export async function dtError(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    expect(e).to.be.instanceOf(DevicetreeError);
    return (e as Error).message;
  }
  throw new Error('expected a DevicetreeError, got none');
}

/** Asserts the message starts with `file:line:column:` of `needle` in `src` and matches `what`. */
export async function failsAt(fn: () => Promise<unknown>, file: string, src: string, needle: string, what: RegExp, nth = 0): Promise<void> {
  const msg = await dtError(fn);
  expect(msg.startsWith(`${file}:${pos(src, needle, nth)}: `), msg).to.equal(true);
  expect(msg).to.match(what);
}

