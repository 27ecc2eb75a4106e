// SoC profiles: which cores a SoC has, what each runs, and platform options. Built-in profiles
// live in soc/profiles/; `--profile NAME` picks one.

import type { CoreKind, CoreOs, Platform } from '../cores/boot.js';
import { j7 } from './profiles/j7.js';
import { nrf5340 } from './profiles/nrf5340.js';

export interface CoreProfile {
  name: string;
  kind: CoreKind;
  os: CoreOs;
  /** Platform processor id (TI PDK proc id on J721E; defaults to the core's index elsewhere). */
  procId?: number;
  /** Firmware script, relative to the profile's root (the project root for built-in profiles). */
  firmware: string;
  /** Zephyr cores: devicetree files (SoC base first, then overlays), relative to the profile's root. */
  devicetree?: string[];
  /** Zephyr cores: Kconfig options hetsoc honours (e.g. CONFIG_PBUF_RX_READ_BUF_SIZE). */
  kconfig?: Record<string, number>;
  /** Delay after power-on before the core's OS starts, in ms (Linux on J7 boots late). */
  bootDelayMs?: number;
}

export interface SocProfile {
  name: string;
  platform: Platform;
  description: string;
  cores: CoreProfile[];
  /** nRF5340: RAM both cores reach (default: the IPC shared RAM at 0x20070000, 64 KiB). */
  sharedMemory?: { name: string; base: number; size: number }[];
  /** Directory relative paths resolve against (built-ins: the project root). */
  root?: string;
  /** File the profile was read from (user profiles). */
  source?: string;
  /** Default CLI arguments of this profile's firmware (e.g. duration). */
  defaults?: Record<string, string>;
  /**
   * The board's own firewall rules: only `cores` may write [base, base+size) (`readers` may map it
   * to read it). Added after the SoC's built-in rules, so inside them the smaller rule decides.
   * Declaring this list (even empty) turns firewalls on for every run of the profile.
   */
  firewall?: ProfileFirewallRule[];
}

/** A firewall rule as a profile declares it (see soc/firewall.ts for the built-in ones). */
export interface ProfileFirewallRule {
  name: string;
  base: number;
  size: number;
  cores: string[];
  readers?: string[];
}

export const BUILTIN_PROFILES: Readonly<Record<string, SocProfile>> = { j7, nrf5340 };

export class ProfileError extends Error {
  override name = 'ProfileError';
}

export function findProfile(name: string): SocProfile {
  const p = BUILTIN_PROFILES[name];
  if (!p) {
    throw new ProfileError(
      `unknown profile "${name}"; built-in profiles: ${Object.keys(BUILTIN_PROFILES).join(', ')} (or give the path of a profile .json file)`,
    );
  }
  return p;
}
