import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '@updog-ts/updog/release';
import { targetFilePath } from '../src/tuf/inspect.js';
import { loadRepository } from '../src/tuf/load.js';
import { tufRepo, tufRepoOk, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

describe('tuf-repo release', () => {
  it('takes raw images and a Release.toml (version, migrations), packs, and keeps earlier updates', async () => {
    const dir = await tempDir();
    for (const part of ['boot', 'root', 'hash']) await writeFile(join(dir, part), Buffer.alloc(50_000, `${part}-raw`));
    await writeFile(join(dir, 'migrate_v1.1.0_x.lz4'), 'migration');
    await writeFile(join(dir, 'Release.toml'), 'version = "1.1.0"\n[migrations]\n"(1.0.0, 1.1.0)" = ["migrate_v1.1.0_x.lz4"]\n');
    const repo = join(dir, 'repo');
    const common = ['--out', repo, '--keys-dir', join(dir, 'keys'), '--variant', 'metal-dev', '--arch', 'x86_64', '--boot', join(dir, 'boot'), '--root', join(dir, 'root'), '--hash', join(dir, 'hash')];

    const missing = await tufRepo('release', ...common, '--release-toml', join(dir, 'Release.toml'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      'tuf-repo: error: the release manifest would be invalid:\n  migration (1.0.0, 1.1.0): target "migrate_v1.1.0_x.lz4" is not in the repository\n',
    );
    const out = JSON.parse(
      await tufRepoOk('release', ...common, '--release-toml', join(dir, 'Release.toml'), '--add', `migrate_v1.1.0_x.lz4=${join(dir, 'migrate_v1.1.0_x.lz4')}`),
    ) as { images: Record<string, string>; versions: unknown };
    expect(out.versions).toEqual({ root: 1, targets: 1, snapshot: 1, timestamp: 1 });
    expect(out.images.root).toMatch(/^bottlerocket-metal-dev-x86_64-1\.1\.0-[0-9a-f]{8}-root\.ext4\.lz4$/);

    const second = JSON.parse(await tufRepoOk('release', ...common, '--version', '1.2.0', '--wave-policy', 'slow')) as { versions: unknown };
    expect(second.versions).toEqual({ root: 1, targets: 2, snapshot: 2, timestamp: 2 });
    const loaded = await loadRepository(repo);
    const manifest = parseManifest(await readFile(targetFilePath(loaded, 'manifest.json')!, 'utf8'));
    expect(manifest.updates.map((u) => [u.version, u.maxVersion, u.waves.length])).toEqual([
      ['1.1.0', '1.2.0', 7],
      ['1.2.0', '1.2.0', 6],
    ]);
    expect(manifest.migrations).toEqual([{ from: '1.0.0', to: '1.1.0', targets: ['migrate_v1.1.0_x.lz4'] }]);
    expect(Object.keys(loaded.targets.signed.targets)).toHaveLength(8);
    expect(JSON.parse(await tufRepoOk('validate', repo, '--targets')).targetsVerified).toBe(true);
    expect(JSON.parse(await tufRepoOk('manifest', 'validate', targetFilePath(loaded, 'manifest.json')!, '--repo', repo)).updates).toBe(2);

    const noVersion = await tufRepo('release', ...common);
    expect(noVersion.stderr).toBe('tuf-repo: error: no release version: give --version or a --release-toml with version = "X.Y.Z"\n');
  });
});
