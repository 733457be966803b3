/**
 * Read-only checks of a loaded repository: what expires soon, and whether every target file on
 * disk matches its metadata.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { METADATA_DIR, TARGETS_DIR, type LoadedRepository } from './load.js';
import { hashedTargetPath } from './repository.js';

export interface Expiring {
  role: string;
  /** File holding the role's metadata. */
  file: string;
  version: number;
  expires: string;
}

/** Roles whose metadata expires before `now + withinMs` (already expired ones included), soonest first. */
export function expiringRoles(repo: LoadedRepository, withinMs: number, now: Date = new Date()): Expiring[] {
  const limit = new Date(now.getTime() + withinMs);
  const roles = [
    { role: 'root', md: repo.root, file: `${repo.root.signed.version}.root.json` },
    { role: 'targets', md: repo.targets, file: `${repo.targets.signed.version}.targets.json` },
    { role: 'snapshot', md: repo.snapshot, file: `${repo.snapshot.signed.version}.snapshot.json` },
    { role: 'timestamp', md: repo.timestamp, file: 'timestamp.json' },
  ];
  return roles
    .filter(({ md }) => md.signed.isExpired(limit))
    .map(({ role, md, file }) => ({ role, file: join(repo.dir, METADATA_DIR, file), version: md.signed.version, expires: md.signed.expires }))
    .sort((a, b) => a.expires.localeCompare(b.expires));
}

/** Local path of target `name` in a repository (consistent-snapshot name); undefined if not listed. */
export function targetFilePath(repo: LoadedRepository, name: string): string | undefined {
  const sha256 = repo.targets.signed.targets[name]?.hashes.sha256;
  return sha256 === undefined ? undefined : join(repo.dir, TARGETS_DIR, hashedTargetPath(name, sha256));
}

const NODE_HASH: Record<string, string> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

/** Checks length and every (supported) hash of each target file; returns the problems found. */
export async function verifyTargetFiles(repo: LoadedRepository): Promise<string[]> {
  const problems: string[] = [];
  for (const [name, target] of Object.entries(repo.targets.signed.targets)) {
    const path = targetFilePath(repo, name);
    if (path === undefined) {
      problems.push(`${name}: no sha256 hash`);
      continue;
    }
    const algos = Object.keys(target.hashes).filter((a) => NODE_HASH[a]);
    const hashers = algos.map((a) => createHash(NODE_HASH[a]!));
    let length = 0;
    try {
      for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
        length += chunk.length;
        for (const h of hashers) h.update(chunk);
      }
    } catch (err) {
      problems.push(`${name}: cannot read ${path}: ${(err as Error).message}`);
      continue;
    }
    if (length !== target.length) problems.push(`${name}: length ${length}, metadata says ${target.length}`);
    algos.forEach((algo, i) => {
      const actual = hashers[i]!.digest('hex');
      if (actual !== target.hashes[algo]) problems.push(`${name}: ${algo} ${actual}, metadata says ${target.hashes[algo]}`);
    });
  }
  return problems;
}
