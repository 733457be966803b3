/**
 * Roots written by other tools: tuftool and tough write a key's PEM without the trailing newline
 * (Bottlerocket's first public root lists eight such keys), and the key id covers that spelling.
 * tuf-repo must sign such a root and its repository with the right key, under the id the root
 * lists, and never rewrite the ids of keys already in it. Checked against a root whose PEMs have
 * the newline too, and with python-tuf and tuf-js over loopback HTTP.
 */
import { createPublicKey } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { computeKeyId } from '../src/keys/keys.js';
import { serveDirectory, type StaticServer } from '../src/serve/static-server.js';
import { pythonClient, tufJsClient, tufRepo, tufRepoOk, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
const servers: StaticServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface RootDoc {
  signed: { version: number; keys: Record<string, { keyval: { public: string } }>; roles: Record<string, { keyids: string[]; threshold: number }> };
  signatures: { keyid: string; sig: string }[];
}
const readRoot = async (path: string): Promise<RootDoc> => JSON.parse(await readFile(path, 'utf8')) as RootDoc;

/**
 * A version-1 root listing an RSA and an ECDSA key in every role (root threshold 2), each PEM
 * spelled with or without the trailing newline and its key id computed over that spelling, as
 * tuftool does. Returns the root file, the key files and the listed ids.
 */
async function foreignRoot(dir: string, trailingNewline: boolean): Promise<{ root: string; keys: string[]; ids: string[] }> {
  const rsa = join(dir, 'rsa.pem');
  const ec = join(dir, 'ec.pem');
  await tufRepoOk('key', 'gen', '--type', 'rsa', '--bits', '2048', '--out', rsa);
  await tufRepoOk('key', 'gen', '--type', 'ecdsa', '--out', ec);
  const root = join(dir, 'root.json');
  await tufRepoOk('root', 'init', root, '--expires', 'in 30 days');
  const doc = await readRoot(root);
  const ids: string[] = [];
  for (const [file, keytype, scheme] of [
    [rsa, 'rsa', 'rsassa-pss-sha256'],
    [ec, 'ecdsa', 'ecdsa-sha2-nistp256'],
  ] as const) {
    const spki = createPublicKey(await readFile(file, 'utf8')).export({ format: 'pem', type: 'spki' }) as string;
    expect(spki.endsWith('-----\n')).toBe(true);
    const keyval = { public: trailingNewline ? spki : spki.trimEnd() };
    const id = computeKeyId(keytype, scheme, keyval);
    doc.signed.keys[id] = { keytype, scheme, keyval } as unknown as RootDoc['signed']['keys'][string];
    for (const role of Object.values(doc.signed.roles)) role.keyids.push(id);
    ids.push(id);
  }
  doc.signed.roles.root!.threshold = 2;
  await writeFile(root, JSON.stringify(doc));
  return { root, keys: [rsa, ec], ids };
}

/** `tuf-repo key id` computes ids over our own spelling (with the newline). */
async function ownIds(keys: string[]): Promise<string[]> {
  return Promise.all(keys.map(async (k) => (await tufRepoOk('key', 'id', k)).trim()));
}

describe.each([
  ['without the trailing newline (tuftool, tough)', false],
  ['with the trailing newline', true],
])('a root whose key PEMs are written %s', (_name, trailingNewline) => {
  it('root sign, create, refresh and a cross-signed rotation use the right keys under the ids the root lists', async () => {
    const dir = await tempDir();
    const { root, keys, ids } = await foreignRoot(dir, trailingNewline);
    const keyArgs = keys.flatMap((k) => ['-k', k]);
    const before = await readRoot(root);
    // the ids differ from ours exactly when the spelling does
    expect((await ownIds(keys)).map((id, i) => id === ids[i])).toEqual([trailingNewline, trailingNewline]);

    await tufRepoOk('root', 'sign', root, ...keyArgs);
    const signed = await readRoot(root);
    expect(signed.signatures.map((s) => s.keyid).sort()).toEqual([...ids].sort());
    expect(signed.signed).toEqual(before.signed); // keys, ids and spellings untouched

    // a repository on that root, then re-signed by refresh
    const targetsDir = join(dir, 'targets-in');
    await mkdir(targetsDir);
    await writeFile(join(targetsDir, 'manifest.json'), '{"updates": [], "migrations": {}}\n');
    const repo = join(dir, 'repo');
    await tufRepoOk('create', '--root', root, '--targets-dir', targetsDir, '--out', repo, ...keyArgs);
    await tufRepoOk('refresh', repo, '--targets', ...keyArgs);
    for (const role of ['2.targets', '2.snapshot', 'timestamp']) {
      const md = JSON.parse(await readFile(join(repo, 'metadata', `${role}.json`), 'utf8')) as RootDoc;
      expect(md.signatures.map((s) => s.keyid).sort(), role).toEqual([...ids].sort());
    }

    // rotation: version 2 keeps the keys (add-key of a listed key keeps its id) and is cross-signed
    const v2 = join(dir, '2.root.json');
    await writeFile(v2, await readFile(root));
    await tufRepoOk('root', 'bump-version', v2);
    expect((await tufRepoOk('root', 'add-key', v2, '--key', keys[0]!, '--role', 'targets')).trim()).toBe(ids[0]);
    expect(Object.keys((await readRoot(v2)).signed.keys).sort()).toEqual([...ids].sort());
    await tufRepoOk('root', 'sign', v2, '--cross-sign', root, ...keyArgs);
    expect((await readRoot(v2)).signatures.map((s) => s.keyid).sort()).toEqual([...ids].sort());
    await tufRepoOk('update', repo, '--rotate-root', v2, ...keyArgs);

    // two independent clients accept it all, from the version-1 root
    const server = await serveDirectory(repo);
    servers.push(server);
    for (const client of [pythonClient, tufJsClient]) {
      const result = await client(server.url, root, join(dir, `${client.name}-cache`), ['manifest.json']);
      expect(result.rootVersion).toBe(2);
      expect(Object.keys(result.downloaded)).toEqual(['manifest.json']);
    }
  });
});

it('a key the root does not list is still refused', async () => {
  const dir = await tempDir();
  const { root } = await foreignRoot(dir, false);
  const other = join(dir, 'other.pem');
  await tufRepoOk('key', 'gen', '--type', 'ecdsa', '--out', other);
  const r = await tufRepo('root', 'sign', root, '-k', other);
  expect(r).toEqual({ code: 1, stdout: '', stderr: 'tuf-repo: error: none of the given keys is a root key of this root (or of the cross-signed root)\n' });
});
