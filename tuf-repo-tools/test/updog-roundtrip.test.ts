/**
 * Round trip: repositories made only with the `tuf-repo` bin, read by the real `updog
 * check-update --json` (compiled bin) over loopback, across a second release and a root rotation.
 */
import { execFile } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { serveDirectory, type StaticServer } from '../src/serve/static-server.js';
import { REPO_ROOT, tufRepoOk, useTempDirs } from './helpers.js';

const run = promisify(execFile);
const UPDOG_BIN = resolve(REPO_ROOT, 'updog/dist/cli/updog.js');
const tempDir = useTempDirs();
const servers: StaticServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const VARIANT = 'aws-k8s-1.31';

async function release(dir: string, repo: string, version: string, extra: string[] = []): Promise<Record<string, string>> {
  const images = JSON.parse(
    await tufRepoOk('image', 'fake', '--variant', VARIANT, '--arch', 'x86_64', '--version', version, '--out-dir', join(dir, `images-${version}`)),
  ) as { boot: string; root: string; hash: string };
  const out = JSON.parse(
    await tufRepoOk('release', '--out', repo, '--keys-dir', join(dir, 'keys'), '--variant', VARIANT, '--arch', 'x86_64', '--version', version,
      '--boot', images.boot, '--root', images.root, '--hash', images.hash, '--build', `b${version.replaceAll('.', '')}`, ...extra),
  ) as { images: Record<string, string> };
  return out.images;
}

async function checkUpdate(host: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [UPDOG_BIN, 'check-update', '--json'], {
      env: { PATH: process.env.PATH ?? '', ...host },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('updog reads repositories built by tuf-repo', () => {
  it('check-update picks the released update, then the next release, then follows a root rotation', async () => {
    const dir = await tempDir();
    const repo = join(dir, 'repo');
    const images110 = await release(dir, repo, '1.1.0', ['--start-at', '2024-01-01T00:00:00Z']);
    const server = await serveDirectory(repo);
    servers.push(server);

    await writeFile(
      join(dir, 'updog.toml'),
      `metadata_base_url = "${server.url}metadata/"\ntargets_base_url = "${server.url}targets/"\nseed = 100\nversion_lock = "latest"\nignore_waves = false\n`,
    );
    await writeFile(join(dir, 'os-release'), `VARIANT_ID=${VARIANT}\nVERSION_ID=1.0.0\nBUILD_ID=abc\nARCH=x86_64\n`);
    const trusted = join(dir, 'trusted-root.json');
    await copyFile(join(repo, 'metadata', '1.root.json'), trusted);
    const host = {
      UPDOG_CONFIG: join(dir, 'updog.toml'),
      UPDOG_OS_RELEASE: join(dir, 'os-release'),
      UPDOG_ROOT_JSON: trusted,
      UPDOG_METADATA_CACHE: join(dir, 'cache'),
    };

    const first = await checkUpdate(host);
    expect(first.stderr).toBe('');
    expect(JSON.parse(first.stdout)).toEqual({
      variant: VARIANT,
      arch: 'x86_64',
      version: '1.1.0',
      max_version: '1.1.0',
      waves: {
        '0': '2024-01-01T01:00:00Z',
        '20': '2024-01-01T04:00:00Z',
        '102': '2024-01-02T00:00:00Z',
        '307': '2024-01-03T00:00:00Z',
        '819': '2024-01-05T00:00:00Z',
        '1228': '2024-01-06T00:00:00Z',
        '1843': '2024-01-07T00:00:00Z',
      },
      images: images110,
      // seed 100 lies in wave (20, 102]: 4h + (24h - 4h) * (100 - 20) / (102 - 20)
      readyAt: '2024-01-01T23:30:43Z',
    });

    // A second release into the same repository: its waves start in a week, so 1.1.0 stays the
    // pick, while max_version (shared by the variant+arch) moves up to 1.2.0.
    await release(dir, repo, '1.2.0', ['--wave-policy', 'accelerated', '--start-at', 'in 1 week']);
    const second = JSON.parse((await checkUpdate(host)).stdout) as { version: string; max_version: string };
    expect([second.version, second.max_version]).toEqual(['1.1.0', '1.2.0']);

    // Rotate the root to a new key (threshold 1 -> 2 keys, threshold 2) and re-sign everything.
    const oldKey = join(dir, 'keys', 'ed25519.pem');
    const [k2, k3] = [join(dir, 'k2.pem'), join(dir, 'k3.pem')];
    await tufRepoOk('key', 'gen', '--type', 'ecdsa', '--out', k2);
    await tufRepoOk('key', 'gen', '--type', 'ed25519', '--out', k3);
    const next = join(dir, 'next-root.json');
    await copyFile(join(repo, 'metadata', '1.root.json'), next);
    await tufRepoOk('root', 'bump-version', next);
    for (const role of ['root', 'targets', 'snapshot', 'timestamp']) {
      await tufRepoOk('root', 'add-key', next, '--key', k2, '--role', role);
      await tufRepoOk('root', 'add-key', next, '--key', k3, '--role', role);
      await tufRepoOk('root', 'remove-key', next, (await tufRepoOk('key', 'id', oldKey)).trim(), '--role', role);
    }
    await tufRepoOk('root', 'set-threshold', next, 'root', '2');
    await tufRepoOk('root', 'sign', next, '-k', k2, '-k', k3, '-k', oldKey, '--cross-sign', join(repo, 'metadata', '1.root.json'));
    await tufRepoOk('update', repo, '--rotate-root', next, '-k', k2, '-k', k3);

    const third = await checkUpdate(host);
    expect(third.code).toBe(0);
    expect((JSON.parse(third.stdout) as { version: string }).version).toBe('1.1.0');
    const cachedRoot = JSON.parse(await readFile(join(dir, 'cache', 'root.json'), 'utf8')) as { signed: { version: number } };
    expect(cachedRoot.signed.version).toBe(2);
  });
});
