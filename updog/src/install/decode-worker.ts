/**
 * Worker thread of decode-stage.ts: receives the compressed bytes of one image, runs
 * `decodeToPartition` on the disk's file descriptor and reports back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ChunkChannel } from './chunk-channel.js';
import { describeError, type DecodeWorkerData, type FromDecodeWorker, type ToDecodeWorker } from './decode-stage.js';
import { decodeToPartition } from './decode-to-partition.js';
import { openPartitionDisk } from './partition-disk.js';

const port = parentPort!;
const { fd, partition, reportBlocks } = workerData as DecodeWorkerData;
const post = (message: FromDecodeWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);
// the main thread's batch pool bounds what is in flight, so this queue needs no limit of its own
const channel = new ChunkChannel(Number.POSITIVE_INFINITY);
const giveBack = (chunk: Uint8Array): void => post({ type: 'free', chunk: chunk.buffer as ArrayBuffer }, [chunk.buffer as ArrayBuffer]);
port.on('message', (m: ToDecodeWorker) => {
  if (m.type === 'data') void channel.push(new Uint8Array(m.chunk, 0, m.length));
  else if (m.type === 'end') channel.end();
  else channel.fail(new Error(m.message));
});
// the descriptor the main thread opened stays its own (it closes it after this finishes)
const disk = openPartitionDisk(fd);
// no top-level await: the single-executable build bundles this file as a CommonJS script
void (async (): Promise<void> => {
  try {
    const bytesWritten = await decodeToPartition(channel, disk, partition, {
      ...(reportBlocks ? { onBlockWritten: (n: number) => post({ type: 'written', bytesWritten: n }) } : {}),
      onInputConsumed: giveBack,
    });
    post({ type: 'done', bytesWritten });
  } catch (err) {
    post({ type: 'failed', error: describeError(err) });
  } finally {
    disk.close();
    channel.close();
    port.unref(); // let the thread end once its messages are out
  }
})();
