/**
 * Release manifest editing (Bottlerocket's `updata`), as pure functions over updog's manifest
 * model; parsing and serialising stay in updog/src/manifest/manifest.ts.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseToml } from 'smol-toml';
import { UserError } from '@updog-ts/updog/common';
import { compareVersions, isVersion, type Manifest, type Migration, parseManifest, serializeManifest, type Update, type UpdateImages, type Wave } from '@updog-ts/updog/release';

export class ManifestEditError extends UserError {}

export function emptyManifest(): Manifest {
  return { updates: [], migrations: [] };
}

export interface UpdateKey {
  variant: string;
  arch: string;
  version: string;
}

function checkVersion(text: string, what: string): void {
  if (!isVersion(text)) throw new ManifestEditError(`${what} "${text}" is not a semantic version like 1.26.1`);
}

function sameKey(u: Update, key: UpdateKey): boolean {
  return u.variant === key.variant && u.arch === key.arch && compareVersions(u.version, key.version) === 0;
}

function withMaxVersion(m: Manifest, variant: string, arch: string, maxVersion: string): Manifest {
  return {
    ...m,
    updates: m.updates.map((u) => (u.variant === variant && u.arch === arch ? { ...u, maxVersion } : u)),
  };
}

/**
 * Adds (or replaces) the update `key`. `max_version` is shared by all updates of a variant+arch:
 * it becomes `maxVersion` when given, else the highest of the existing one and `key.version`.
 */
export function addUpdate(m: Manifest, key: UpdateKey, images: UpdateImages, opts: { maxVersion?: string; waves?: Wave[] } = {}): Manifest {
  checkVersion(key.version, 'version');
  if (opts.maxVersion !== undefined) checkVersion(opts.maxVersion, 'max version');
  const existing = m.updates.find((u) => sameKey(u, key));
  const sibling = m.updates.find((u) => u.variant === key.variant && u.arch === key.arch);
  const maxVersion =
    opts.maxVersion ?? (sibling && compareVersions(sibling.maxVersion, key.version) > 0 ? sibling.maxVersion : key.version);
  const update: Update = { ...key, maxVersion, waves: opts.waves ?? existing?.waves ?? [], images };
  const updates = [...m.updates.filter((u) => !sameKey(u, key)), update];
  return withMaxVersion({ ...m, updates }, key.variant, key.arch, maxVersion);
}

export function removeUpdate(m: Manifest, key: UpdateKey): Manifest {
  if (!m.updates.some((u) => sameKey(u, key))) {
    throw new ManifestEditError(`no update ${key.variant} ${key.arch} ${key.version} in the manifest`);
  }
  return { ...m, updates: m.updates.filter((u) => !sameKey(u, key)) };
}

export function setWaves(m: Manifest, key: UpdateKey, waves: Wave[]): Manifest {
  if (!m.updates.some((u) => sameKey(u, key))) {
    throw new ManifestEditError(`no update ${key.variant} ${key.arch} ${key.version} in the manifest`);
  }
  return { ...m, updates: m.updates.map((u) => (sameKey(u, key) ? { ...u, waves: [...waves].sort((a, b) => a.seed - b.seed) } : u)) };
}

export function setMaxVersion(m: Manifest, variant: string, arch: string, maxVersion: string): Manifest {
  checkVersion(maxVersion, 'max version');
  if (!m.updates.some((u) => u.variant === variant && u.arch === arch)) {
    throw new ManifestEditError(`no update for ${variant} ${arch} in the manifest`);
  }
  return withMaxVersion(m, variant, arch, maxVersion);
}

export function setMigrations(m: Manifest, migrations: Migration[]): Manifest {
  return { ...m, migrations };
}

/**
 * Migrations of a Bottlerocket-style Release.toml (`[migrations]` table of
 * `"(FROM, TO)" = ["target", ...]`), validated by updog's manifest parser so both agree.
 */
export function parseReleaseToml(text: string, source = 'Release.toml'): { version?: string; migrations: Migration[] } {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new ManifestEditError(`${source}: invalid TOML: ${(err as Error).message}`, { cause: err });
  }
  const version = doc.version;
  if (version !== undefined && (typeof version !== 'string' || !isVersion(version))) {
    throw new ManifestEditError(`${source}: version must be a semantic version string like "1.26.1"`);
  }
  const table = doc.migrations ?? {};
  try {
    return { ...(version === undefined ? {} : { version }), migrations: parseManifest(JSON.stringify({ updates: [], migrations: table })).migrations };
  } catch (err) {
    throw new ManifestEditError(`${source}: ${(err as Error).message}`, { cause: err });
  }
}

export async function loadReleaseToml(path: string): Promise<{ version?: string; migrations: Migration[] }> {
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new ManifestEditError(`cannot read ${path}: ${err.message}`, { cause: err });
  });
  return parseReleaseToml(text, path);
}

/**
 * Problems updog would trip over: unparsable result, max_version disagreeing within a
 * variant+arch, duplicate updates, and image or migration targets missing from `targetNames`.
 */
export function manifestProblems(m: Manifest, targetNames?: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  try {
    parseManifest(serializeManifest(m));
  } catch (err) {
    problems.push((err as Error).message);
  }
  const maxByGroup = new Map<string, string>();
  const seen = new Set<string>();
  for (const u of m.updates) {
    const group = `${u.variant} ${u.arch}`;
    const key = `${group} ${u.version}`;
    if (seen.has(key)) problems.push(`duplicate update ${key}`);
    seen.add(key);
    const max = maxByGroup.get(group);
    if (max !== undefined && max !== u.maxVersion) problems.push(`${group}: max_version differs between updates (${max} vs ${u.maxVersion})`);
    maxByGroup.set(group, u.maxVersion);
    for (const name of Object.values(u.images)) {
      if (targetNames && !targetNames.has(name)) problems.push(`${key}: image target "${name}" is not in the repository`);
    }
  }
  for (const mig of m.migrations) {
    if (compareVersions(mig.from, mig.to) >= 0) problems.push(`migration (${mig.from}, ${mig.to}) does not go forward`);
    for (const name of mig.targets) {
      if (targetNames && !targetNames.has(name)) problems.push(`migration (${mig.from}, ${mig.to}): target "${name}" is not in the repository`);
    }
  }
  return problems;
}
