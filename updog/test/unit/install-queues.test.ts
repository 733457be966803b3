import { describe, expect, it } from 'vitest';
import { ByteQueue } from '../../src/install/byte-queue.js';
import { ChunkChannel } from '../../src/install/chunk-channel.js';

const bytes = (...values: number[]): Buffer => Buffer.from(values);

describe('ChunkChannel', () => {
  it('hands chunks over in order and ends after the last one', async () => {
    const channel = new ChunkChannel(1024);
    await channel.push(bytes(1, 2));
    await channel.push(bytes(3));
    channel.end();
    const seen: number[][] = [];
    for await (const chunk of channel) seen.push([...chunk]);
    expect(seen).toEqual([[1, 2], [3]]);
  });

  it('holds the producer while the limit is queued, until the consumer takes a chunk', async () => {
    const channel = new ChunkChannel(4);
    const events: string[] = [];
    await channel.push(bytes(1, 2)); // 2 queued: below the limit
    const held = channel.push(bytes(3, 4)).then(() => events.push('released'));
    await Promise.resolve();
    await Promise.resolve();
    expect(events).toEqual([]);
    const iterator = channel[Symbol.asyncIterator]();
    expect([...((await iterator.next()).value as Uint8Array)]).toEqual([1, 2]);
    await held;
    expect(events).toEqual(['released']);
  });

  it('fails the consumer after the queued chunks, and close releases a held producer', async () => {
    const channel = new ChunkChannel(2);
    await channel.push(bytes(9));
    channel.fail(new Error('download broke'));
    const iterator = channel[Symbol.asyncIterator]();
    expect([...((await iterator.next()).value as Uint8Array)]).toEqual([9]);
    await expect(iterator.next()).rejects.toThrow('download broke');

    const stopped = new ChunkChannel(1);
    const held = stopped.push(bytes(1, 2, 3));
    stopped.close();
    await held; // would hang without close
    await stopped.push(bytes(4)); // dropped
    const rest: Uint8Array[] = [];
    for await (const chunk of stopped) rest.push(chunk);
    expect(rest).toEqual([]);
  });
});

describe('ByteQueue', () => {
  it('takes views within a chunk and copies across chunks', () => {
    const queue = new ByteQueue();
    const first = bytes(1, 2, 3);
    queue.push(first);
    queue.push(bytes(4, 5));
    const view = queue.take(2);
    expect([...view]).toEqual([1, 2]);
    expect(view.buffer).toBe(first.buffer);
    expect([...queue.take(2)]).toEqual([3, 4]);
    expect(queue.length).toBe(1);
    expect(() => queue.take(2)).toThrow(RangeError);
  });

  it('gives each chunk back once read to the end, at the next take (a view may still be in use)', () => {
    const given: number[][] = [];
    const queue = new ByteQueue((chunk) => given.push([...chunk]));
    queue.push(bytes(1, 2));
    queue.push(bytes(3, 4));
    const view = queue.take(2); // reads chunk [1, 2] to its end
    expect(given).toEqual([]);
    expect([...view]).toEqual([1, 2]);
    queue.takeInto(Buffer.alloc(1), 0, 1);
    expect(given).toEqual([[1, 2]]);
    queue.take(1);
    queue.push(bytes());
    queue.take(0);
    expect(given).toEqual([[1, 2], [3, 4], []]);
  });
});
