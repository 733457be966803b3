import { UserError } from '../common/errors.js';

/** A parsed strict semantic version (semver.org 2.0.0, no leading `v`). */
export interface Version {
  major: number;
  minor: number;
  patch: number;
  /** Pre-release identifiers; numeric ones as numbers (they compare numerically). */
  prerelease: (string | number)[];
  build: string[];
}

export class VersionError extends UserError {}

const NUMERIC = '0|[1-9]\\d*';
const PRE_ID = `(?:${NUMERIC}|\\d*[A-Za-z-][0-9A-Za-z-]*)`;
const SEMVER = new RegExp(
  `^(${NUMERIC})\\.(${NUMERIC})\\.(${NUMERIC})(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?(?:\\+([0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*))?$`,
);

export function isVersion(text: string): boolean {
  return SEMVER.test(text);
}

export function parseVersion(text: string): Version {
  const m = SEMVER.exec(text);
  if (!m) throw new VersionError(`"${text}" is not a semantic version (expected MAJOR.MINOR.PATCH, e.g. 1.26.1)`);
  const num = (s: string | undefined): number => {
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw new VersionError(`"${text}": version number too large`);
    return n;
  };
  return {
    major: num(m[1]),
    minor: num(m[2]),
    patch: num(m[3]),
    prerelease: m[4] === undefined ? [] : m[4].split('.').map((id) => (/^\d+$/.test(id) ? num(id) : id)),
    build: m[5] === undefined ? [] : m[5].split('.'),
  };
}

/** Semver precedence: negative if a < b, 0 if equal (build metadata ignored), positive if a > b. */
export function compareVersions(a: string | Version, b: string | Version): number {
  const va = typeof a === 'string' ? parseVersion(a) : a;
  const vb = typeof b === 'string' ? parseVersion(b) : b;
  const core = va.major - vb.major || va.minor - vb.minor || va.patch - vb.patch;
  if (core !== 0) return Math.sign(core);
  // A version without pre-release identifiers ranks above any pre-release of it.
  if (va.prerelease.length === 0 || vb.prerelease.length === 0) {
    return Math.sign(vb.prerelease.length - va.prerelease.length);
  }
  for (let i = 0; i < Math.min(va.prerelease.length, vb.prerelease.length); i++) {
    const x = va.prerelease[i]!;
    const y = vb.prerelease[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return Math.sign(x - y);
    if (typeof x === 'number') return -1; // numeric identifiers rank below alphanumeric ones
    if (typeof y === 'number') return 1;
    return x < y ? -1 : 1;
  }
  return Math.sign(va.prerelease.length - vb.prerelease.length);
}
