/**
 * Runs `decodeToPartition` beside the download, fed chunk by chunk. With the compiled build it
 * runs on a worker thread, so HTTP and sha256 (main thread) and LZ4 decode, xxh32 and the write
 * calls (worker) use both cores: the install went from 0.63x to about 1x the speed of
 * `curl | lz4 -d | dd` with it (early writeback, partition-writer.ts, did the rest). Where the worker's compiled file is absent (tests run the
 * TypeScript sources), and for images under WORKER_MIN_BYTES, the same function runs inline on the
 * main thread instead.
 *
 * Errors cross the thread boundary by class name: `Lz4FrameError` and `PartitionOverflowError`
 * keep their class (callers and exit codes depend on it); others become `Error`s with the same
 * message and errno code.
 */
import { Worker } from 'node:worker_threads';
import { ChunkChannel } from './chunk-channel.js';
import { decodeWorkerSource, type DecodeWorkerSource } from './decode-worker-source.js';
import { decodeToPartition } from './decode-to-partition.js';
import { Lz4FrameError } from './lz4-frame.js';
import { PartitionOverflowError, type PartitionExtent, type PositionalFile } from './partition-writer.js';

/** Compressed bytes queued for the decoder at most: keeps memory flat when the disk is slow. */
const QUEUE_LIMIT = 6 * 1024 * 1024;
/** Chunks go to the worker in batches of this size, moved (not copied) across threads... */
const BATCH_BYTES = 1024 * 1024;
/** ...from a pool that bounds the bytes in flight like QUEUE_LIMIT does inline. */
const POOL_BATCHES = QUEUE_LIMIT / BATCH_BYTES;

const WORKER_SOURCE = decodeWorkerSource();
/** The decoder keeps its bytes in WebAssembly memory and transferred batches, not on its JS heap: a small young generation keeps the worker's footprint down. */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 2 };

/**
 * Smaller images (compressed bytes) decode inline: starting the worker costs ~40 ms and ~10 MiB
 * of RSS (a second JavaScript heap), more than decoding them takes.
 */
export const WORKER_MIN_BYTES = 1024 * 1024;

export interface DecodeStageOptions {
  /** The compressed length (signed): small images are decoded inline. */
  compressedLength: number;
  /** The disk, open read-write: `fd` for the worker thread, the handle itself when inline. */
  disk: PositionalFile & { fd: number };
  partition: PartitionExtent;
  onBlockWritten?: (bytesWritten: number) => void;
}

export interface DecodeStage {
  /** Hands over the next compressed bytes; resolves when the decoder has room for more. */
  push(chunk: Uint8Array): Promise<void>;
  /** All bytes are pushed and verified. */
  end(): void;
  /** The download failed: the decoder stops and `result` rejects. */
  abort(reason: Error): void;
  /** Bytes written and synced, once the decoder has finished. */
  readonly result: Promise<number>;
  /** Why the decoder stopped early, as soon as it has. */
  readonly failure: Error | undefined;
}

/** True when this module runs from the compiled build, where the decoder gets its own thread. */
export const DECODE_WORKER_AVAILABLE = WORKER_SOURCE !== undefined;

export function startDecodeStage(o: DecodeStageOptions): DecodeStage {
  return WORKER_SOURCE === undefined || o.compressedLength < WORKER_MIN_BYTES ? inlineStage(o) : workerStage(o, WORKER_SOURCE);
}

function inlineStage(o: DecodeStageOptions): DecodeStage {
  const channel = new ChunkChannel(QUEUE_LIMIT);
  let failure: Error | undefined;
  const result = decodeToPartition(channel, o.disk, o.partition, o.onBlockWritten === undefined ? {} : { onBlockWritten: o.onBlockWritten });
  result.then(
    () => channel.close(),
    (err: Error) => {
      failure = err;
      channel.close();
    },
  );
  return {
    push: (chunk) => channel.push(chunk),
    end: () => channel.end(),
    abort: (reason) => channel.fail(reason),
    result,
    get failure() {
      return failure;
    },
  };
}

/** Messages from the main thread to the worker. */
export type ToDecodeWorker = { type: 'data'; chunk: ArrayBuffer; length: number } | { type: 'end' } | { type: 'abort'; message: string };
/** Messages from the worker to the main thread; `free` gives a batch's memory back for reuse. */
export type FromDecodeWorker =
  | { type: 'free'; chunk: ArrayBuffer }
  | { type: 'written'; bytesWritten: number }
  | { type: 'done'; bytesWritten: number }
  | { type: 'failed'; error: ErrorDescription };
