import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { it, expect } from 'vitest';
import { buildReleaseRepository, hashedTargetPath, loadRepository } from '@updog-ts/tuf-repo-tools';
import { encodeBlockIndex, loadPieceHasher, blockIndexTargetName } from '../../src/image.js';
import { makeFakeImage } from '../../src/boot/fake-image.js';
import { parseManifest } from '../../src/manifest/manifest.js';
import { ARCH, createUpdateFixture, IMAGE_SIZES, VARIANT } from './update-fixture.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest();
function textLike(seed: number, size: number): Buffer {
  const words = Array.from({ length: 4096 }, (_, i) => `w${((i * 2654435761) >>> 0).toString(36)}`);
  const out = Buffer.alloc(size);
  let x = seed >>> 0;
  for (let at = 0; at < size; ) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; at += out.write(`${words[x >>> 20]!} `, at); }
  return out;
}
it('scratch', async () => {
  const R10 = textLike(1, IMAGE_SIZES.root);
  const R11 = Buffer.from(R10); textLike(7, 4096).copy(R11, 2 * 1024 * 1024 + 100);
  const f = await createUpdateFixture({ ranges: true, activeFillers: { root: R10 } });
  await f.publish([{ version: '1.1.0', fillers: { root: R11 } }]);
  const lz4 = fs.readFileSync(f.targetFile('1.1.0', 'root'));
  const raw = makeFakeImage({ part: 'root', variant: VARIANT, arch: ARCH, version: '1.1.0', bad: false }, IMAGE_SIZES.root, R11);
  const h = await loadPieceHasher();
  const B = 4 * 1024 * 1024;
  const blocks = []; let at = 7; const pieces: bigint[] = [];
  for (let i = 0; i * B < raw.length; i++) {
    const size = lz4.readUInt32LE(at) & 0x7fffffff;
    const dec = raw.subarray(i * B, Math.min(raw.length, (i + 1) * B));
    blocks.push({ compressedOffset: at, compressedLength: size + 4, decodedOffset: i * B, decodedLength: dec.length, decodedSha256: sha(dec), compressedSha256: sha(lz4.subarray(at, at + size + 4)) });
    const out = new BigUint64Array(Math.ceil(dec.length / 4096)); h.hashPieces(dec, 4096, out, 0); pieces.push(...out);
    at += size + 4;
  }
  const idx = encodeBlockIndex({ blockSize: B, pieceSize: 4096, imageLength: lz4.length, decodedLength: raw.length, imageSha256: sha(lz4), blocks, pieceHashes: BigUint64Array.from(pieces) });
  const name = f.targetFile('1.1.0', 'root').split('/').pop()!.split('.').slice(1).join('.');
  const idxPath = join(f.dir.path, 'idx'); fs.writeFileSync(idxPath, idx);
  const repo = await loadRepository(f.repoDir);
  const mi = repo.targets.signed.targets['manifest.json']!;
  const manifest = parseManifest(fs.readFileSync(join(f.repoDir, 'targets', hashedTargetPath('manifest.json', mi.hashes.sha256!)), 'utf8'));
  await buildReleaseRepository({ outDir: f.repoDir, keysDir: join(f.dir.path, 'keys'), manifest, targets: { [blockIndexTargetName(name)]: idxPath } });
  const r = await f.run(['update-image', '--json']);
  console.log(r.code, r.stdout, r.stderr.slice(-3000));
  console.log(f.server.responses.filter((x) => x.path.includes('root')));
  const r2 = await f.run(['update-image', '--json']);
  console.log(r2.code, r2.stdout.slice(0, 600));
  await f.close();
  expect(r.code).toBe(0);
});
