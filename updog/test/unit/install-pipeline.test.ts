import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeLz4Frame } from '@updog-ts/tuf-repo-tools';
import { createLogger } from '../../src/common/log.js';
import { DEFAULT_DOWNLOAD_LIMITS } from '../../src/net/download-limits.js';
import * as sourceDecodeStage from '../../src/install/decode-stage.js';
import * as sourceInstallImage from '../../src/install/install-image.js';
import * as sourceLz4Frame from '../../src/install/lz4-frame.js';
import * as sourcePartitionWriter from '../../src/install/partition-writer.js';
import { formatBytes, formatProgressLine, progressFigures, progressReporter, type ProgressSnapshot } from '../../src/install/progress.js';
import * as sourceVerifiedDownload from '../../src/install/verified-download.js';
import { tempDir, type TempDir } from '../helpers/temp-dir.js';

const { PartitionOverflowError, PartitionWriter } = sourcePartitionWriter;
const { DownloadVerificationError, verifyTargetBytes } = sourceVerifiedDownload;

/**
 * The install runs its decoder inline from the TypeScript sources and on a worker thread from
 * the compiled build (decode-stage.ts): both are tested, each with its own module graph (error
 * classes included). The compiled side needs `npm run build` first (`npm test` does it).
 */
const dist = (file: string): string => new URL(`../../dist/install/${file}`, import.meta.url).href;
const builds = [
  {
    build: 'inline decoder (TypeScript sources)',
    worker: false,
    load: async () => ({ ...sourceDecodeStage, ...sourceInstallImage, ...sourceLz4Frame, ...sourcePartitionWriter, ...sourceVerifiedDownload }),
  },
  {
    build: 'worker-thread decoder (compiled dist/)',
    worker: true,
    load: async () => ({
      ...((await import(dist('decode-stage.js'))) as typeof sourceDecodeStage),
      ...((await import(dist('install-image.js'))) as typeof sourceInstallImage),
      ...((await import(dist('lz4-frame.js'))) as typeof sourceLz4Frame),
      ...((await import(dist('partition-writer.js'))) as typeof sourcePartitionWriter),
      ...((await import(dist('verified-download.js'))) as typeof sourceVerifiedDownload),
    }),
  },
];

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
  yield* parts;
}
async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of source) parts.push(p);
  return Buffer.concat(parts);
}
const failure = (p: Promise<unknown>): Promise<Error> =>
  p.then(
    () => new Error('no error'),
    (e: unknown) => e as Error,
  );

describe('verifyTargetBytes', () => {
  const data = Buffer.from('signed target bytes');
  const expected = { name: 't.lz4', length: data.length, sha256: sha256(data) };

  it('passes the bytes through and reports their sizes', async () => {
    const seen: number[] = [];
    const out = await collect(verifyTargetBytes(chunks(data.subarray(0, 5), data.subarray(5)), expected, (n) => seen.push(n)));
    expect(out.equals(data)).toBe(true);
    expect(seen).toEqual([5, data.length - 5]);
  });

  it('refuses truncation, excess bytes and a wrong hash', async () => {
    const truncated = await failure(collect(verifyTargetBytes(chunks(data.subarray(1)), expected)));
    expect(truncated).toBeInstanceOf(DownloadVerificationError);
    expect(truncated.message).toBe(`t.lz4: download truncated: got ${data.length - 1} of ${data.length} bytes`);
    const longer = await failure(collect(verifyTargetBytes(chunks(data, Buffer.from('x')), expected)));
    expect(longer.message).toBe(`t.lz4: the server sent more than the ${data.length} bytes the signed metadata allow; the repository or a proxy is serving a different file`);
    const other = Buffer.from(data);
    other[0] = 0;
    const wrong = await failure(collect(verifyTargetBytes(chunks(other), expected)));
    expect(wrong.message).toBe(`t.lz4: sha256 mismatch: the signed metadata say ${expected.sha256}, the ${data.length} bytes downloaded hash to ${sha256(other)}`);
  });
});

