/**
 * Repository creation, update, refresh and validation through the library and the bin, with
 * the negative cases of the issue: below-threshold signing, expired input, interrupted writes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writePrivateKeyFile } from '../src/keys/key-dir.js';
import { generateKey, parsePrivateKeyPem, type KeyType, type Signer } from '../src/keys/keys.js';
import { rootForSigners } from '../src/release/build-release.js';
import { loadRepository } from '../src/tuf/load.js';
import { RepositoryEditor } from '../src/tuf/repository.js';
import { addRootKey, setRootThreshold, signRoot } from '../src/tuf/root.js';
import { ThresholdError } from '../src/tuf/signing.js';
import { TUF_REPO_BIN, tufRepo, tufRepoOk, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
const NOW = new Date('2030-01-01T00:00:00.789Z');
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

interface TestKey {
  signer: Signer;
  pem: string;
}

async function testKey(type: KeyType = 'ed25519'): Promise<TestKey> {
  const { privatePem } = await generateKey(type, { bits: 2048 });
  return { signer: parsePrivateKeyPem(privatePem), pem: privatePem };
}

async function keyFile(dir: string, key: TestKey, name = 'key.pem'): Promise<string> {
  const path = join(dir, name);
  await writePrivateKeyFile(path, key.pem);
  return path;
}

/** A repository at dir/repo holding `files` (name -> content), published at `now`. */
async function newRepo(dir: string, signers: Signer[], files: Record<string, string>, now = NOW): Promise<string> {
  const editor = RepositoryEditor.create(await rootForSigners(signers, new Date('2031-01-01T00:00:00Z')));
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, `src-${sha(name)}`);
    await writeFile(path, content);
    await editor.addTarget(name, path);
  }
  const repo = join(dir, 'repo');
  await editor.publish(repo, { signers, now });
  return repo;
}

/** Every `hashes` object anywhere in a metadata document. */
function hashSets(value: unknown): Record<string, string>[] {
  if (typeof value !== 'object' || value === null) return [];
  const own = 'hashes' in value ? [(value as { hashes: Record<string, string> }).hashes] : [];
  return [...own, ...Object.values(value).flatMap(hashSets)];
}

/** A signer that works `okCalls` times, then fails: an interruption in the middle of publishing. */
function failingAfter(inner: Signer, okCalls: number): Signer {
  let calls = 0;
  return {
    keyId: inner.keyId,
    publicKey: inner.publicKey,
    sign: async (data) => {
      if (calls++ >= okCalls) throw new Error('signer went away');
      return inner.sign(data);
    },
  };
}

async function listing(dir: string): Promise<string[]> {
  return ((await readdir(dir, { recursive: true })) as string[]).sort();
}

