import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPartitionDisk } from '../../src/install/partition-disk.js';
import { tempDir, type TempDir } from '../helpers/temp-dir.js';

/** A page-aligned buffer as the LZ4 decoder's outputs are: a view of WebAssembly memory. */
function pageAlignedBuffer(size: number, fill: number): Buffer {
  const memory = new WebAssembly.Memory({ initial: Math.ceil(size / 65536), maximum: Math.ceil(size / 65536) });
  return Buffer.from(memory.buffer, 0, size).fill(fill);
}

describe('openPartitionDisk (on this machine temp file system, which takes O_DIRECT)', () => {
  let dir: TempDir;
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(() => dir.cleanup());

  it('writes aligned blocks with O_DIRECT, others through the page cache, and falls back when the kernel refuses O_DIRECT', async () => {
    const file = join(dir.path, 'disk');
    fs.writeFileSync(file, Buffer.alloc(64 * 1024, 0xee));
    const fd = fs.openSync(file, 'r+');
    const disk = openPartitionDisk(fd);
    try {
      expect(disk.cached).toBe(false);
      expect(await disk.write(pageAlignedBuffer(8192, 1), 0, 8192, 4096)).toEqual({ bytesWritten: 8192 });
      expect(await disk.write(Buffer.alloc(10, 2), 0, 10, 100)).toEqual({ bytesWritten: 10 }); // unaligned: page cache
      expect(disk.cached).toBe(false);
      // aligned offset and length, but malloc'ed memory does not start on a page: EINVAL, then the page cache for good
      const unalignedMemory = Buffer.alloc(256 * 1024, 3);
      expect(await disk.write(unalignedMemory, 0, 4096, 16384)).toEqual({ bytesWritten: 4096 });
      expect(disk.cached).toBe(true);
      expect(await disk.write(pageAlignedBuffer(4096, 4), 0, 4096, 20480)).toEqual({ bytesWritten: 4096 });
      await disk.datasync();
      await disk.sync();
    } finally {
      disk.close();
      fs.closeSync(fd);
    }
    const expected = Buffer.alloc(64 * 1024, 0xee);
    expected.fill(2, 100, 110);
    expected.fill(1, 4096, 12288);
    expected.fill(3, 16384, 20480);
    expected.fill(4, 20480, 24576);
    expect(fs.readFileSync(file).equals(expected)).toBe(true);
  });
});
