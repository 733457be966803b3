/**
 * The delta bench's harness end to end on its small fixtures (96 MiB ext4 images of 10 Debian
 * packages, or of /usr files where apt-get download cannot run): fixtures, block-size table and
 * `bench:delta`. The figures are for a person to read; what is asserted is that the harness
 * builds real, distinct, checked images, verifies every install and prints its table.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MIB = 1024 * 1024;
const cache = mkdtempSync(join(tmpdir(), 'delta-bench-test-'));
// updog's warnings (e.g. a small image streamed whole instead of block by block) are not the harness's
const env = { ...process.env, XDG_CACHE_HOME: cache, BENCH_UPDOG_LOG_LEVEL: 'error' };

function node(args: string[]) {
  return spawnSync(process.execPath, args, { encoding: 'utf8', env, timeout: 240_000 });
}

interface Fixtures {
  version: string;
  source: 'debian' | 'usr';
  imageSize: number;
  images: Record<'1.0' | '1.1', string>;
  sha256: Record<'1.0' | '1.1', string>;
  changes: { files: number; removed: number; rewritten: number; patched: number; added: number };
}
let fixtures: Fixtures;
let firstRun: ReturnType<typeof node>;

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

beforeAll(() => {
  firstRun = node(['bench/delta-fixtures.mjs', '--small']);
  const dir = /^fixtures (\S+) \((debian|usr)\) in (.+)$/m.exec(firstRun.stdout);
  if (firstRun.status !== 0 || dir === null) throw new Error(`delta-fixtures failed: ${firstRun.stderr}`);
  fixtures = JSON.parse(readFileSync(join(dir[3]!, 'fixtures.json'), 'utf8')) as Fixtures;
}, 240_000);
afterAll(() => rmSync(cache, { recursive: true, force: true }));

describe('bench/delta-fixtures.mjs --small', () => {
  it('builds two 96 MiB ext4 images that pass e2fsck, differ, and hold the sha256 it reports', () => {
    expect(fixtures.imageSize).toBe(96 * MIB);
    for (const release of ['1.0', '1.1'] as const) {
      expect(statSync(fixtures.images[release]).size).toBe(96 * MIB);
      expect(sha256(fixtures.images[release])).toBe(fixtures.sha256[release]);
      expect(spawnSync('e2fsck', ['-fn', fixtures.images[release]]).status).toBe(0);
      expect(firstRun.stdout).toContain(`image ${release}: ${fixtures.images[release]} (96 MiB, sha256 ${fixtures.sha256[release]})`);
    }
    expect(fixtures.sha256['1.0']).not.toBe(fixtures.sha256['1.1']);
  });

  it('changes 1.1 like a minor release: some files rewritten, patched, removed and added, each a few percent at most', () => {
    const c = fixtures.changes;
    expect(c.files).toBeGreaterThan(300);
    // (the /usr fallback has fewer, bigger files: too few to be sure of a patched one)
    for (const n of [c.rewritten + c.patched, c.removed, c.added]) expect(n).toBeGreaterThan(0);
    for (const n of [c.rewritten, c.patched, c.removed, c.added]) expect(n / c.files).toBeLessThan(0.04);
    expect(c.added).toBe(Math.round(c.files * 0.01));
  });

  // the images are pinned (UUID, hash seed, times): faketime stops mkfs's clock (.ci/run installs it)
  it('rebuilds byte-identical images from the same packages', () => {
    const again = node(['bench/delta-fixtures.mjs', '--small', '--rebuild']);
    expect(again.status).toBe(0);
    for (const release of ['1.0', '1.1'] as const) expect(sha256(fixtures.images[release])).toBe(fixtures.sha256[release]);
  }, 240_000);
});

describe('bench/block-size-table.mjs --small', () => {
  it('prints a row per block size with its block count, and (b) never fetches more than (a)', () => {
    const r = node(['bench/block-size-table.mjs', '--small']);
    expect([r.status, r.stderr.includes('block-size table:')]).toEqual([0, true]);
    const rows = [...r.stdout.matchAll(/^\| (\d+) (KiB|MiB) \| (\d+) \| [\d.]+ MiB \| [\d.]+ \| \d+ KiB \| ([\d.]+) % \([\d.]+ MiB\) \| ([\d.]+) % \([\d.]+ MiB\) \| (\d+) \|/gm)];
    expect(rows.map((m) => `${m[1]} ${m[2]}: ${m[3]}`)).toEqual(['64 KiB: 1536', '128 KiB: 768', '256 KiB: 384', '1 MiB: 96', '4 MiB: 24']);
    for (const m of rows) expect(Number(m[5])).toBeLessThanOrEqual(Number(m[4]));
    // smaller blocks drag fewer unchanged pieces along
    expect(Number(rows[0]![5])).toBeLessThanOrEqual(Number(rows[4]![5]));
    expect(r.stdout).toMatch(/^Hashing a local image \(page cache warm, one core\): xxh64 per 4 KiB piece [\d.]+ s\/GiB/m);
  }, 240_000);
});

describe('npm run bench:delta (bench/delta-bench.mjs --small)', () => {
  it('installs 1.1 through the real CLIs, checks set B against the 1.1 image each run, and prints the summary', () => {
    const r = node(['bench/delta-bench.mjs', '--small', '--rounds', '1']);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const runs = r.stdout.match(/^ {2}round 1 (delta|empty|stream) +\d+\.\d\d s .* root: (stream|blocks), fetched \d+ \(\d+\.\d %\), reused \d+; server sent \d+ bytes in \d+ requests \(\d+ ranged\) {2}\(B verified\)$/gm);
    expect(runs?.length).toBeGreaterThanOrEqual(2);
    expect(r.stdout).toMatch(/^contender +method +median wall s +median user s +peak RSS MiB +root fetched \(% of full\)/m);
    expect(r.stdout).toMatch(/^delta fetched \d+\.\d % of the full root image \(target <= 25 %\)/m);
    expect(r.stdout).toMatch(/^delta wall time \/ (stream|empty): \d+\.\d\d \(target <= 1\.00\)/m);
  }, 240_000);
});
