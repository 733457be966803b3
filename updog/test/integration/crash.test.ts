/**
 * Crash safety: `updog update` is SIGKILLed at every step of the write order and at byte counts
 * inside each image. After each crash, a copy of the disk boots (boot model) a complete image,
 * and a re-run of `updog update` on the disk succeeds and boots the new version.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateBoot } from '../../src/boot/gptprio.js';
import { findPartitionSets } from '../../src/partitions/partition-sets.js';
import { readGpt } from '../../src/gpt/io.js';
import { createUpdateFixture, fakeImageHash, IMAGE_SIZES, readRange, sgdiskVerifies, type UpdateFixture } from './update-fixture.js';
import { createHash } from 'node:crypto';

const MIB = 1024 * 1024;
const CRASH_POINTS = [
  'after-clear-inactive',
  'before-image:root',
  'write:root:1', // after the first 4 MiB block
  `write:root:${8 * MIB}`, // after the second
  'after-image:root',
  'before-image:boot',
  'write:boot:1',
  'after-image:boot',
  'before-image:hash',
  'write:hash:1',
  'after-image:hash',
  'before-mark-valid',
  'after-mark-valid',
  'after-upgrade',
];

let f: UpdateFixture;
let pristine: Buffer;
beforeAll(async () => {
  f = await createUpdateFixture();
  await f.publish([{ version: '1.1.0' }]);
  pristine = fs.readFileSync(f.disk);
});
afterAll(() => f.close());

/** Boots a copy of the disk and checks the booted set holds a complete image of its version. */
async function bootsCompleteImage(disk: string): Promise<{ set: string; version: string | undefined }> {
  const copy = join(f.dir.path, 'boot-copy.img');
  fs.copyFileSync(disk, copy);
  try {
    const boot = await simulateBoot(copy);
    const set = findPartitionSets(readGpt(copy).gpt)[boot.set];
    for (const part of ['root', 'boot', 'hash'] as const) {
      const bytes = readRange(copy, set[part].offset, IMAGE_SIZES[part]);
      expect(createHash('sha256').update(bytes).digest('hex'), `${part} of set ${boot.set}`).toBe(fakeImageHash(boot.version!, part));
    }
    return { set: boot.set, version: boot.version };
  } finally {
    fs.rmSync(copy, { force: true });
  }
}

describe('crash injection during updog update', () => {
  it.each(CRASH_POINTS)('killed at %s: the disk boots a complete image and a re-run succeeds', async (point) => {
    fs.writeFileSync(f.disk, pristine);
    fs.writeFileSync(f.env.UPDOG_ACTIVE_SET_FILE!, 'A\n');
    const crashed = await f.run(['update'], { UPDOG_CRASH_AT: point });
    expect(crashed.code).toBeNull(); // killed by SIGKILL
    expect(sgdiskVerifies(f.disk)).toBe(true);
    // until the set is marked valid and applied, the old set boots; after, the complete new one
    expect(await bootsCompleteImage(f.disk)).toEqual(point === 'after-upgrade' ? { set: 'B', version: '1.1.0' } : { set: 'A', version: '1.0.0' });
    // the lock left by the killed process is stale: the re-run takes it over
    const rerun = await f.run(['update']);
    expect(rerun.stderr).toMatch(/written and verified/);
    expect(rerun.code).toBe(0);
    expect(await bootsCompleteImage(f.disk)).toEqual({ set: 'B', version: '1.1.0' });
  });
});
