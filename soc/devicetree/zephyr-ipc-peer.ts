// Cross-check of the two cores' Zephyr IPC configurations: each side must be the other's mirror image
// (tx/rx regions, MBOX channels and ICBMsg block counts swapped; dcache-alignment equal; unbound
// modes that bond: "enable" never pairs with "disable", "detect" pairs with both).
import { DevicetreeError, formatLoc, type DtLocation } from './errors.js';
import { hex, refText } from './tree.js';
import type { ZephyrIpcConfig, ZephyrIpcInstance, ZephyrIpcRegion } from './zephyr-ipc.js';

/** One core's configuration, named for messages ("app", "net"). */
export interface ZephyrIpcPeer {
  core: string;
  config: ZephyrIpcConfig;
}

const span = (r: ZephyrIpcRegion, extra = ''): string => `${hex(r.base)}..${hex(r.base + r.size)} (${r.size} bytes${extra})`;
const fileList = (p: ZephyrIpcPeer): string => p.config.files.join(', ') || '(no files)';

/**
 * Throws DevicetreeError unless `b` is the mirror image of `a`: the same instance names and compatibles,
 * a's tx-region is b's rx-region (and vice versa), a's tx channel is b's rx channel (and vice versa),
 * a's tx-blocks is b's rx-blocks (and vice versa), equal dcache-alignment, and unbound modes that can
 * bond (not "enable" on one side and "disable" on the other; "detect" bonds with both).
 * Mismatches are reported at b's property.
 */
export function checkPeerConfigs(a: ZephyrIpcPeer, b: ZephyrIpcPeer): void {
  for (const [x, y] of [[a, b], [b, a]] as const) {
    for (const inst of x.config.instances) {
      if (!y.config.instances.some((o) => o.name === inst.name)) {
        throw new DevicetreeError(
          inst.loc,
          `core ${x.core} has IPC instance "${inst.name}" (${inst.compatible}), but core ${y.core} has no enabled instance of that name in ${fileList(y)}`,
          `a node named "${inst.name}" with compatible "${inst.compatible}" in core ${y.core}'s devicetree (or remove it from core ${x.core})`,
        );
      }
    }
  }
  for (const ia of a.config.instances) checkPair(a.core, ia, b.core, b.config.instances.find((o) => o.name === ia.name)!);
}

function checkPair(coreA: string, ia: ZephyrIpcInstance, coreB: string, ib: ZephyrIpcInstance): void {
  const at = (prop: string): DtLocation => ib.propLocs[prop] ?? ib.loc;
  const atA = (prop: string): string => formatLoc(ia.propLocs[prop] ?? ia.loc);
  const fail = (loc: DtLocation, says: string, aProp: string, must: string, found: string): never => {
    throw new DevicetreeError(loc, `core ${coreA} (${atA(aProp)}) says ${ia.name} ${says}, so core ${coreB} must have ${must}; found ${found}`);
  };
  if (ia.compatible !== ib.compatible) {
    fail(at('compatible'), `is "${ia.compatible}"`, 'compatible', `compatible = "${ia.compatible}"`, `"${ib.compatible}"`);
  }
  for (const [mine, theirs, mineProp, theirProp] of [
    [ia.txRegion, ib.rxRegion, 'tx-region', 'rx-region'],
    [ia.rxRegion, ib.txRegion, 'rx-region', 'tx-region'],
  ] as const) {
    if (mine.base !== theirs.base || mine.size !== theirs.size) {
      fail(theirs.loc, `has ${mineProp} ${span(mine)}`, mineProp, `${theirProp} at ${span(mine)}`, span(theirs, `, ${refText(theirs.label)} = ${theirs.path}`));
    }
  }
  if (ia.mboxTx.channel !== ib.mboxRx.channel) {
    fail(ib.mboxRx.loc, `sends on MBOX channel ${ia.mboxTx.channel}`, 'mboxes', `its "rx" mbox on channel ${ia.mboxTx.channel}`, `channel ${ib.mboxRx.channel}`);
  }
  if (ia.mboxRx.channel !== ib.mboxTx.channel) {
    fail(ib.mboxTx.loc, `receives on MBOX channel ${ia.mboxRx.channel}`, 'mboxes', `its "tx" mbox on channel ${ia.mboxRx.channel}`, `channel ${ib.mboxTx.channel}`);
  }
  if (ia.txBlocks !== ib.rxBlocks) {
    fail(at('rx-blocks'), `has tx-blocks = <${ia.txBlocks}>`, 'tx-blocks', `rx-blocks = <${ia.txBlocks}>`, `${ib.rxBlocks ?? 'none'}`);
  }
  if (ia.rxBlocks !== ib.txBlocks) {
    fail(at('tx-blocks'), `has rx-blocks = <${ia.rxBlocks}>`, 'rx-blocks', `tx-blocks = <${ia.rxBlocks}>`, `${ib.txBlocks ?? 'none'}`);
  }
  if (ia.dcacheAlignment !== ib.dcacheAlignment) {
    fail(at('dcache-alignment'), `has dcache-alignment = <${ia.dcacheAlignment}>`, 'dcache-alignment', 'the same dcache-alignment (the larger cache line of both sides)', `${ib.dcacheAlignment}`);
  }
  // The binding: "cannot set enable on one side and disable on the other". "detect" pairs with
  // either (it falls back to the v1 protocol when the peer's magic is in its RX region).
  const modes = [ia.unbound, ib.unbound].sort().join();
  if (modes === 'disable,enable') {
    fail(
      at('unbound'), `has unbound = "${ia.unbound}"`, 'unbound', `unbound = "${ia.unbound}" or "detect"`,
      `"${ib.unbound}"${ib.propLocs['unbound'] ? '' : ' (no unbound property: the default)'}; "enable" on one side and "disable" on the other never bond (the session and the v1 magic protocols; Zephyr's binding forbids it)`,
    );
  }
}
