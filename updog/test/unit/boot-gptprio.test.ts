import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { choosePartition, NoBootablePartitionError, simulateBoot } from '../../src/boot/gptprio.js';
import type { SetName } from '../../src/partitions/partition-sets.js';
import { Signpost } from '../../src/signpost/signpost.js';
import { makeDiskImage, makeTempDir, removeDir, sgdisk, sgdiskAttributes, sgdiskVerifyOutput, writeFakeRoot } from './gpt-helpers.js';

const f = (priority: number, triesLeft: number, successful: boolean) => ({ priority, triesLeft, successful });

describe('choosePartition', () => {
  it('picks the highest priority that has tries left or booted successfully', () => {
    expect(choosePartition([{ index: 0, flags: f(1, 0, true) }, { index: 3, flags: f(2, 1, false) }])?.index).toBe(3);
    expect(choosePartition([{ index: 0, flags: f(1, 0, true) }, { index: 3, flags: f(2, 0, false) }])?.index).toBe(0);
    expect(choosePartition([{ index: 0, flags: f(0, 5, true) }, { index: 3, flags: f(1, 1, false) }])?.index).toBe(3);
  });
  it('breaks ties by the lower table index whatever the input order', () => {
    expect(choosePartition([{ index: 3, flags: f(2, 0, true) }, { index: 0, flags: f(2, 1, false) }])?.index).toBe(0);
  });
  it('returns undefined when nothing can boot', () => {
    expect(choosePartition([{ index: 0, flags: f(0, 1, true) }, { index: 3, flags: f(3, 0, false) }])).toBeUndefined();
    expect(choosePartition([])).toBeUndefined();
  });
});

describe('simulateBoot on a disk image', () => {
  let dir: string;
  let img: string;
  beforeEach(async () => {
    dir = makeTempDir();
    img = await makeDiskImage(dir);
    writeFakeRoot(img, 2 * 1024 * 1024, '1.0.0'); // ROOT-A
  });
  afterEach(() => removeDir(dir));

  /** What updog does to install `version` on the inactive set of the running `active` set. */
  async function installUpdate(active: SetName, version: string, bad = false): Promise<void> {
    const sp = await Signpost.open({ disk: img, activeSet: { set: active } });
    await sp.clearInactive();
    writeFakeRoot(img, sp.inactive.root.offset, version, bad);
    await sp.markInactiveValid();
    await sp.upgradeToInactive();
  }

  async function markSuccessful(active: SetName): Promise<void> {
    await (await Signpost.open({ disk: img, activeSet: { set: active } })).markSuccessfulBoot();
  }

  it('boots set A of a fresh image without writing the disk', async () => {
    const before = fs.readFileSync(img);
    expect(await simulateBoot(img)).toEqual({ set: 'A', bootPartitionNumber: 1, triesBefore: 0, triesAfter: 0, version: '1.0.0', bad: false });
    expect(fs.readFileSync(img).equals(before)).toBe(true);
  });

  it('boots a new set once; without mark-successful-boot the next boot falls back', async () => {
    await installUpdate('A', '1.1.0', true);
    expect(await simulateBoot(img)).toEqual({ set: 'B', bootPartitionNumber: 4, triesBefore: 1, triesAfter: 0, version: '1.1.0', bad: true });
    expect(sgdiskVerifyOutput(img)).toContain('No problems found.');
    expect(sgdiskAttributes(img, 4)).toBe('0002000000000000'); // priority 2, tries used up, not successful
    expect(await simulateBoot(img)).toMatchObject({ set: 'A', version: '1.0.0', triesBefore: 0 });
    expect(await simulateBoot(img)).toMatchObject({ set: 'A', version: '1.0.0' });
  });

  it('keeps booting the new set once it marked its boot successful', async () => {
    await installUpdate('A', '1.1.0');
    expect(await simulateBoot(img)).toMatchObject({ set: 'B', version: '1.1.0' });
    await markSuccessful('B');
    expect(sgdiskAttributes(img, 4)).toBe('0102000000000000');
    expect(await simulateBoot(img)).toMatchObject({ set: 'B', version: '1.1.0', triesBefore: 0 });
    expect(await simulateBoot(img)).toMatchObject({ set: 'B', version: '1.1.0' });
  });

  it('alternates priorities across two updates', async () => {
    await installUpdate('A', '1.1.0');
    expect(await simulateBoot(img)).toMatchObject({ set: 'B', version: '1.1.0' });
    await markSuccessful('B');
    expect([sgdiskAttributes(img, 1), sgdiskAttributes(img, 4)]).toEqual(['0101000000000000', '0102000000000000']);

    await installUpdate('B', '1.2.0');
    expect([sgdiskAttributes(img, 1), sgdiskAttributes(img, 4)]).toEqual(['0012000000000000', '0101000000000000']);
    expect(await simulateBoot(img)).toMatchObject({ set: 'A', bootPartitionNumber: 1, version: '1.2.0', triesBefore: 1, triesAfter: 0 });
    await markSuccessful('A');
    expect([sgdiskAttributes(img, 1), sgdiskAttributes(img, 4)]).toEqual(['0102000000000000', '0101000000000000']);
    expect(await simulateBoot(img)).toMatchObject({ set: 'A', version: '1.2.0' });
  });

  it('rolls back to the previous set on request', async () => {
    await installUpdate('A', '1.1.0');
    await simulateBoot(img);
    await markSuccessful('B');
    await (await Signpost.open({ disk: img, activeSet: { set: 'B' } })).rollbackToInactive();
    expect(await simulateBoot(img)).toMatchObject({ set: 'A', version: '1.0.0' });
  });

  it('fails clearly when no partition can boot', async () => {
    sgdisk('-A', '1:clear:56', img);
    await expect(simulateBoot(img)).rejects.toThrow(
      new NoBootablePartitionError(
        `no bootable partition on ${img} (BOTTLEROCKET-BOOT-A: priority=1 tries=0 successful=0; BOTTLEROCKET-BOOT-B: priority=0 tries=0 successful=0)`,
      ),
    );
  });

  it('reports no version when the booted ROOT holds no recognisable image', async () => {
    const sp = await Signpost.open({ disk: img, activeSet: { set: 'A' } });
    await sp.markInactiveValid();
    await sp.upgradeToInactive();
    expect(await simulateBoot(img)).toEqual({ set: 'B', bootPartitionNumber: 4, triesBefore: 1, triesAfter: 0 });
  });
});
