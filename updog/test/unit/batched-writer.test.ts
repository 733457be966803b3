import { describe, expect, it } from 'vitest';
import { BatchedWriter } from '../../src/block-install/batched-writer.js';

/** A disk that records each write (position, bytes) and writes at most `maxPerCall` bytes per call. */
function recordingDisk(maxPerCall = Infinity) {
  const writes: { position: number; bytes: string }[] = [];
  return {
    writes,
    async write(buffer: Uint8Array, offset: number, length: number, position: number) {
      const n = Math.min(length, maxPerCall);
      writes.push({ position, bytes: Buffer.from(buffer.subarray(offset, offset + n)).toString() });
      return { bytesWritten: n };
    },
  };
}

describe('BatchedWriter', () => {
  it('joins neighbours, writes on a gap, when full and on flush, and copies what it is given', async () => {
    const disk = recordingDisk();
    const written: number[] = [];
    const w = new BatchedWriter(disk, 1000, 6, (n) => written.push(n));
    const reused = Buffer.from('ab');
    await w.add(0, reused);
    reused.write('XY'); // the caller reuses its buffer at once
    await w.add(2, Buffer.from('cd'));
    await w.add(10, Buffer.from('ef')); // gap: the first two go out together
    await w.add(12, Buffer.from('ghijk')); // would overflow 6 bytes
    await w.add(17, Buffer.from('0123456789')); // larger than the buffer: written directly
    await w.flush();
    await w.flush(); // nothing left
    expect(disk.writes).toEqual([
      { position: 1000, bytes: 'abcd' },
      { position: 1010, bytes: 'ef' },
      { position: 1012, bytes: 'ghijk' },
      { position: 1017, bytes: '0123456789' },
    ]);
    expect(written).toEqual([4, 2, 5, 10]);
  });

  it('finishes a write that the disk takes in parts', async () => {
    const disk = recordingDisk(3);
    const w = new BatchedWriter(disk, 0, 16, () => undefined);
    await w.add(5, Buffer.from('abcdefgh'));
    await w.flush();
    expect(disk.writes).toEqual([
      { position: 5, bytes: 'abc' },
      { position: 8, bytes: 'def' },
      { position: 11, bytes: 'gh' },
    ]);
  });
});
