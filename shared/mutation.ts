// The mutation switch: HETSOC_MUTATION plants a known concurrency bug in the shared-memory code so
// that the stress checker can be shown to catch it (`npm run stress` must then report failures).
// Read once per thread when this module loads; each planted bug is a module-level constant, so an
// unset variable leaves one constant-false branch on the paths it guards.
//
//   vring-publish-early     RPMsg send publishes the vring used index before writing the buffer
//   pbuf-publish-early      ICMsg/spsc_pbuf write publishes wr_idx before copying the packet
//   spinlock-release-early  a locked read-modify-write releases the hardware spinlock before its write

export const MUTATIONS = ['vring-publish-early', 'pbuf-publish-early', 'spinlock-release-early'] as const;
export type Mutation = (typeof MUTATIONS)[number];

const raw: string = (typeof process !== 'undefined' && process.env?.HETSOC_MUTATION) || '';

/** The mutation planted in this thread ('' when none). */
export const MUTATION: string = raw;
export const VRING_PUBLISH_EARLY: boolean = raw === 'vring-publish-early';
export const PBUF_PUBLISH_EARLY: boolean = raw === 'pbuf-publish-early';
export const SPINLOCK_RELEASE_EARLY: boolean = raw === 'spinlock-release-early';

/** Why `name` is not a mutation hetsoc knows, or undefined when it is one (or empty). */
export function mutationError(name: string | undefined): string | undefined {
  if (!name || (MUTATIONS as readonly string[]).includes(name)) return undefined;
  return `HETSOC_MUTATION=${name} is not a known mutation; known: ${MUTATIONS.join(', ')}`;
}