describe('PartitionWriter', () => {
  let dir: TempDir;
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(() => dir.cleanup());

  it('writes at increasing offsets inside the partition, refuses overflow before writing, and syncs', async () => {
    const disk = join(dir.path, 'disk');
    fs.writeFileSync(disk, Buffer.alloc(64, 0xee));
    const fh = await open(disk, 'r+');
    try {
      const writer = new PartitionWriter(fh, { offset: 16, size: 32, label: 'ROOT-B' });
      await writer.write(Buffer.alloc(20, 1));
      await writer.write(Buffer.alloc(10, 2));
      const err = await failure(writer.write(Buffer.alloc(3, 3)));
      expect(err).toBeInstanceOf(PartitionOverflowError);
      expect(err.message).toBe("the image does not fit ROOT-B: it is larger than the partition's 32 bytes (refused at byte 33)");
      expect(await writer.finish()).toBe(30);
    } finally {
      await fh.close();
    }
    const bytes = fs.readFileSync(disk);
    expect(bytes.equals(Buffer.concat([Buffer.alloc(16, 0xee), Buffer.alloc(20, 1), Buffer.alloc(10, 2), Buffer.alloc(18, 0xee)]))).toBe(true);
  });

  it('starts a background fdatasync every earlySyncBytes, waits for it before the next one, and finish waits for it before the last fsync', async () => {
    const events: string[] = [];
    const pendingSyncs: (() => void)[] = [];
    const syncCall = (name: string) => () =>
      new Promise<void>((resolve) => {
        events.push(name);
        pendingSyncs.push(() => {
          events.push(`${name} done`);
          resolve();
        });
      });
    const disk = {
      write: async (_buffer: Uint8Array, _offset: number, length: number, position: number) => {
        events.push(`write ${position}+${length}`);
        return { bytesWritten: length };
      },
      datasync: syncCall('datasync'),
      sync: syncCall('fsync'),
    };
    const writer = new PartitionWriter(disk, { offset: 0, size: 100, label: 'ROOT-B' }, 10);
    await writer.write(Buffer.alloc(6));
    await writer.write(Buffer.alloc(6)); // 12 unsynced: a datasync starts
    await writer.write(Buffer.alloc(6));
    expect(events).toEqual(['write 0+6', 'write 6+6', 'datasync', 'write 12+6']);
    const fourth = writer.write(Buffer.alloc(6)); // 12 more while the first datasync runs: it waits
    let fourthDone = false;
    void fourth.then(() => (fourthDone = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(events.at(-1)).toBe('write 18+6');
    expect(fourthDone).toBe(false);
    pendingSyncs.shift()!();
    await fourth;
    expect(events.slice(-2)).toEqual(['datasync done', 'datasync']); // then starts the next one
    const finished = writer.finish();
    await new Promise((resolve) => setImmediate(resolve));
    expect(events.at(-1)).toBe('datasync'); // finish waits for the background sync...
    pendingSyncs.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(events.slice(-2)).toEqual(['datasync done', 'fsync']); // ...then fsyncs
    pendingSyncs.shift()!();
    expect(await finished).toBe(24);
  });

  it('starts no early sync while writes bypass the page cache (O_DIRECT), only the final fsync', async () => {
    const events: string[] = [];
    const disk = {
      cached: false,
      write: async (_buffer: Uint8Array, _offset: number, length: number) => ({ bytesWritten: length }),
      datasync: async () => void events.push('datasync'),
      sync: async () => void events.push('fsync'),
    };
    const writer = new PartitionWriter(disk, { offset: 0, size: 100, label: 'ROOT-B' }, 4);
    for (let i = 0; i < 5; i++) await writer.write(Buffer.alloc(8));
    expect(await writer.finish()).toBe(40);
    expect(events).toEqual(['fsync']);
  });

  it('stops at a failed background sync: the next write and finish report it (a later fsync would not)', async () => {
    let syncs = 0;
    const disk = {
      write: async (_buffer: Uint8Array, _offset: number, length: number) => ({ bytesWritten: length }),
      // as Linux does: a writeback error is reported to one fsync, later ones succeed
      datasync: async () => {
        if (syncs++ === 0) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      },
      sync: async () => {
        syncs++;
      },
    };
    const writer = new PartitionWriter(disk, { offset: 0, size: 100, label: 'ROOT-B' }, 4);
    await writer.write(Buffer.alloc(8)); // 8 unsynced: a sync starts, and fails
    await new Promise((resolve) => setImmediate(resolve));
    // the next write stops the install at once rather than write on to a failing disk
    expect(((await failure(writer.write(Buffer.alloc(8)))) as NodeJS.ErrnoException).code).toBe('EIO');
    // and finish reports it too, although a later sync would succeed
    expect(((await failure(writer.finish())) as NodeJS.ErrnoException).code).toBe('EIO');
    expect(syncs).toBe(1);
  });
});

describe.each(builds)('installImage over loopback HTTP, $build', ({ worker, load }) => {
  let m: Awaited<ReturnType<typeof load>>;
  let dir: TempDir;
  let server: Server;
  let url: string;
  let body: Buffer = Buffer.alloc(0);
  const dispatcher = new Agent({ bodyTimeout: 5000, headersTimeout: 5000 });
  beforeAll(async () => {
    m = await load();
    dir = tempDir();
    server = createServer((req, res) => {
      if (req.url === '/stalls') {
        // half the body, then silence: only the idle timeout ends this
        res.writeHead(200, { 'content-length': body.length }).write(body.subarray(0, body.length >> 1));
        return;
      }
      if (req.url !== '/image.lz4') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/image.lz4`;
  });
  afterAll(async () => {
    await dispatcher.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    dir.cleanup();
  });
  afterEach(() => {
    body = Buffer.alloc(0);
  });

  // every other 4 KiB page incompressible: ~2.6 MB compressed, above WORKER_MIN_BYTES, so the
  // compiled build decodes on its worker thread
  const image = Buffer.alloc(5 * 1024 * 1024 + 17);
  let x = 0x2545f491;
  for (let i = 0; i < image.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    image[i] = (i >> 12) % 2 === 0 ? x & 0xff : (i * 7) % 251 < 50 ? (i * 31) & 0xff : 0x20;
  }

  async function install(lz4: Buffer, partitionSize: number, sourceOverride: Partial<{ url: string; sha256: string }> = {}) {
    body = lz4;
    const disk = join(dir.path, `disk-${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(disk, Buffer.alloc(1024 + partitionSize + 1024, 0xaa));
    const fh = await open(disk, 'r+');
    const progress: ProgressSnapshot[] = [];
    const blocksWritten: number[] = [];
    try {
      const result = await m.installImage({
        image: 'root',
        source: { name: 'image.lz4', length: lz4.length, sha256: sha256(lz4), url, ...sourceOverride },
        download: { dispatcher, limits: DEFAULT_DOWNLOAD_LIMITS },
        disk: fh,
        partition: { offset: 1024, size: partitionSize, label: 'ROOT-B' },
        onProgress: (s) => progress.push(s),
        onBlockWritten: (n) => blocksWritten.push(n),
      });
      return { result, disk: fs.readFileSync(disk), progress, blocksWritten };
    } finally {
      await fh.close();
    }
  }

  it(`decodes ${worker ? 'on a worker thread' : 'inline'}`, () => {
    expect(m.DECODE_WORKER_AVAILABLE).toBe(worker);
  });

  it('streams, verifies and writes an lz4 -9 image and a tuf-repo-tools packed image', async () => {
    const input = join(dir.path, 'raw');
    fs.writeFileSync(input, image);
    execFileSync('lz4', ['-q', '-9', '-f', input, `${input}.lz4`]);
    const packed = await collect(encodeLz4Frame(chunks(image), 4 * 1024 * 1024));
    for (const lz4 of [fs.readFileSync(`${input}.lz4`), packed]) {
      const { result, disk, progress, blocksWritten } = await install(lz4, 6 * 1024 * 1024);
      expect(result).toEqual({ method: 'stream', downloadedBytes: lz4.length, reusedBytes: 0, writtenBytes: image.length });
      expect(blocksWritten).toEqual([4 * 1024 * 1024, image.length]); // 4 MiB blocks
      expect(sha256(disk.subarray(1024, 1024 + image.length))).toBe(sha256(image));
      expect(disk.subarray(0, 1024).every((b) => b === 0xaa)).toBe(true);
      expect(progress.at(-1)).toMatchObject({ image: 'root', downloaded: lz4.length, total: lz4.length });
    }
  });

  it('reports a tampered download as a hash mismatch even when the LZ4 decoder fails first', async () => {
    const packed = await collect(encodeLz4Frame(chunks(image)));
    const tampered = Buffer.from(packed);
    tampered[12] = tampered[12]! ^ 0xff;
    const err = await failure(install(tampered, 6 * 1024 * 1024, { sha256: sha256(packed) }));
    expect(err).toBeInstanceOf(m.DownloadVerificationError);
    expect(err.message).toMatch(/^image\.lz4: sha256 mismatch/);
    expect(err.cause).toBeInstanceOf(m.Lz4FrameError);
  });

  it('gives up on a download that stops sending (idle timeout)', async () => {
    const packed = await collect(encodeLz4Frame(chunks(image)));
    const impatient = new Agent({ bodyTimeout: 300, headersTimeout: 300 });
    body = packed;
    const disk = join(dir.path, 'stalled-disk');
    fs.writeFileSync(disk, Buffer.alloc(8 * 1024 * 1024));
    const fh = await open(disk, 'r+');
    try {
      const err = await failure(
        m.installImage({
          image: 'root',
          source: { name: 'image.lz4', length: packed.length, sha256: sha256(packed), url: url.replace('image.lz4', 'stalls') },
          download: { dispatcher: impatient, limits: { ...DEFAULT_DOWNLOAD_LIMITS, requestTimeoutMs: 300, minBytesPerSecond: 1, retries: 0 } },
          disk: fh,
          partition: { offset: 0, size: 8 * 1024 * 1024, label: 'ROOT-B' },
        }),
      );
      expect(err.name).toBe('DownloadFailedError'); // this build's class
      expect(err.message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/stalls: image\.lz4: the server sent nothing for 300 ms \(1 attempt\)$/);
    } finally {
      await fh.close();
      await impatient.close();
    }
  });

  it('refuses an image larger than the partition and an HTTP error', async () => {
    const packed = await collect(encodeLz4Frame(chunks(image)));
    const big = await failure(install(packed, 5 * 1024 * 1024));
    expect(big).toBeInstanceOf(m.PartitionOverflowError);
    const missing = await failure(install(packed, 6 * 1024 * 1024, { url: url.replace('image.lz4', 'nope') }));
    expect(missing.message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/nope: HTTP 404$/);
  });
});

describe('progress', () => {
  const snap = (downloaded: number, elapsedMs: number, image = 'root'): ProgressSnapshot => ({ image, downloaded, total: 100 * 1024 * 1024, elapsedMs });

  it('computes percent, rate and ETA', () => {
    expect(progressFigures(snap(25 * 1024 * 1024, 2000))).toEqual({ percent: 25, rate: 12.5 * 1024 * 1024, etaSeconds: 6 });
    expect(progressFigures(snap(0, 0))).toEqual({ percent: 0, rate: 0, etaSeconds: undefined });
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatProgressLine(snap(25 * 1024 * 1024, 2000))).toBe('root  25.0% 25.0 MiB/100.0 MiB  12.5 MiB/s  ETA 6s');
  });

  it('shows a block install by decoded bytes in place, and how many were fetched and reused', () => {
    const MiB = 1024 * 1024;
    // 60 of 400 MiB decoded in place after 3 s: 10 MiB fetched (compressed), 50 MiB reused
    const block: ProgressSnapshot = { image: 'root', downloaded: 10 * MiB, total: 100 * MiB, reused: 50 * MiB, written: 60 * MiB, decodedTotal: 400 * MiB, elapsedMs: 3000 };
    expect(progressFigures(block)).toEqual({ percent: 15, rate: (10 * MiB) / 3, etaSeconds: 17 });
    expect(formatProgressLine(block)).toBe('root  15.0% 60.0 MiB/400.0 MiB (fetched 10.0 MiB, reused 50.0 MiB)  3.3 MiB/s  ETA 17s');
    const lines: Array<Record<string, unknown>> = [];
    const logger = { info: (obj: Record<string, unknown>) => lines.push(obj) } as unknown as ReturnType<typeof createLogger>;
    const r = progressReporter({ stream: { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream, logger });
    r.listener(block);
    r.listener({ ...block, downloaded: 12 * MiB, written: 400 * MiB, reused: 388 * MiB, elapsedMs: 3100 }); // done, though not all of `total` was fetched
    expect(lines).toEqual([
      { image: 'root', downloaded: 10 * MiB, total: 100 * MiB, reused: 50 * MiB, written: 60 * MiB, decodedTotal: 400 * MiB, bytesPerSecond: 3495253, etaSeconds: 17 },
      { image: 'root', downloaded: 12 * MiB, total: 100 * MiB, reused: 388 * MiB, written: 400 * MiB, decodedTotal: 400 * MiB, bytesPerSecond: 4059004, etaSeconds: 0 },
    ]);
  });

  it('writes one updating line on a terminal', () => {
    let written = '';
    const stream = { isTTY: true, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
    const r = progressReporter({ stream, logger: createLogger('test', 'silent') });
    r.listener(snap(0, 0));
    r.listener(snap(50 * 1024 * 1024, 1000));
    r.listener(snap(1, 1, 'boot'));
    r.end();
    expect(written.split('\n')).toHaveLength(3);
    expect(written).toContain('\rroot  50.0% 50.0 MiB/100.0 MiB  50.0 MiB/s  ETA 1s\x1b[K');
  });

  it('logs structured lines at most every interval otherwise, plus image changes and completion', () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = { info: (obj: Record<string, unknown>) => lines.push(obj) } as unknown as ReturnType<typeof createLogger>;
    const stream = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;
    const r = progressReporter({ stream, logger, logIntervalMs: 5000 });
    for (const ms of [0, 1000, 4999, 5000, 6000, 10_001]) r.listener(snap(ms * 1024, ms));
    r.listener(snap(100 * 1024 * 1024, 11_000));
    expect(lines.map((l) => l.downloaded)).toEqual([0, 5000 * 1024, 10_001 * 1024, 100 * 1024 * 1024]);
    expect(lines[3]).toMatchObject({ image: 'root', total: 100 * 1024 * 1024, etaSeconds: 0 });
  });
});
