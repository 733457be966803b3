import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { decodeLz4Frames, parseFakeImageHeader } from '@updog-ts/updog/image';
import { makeFakeRelease } from '../src/image/fake-release.js';
import { packImage } from '../src/image/pack.js';
import { tufRepoOk, useTempDirs } from './helpers.js';
import { lz4Cli, mixedData } from './lz4-helpers.js';

const tempDir = useTempDirs();
const run = promisify(execFile);

async function updogDecode(path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  // The decoder reuses its output buffers: keep copies.
  for await (const block of decodeLz4Frames(createReadStream(path))) parts.push(Buffer.from(block));
  return Buffer.concat(parts);
}

describe('image pack (LZ4 frames)', () => {
  it('writes frames with content checksum that the lz4 CLI and updog both decode exactly', async () => {
    const dir = await tempDir();
    const cases: [string, Buffer][] = [
      ['mixed', mixedData()],
      ['empty', Buffer.alloc(0)],
      ['tiny', Buffer.from('x')],
    ];
    for (const [name, data] of cases) {
      await writeFile(join(dir, name), data);
      const packed = await packImage(join(dir, name), join(dir, `${name}.lz4`), 4 * 1024 * 1024);
      const file = await readFile(packed.path);
      expect(packed.length).toBe(file.length);
      // magic, FLG = version 01 | independent blocks | content checksum, BD = 4 MiB blocks (other sizes: block-index.test.ts)
      expect([...file.subarray(0, 6)]).toEqual([0x04, 0x22, 0x4d, 0x18, 0x64, 0x70]);
      expect((await lz4Cli(packed.path)).equals(data), `${name} via lz4 CLI`).toBe(true);
      expect((await updogDecode(packed.path)).equals(data), `${name} via updog`).toBe(true);
    }
    const { stdout, stderr } = await run('lz4', ['-v', '--list', join(dir, 'mixed.lz4')]);
    expect(stdout + stderr).toMatch(/B7I\s+XXH32/);
  });

  it('a flipped byte is caught by the frame checksums', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'raw'), Buffer.alloc(200_000, 'abcdefgh'));
    const packed = await packImage(join(dir, 'raw'), join(dir, 'raw.lz4'));
    const file = await readFile(packed.path);
    file[file.length - 1]! ^= 0xff;
    await writeFile(packed.path, file);
    await expect(lz4Cli(packed.path)).rejects.toThrow();
    await expect(updogDecode(packed.path)).rejects.toThrow();
  });

  it('makes fake releases whose images record version and badness, with Bottlerocket names', async () => {
    const dir = await tempDir();
    const good = await makeFakeRelease({ dir, variant: 'metal-dev', arch: 'x86_64', version: '1.2.3' });
    const bad = await makeFakeRelease({ dir, variant: 'metal-dev', arch: 'x86_64', version: '1.2.3', bad: true, sizes: { root: 2 * 1024 * 1024 } });
    expect(basename(good.root)).toMatch(/^bottlerocket-metal-dev-x86_64-1\.2\.3-[0-9a-f]{8}-root\.ext4\.lz4$/);
    expect(basename(good.boot)).toMatch(/-boot\.ext4\.lz4$/);
    expect(basename(good.hash)).toMatch(/-root\.verity\.lz4$/);
    expect(good.names.root).toBe(basename(good.root));
    expect(good.root).not.toBe(bad.root);
    const goodRoot = await updogDecode(good.root);
    const badRoot = await updogDecode(bad.root);
    expect(goodRoot.length).toBe(1024 * 1024);
    expect(badRoot.length).toBe(2 * 1024 * 1024);
    expect(parseFakeImageHeader(goodRoot)).toEqual({ part: 'root', variant: 'metal-dev', arch: 'x86_64', version: '1.2.3', bad: false });
    expect(parseFakeImageHeader(badRoot)?.bad).toBe(true);
    expect(parseFakeImageHeader(await lz4Cli(good.boot))?.part).toBe('boot');
  });

  it('image pack names and compresses raw images from the command line', async () => {
    const dir = await tempDir();
    for (const part of ['boot', 'root', 'hash']) await writeFile(join(dir, part), Buffer.alloc(100_000, part));
    const out = JSON.parse(
      await tufRepoOk('image', 'pack', '--boot', join(dir, 'boot'), '--root', join(dir, 'root'), '--hash', join(dir, 'hash'),
        '--variant', 'aws-dev', '--arch', 'aarch64', '--version', '1.0.0', '--build', 'deadbeef', '--out-dir', join(dir, 'out')),
    ) as Record<string, { name: string; path: string; length: number; sha256: string }>;
    expect(Object.values(out).map((o) => o.name)).toEqual([
      'bottlerocket-aws-dev-aarch64-1.0.0-deadbeef-boot.ext4.lz4',
      'bottlerocket-aws-dev-aarch64-1.0.0-deadbeef-root.ext4.lz4',
      'bottlerocket-aws-dev-aarch64-1.0.0-deadbeef-root.verity.lz4',
    ]);
    expect((await lz4Cli(out.root!.path)).equals(Buffer.alloc(100_000, 'root'))).toBe(true);
  });
});
