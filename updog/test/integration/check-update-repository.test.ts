import { createHash } from 'node:crypto';
import { linkSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHostContext } from '../../src/config/host-context.js';
import type { Manifest } from '../../src/manifest/manifest.js';
import { openUpdateRepository, type UpdateRepository } from '../../src/tuf/repository.js';
import { createTestHost, type TestHost } from '../helpers/test-host.js';

const IMAGES = { boot: 'images/boot-1.1.0.lz4', root: 'images/root-1.1.0.lz4', hash: 'images/hash-1.1.0.lz4' };
const MANIFEST: Manifest = {
  updates: [{ variant: 'aws-k8s-1.31', arch: 'x86_64', version: '1.1.0', maxVersion: '1.1.0', waves: [], images: IMAGES }],
  migrations: [],
};
const ROOT_IMAGE = Buffer.from('root image bytes '.repeat(1000));

let host: TestHost | undefined;
let repo: UpdateRepository | undefined;
afterEach(async () => {
  await repo?.close();
  await host?.close();
  host = repo = undefined;
});

async function open(): Promise<{ host: TestHost; repo: UpdateRepository }> {
  host = await createTestHost({ repo: { manifest: MANIFEST, targets: { [IMAGES.root]: ROOT_IMAGE } } });
  const ctx = await loadHostContext({ ...host.paths, logLevel: 'silent' });
  repo = await openUpdateRepository(ctx, { limits: { retries: 0 } });
  return { host, repo };
}

describe('openUpdateRepository (the API the installer uses)', () => {
  it('returns the verified manifest and verified target locations with query parameters', async () => {
    const { host: h, repo: r } = await open();
    expect(r.manifest).toEqual(MANIFEST);
    const sha256 = createHash('sha256').update(ROOT_IMAGE).digest('hex');
    const t = await r.target(IMAGES.root);
    expect(t).toEqual({
      name: IMAGES.root,
      length: ROOT_IMAGE.length,
      sha256,
      url: `${h.server.url}/targets/images/${sha256}.root-1.1.0.lz4?seed=100&version=1.0.0&target=images%2Froot-1.1.0.lz4`,
    });
    // The dispatcher streams it; the bytes are the signed ones.
    const res = await request(t.url, { dispatcher: r.download.dispatcher });
    expect(res.statusCode).toBe(200);
    expect(Buffer.from(await res.body.arrayBuffer())).toEqual(ROOT_IMAGE);
  });

  it('rejects a target the signed metadata does not list', async () => {
    const { repo: r } = await open();
    await expect(r.target(IMAGES.boot)).rejects.toThrow(`the repository's signed targets do not list ${IMAGES.boot}`);
  });

  it('starts a fresh cache from the shipped root and reuses it on the next run', async () => {
    const { host: h } = await open();
    const cachedRoot = join(h.paths.metadataCache, 'root.json');
    expect(readFileSync(cachedRoot)).toEqual(readFileSync(h.paths.rootJson));
    // The shipped root is only a starting point: the cache's root is what is trusted afterwards.
    writeFileSync(h.paths.rootJson, 'not json');
    const ctx = await loadHostContext({ ...h.paths, logLevel: 'silent' });
    const again = await openUpdateRepository(ctx, { limits: { retries: 0 } });
    await again.close();
    expect(again.manifest).toEqual(MANIFEST);
  });

  it('follows a root rotation and keeps the new root in the cache', async () => {
    const { host: h } = await open();
    h.repo.writeRoot(new Date(Date.now() + 3_600_000)); // root v2, new keys
    h.repo.publish({ manifest: { ...MANIFEST, migrations: [{ from: '1.0.0', to: '1.1.0', targets: ['m.lz4'] }] } });
    const ctx = await loadHostContext({ ...h.paths, logLevel: 'silent' });
    const again = await openUpdateRepository(ctx, { limits: { retries: 0 } });
    await again.close();
    expect(again.manifest.migrations).toEqual([{ from: '1.0.0', to: '1.1.0', targets: ['m.lz4'] }]);
    const cachedRoot = JSON.parse(readFileSync(join(h.paths.metadataCache, 'root.json'), 'utf8')) as { signed: { version: number } };
    expect(cachedRoot.signed.version).toBe(2);
  });

  it('replaces cached metadata atomically (new file renamed over the old one, never rewritten in place)', async () => {
    const { host: h } = await open();
    const cache = h.paths.metadataCache;
    const oldTimestamp = readFileSync(join(cache, 'timestamp.json'));
    // a second name for the cached file's inode: an in-place rewrite would change its bytes too
    linkSync(join(cache, 'timestamp.json'), join(h.dir.path, 'timestamp-v1.json'));
    h.repo.publish({ manifest: MANIFEST });
    const ctx = await loadHostContext({ ...h.paths, logLevel: 'silent' });
    const again = await openUpdateRepository(ctx, { limits: { retries: 0 } });
    await again.close();
    const cached = JSON.parse(readFileSync(join(cache, 'timestamp.json'), 'utf8')) as { signed: { version: number } };
    const before = JSON.parse(oldTimestamp.toString('utf8')) as { signed: { version: number } };
    expect(cached.signed.version).toBe(before.signed.version + 1);
    expect(readFileSync(join(h.dir.path, 'timestamp-v1.json'))).toEqual(oldTimestamp);
    expect(readdirSync(cache).sort()).toEqual(['root.json', 'snapshot.json', 'targets.json', 'timestamp.json']);
  });

  it('starts again from the shipped root when the cached root is torn', async () => {
    const { host: h } = await open();
    const cachedRoot = join(h.paths.metadataCache, 'root.json');
    writeFileSync(cachedRoot, readFileSync(cachedRoot).subarray(0, 100));
    const ctx = await loadHostContext({ ...h.paths, logLevel: 'silent' });
    const again = await openUpdateRepository(ctx, { limits: { retries: 0 } });
    await again.close();
    expect(again.manifest).toEqual(MANIFEST);
    expect(readFileSync(cachedRoot)).toEqual(readFileSync(h.paths.rootJson));
  });

  it('names the trusted root file when it is missing', async () => {
    host = await createTestHost({ repo: { manifest: MANIFEST } });
    const ctx = await loadHostContext({ ...host.paths, rootJson: join(host.dir.path, 'nope.json'), logLevel: 'silent' });
    await expect(openUpdateRepository(ctx)).rejects.toThrow(`${join(host.dir.path, 'nope.json')}: cannot read the trusted TUF root: ENOENT`);
  });
});