describe('repository layout and metadata', () => {
  it('writes consistent snapshots, hashed target names, whole-second expiries and sha256 everywhere', async () => {
    const dir = await tempDir();
    const k = await testKey();
    const repo = await newRepo(dir, [k.signer], { 'a.txt': 'alpha', 'sub/b.txt': 'beta' });
    expect(await listing(join(repo, 'metadata'))).toEqual(['1.root.json', '1.snapshot.json', '1.targets.json', 'timestamp.json']);
    expect(await listing(join(repo, 'targets'))).toEqual([`${sha('alpha')}.a.txt`, 'sub', `sub/${sha('beta')}.b.txt`]);
    for (const file of await readdir(join(repo, 'metadata'))) {
      const doc = JSON.parse(await readFile(join(repo, 'metadata', file), 'utf8')) as { signed: { expires: string } };
      expect(doc.signed.expires).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      for (const hashes of hashSets(doc)) expect(Object.keys(hashes)).toContain('sha256');
    }
    const read = async (f: string): Promise<unknown> => JSON.parse(await readFile(join(repo, 'metadata', f), 'utf8'));
    expect(((await read('timestamp.json')) as { signed: { expires: string } }).signed.expires).toBe('2030-01-02T00:00:00Z');
    expect(hashSets(await read('1.targets.json'))).toHaveLength(2);
    expect(hashSets(await read('1.snapshot.json'))).toHaveLength(1);
    expect(hashSets(await read('timestamp.json'))).toHaveLength(1);
  });

  it('update adds, replaces and removes targets with new versions; old files stay for old clients', async () => {
    const dir = await tempDir();
    const k = await testKey('ecdsa');
    const repo = await newRepo(dir, [k.signer], { 'a.txt': 'alpha', 'b.txt': 'beta' });
    const editor = RepositoryEditor.edit(await loadRepository(repo, { now: NOW }));
    await writeFile(join(dir, 'a2'), 'alpha 2');
    await editor.addTarget('a.txt', join(dir, 'a2'));
    editor.removeTarget('b.txt');
    const result = await editor.publish(repo, { signers: [k.signer], now: NOW, versions: { targets: 10 } });
    expect(result.versions).toEqual({ root: 1, targets: 10, snapshot: 2, timestamp: 2 });
    const loaded = await loadRepository(repo, { now: NOW });
    expect(Object.keys(loaded.targets.signed.targets)).toEqual(['a.txt']);
    expect(loaded.targets.signed.targets['a.txt']!.hashes.sha256).toBe(sha('alpha 2'));
    expect(await listing(join(repo, 'targets'))).toHaveLength(3);
    expect(await listing(join(repo, 'metadata'))).toEqual(['1.root.json', '1.snapshot.json', '1.targets.json', '10.targets.json', '2.snapshot.json', 'timestamp.json']);
    await expect(RepositoryEditor.edit(loaded).publish(repo, { signers: [k.signer], now: NOW, versions: { snapshot: 2 } })).rejects.toThrow(
      'snapshot version must be an integer greater than 2 (got 2)',
    );
  });

  it('refresh re-signs snapshot and timestamp only, keeping targets metadata byte for byte', async () => {
    const dir = await tempDir();
    const k = await testKey('rsa');
    const repo = await newRepo(dir, [k.signer], { 'a.txt': 'alpha' }, new Date());
    const targetsBefore = await readFile(join(repo, 'metadata', '1.targets.json'));
    const key = await keyFile(dir, k);
    const out = JSON.parse(await tufRepoOk('refresh', repo, '-k', key, '--timestamp-expires', '2099-01-01T00:00:00Z')) as { versions: unknown };
    expect(out.versions).toEqual({ root: 1, targets: 1, snapshot: 2, timestamp: 2 });
    expect(await readFile(join(repo, 'metadata', '1.targets.json'))).toEqual(targetsBefore);
    const loaded = await loadRepository(repo);
    expect(loaded.timestamp.signed.expires).toBe('2099-01-01T00:00:00Z');
    // With --targets and an expiry policy file, targets get a new version too.
    await writeFile(join(dir, 'expiry.toml'), 'targets = "2098-01-01T00:00:00Z"\nsnapshot = "in 3 weeks"\n');
    const out2 = JSON.parse(await tufRepoOk('refresh', repo, '-k', key, '--targets', '--expiry-policy', join(dir, 'expiry.toml'))) as { versions: unknown };
    expect(out2.versions).toEqual({ root: 1, targets: 2, snapshot: 3, timestamp: 3 });
    expect((await loadRepository(repo)).targets.signed.expires).toBe('2098-01-01T00:00:00Z');
  });

  it('validate checks metadata and target files; check-expirations lists what expires soon', async () => {
    const dir = await tempDir();
    const k = await testKey();
    const repo = await newRepo(dir, [k.signer], { 'a.txt': 'alpha' }, new Date());
    expect(JSON.parse(await tufRepoOk('validate', repo, '--targets'))).toEqual({
      repository: repo,
      versions: { root: 1, targets: 1, snapshot: 1, timestamp: 1 },
      targets: 1,
      targetsVerified: true,
    });
    const soon = await tufRepo('check-expirations', repo, '--within', '2 days');
    expect(soon.code).toBe(1);
    expect(soon.stdout.trim().split('\n').map((l) => l.split('\t')[1])).toEqual(['timestamp']);
    expect((await tufRepo('check-expirations', repo, '--within', '1 hour')).code).toBe(0);
    expect((await tufRepo('check-expirations', repo, '--within', '8 days')).stdout.trim().split('\n')).toHaveLength(2);

    await writeFile(join(repo, 'targets', `${sha('alpha')}.a.txt`), 'tampered');
    const bad = await tufRepo('validate', repo, '--targets');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('a.txt: length 8, metadata says 5');
  });
});

