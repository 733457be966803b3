import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeBlockIndex } from '@updog-ts/updog/image';
import { parseManifest } from '@updog-ts/updog/release';
import { targetFilePath } from '../src/tuf/inspect.js';
import { loadRepository, type LoadedRepository } from '../src/tuf/load.js';
import { tufRepo, tufRepoOk, useTempDirs } from './helpers.js';
import { lz4Run, mixedData, sha256 } from './lz4-helpers.js';

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
    // 2 releases x (3 images + 3 block indexes), the manifest, the migration
    expect(Object.keys(loaded.targets.signed.targets)).toHaveLength(14);
    expect(JSON.parse(await tufRepoOk('validate', repo, '--targets')).targetsVerified).toBe(true);
    expect(JSON.parse(await tufRepoOk('manifest', 'validate', targetFilePath(loaded, 'manifest.json')!, '--repo', repo)).updates).toBe(2);

    const noVersion = await tufRepo('release', ...common);
    expect(noVersion.stderr).toBe('tuf-repo: error: no release version: give --version or a --release-toml with version = "X.Y.Z"\n');
  });

  it('publishes a block index target per image: packed at --block-size, walked for .lz4 inputs, none for linked blocks or with --no-block-index', async () => {
    const dir = await tempDir();
    const data = mixedData();
    await writeFile(join(dir, 'boot'), data.subarray(0, 3 * 1024 * 1024));
    await writeFile(join(dir, 'hash'), data.subarray(0, 200_000));
    await writeFile(join(dir, 'raw-root'), data);
    await lz4Run('-q', '-f', '-9', join(dir, 'raw-root'), join(dir, 'root-9.lz4'));
    await lz4Run('-q', '-f', '-9', '-BD', join(dir, 'raw-root'), join(dir, 'root-bd.lz4'));
    const common = ['--keys-dir', join(dir, 'keys'), '--variant', 'metal-dev', '--arch', 'x86_64', '--boot', join(dir, 'boot'), '--hash', join(dir, 'hash'), '--build', 'b1'];
    const name = (part: string): string => `bottlerocket-metal-dev-x86_64-1.0.0-b1-${part}.lz4`;

    /** Every index target of `repo` decoded against its image target as targets.json lists it. */
    const indexesOf = async (repo: LoadedRepository): Promise<Record<string, { blockSize: number; blocks: number }>> => {
      const targets = repo.targets.signed.targets;
      const out: Record<string, { blockSize: number; blocks: number }> = {};
      for (const [target, info] of Object.entries(targets)) {
        if (!target.endsWith('.blockindex')) continue;
        const bytes = await readFile(targetFilePath(repo, target)!);
        expect([bytes.length, sha256(bytes).toString('hex')]).toEqual([info.length, info.hashes.sha256]);
        const image = targets[target.slice(0, -'.blockindex'.length)]!;
        const index = decodeBlockIndex(bytes, { name: target, length: image.length, sha256: image.hashes.sha256! });
        out[target] = { blockSize: index.blockSize, blocks: index.blocks.length };
      }
      return out;
    };

    const indexed = join(dir, 'indexed');
    const out = JSON.parse(await tufRepoOk('release', '--out', indexed, ...common, '--version', '1.0.0', '--root', join(dir, 'root-9.lz4'), '--block-size', '256KiB')) as {
      blockIndexes: Record<string, string>;
      blockIndexSkipped: Record<string, string>;
    };
    expect(out.blockIndexes).toEqual({
      boot: `${name('boot.ext4')}.blockindex`,
      root: `${name('root.ext4')}.blockindex`,
      hash: `${name('root.verity')}.blockindex`,
    });
    expect(out.blockIndexSkipped).toEqual({});
    const repo = await loadRepository(indexed);
    expect(await indexesOf(repo)).toEqual({
      [`${name('boot.ext4')}.blockindex`]: { blockSize: 256 * 1024, blocks: 12 },
      [`${name('root.ext4')}.blockindex`]: { blockSize: 4 * 1024 * 1024, blocks: 3 }, // lz4 -9's blocks, whatever --block-size says
      [`${name('root.verity')}.blockindex`]: { blockSize: 256 * 1024, blocks: 1 },
    });
    // the .lz4 input is published as is
    expect(await readFile(targetFilePath(repo, name('root.ext4'))!)).toEqual(await readFile(join(dir, 'root-9.lz4')));
    // the manifest names the images only, as before indexes
    const manifestText = await readFile(targetFilePath(repo, 'manifest.json')!, 'utf8');
    expect(manifestText).not.toContain('blockindex');
    expect(Object.keys(parseManifest(manifestText).updates[0]!.images)).toEqual(['boot', 'root', 'hash']);
    expect(JSON.parse(await tufRepoOk('validate', indexed, '--targets')).targetsVerified).toBe(true);

    const linked = join(dir, 'linked');
    const r = await tufRepo('release', '--out', linked, ...common, '--version', '1.0.0', '--root', join(dir, 'root-bd.lz4'));
    expect(r.code).toBe(0);
    const why = `${join(dir, 'root-bd.lz4')} cannot have a block index: its blocks are linked (lz4 -BD), so no block decodes without the ones before it`;
    expect(JSON.parse(r.stdout).blockIndexSkipped).toEqual({ root: why });
    expect(JSON.parse(r.stderr)).toMatchObject({ level: 40, part: 'root', msg: `no block index published: ${why}` });
    expect(Object.keys(await indexesOf(await loadRepository(linked)))).toEqual([`${name('boot.ext4')}.blockindex`, `${name('root.verity')}.blockindex`]);

    const none = join(dir, 'none');
    const plain = JSON.parse(await tufRepoOk('release', '--out', none, ...common, '--version', '1.0.0', '--root', join(dir, 'root-9.lz4'), '--no-block-index')) as {
      blockIndexes: object;
    };
    expect(plain.blockIndexes).toEqual({});
    expect(Object.keys((await loadRepository(none)).targets.signed.targets)).toEqual([name('boot.ext4'), name('root.ext4'), name('root.verity'), 'manifest.json']);

    // an .lz4 input that does not decode is refused, and no repository is written
    await writeFile(join(dir, 'cut.lz4'), (await readFile(join(dir, 'root-9.lz4'))).subarray(0, 5000));
    const cut = await tufRepo('release', '--out', join(dir, 'cut-repo'), ...common, '--version', '1.0.0', '--root', join(dir, 'cut.lz4'));
    expect([cut.code, cut.stderr]).toEqual([1, `tuf-repo: error: cannot index ${join(dir, 'cut.lz4')}: LZ4 stream truncated: input ends at byte 5000 inside the block\n`]);
    await expect(readFile(join(dir, 'cut-repo', 'metadata', '1.root.json'))).rejects.toThrow(/ENOENT/);
  });
});
