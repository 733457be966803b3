import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Manifest, Update } from '../../src/manifest/manifest.js';
import { tufExpires } from '../helpers/build-repo.js';
import type { BinResult } from '../helpers/run-bin.js';
import { createTestHost, type TestHost } from '../helpers/test-host.js';

const HOUR = 3_600_000;
const VARIANT = 'aws-k8s-1.31';

function update(version: string, waves: Update['waves'] = []): Update {
  const base = `bottlerocket-${VARIANT}-x86_64-${version}-abc`;
  return {
    variant: VARIANT,
    arch: 'x86_64',
    version,
    maxVersion: '1.2.0',
    waves,
    images: { boot: `${base}-boot.ext4.lz4`, root: `${base}-root.ext4.lz4`, hash: `${base}-root.verity.lz4` },
  };
}

// 1.1.0 is ready for everyone; 1.2.0's only wave is a day away.
const MANIFEST: Manifest = {
  updates: [
    update('1.0.0'),
    update('1.1.0', [{ seed: 0, startsAt: new Date('2024-01-01T00:00:00Z') }]),
    update('1.2.0', [{ seed: 2048, startsAt: new Date(Math.floor(Date.now() / 1000) * 1000 + 24 * HOUR) }]),
    { ...update('1.1.5'), arch: 'aarch64' },
  ],
  migrations: [],
};

const hosts: TestHost[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
});

interface Host extends TestHost {
  check(args: string[]): Promise<BinResult>;
}

async function setupHost(config: Record<string, string> = {}): Promise<Host> {
  const h = await createTestHost({ repo: { manifest: MANIFEST }, config });
  hosts.push(h);
  // --config by flag, the other paths through the environment: both ways are wired.
  return Object.assign(h, { check: (args: string[]) => h.run(['check-update', ...args, '--config', h.paths.config], { UPDOG_CONFIG: undefined }) });
}

const cachedVersion = (h: TestHost, role: string): number =>
  (JSON.parse(readFileSync(join(h.paths.metadataCache, `${role}.json`), 'utf8')) as { signed: { version: number } }).signed.version;

