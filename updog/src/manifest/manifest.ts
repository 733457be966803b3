import { UserError } from '../common/errors.js';
import { formatUtcInstant, parseLenientDatetime } from './datetime.js';
import { isVersion } from './semver.js';
import { JsonSyntaxError, parseJsonRejectingDuplicates } from './strict-json.js';

/** A wave bound: hosts with seeds up to `seed` are ready by `startsAt` (see waves/). */
export interface Wave {
  seed: number;
  startsAt: Date;
  /** Nanoseconds past `startsAt`'s millisecond (0..999_999; absent: 0), so a rewrite keeps the exact instant. */
  startsAtSubMsNanos?: number;
}
/** Names of the TUF targets holding the LZ4-compressed images of one update. */
export interface UpdateImages {
  boot: string;
  root: string;
  hash: string;
}
export interface Update {
  variant: string;
  arch: string;
  version: string;
  maxVersion: string;
  /** Sorted by seed. */
  waves: Wave[];
  images: UpdateImages;
}
export interface Migration {
  from: string;
  to: string;
  targets: string[];
}
export interface Manifest {
  updates: Update[];
  migrations: Migration[];
}

export class ManifestError extends UserError {
  constructor(message: string) {
    super(`invalid manifest: ${message}`);
  }
}

const U32_MAX = 0xffff_ffff;
const MIGRATION_KEY = /^\(([^,\s]+), *([^,\s]+)\)$/;

/**
 * Largest manifest.json accepted, in UTF-8 bytes: over 100,000 updates with a few waves each,
 * hundreds of times what a repository carries, yet a bound on what a parse may cost.
 */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/** Parses manifest.json (DESIGN.md section 2). Unknown keys are ignored; anything else wrong throws. */
export function parseManifest(json: string): Manifest {
  // counting bytes only when it matters: a UTF-16 unit is at most 3 UTF-8 bytes
  if (json.length > MAX_MANIFEST_BYTES || (json.length * 3 > MAX_MANIFEST_BYTES && Buffer.byteLength(json) > MAX_MANIFEST_BYTES)) {
    throw new ManifestError(`it is ${Buffer.byteLength(json)} bytes, more than the limit of ${MAX_MANIFEST_BYTES} (64 MiB)`);
  }
  let doc: unknown;
  try {
    doc = parseJsonRejectingDuplicates(json);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new ManifestError(err.message);
    throw err;
  }
  const top = asObject(doc, 'the manifest');
  const updates = asArray(field(top, 'updates', 'the manifest'), 'updates').map((u, i) => parseUpdate(u, `updates[${i}]`));
  const migrations = parseMigrations(asObject(field(top, 'migrations', 'the manifest'), 'migrations'));
  return { updates, migrations };
}

function parseUpdate(raw: unknown, where: string): Update {
  const obj = asObject(raw, where);
  const images = asObject(field(obj, 'images', where), `${where}.images`);
  return {
    variant: asString(field(obj, 'variant', where), `${where}.variant`),
    arch: asString(field(obj, 'arch', where), `${where}.arch`),
    version: asVersion(field(obj, 'version', where), `${where}.version`),
    maxVersion: asVersion(field(obj, 'max_version', where), `${where}.max_version`),
    waves: parseWaves(asObject(field(obj, 'waves', where), `${where}.waves`), `${where}.waves`),
    images: {
      boot: asString(field(images, 'boot', `${where}.images`), `${where}.images.boot`),
      root: asString(field(images, 'root', `${where}.images`), `${where}.images.root`),
      hash: asString(field(images, 'hash', `${where}.images`), `${where}.images.hash`),
    },
  };
}

function parseWaves(obj: Record<string, unknown>, where: string): Wave[] {
  const seen = new Map<number, string>();
  const waves: Wave[] = [];
  for (const [key, value] of Object.entries(obj)) {
    const seed = /^\d+$/.test(key) ? Number(key) : NaN;
    if (!(seed <= U32_MAX)) throw new ManifestError(`${where}: wave key "${key}" is not a seed number (0..${U32_MAX})`);
    // "20" and "020" name the same seed.
    const earlier = seen.get(seed);
    if (earlier !== undefined) throw new ManifestError(`${where}: duplicate wave key "${key}" (same seed as "${earlier}")`);
    seen.set(seed, key);
    const text = asString(value, `${where}.${key}`);
    const instant = parseLenientDatetime(text);
    if (!instant) throw new ManifestError(`${where}.${key}: "${text}" is not a UTC datetime like 2024-10-30T18:00:00Z`);
    waves.push({ seed, startsAt: instant.date, ...(instant.subMsNanos === 0 ? {} : { startsAtSubMsNanos: instant.subMsNanos }) });
  }
  return waves.sort((a, b) => a.seed - b.seed);
}

function parseMigrations(obj: Record<string, unknown>): Migration[] {
  const seen = new Map<string, string>();
  return Object.entries(obj).map(([key, value]) => {
    const m = MIGRATION_KEY.exec(key);
    if (!m || !isVersion(m[1]!) || !isVersion(m[2]!)) {
      throw new ManifestError(`migrations: key "${key}" must look like "(1.25.0, 1.26.0)"`);
    }
    const [from, to] = [m[1]!, m[2]!];
    const canonical = migrationKey(from, to);
    const earlier = seen.get(canonical);
    if (earlier !== undefined) throw new ManifestError(`migrations: duplicate key "${key}" (same as "${earlier}")`);
    seen.set(canonical, key);
    const targets = asArray(value, `migrations["${key}"]`).map((t, i) => asString(t, `migrations["${key}"][${i}]`));
    return { from, to, targets };
  });
}

function migrationKey(from: string, to: string): string {
  return `(${from}, ${to})`;
}

/** The exact JSON of DESIGN.md section 2, 2-space indented, waves sorted by seed. */
export function serializeManifest(m: Manifest): string {
  const doc = {
    updates: m.updates.map(updateToJson),
    migrations: Object.fromEntries(m.migrations.map((mig) => [migrationKey(mig.from, mig.to), mig.targets])),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** One update in its manifest.json form (snake_case keys, UTC datetimes to the nanosecond). */
export function updateToJson(u: Update): Record<string, unknown> {
  return {
    variant: u.variant,
    arch: u.arch,
    version: u.version,
    max_version: u.maxVersion,
    // Integer-like keys keep ascending numeric order in a JS object.
    waves: Object.fromEntries(u.waves.map((w) => [String(w.seed), formatUtcInstant({ date: w.startsAt, subMsNanos: w.startsAtSubMsNanos ?? 0 })])),
    images: { boot: u.images.boot, root: u.images.root, hash: u.images.hash },
  };
}

function field(obj: Record<string, unknown>, key: string, where: string): unknown {
  if (!Object.prototype.hasOwnProperty.call(obj, key)) throw new ManifestError(`${where} is missing required field "${key}"`);
  return obj[key];
}
function asObject(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ManifestError(`${where} must be a JSON object`);
  return v as Record<string, unknown>;
}
function asArray(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new ManifestError(`${where} must be a JSON array`);
  return v;
}
function asString(v: unknown, where: string): string {
  if (typeof v !== 'string') throw new ManifestError(`${where} must be a string`);
  return v;
}
function asVersion(v: unknown, where: string): string {
  const s = asString(v, where);
  if (!isVersion(s)) throw new ManifestError(`${where}: "${s}" is not a semantic version like 1.26.1`);
  return s;
}
