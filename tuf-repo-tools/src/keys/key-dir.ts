/**
 * A directory of PEM private keys (`*.pem`), the simple key store `release` and the test
 * helpers use. Key files are written with mode 0600.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/files.js';
import { generateKey, loadPrivateKeyFile, type KeyType, type LocalKeySigner } from './keys.js';

export async function writePrivateKeyFile(path: string, privatePem: string): Promise<void> {
  writeFileAtomic(path, privatePem, 0o600);
}

/** Loads every `*.pem` key of `dir`, in name order; none when the directory is absent. */
export async function loadKeyDir(dir: string): Promise<LocalKeySigner[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const pems = names.filter((n) => n.endsWith('.pem')).sort();
  return Promise.all(pems.map((n) => loadPrivateKeyFile(join(dir, n))));
}

/** Loads the keys of `dir`, first generating one key there (`<type>.pem`) if it holds none. */
export async function loadOrCreateKeyDir(dir: string, type: KeyType = 'ed25519'): Promise<LocalKeySigner[]> {
  const existing = await loadKeyDir(dir);
  if (existing.length > 0) return existing;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = await generateKey(type);
  await writePrivateKeyFile(join(dir, `${type}.pem`), key.privatePem);
  return loadKeyDir(dir);
}
