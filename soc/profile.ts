// SoC profiles: which cores a SoC has, what each runs, and platform options. Built-in profiles
// live in soc/profiles/; `--profile NAME` picks one.

import type { CoreKind, CoreOs } from '../cores/boot.js';
import { j7 } from './profiles/j7.js';

export interface CoreProfile {
  name: string;
  kind: CoreKind;
  os: CoreOs;
  /** Platform processor id (TI PDK proc id on J721E). */
  procId: number;
  /** Firmware script, relative to the project root for built-in profiles. */
  firmware: string;
  /** Delay after power-on before the core's OS starts, in ms (Linux on J7 boots late). */
  bootDelayMs?: number;
}

export interface SocProfile {
  name: string;
  platform: 'j721e';
  description: string;
  cores: CoreProfile[];
}

export const BUILTIN_PROFILES: Readonly<Record<string, SocProfile>> = { j7 };

export class ProfileError extends Error {
  override name = 'ProfileError';
}

export function findProfile(name: string): SocProfile {
  const p = BUILTIN_PROFILES[name];
  if (!p) {
    throw new ProfileError(`unknown profile "${name}"; available: ${Object.keys(BUILTIN_PROFILES).join(', ')}`);
  }
  return p;
}
