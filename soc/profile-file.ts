// User profiles: a JSON file describing a board (its platform, cores, firmware, devicetree files,
// shared memory) run with `--profile PATH`, without touching hetsoc's source. Relative paths are
// relative to the file; "@hetsoc/..." names a file shipped with hetsoc (e.g. the nRF5340 SoC
// devicetree "@hetsoc/soc/dts/nrf5340_cpuapp.dtsi"). J721E boards name the cores they use by PDK
// name; kind, OS and proc id come from the J721E table. An optional "firewall" list declares the
// board's own write-access rules (and turns firewalls on; see soc/firewall.ts).

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { CoreKind, CoreOs, Platform } from '../cores/boot.js';
import { j7 } from './profiles/j7.js';
import { type CoreProfile, ProfileError, type ProfileFirewallRule, type SocProfile } from './profile.js';

const PLATFORMS: readonly Platform[] = ['j721e', 'nrf5340'];
const KINDS: readonly CoreKind[] = ['a72', 'r5f', 'c66x', 'c7x', 'cortex-m33'];
const OSES: readonly CoreOs[] = ['linux', 'rtos', 'zephyr'];

type Json = Record<string, unknown>;

/** Reads and checks a profile file; every error names the file and the field. */
export function loadProfileFile(path: string, projectRoot: string): SocProfile {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ProfileError(`profile file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ProfileError(`profile file ${path}: not valid JSON: ${(err as Error).message}`);
  }
  const fail = (field: string, what: string): never => {
    throw new ProfileError(`profile file ${path}: ${field}: ${what}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('(top level)', 'expected an object with "platform" and "cores"');
  const o = raw as Json;
  const dir = dirname(file);
  const fixPath = (p: string): string => (p.startsWith('@hetsoc/') ? resolve(projectRoot, p.slice('@hetsoc/'.length)) : resolve(dir, p));
  const str = (v: unknown, field: string): string => (typeof v === 'string' && v.length > 0 ? v : fail(field, `expected a non-empty string, found ${JSON.stringify(v)}`));
  const num = (v: unknown, field: string): number => {
    const n = typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : v;
    return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : fail(field, `expected a non-negative integer (or "0x..." string), found ${JSON.stringify(v)}`);
  };
  const oneOf = <T extends string>(v: unknown, allowed: readonly T[], field: string): T =>
    (allowed as readonly unknown[]).includes(v) ? (v as T) : fail(field, `expected one of ${allowed.join(', ')}, found ${JSON.stringify(v)}`);

  const platform = oneOf(o.platform, PLATFORMS, 'platform');
  if (!Array.isArray(o.cores) || o.cores.length === 0) fail('cores', 'expected a non-empty array of cores');
  const seen = new Set<string>();
  const cores: CoreProfile[] = (o.cores as unknown[]).map((c, i) => {
    const f = `cores[${i}]`;
    if (typeof c !== 'object' || c === null) fail(f, 'expected an object');
    const co = c as Json;
    const name = str(co.name, `${f}.name`);
    if (seen.has(name)) fail(`${f}.name`, `core "${name}" appears twice`);
    seen.add(name);
    const firmware = fixPath(str(co.firmware, `${f}.firmware`));
    const bootDelayMs = co.bootDelayMs === undefined ? undefined : num(co.bootDelayMs, `${f}.bootDelayMs`);
    if (platform === 'j721e') {
      const known = j7.cores.find((k) => k.name === name);
      if (!known) fail(`${f}.name`, `J721E has no core "${name}"; cores: ${j7.cores.map((k) => k.name).join(', ')}`);
      return { ...known!, firmware, ...(bootDelayMs !== undefined ? { bootDelayMs } : {}) };
    }
    const os = oneOf(co.os ?? 'zephyr', OSES, `${f}.os`);
    if (os !== 'zephyr') fail(`${f}.os`, `an nrf5340 board runs Zephyr on every core; found "${os}"`);
    if (!Array.isArray(co.devicetree) || co.devicetree.length === 0) {
      fail(`${f}.devicetree`, 'expected a list of devicetree files, e.g. ["@hetsoc/soc/dts/nrf5340_cpuapp.dtsi", "app.overlay"]');
    }
    const devicetree = (co.devicetree as unknown[]).map((d, j) => fixPath(str(d, `${f}.devicetree[${j}]`)));
    const kconfig: Record<string, number> = {};
    if (co.kconfig !== undefined) {
      if (typeof co.kconfig !== 'object' || co.kconfig === null) fail(`${f}.kconfig`, 'expected an object of CONFIG_... numbers');
      for (const [k, v] of Object.entries(co.kconfig as Json)) kconfig[k] = num(v, `${f}.kconfig.${k}`);
    }
    return {
      name, kind: oneOf(co.kind ?? 'cortex-m33', KINDS, `${f}.kind`), os, firmware, devicetree, kconfig,
      ...(bootDelayMs !== undefined ? { bootDelayMs } : {}),
    };
  });
  let sharedMemory: SocProfile['sharedMemory'];
  if (o.sharedMemory !== undefined) {
    if (!Array.isArray(o.sharedMemory)) fail('sharedMemory', 'expected an array of { name, base, size }');
    sharedMemory = (o.sharedMemory as unknown[]).map((m, i) => {
      const mo = (typeof m === 'object' && m !== null ? m : fail(`sharedMemory[${i}]`, 'expected an object')) as Json;
      return { name: str(mo.name, `sharedMemory[${i}].name`), base: num(mo.base, `sharedMemory[${i}].base`), size: num(mo.size, `sharedMemory[${i}].size`) };
    });
  }
  let firewall: ProfileFirewallRule[] | undefined;
  if (o.firewall !== undefined) {
    if (!Array.isArray(o.firewall)) fail('firewall', 'expected an array of { name, base, size, cores } rules');
    const names = cores.map((c) => c.name);
    const coreList = (v: unknown, field: string): string[] => {
      if (!Array.isArray(v)) fail(field, `expected a list of core names (${names.join(', ')})`);
      return (v as unknown[]).map((c, j) => {
        const n = str(c, `${field}[${j}]`);
        if (!names.includes(n)) fail(`${field}[${j}]`, `unknown core "${n}"; this board's cores: ${names.join(', ')}`);
        return n;
      });
    };
    firewall = (o.firewall as unknown[]).map((r, i) => {
      const f = `firewall[${i}]`;
      const ro = (typeof r === 'object' && r !== null && !Array.isArray(r) ? r : fail(f, 'expected an object { name, base, size, cores }')) as Json;
      const name = str(ro.name, `${f}.name`);
      const base = num(ro.base, `${f}.base`);
      const size = num(ro.size, `${f}.size`);
      if (size === 0) fail(`${f}.size`, `rule "${name}" has size 0; a rule covers at least one byte`);
      if (base + size > 0x1_0000_0000) {
        fail(f, `rule "${name}" [0x${base.toString(16)}, +0x${size.toString(16)}) runs past the 32-bit address space (ends at 0x${(base + size - 1).toString(16)})`);
      }
      const rule: ProfileFirewallRule = { name, base, size, cores: coreList(ro.cores, `${f}.cores`) };
      if (ro.readers !== undefined) rule.readers = coreList(ro.readers, `${f}.readers`);
      return rule;
    });
  }
  const defaults: Record<string, string> = {};
  if (o.defaults !== undefined) {
    if (typeof o.defaults !== 'object' || o.defaults === null) fail('defaults', 'expected an object of argument defaults');
    for (const [k, v] of Object.entries(o.defaults as Json)) defaults[k] = String(v);
  }
  return {
    name: typeof o.name === 'string' && o.name ? o.name : file,
    platform, description: typeof o.description === 'string' ? o.description : `user profile ${path}`,
    cores, ...(sharedMemory ? { sharedMemory } : {}), ...(firewall ? { firewall } : {}), root: dir, source: file, defaults,
  };
}