describe('refusals', () => {
  it('refuses to sign a role below its threshold', async () => {
    const dir = await tempDir();
    const [a, b] = [await testKey(), await testKey()];
    let root = await rootForSigners([a.signer], new Date('2031-01-01T00:00:00Z'));
    root = setRootThreshold(addRootKey(root, b.signer.publicKey, 'targets'), 'targets', 2);
    await signRoot(root, [a.signer]);
    const editor = RepositoryEditor.create(root);
    await expect(editor.publish(join(dir, 'repo'), { signers: [a.signer], now: NOW })).rejects.toThrow(ThresholdError);
    await expect(editor.publish(join(dir, 'repo'), { signers: [a.signer], now: NOW })).rejects.toThrow(
      /cannot sign targets: 1 of its keys available, threshold is 2/,
    );
    expect(await readdir(dir)).toEqual([]);
    // With both keys it works.
    await editor.publish(join(dir, 'repo'), { signers: [a.signer, b.signer], now: NOW });
    expect(Object.keys((await loadRepository(join(dir, 'repo'), { now: NOW })).targets.signatures)).toHaveLength(2);
  });

  it('update refuses an expired input repository unless forced', async () => {
    const dir = await tempDir();
    const k = await testKey();
    const repo = await newRepo(dir, [k.signer], { 'a.txt': 'alpha' }, new Date('2020-01-01T00:00:00Z'));
    const key = await keyFile(dir, k);
    await writeFile(join(dir, 'new.txt'), 'new');
    const refused = await tufRepo('update', repo, '-k', key, '--add', `new.txt=${join(dir, 'new.txt')}`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('tuf-repo: error: timestamp expired at 2020-01-02T00:00:00Z; refresh it, or force to accept an expired repository\n');
    const forced = JSON.parse(await tufRepoOk('update', repo, '-k', key, '--add', `new.txt=${join(dir, 'new.txt')}`, '--force')) as { versions: unknown };
    expect(forced.versions).toEqual({ root: 1, targets: 2, snapshot: 2, timestamp: 2 });
  });

  it('an interrupted create leaves no repository; an interrupted update leaves the previous one intact', async () => {
    const dir = await tempDir();
    const k = await testKey();
    // create: the third signature (timestamp) fails.
    const editor = RepositoryEditor.create(await rootForSigners([k.signer], new Date('2031-01-01T00:00:00Z')));
    await writeFile(join(dir, 'a'), 'alpha');
    await editor.addTarget('a.txt', join(dir, 'a'));
    await expect(editor.publish(join(dir, 'new-repo'), { signers: [failingAfter(k.signer, 2)], now: NOW })).rejects.toThrow('signer went away');
    expect(await readdir(dir)).toEqual(['a']);

    const repo = await newRepo(dir, [k.signer], { 'a.txt': 'alpha' });
    const before = await listing(repo);
    const timestampBefore = await readFile(join(repo, 'metadata', 'timestamp.json'));
    const upd = RepositoryEditor.edit(await loadRepository(repo, { now: NOW }));
    await writeFile(join(dir, 'b'), 'beta');
    await upd.addTarget('b.txt', join(dir, 'b'));
    await expect(upd.publish(repo, { signers: [failingAfter(k.signer, 2)], now: NOW })).rejects.toThrow('signer went away');
    expect(await listing(repo)).toEqual(before);
    expect(await readFile(join(repo, 'metadata', 'timestamp.json'))).toEqual(timestampBefore);
    expect((await loadRepository(repo, { now: NOW })).targets.signed.version).toBe(1);

    // Interrupted while writing: the first new target file is placed, the second is gone.
    const upd2 = RepositoryEditor.edit(await loadRepository(repo, { now: NOW }));
    await writeFile(join(dir, 'c'), 'gamma');
    await upd2.addTarget('b.txt', join(dir, 'b'));
    await upd2.addTarget('c.txt', join(dir, 'c'));
    await rm(join(dir, 'c'));
    await expect(upd2.publish(repo, { signers: [k.signer], now: NOW })).rejects.toThrow(/ENOENT/);
    expect(await readFile(join(repo, 'metadata', 'timestamp.json'))).toEqual(timestampBefore);
    expect(await listing(join(repo, 'metadata'))).toEqual(before.filter((f) => f.startsWith('metadata/')).map((f) => f.slice(9)));
    expect((await loadRepository(repo, { now: NOW })).targets.signed.version).toBe(1);

    // A missing target file aborts the CLI update before anything is written.
    const missing = await tufRepo('update', repo, '-k', await keyFile(dir, k), '--add', `c.txt=${join(dir, 'nope')}`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`cannot read target file ${join(dir, 'nope')}`);
    expect(await listing(join(repo, 'metadata'))).toEqual(['1.root.json', '1.snapshot.json', '1.targets.json', 'timestamp.json']);
  });

  it('create refuses a non-empty output directory and keys that are not in the root', async () => {
    const dir = await tempDir();
    const [k, other] = [await testKey(), await testKey()];
    const repo = await newRepo(dir, [k.signer], { 'a.txt': 'alpha' });
    const root = join(repo, 'metadata', '1.root.json');
    const exists = await tufRepo('create', '--root', root, '-k', await keyFile(dir, k), '--targets-dir', dir, '--out', repo);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toContain('already exists and is not empty; use update');
    const wrongKey = await tufRepo('update', repo, '-k', await keyFile(dir, other, 'other.pem'), '--remove', 'a.txt');
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/cannot sign targets: 0 of its keys available, threshold is 1/);
  });
});

describe('SIGKILL during update', () => {
  it('leaves a repository that loads as the previous or the new version, never in between', async () => {
    const dir = await tempDir();
    const k = await testKey();
    const repo = await newRepo(dir, [k.signer], { 'a.txt': 'alpha' }, new Date());
    const key = await keyFile(dir, k);
    const add = join(dir, 'add');
    await mkdir(add);
    for (let i = 0; i < 3000; i++) await writeFile(join(add, `f${i}`), `file ${i}`);
    const child = spawn(process.execPath, [TUF_REPO_BIN, 'update', repo, '-k', key, '--add-dir', add], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // Kill once the update is visibly writing target files.
    while ((await readdir(join(repo, 'targets'))).length < 50 && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await exited;
    const loaded = await loadRepository(repo);
    const count = Object.keys(loaded.targets.signed.targets).length;
    expect([loaded.targets.signed.version, count]).toEqual(loaded.targets.signed.version === 1 ? [1, 1] : [2, 3001]);
    // And the next update completes from whatever state the kill left.
    const out = JSON.parse(await tufRepoOk('update', repo, '-k', key, '--add-dir', add)) as { versions: { targets: number } };
    expect(out.versions.targets).toBe(loaded.targets.signed.version + 1);
    expect(Object.keys((await loadRepository(repo)).targets.signed.targets)).toHaveLength(3001);
  });
});