export interface DecodeWorkerData {
  fd: number;
  partition: PartitionExtent;
  /** Post `written` after each block (only when someone listens: a message costs ~0.1 ms). */
  reportBlocks: boolean;
}

interface ErrorDescription {
  className: string;
  message: string;
  code?: string;
}

export function describeError(err: unknown): ErrorDescription {
  if (!(err instanceof Error)) return { className: 'Error', message: String(err) };
  const code = (err as NodeJS.ErrnoException).code;
  return { className: err.constructor.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
}

function reviveError(d: ErrorDescription): Error {
  if (d.className === Lz4FrameError.name) return new Lz4FrameError(d.message);
  if (d.className === PartitionOverflowError.name) return new PartitionOverflowError(d.message);
  return Object.assign(new Error(d.message), d.code === undefined ? {} : { code: d.code });
}

function workerStage(o: DecodeStageOptions, source: DecodeWorkerSource): DecodeStage {
  const workerData: DecodeWorkerData = { fd: o.disk.fd, partition: o.partition, reportBlocks: o.onBlockWritten !== undefined };
  // None of the host's flags: the decoder needs none, and a file worker refuses some that a host
  // may have (`--input-type` of `node --input-type=module -e`, V8 heap flags).
  const worker = 'code' in source ? new Worker(source.code, { eval: true, workerData, execArgv: [], resourceLimits: WORKER_LIMITS }) : new Worker(source.file, { workerData, execArgv: [], resourceLimits: WORKER_LIMITS });
  let failure: Error | undefined;
  let settled = false;
  // Batch memory moves to the worker and comes back when decoded: a fixed pool, no garbage.
  const free: ArrayBuffer[] = [];
  let allocated = 0;
  let wakeProducer: (() => void) | undefined;
  const wake = (): void => {
    const w = wakeProducer;
    wakeProducer = undefined;
    w?.();
  };
  const result = new Promise<number>((resolve, reject) => {
    worker.on('message', (m: FromDecodeWorker) => {
      if (m.type === 'free') {
        free.push(m.chunk);
        wake();
      } else if (m.type === 'written') o.onBlockWritten?.(m.bytesWritten);
      else if (m.type === 'done') resolve(m.bytesWritten);
      else reject(reviveError(m.error));
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`the LZ4 decode worker exited (code ${code}) before finishing`)));
  });
  const stop = (err?: Error): void => {
    failure = err;
    settled = true;
    wake();
    void worker.terminate();
  };
  result.then(() => stop(), stop);

  /** A free batch, or undefined once the worker has stopped. */
  const nextBatch = async (): Promise<Buffer | undefined> => {
    while (!settled) {
      const memory = free.pop() ?? (allocated < POOL_BATCHES ? (allocated++, new ArrayBuffer(BATCH_BYTES)) : undefined);
      if (memory !== undefined) return Buffer.from(memory); // spans all of `memory`: `.buffer` moves it whole
      await new Promise<void>((resolve) => (wakeProducer = resolve));
    }
    return undefined;
  };
  let batch: Buffer | undefined;
  let filled = 0;
  const flush = (): void => {
    if (batch === undefined || filled === 0 || settled) return;
    const memory = batch.buffer as ArrayBuffer;
    worker.postMessage({ type: 'data', chunk: memory, length: filled } satisfies ToDecodeWorker, [memory]);
    batch = undefined;
    filled = 0;
  };
  return {
    async push(chunk) {
      for (let at = 0; at < chunk.length; ) {
        batch ??= await nextBatch();
        if (batch === undefined) return; // the worker stopped: `failure` says why
        const n = Math.min(chunk.length - at, BATCH_BYTES - filled);
        batch.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === BATCH_BYTES) flush();
      }
    },
    end() {
      flush();
      if (!settled) worker.postMessage({ type: 'end' } satisfies ToDecodeWorker);
    },
    abort(reason) {
      flush(); // as inline: the decoder sees every byte received before the download failed
      if (!settled) worker.postMessage({ type: 'abort', message: reason.message } satisfies ToDecodeWorker);
    },
    result,
    get failure() {
      return failure;
    },
  };
}
