import { UserError } from '../common/errors.js';
import type { Update } from '../manifest/manifest.js';

/** Host seeds are 0..MAX_SEED; wave keys are seed bounds in the same space. */
export const MAX_SEED = 2048;

export class SeedError extends UserError {}

export function checkSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new SeedError(`seed ${seed} is out of range: it must be an integer from 0 to ${MAX_SEED}`);
  }
}

/**
 * When the host with `seed` may take `update` (DESIGN.md 3). A seed belongs to the wave
 * (start_key, end_key]: the start is the last key below the seed, the end the first key from the
 * seed up to MAX_SEED; as upstream, keys above MAX_SEED never end a wave. Inside a wave hosts are
 * spread by their position in it, so a later wave does not release all its hosts at once at its
 * end. Before the first key: the first key's time; after the last key: that key's time; no waves:
 * ready at once (epoch).
 */
export function readyAt(update: Update, seed: number): Date {
  checkSeed(seed);
  // Sorted by contract; a copy sorted again costs nothing and guards hand-built updates.
  const waves = [...update.waves].sort((a, b) => a.seed - b.seed);
  const start = waves.filter((w) => w.seed < seed).at(-1);
  const end = waves.find((w) => w.seed >= seed && w.seed <= MAX_SEED);
  if (end === undefined) return start?.startsAt ?? new Date(0);
  if (start === undefined) return end.startsAt;
  const span = end.startsAt.getTime() - start.startsAt.getTime();
  return new Date(start.startsAt.getTime() + Math.floor((span * (seed - start.seed)) / (end.seed - start.seed)));
}
