/**
 * Wave policies (DESIGN.md 3): TOML files of `[[waves]] start_after = "1 day"`,
 * `fleet_percentage = 15`, turned into a manifest's wave bounds for a release starting at T.
 * Wave i's key is its first seed (0 for the first wave, then floor(previous percentage / 100 *
 * MAX_SEED)), its value T + start_after; the last wave's end bound is not stored.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import { UserError } from '@updog-ts/updog/common';
import type { Wave } from '@updog-ts/updog/release';
import { MAX_SEED } from '@updog-ts/updog/release';
import { parseDuration } from '../time/time.js';

export class WavePolicyError extends UserError {}

export interface PolicyWave {
  startAfterMs: number;
  /** Share of the fleet (1..100) that has started once this wave is over. */
  fleetPercentage: number;
}

export const BUILTIN_WAVE_POLICIES = ['default', 'accelerated', 'slow'] as const;
export type BuiltinWavePolicy = (typeof BUILTIN_WAVE_POLICIES)[number];

/**
 * Path of a shipped policy file in `tuf-repo-tools/waves/`: two levels up from this module both
 * when run from source (src/manifest/) and compiled (dist/manifest/).
 */
export function builtinWavePolicyPath(name: BuiltinWavePolicy): string {
  return fileURLToPath(new URL(`../../waves/${name}-waves.toml`, import.meta.url));
}

export function parseWavePolicy(text: string, source = 'wave policy'): PolicyWave[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new WavePolicyError(`${source}: invalid TOML: ${(err as Error).message}`, { cause: err });
  }
  const waves = doc.waves;
  if (!Array.isArray(waves) || waves.length === 0) throw new WavePolicyError(`${source}: expected one or more [[waves]] tables`);
  const parsed = waves.map((w: unknown, i): PolicyWave => {
    const where = `${source}: waves[${i}]`;
    if (typeof w !== 'object' || w === null) throw new WavePolicyError(`${where} must be a table`);
    const { start_after: startAfter, fleet_percentage: pct } = w as Record<string, unknown>;
    if (typeof startAfter !== 'string') throw new WavePolicyError(`${where}: start_after must be a string such as "1 day"`);
    if (typeof pct !== 'number' || !Number.isInteger(pct) || pct < 1 || pct > 100) {
      throw new WavePolicyError(`${where}: fleet_percentage must be an integer from 1 to 100`);
    }
    let startAfterMs: number;
    try {
      startAfterMs = parseDuration(startAfter);
    } catch (err) {
      throw new WavePolicyError(`${where}: ${(err as Error).message}`, { cause: err });
    }
    return { startAfterMs, fleetPercentage: pct };
  });
  for (let i = 1; i < parsed.length; i++) {
    const [prev, cur] = [parsed[i - 1]!, parsed[i]!];
    if (cur.startAfterMs <= prev.startAfterMs) throw new WavePolicyError(`${source}: waves[${i}].start_after must be later than waves[${i - 1}]`);
    if (cur.fleetPercentage <= prev.fleetPercentage) {
      throw new WavePolicyError(`${source}: waves[${i}].fleet_percentage must be greater than waves[${i - 1}]`);
    }
  }
  return parsed;
}

export async function loadWavePolicy(path: string): Promise<PolicyWave[]> {
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new WavePolicyError(`cannot read wave policy ${path}: ${err.message}`, { cause: err });
  });
  return parseWavePolicy(text, path);
}

/** Accepts a builtin policy name (`default`, `accelerated`, `slow`) or a file path. */
export async function resolveWavePolicy(nameOrPath: string): Promise<PolicyWave[]> {
  const builtin = (BUILTIN_WAVE_POLICIES as readonly string[]).includes(nameOrPath);
  return loadWavePolicy(builtin ? builtinWavePolicyPath(nameOrPath as BuiltinWavePolicy) : nameOrPath);
}

/** The manifest waves of a release that starts at `start`, sorted by seed. */
export function wavesFromPolicy(policy: readonly PolicyWave[], start: Date): Wave[] {
  let firstSeed = 0;
  return policy.map((wave) => {
    const bound = { seed: firstSeed, startsAt: new Date(start.getTime() + wave.startAfterMs) };
    firstSeed = Math.floor((wave.fleetPercentage / 100) * MAX_SEED);
    return bound;
  });
}
