/**
 * Acceptance: repositories made by the `tuf-repo` bin are verified, and every target downloaded
 * (images, their block indexes, the manifest), by python-tuf's ngclient and by tuf-js over
 * loopback HTTP; a root rotation that changes the root threshold is followed by both.
 */
import { createHash } from 'node:crypto';
import { readFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serveDirectory, type StaticServer } from '../src/serve/static-server.js';
import { pythonClient, tufJsClient, tufRepo, tufRepoOk, useTempDirs, type ClientResult } from './helpers.js';

const tempDir = useTempDirs();
const servers: StaticServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const sha256 = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');

interface Released {
  dir: string;
  repo: string;
  keysDir: string;
  url: string;
  targets: Record<string, string>;
}

/** `image fake` + `release` into a new repository, served on loopback. */
async function releaseFakeRepo(): Promise<Released> {
  const dir = await tempDir();
  const images = JSON.parse(
    await tufRepoOk('image', 'fake', '--variant', 'aws-k8s-1.31', '--arch', 'x86_64', '--version', '1.26.1', '--out-dir', join(dir, 'images')),
  ) as { boot: string; root: string; hash: string };
  const repo = join(dir, 'repo');
  const keysDir = join(dir, 'keys');
  const out = JSON.parse(
    await tufRepoOk(
      'release', '--out', repo, '--keys-dir', keysDir, '--variant', 'aws-k8s-1.31', '--arch', 'x86_64', '--version', '1.26.1',
      '--boot', images.boot, '--root', images.root, '--hash', images.hash, '--build', 'abc1234', '--start-at', '2024-10-30T17:00:00Z',
    ),
  ) as { rootJson: string; images: Record<string, string>; blockIndexes: Record<string, string> };
  expect(out.rootJson).toBe(join(repo, 'metadata', '1.root.json'));
  const targets: Record<string, string> = {};
  for (const part of ['boot', 'root', 'hash'] as const) {
    targets[out.images[part]!] = await sha256(images[part]);
    // the published index is the one `image index` builds for the same file
    const index = JSON.parse(await tufRepoOk('image', 'index', images[part], '-o', join(dir, `${part}.blockindex`))) as { sha256: string };
    targets[out.blockIndexes[part]!] = index.sha256;
  }
  expect(Object.keys(targets)).toEqual([
    'bottlerocket-aws-k8s-1.31-x86_64-1.26.1-abc1234-boot.ext4.lz4',
    'bottlerocket-aws-k8s-1.31-x86_64-1.26.1-abc1234-boot.ext4.lz4.blockindex',
    'bottlerocket-aws-k8s-1.31-x86_64-1.26.1-abc1234-root.ext4.lz4',
    'bottlerocket-aws-k8s-1.31-x86_64-1.26.1-abc1234-root.ext4.lz4.blockindex',
    'bottlerocket-aws-k8s-1.31-x86_64-1.26.1-abc1234-root.verity.lz4',
    'bottlerocket-aws-k8s-1.31-x86_64-1.26.1-abc1234-root.verity.lz4.blockindex',
  ]);
  const server = await serveDirectory(repo);
  servers.push(server);
  return { dir, repo, keysDir, url: server.url, targets };
}

function expectDownloads(result: ClientResult, expected: Record<string, string>): void {
  for (const [name, hash] of Object.entries(expected)) expect(result.downloaded[name], name).toBe(hash);
}

