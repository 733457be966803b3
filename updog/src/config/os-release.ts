import { readFileSync } from 'node:fs';
import { isVersion } from '../manifest/semver.js';
import { ConfigError } from './config-error.js';

/** What the running OS is, from os-release. */
export interface OsRelease {
  variantId: string;
  /** Running version (strict semver). */
  versionId: string;
  buildId: string;
  /** x86_64 or aarch64 style. */
  arch: string;
}

/** Node's names for the architectures Bottlerocket ships. */
const NODE_ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64' };
/** Fields that may name the architecture in os-release, first found wins. */
const ARCH_FIELDS = ['ARCH', 'BOTTLEROCKET_ARCH'];

export function loadOsRelease(path: string): OsRelease {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, `cannot read os-release: ${(err as Error).message}`, err);
  }
  return parseOsRelease(text, path);
}

export function parseOsRelease(text: string, file: string): OsRelease {
  const fields = parseShellAssignments(text);
  const required = (key: string): string => {
    const v = fields.get(key);
    if (v === undefined || v === '') throw new ConfigError(file, `field "${key}" is missing`);
    return v;
  };
  const versionId = required('VERSION_ID');
  if (!isVersion(versionId)) throw new ConfigError(file, `field "VERSION_ID" is "${versionId}", not a semantic version like 1.26.1`);
  const archField = ARCH_FIELDS.map((k) => fields.get(k)).find((v) => v !== undefined && v !== '');
  return {
    variantId: required('VARIANT_ID'),
    versionId,
    buildId: required('BUILD_ID'),
    arch: archField ?? NODE_ARCH[process.arch] ?? process.arch,
  };
}

/** os-release(5): KEY=value lines, values optionally single- or double-quoted, # comments. */
function parseShellAssignments(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!;
    if (/^"(.*)"$/.test(value)) value = value.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
    else if (/^'(.*)'$/.test(value)) value = value.slice(1, -1);
    out.set(m[1]!, value);
  }
  return out;
}