describe('updog check-update against a signed repository on loopback', () => {
  it('chooses the newest ready update and prints it as JSON', async () => {
    const h = await setupHost();
    const r = await h.check(['--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      variant: VARIANT,
      arch: 'x86_64',
      version: '1.1.0',
      max_version: '1.2.0',
      waves: { '0': '2024-01-01T00:00:00Z' },
      images: MANIFEST.updates[1]!.images,
      readyAt: '2024-01-01T00:00:00Z',
    });
    // Bottlerocket-style query parameters on every request
    expect(h.server.requests).toEqual([
      '/metadata/2.root.json?seed=100&version=1.0.0',
      '/metadata/timestamp.json?seed=100&version=1.0.0',
      '/metadata/1.snapshot.json?seed=100&version=1.0.0',
      '/metadata/1.targets.json?seed=100&version=1.0.0',
      `/targets/${h.repo.targetPath('manifest.json').split('/').pop()}?seed=100&version=1.0.0`,
    ]);
    expect(cachedVersion(h, 'timestamp')).toBe(1);
  });

  it('prints "<variant> <version>", honours --ignore-waves/-n/--now and --all', async () => {
    const h = await setupHost();
    expect(await h.check([])).toEqual({ code: 0, stdout: `${VARIANT} 1.1.0\n`, stderr: '' });
    for (const flag of ['--ignore-waves', '-n', '--now']) {
      expect((await h.check([flag])).stdout).toBe(`${VARIANT} 1.2.0\n`);
    }
    const all = await h.check(['--all']);
    expect(all.code).toBe(0);
    expect((JSON.parse(all.stdout) as { version: string; readyAt: string }[]).map((u) => [u.version, u.readyAt])).toEqual([
      ['1.1.0', '2024-01-01T00:00:00Z'],
      ['1.0.0', '1970-01-01T00:00:00Z'],
    ]);
    const allNow = JSON.parse((await h.check(['--all', '--now'])).stdout) as { version: string; readyAt: string }[];
    expect(allNow.map((u) => [u.version, u.readyAt])).toEqual([
      ['1.2.0', tufExpires(MANIFEST.updates[2]!.waves[0]!.startsAt)],
      ['1.1.0', '2024-01-01T00:00:00Z'],
      ['1.0.0', '1970-01-01T00:00:00Z'],
    ]);
    expect((await h.check(['--image', 'v1.0.0'])).stdout).toBe(`${VARIANT} 1.0.0\n`);
  });

  it('exits 2 with a message when there is no update', async () => {
    const h = await setupHost({ version_lock: '"v1.0.0"' });
    expect(await h.check(['--json'])).toEqual({ code: 2, stdout: '', stderr: `updog: no update available for ${VARIANT} x86_64 1.0.0\n` });
  });

  it('--all prints an empty list and exits 2 when nothing applies; --image must be a version', async () => {
    const h = await createTestHost({ repo: { manifest: MANIFEST }, osRelease: `VARIANT_ID=${VARIANT}\nVERSION_ID=1.0.0\nBUILD_ID=abc\nARCH=ppc64le\n` });
    hosts.push(h);
    expect(await h.run(['check-update', '--all'])).toEqual({ code: 2, stdout: '[]\n', stderr: `updog: no applicable update for ${VARIANT} ppc64le\n` });
    expect(await h.run(['check-update', '--image', 'latest'])).toEqual({ code: 1, stdout: '', stderr: 'updog: error: --image latest: not a version like 1.26.1\n' });
  });

  it('fails on a tampered manifest', async () => {
    const h = await setupHost();
    const file = h.repo.targetPath('manifest.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('1.1.0', '1.1.9'));
    const r = await h.check(['--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^updog: error: downloading manifest\.json from http:\/\/127\.0\.0\.1:\d+\/targets\/: verification failed: LengthOrHashMismatchError: .*\n$/);
  });

  it('fails on an expired timestamp and keeps the last trusted one', async () => {
    const h = await setupHost();
    expect((await h.check([])).code).toBe(0);
    h.repo.publish({ manifest: MANIFEST, expires: { timestamp: new Date(Date.now() - HOUR) } });
    const r = await h.check([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^updog: error: TUF metadata from http:\/\/127\.0\.0\.1:\d+\/metadata\/: verification failed: ExpiredMetadataError: .*timestamp.*\n$/);
    expect([cachedVersion(h, 'timestamp'), cachedVersion(h, 'snapshot')]).toEqual([1, 1]);
  });

  it('rejects a rolled-back snapshot and keeps the newest trusted metadata in the cache', async () => {
    const h = await setupHost();
    h.repo.publish({ manifest: MANIFEST }); // version 2
    expect((await h.check([])).code).toBe(0);
    expect([cachedVersion(h, 'timestamp'), cachedVersion(h, 'snapshot'), cachedVersion(h, 'targets')]).toEqual([2, 2, 2]);
    // A newer timestamp that points back at snapshot version 1.
    h.repo.writeTimestamp({
      version: 3,
      snapshotVersion: 1,
      snapshotBytes: readFileSync(join(h.repo.metadataDir, '1.snapshot.json')),
      expires: tufExpires(new Date(Date.now() + HOUR)),
    });
    const r = await h.check([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^updog: error: TUF metadata from .*: verification failed: BadVersionError: .*\n$/);
    expect([cachedVersion(h, 'timestamp'), cachedVersion(h, 'snapshot'), cachedVersion(h, 'targets')]).toEqual([2, 2, 2]);
  });

  it('rejects a swapped targets file', async () => {
    const h = await setupHost();
    h.repo.publish({ manifest: { ...MANIFEST, updates: MANIFEST.updates.slice(0, 1) } }); // version 2
    copyFileSync(join(h.repo.metadataDir, '1.targets.json'), join(h.repo.metadataDir, '2.targets.json'));
    const r = await h.check([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^updog: error: TUF metadata from .*: failed: RuntimeError: .*Version 1 of targets does not match snapshot version 2\n$/);
  });

  it('names the file and field of a bad configuration', async () => {
    const h = await setupHost({ seed: '4096' });
    const r = await h.check([]);
    expect(r).toEqual({ code: 1, stdout: '', stderr: `updog: error: ${h.paths.config}: field "seed" is 4096, above the maximum seed 2048\n` });
  });
});