describe('interop with python-tuf and tuf-js', () => {
  it('both clients verify a released repository and download every target', async () => {
    const r = await releaseFakeRepo();
    const names = [...Object.keys(r.targets), 'manifest.json'];
    const trusted = join(r.repo, 'metadata', '1.root.json');
    const py = await pythonClient(r.url, trusted, join(r.dir, 'py-cache'), names);
    const js = await tufJsClient(r.url, trusted, join(r.dir, 'js-cache'), names);
    for (const result of [py, js]) {
      expect(result.rootVersion).toBe(1);
      expect(result.targetsVersion).toBe(1);
      expectDownloads(result, r.targets);
    }
    expect(py.downloaded['manifest.json']).toBe(js.downloaded['manifest.json']);
    const manifest = JSON.parse(await readFile(join(r.dir, 'py-downloads', 'manifest.json'), 'utf8')) as {
      updates: { version: string; waves: Record<string, string>; images: Record<string, string> }[];
    };
    expect(manifest.updates[0]!.version).toBe('1.26.1');
    // Bottlerocket's manifest format: the images only, no index fields
    expect(Object.keys(manifest.updates[0]!)).toEqual(['variant', 'arch', 'version', 'max_version', 'waves', 'images']);
    expect(manifest.updates[0]!.images).toEqual({
      boot: 'bottlerocket-aws-k8s-1.31-x86_64-1.26.1-abc1234-boot.ext4.lz4',
      root: 'bottlerocket-aws-k8s-1.31-x86_64-1.26.1-abc1234-root.ext4.lz4',
      hash: 'bottlerocket-aws-k8s-1.31-x86_64-1.26.1-abc1234-root.verity.lz4',
    });
    expect(manifest.updates[0]!.waves).toEqual({
      '0': '2024-10-30T18:00:00Z',
      '20': '2024-10-30T21:00:00Z',
      '102': '2024-10-31T17:00:00Z',
      '307': '2024-11-01T17:00:00Z',
      '819': '2024-11-03T17:00:00Z',
      '1228': '2024-11-04T17:00:00Z',
      '1843': '2024-11-05T17:00:00Z',
    });
  });

  it('both clients follow a root rotation that raises the root threshold to 2 of 2 new keys', async () => {
    const r = await releaseFakeRepo();
    const trusted = join(r.repo, 'metadata', '1.root.json');
    const names = ['manifest.json'];
    // Clients that already trust version 1 and hold its metadata.
    const pyCache = join(r.dir, 'py-cache');
    const jsCache = join(r.dir, 'js-cache');
    await pythonClient(r.url, trusted, pyCache, names);
    await tufJsClient(r.url, trusted, jsCache, names);

    const oldKey = join(r.keysDir, 'ed25519.pem');
    const oldId = (await tufRepoOk('key', 'id', oldKey)).trim();
    const k2 = join(r.dir, 'k2.pem');
    const k3 = join(r.dir, 'k3.pem');
    await tufRepoOk('key', 'gen', '--type', 'ecdsa', '--out', k2);
    await tufRepoOk('key', 'gen', '--type', 'rsa', '--bits', '2048', '--out', k3);
    const next = join(r.dir, '2.root.json');
    await copyFile(trusted, next);
    await tufRepoOk('root', 'bump-version', next);
    await tufRepoOk('root', 'add-key', next, '--key', k2, '--role', 'root');
    await tufRepoOk('root', 'add-key', next, '--key', k3, '--role', 'root');
    await tufRepoOk('root', 'remove-key', next, oldId, '--role', 'root');
    await tufRepoOk('root', 'set-threshold', next, 'root', '2');

    // One new key is below the new threshold: refused, file left unsigned.
    const below = await tufRepo('root', 'sign', next, '-k', k2, '-k', oldKey, '--cross-sign', trusted);
    expect(below.code).toBe(1);
    expect(below.stderr).toMatch(/1 valid root signature\(s\), threshold is 2/);
    await tufRepoOk('root', 'sign', next, '-k', k2, '-k', k3, '-k', oldKey, '--cross-sign', trusted);

    const updated = JSON.parse(await tufRepoOk('update', r.repo, '--rotate-root', next, '-k', oldKey)) as { versions: Record<string, number> };
    expect(updated.versions).toEqual({ root: 2, targets: 2, snapshot: 2, timestamp: 2 });

    for (const result of [
      await pythonClient(r.url, trusted, pyCache, names),
      await tufJsClient(r.url, trusted, jsCache, names),
      await pythonClient(r.url, trusted, join(r.dir, 'py-fresh'), names),
      await tufJsClient(r.url, trusted, join(r.dir, 'js-fresh'), names),
    ]) {
      expect(result.rootVersion).toBe(2);
      expect(result.targetsVersion).toBe(2);
    }
    const root2 = JSON.parse(await readFile(join(r.repo, 'metadata', '2.root.json'), 'utf8')) as {
      signed: { roles: { root: { threshold: number; keyids: string[] } } };
      signatures: unknown[];
    };
    expect(root2.signed.roles.root.threshold).toBe(2);
    expect(root2.signed.roles.root.keyids).toHaveLength(2);
    expect(root2.signatures).toHaveLength(3);
    // Every earlier root stays published for clients that start from it.
    await expect(readFile(join(r.repo, 'metadata', '1.root.json'))).resolves.toBeInstanceOf(Buffer);
  });
});
