/**
 * Expiry policy files for `create`, `update` and `refresh`: how long each role's metadata lives
 * after it is signed, e.g.
 *
 *   targets = "in 4 weeks"
 *   snapshot = "1 week"
 *   timestamp = "1 day"
 *
 * Each value is a duration or an RFC 3339 time; missing roles keep the default lifetime.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseToml } from 'smol-toml';
import { UserError } from '@updog-ts/updog/common';
import { parseTime } from '../time/time.js';
import type { RoleExpiries } from './repository.js';

const ROLES = ['targets', 'snapshot', 'timestamp'] as const;

export function parseExpiryPolicy(text: string, now: Date, source = 'expiry policy'): RoleExpiries {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new UserError(`${source}: invalid TOML: ${(err as Error).message}`, { cause: err });
  }
  const unknown = Object.keys(doc).filter((k) => !(ROLES as readonly string[]).includes(k));
  if (unknown.length > 0) throw new UserError(`${source}: unknown key(s) ${unknown.join(', ')} (expected ${ROLES.join(', ')})`);
  const expiries: RoleExpiries = {};
  for (const role of ROLES) {
    const value = doc[role];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new UserError(`${source}: ${role} must be a string such as "in 7 days"`);
    try {
      expiries[role] = parseTime(value, now);
    } catch (err) {
      throw new UserError(`${source}: ${role}: ${(err as Error).message}`, { cause: err });
    }
  }
  return expiries;
}

export async function loadExpiryPolicy(path: string, now: Date): Promise<RoleExpiries> {
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new UserError(`cannot read expiry policy ${path}: ${err.message}`, { cause: err });
  });
  return parseExpiryPolicy(text, now, path);
}
