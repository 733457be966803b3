/**
 * updog against a hostile repository server on loopback: endless and over-long bodies for every
 * metadata role, the manifest, an image and a migration; trickled headers and bodies; no answer;
 * resets; 503s; redirects; close-delimited bodies; encodings updog did not ask for. Each case
 * checks the exit code, the one-line message, the time against the documented limits (set small
 * in updog.toml here) and the disk (active set byte-identical, inactive set not marked valid).
 * The same cases run through `updog serve`, whose API must answer the next command afterwards.
 */
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpdateApiError } from '../../src/api/client.js';
import type { Migration } from '../../src/manifest/manifest.js';
import { worstCaseMs, type DownloadLimits } from '../../src/net/download-limits.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { createUpdateFixture, publishWithMigrations, type UpdateFixture } from './update-fixture.js';

/** updog.toml [download] for these tests: small, so every case ends quickly. */
const LIMITS: DownloadLimits = { requestTimeoutMs: 1500, minBytesPerSecond: 1_000_000, retries: 1, retryBackoffMs: 50, maxRedirects: 2 };
/** Process start, the TUF client's own work and the disk writes, on a loaded 2-core machine. */
const SLACK_MS = 20_000;
/** tuf-js's maximum lengths for the roles whose length nothing signs. */
const ROOT_MAX = 512_000;
const TIMESTAMP_MAX = 16_384;

const MIGRATION = 'migrate_v1.1.0_a.lz4';
const MIGRATIONS: Migration[] = [{ from: '1.0.0', to: '1.1.0', targets: [MIGRATION] }];
/** Padding targets: targets.json grows to several hundred KB, as in a real repository. */
const PADDING = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`padding-file-${i}.txt`, Buffer.from(`padding ${i}\n`)]));

type Behaviour = 'endless' | 'over-long' | 'trickle-headers' | 'trickle-body' | 'silent' | 'reset' | '503' | 'redirect' | 'close' | 'gzip';

interface Attack {
  /** Which requests (path) are attacked. */
  file: RegExp;
  behaviour: Behaviour;
  /** How many matching requests are attacked (then served normally). */
  times: number;
}

/** A file served by the repository, and what bounds its download. */
interface Target {
  name: string;
  file: RegExp;
  /** The most bytes updog accepts for it. */
  maxLength: () => number;
  /** Whether its failure happens before the disk is touched. */
  beforeDisk: boolean;
}

let fx: UpdateFixture;
let mirror: StaticServer;
let attack: Attack | undefined;
let attacked = 0;
/** Open server-side timers, cleared when their connection closes. */
const timers = new Set<NodeJS.Timeout>();
let diskBefore: Buffer;
let case_ = 0;

/** The size of the largest served file matching `path` (older versions stay served). */
const signedLength = (path: RegExp): number => {
  const sizes = ['metadata', 'targets'].flatMap((sub) =>
    fs
      .readdirSync(join(fx.repoDir, sub))
      .filter((f) => path.test(`/${sub}/${f}`))
      .map((f) => fs.statSync(join(fx.repoDir, sub, f)).size),
  );
  expect(sizes.length).toBeGreaterThan(0);
  return Math.max(...sizes);
};

const TARGETS: Target[] = [
  { name: '2.root.json', file: /\/metadata\/2\.root\.json$/, maxLength: () => ROOT_MAX, beforeDisk: true },
  { name: 'timestamp.json', file: /\/metadata\/timestamp\.json$/, maxLength: () => TIMESTAMP_MAX, beforeDisk: true },
  { name: 'snapshot.json', file: /\/metadata\/\d+\.snapshot\.json$/, maxLength: () => signedLength(/\/metadata\/\d+\.snapshot\.json$/), beforeDisk: true },
  { name: 'targets.json', file: /\/metadata\/\d+\.targets\.json$/, maxLength: () => signedLength(/\/metadata\/\d+\.targets\.json$/), beforeDisk: true },
  { name: 'manifest.json', file: /\/targets\/[0-9a-f]{64}\.manifest\.json$/, maxLength: () => signedLength(/\/targets\/[0-9a-f]{64}\.manifest\.json$/), beforeDisk: true },
  { name: MIGRATION, file: /\/targets\/[0-9a-f]{64}\.migrate_v1\.1\.0_a\.lz4$/, maxLength: () => signedLength(/\/targets\/[0-9a-f]{64}\.migrate_v1\.1\.0_a\.lz4$/), beforeDisk: true },
  { name: 'root.ext4.lz4', file: /\/targets\/[0-9a-f]{64}\.[^/]*root\.ext4\.lz4$/, maxLength: () => signedLength(/\/targets\/[0-9a-f]{64}\.[^/]*root\.ext4\.lz4$/), beforeDisk: false },
];
const target = (name: string): Target => TARGETS.find((t) => t.name === name)!;

/** The served bytes of a request, or undefined (2.root.json does not exist). */
function served(req: IncomingMessage): Buffer | undefined {
  const file = join(fx.repoDir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
  return fs.existsSync(file) ? fs.readFileSync(file) : undefined;
}

function every(ms: number, res: ServerResponse | IncomingMessage, tick: () => void): void {
  const t = setInterval(tick, ms);
  timers.add(t);
  const stop = (): void => {
    clearInterval(t);
    timers.delete(t);
  };
  res.once('close', stop);
  (res as IncomingMessage).socket?.once('close', stop);
}

/** Answers `req` the hostile way; false lets the static server answer. */
function hostile(req: IncomingMessage, res: ServerResponse): boolean {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (attack === undefined || !attack.file.test(path) || attacked >= attack.times) return false;
  const file = served(req);
  if (file === undefined && attack.behaviour === 'close') return false; // 2.root.json: the usual 404
  attacked++;
  const body = file ?? Buffer.alloc(ROOT_MAX + 1, 0x20);
  switch (attack.behaviour) {
    case 'endless': {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      pump();
      return true;
    }
    case 'over-long':
      // the file and more than any limit here allows, without Content-Length: only the byte count can tell
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.concat([body, Buffer.alloc(ROOT_MAX + 1, 0x20)]));
      return true;
    case 'trickle-headers': {
      const head = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      let i = 0;
      every(500, req, () => req.socket.write(head.subarray(i, ++i)));
      return true;
    }
    case 'trickle-body': {
      res.writeHead(200, { 'content-length': body.length });
      let i = 0;
      every(500, res, () => res.write(body.subarray(i, ++i)));
      return true;
    }
    case 'silent':
      return true;
    case 'reset':
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, body.length >> 1), () => req.socket.resetAndDestroy());
      return true;
    case '503':
      res.writeHead(503).end();
      return true;
    case 'redirect':
      res.writeHead(302, { location: `${mirror.url}${req.url ?? '/'}` }).end();
      return true;
    case 'close':
      // HTTP/1.0 style: the end of the body is the end of the connection
      req.socket.end(Buffer.concat([Buffer.from('HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Type: application/octet-stream\r\n\r\n'), body]));
      return true;
    case 'gzip':
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(body));
      return true;
  }
}

interface Outcome {
  ok: boolean;
  message: string;
  elapsedMs: number;
}

/** Every run starts from the same disk, an empty metadata cache (every role is downloaded) and no migrations. */
function resetHost(): Record<string, string> {
  fs.writeFileSync(fx.disk, diskBefore);
  fs.rmSync(fx.env.UPDOG_METADATA_CACHE!, { recursive: true, force: true });
  return { UPDOG_MIGRATIONS_DIR: join(fx.dir.path, `migrations-${++case_}`) };
}

async function runUpdate(): Promise<Outcome & { stdout: string; code: number | null }> {
  const env = resetHost();
  const started = performance.now();
  const r = await fx.run(['update-image', '--image', '1.1.0'], env);
  return { ok: r.code === 0, code: r.code, stdout: r.stdout, message: r.stderr.trimEnd().split('\n').at(-1) ?? '', elapsedMs: performance.now() - started };
}

const activeHashes = (): string[] => (['root', 'boot', 'hash'] as const).map((p) => fx.partitionHash('A', p));

/** Nothing the failure should not have changed: the active set, and the inactive set is not bootable. */
async function expectUntouched(t: Target): Promise<void> {
  expect(activeHashes()).toEqual(activeBefore);
  const s = await fx.status();
  expect(s.B).toMatchObject({ priority: 0, triesLeft: 0, successful: false, willBoot: false });
  expect(s.A).toMatchObject({ priority: 1, successful: true });
  if (t.beforeDisk) expect(fs.readFileSync(fx.disk).equals(diskBefore)).toBe(true);
}

let activeBefore: string[];

beforeAll(async () => {
  fx = await createUpdateFixture({ serverHook: hostile });
  await publishWithMigrations(fx, [{ version: '1.1.0' }], MIGRATIONS, { [MIGRATION]: Buffer.alloc(70_000, 'm'), ...PADDING });
  fs.appendFileSync(
    fx.env.UPDOG_CONFIG!,
    [
      '[download]',
      `request_timeout_ms = ${LIMITS.requestTimeoutMs}`,
      `min_bytes_per_second = ${LIMITS.minBytesPerSecond}`,
      `retries = ${LIMITS.retries}`,
      `retry_backoff_ms = ${LIMITS.retryBackoffMs}`,
      `max_redirects = ${LIMITS.maxRedirects}`,
      '',
    ].join('\n'),
  );
  mirror = await startStaticServer(fx.repoDir);
  diskBefore = fs.readFileSync(fx.disk);
  activeBefore = activeHashes();
  expect(signedLength(target('targets.json').file)).toBeGreaterThan(250_000);
}, 120_000);

afterAll(async () => {
  for (const t of timers) clearInterval(t);
  await mirror?.close();
  await fx?.close();
});

const url = String.raw`GET http://127\.0\.0\.1:\d+/\S+`;
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface FailureCase {
  name: string;
  attack: Omit<Attack, 'times'> & { times?: number };
  /** The last stderr line / the API's error, after "updog: error: ". */
  error: RegExp;
  /** The bound of the documented limits for this case (ms). */
  boundMs: () => number;
  target: Target;
}

const overLengthCases = (): FailureCase[] =>
  TARGETS.flatMap((t) =>
    (['endless', 'over-long'] as const).map((behaviour) => ({
      name: `${behaviour} ${t.name}`,
      attack: { file: t.file, behaviour },
      target: t,
      // refused at the first byte past the limit: no retry, one attempt's deadline at most
      boundMs: () => worstCaseMs({ ...LIMITS, retries: 0 }, t.maxLength()),
      error: new RegExp(`${url}: \\S*${esc(t.name)}: the server sent more than the \\d+ bytes .*; download cancelled$`),
    })),
  );

const slowCases = (): FailureCase[] => [
  ...(['timestamp.json', 'targets.json', 'root.ext4.lz4'] as const).map((n) => ({
    name: `trickled headers for ${n}`,
    attack: { file: target(n).file, behaviour: 'trickle-headers' as const },
    target: target(n),
    boundMs: () => worstCaseMs(LIMITS, target(n).maxLength()),
    error: new RegExp(`${url}: .*: no complete response headers within ${LIMITS.requestTimeoutMs} ms \\(2 attempts\\)$`),
  })),
  ...(['snapshot.json', 'manifest.json', MIGRATION, 'root.ext4.lz4'] as const).map((n) => ({
    name: `trickled body of ${n}`,
    attack: { file: target(n).file, behaviour: 'trickle-body' as const },
    target: target(n),
    boundMs: () => worstCaseMs(LIMITS, target(n).maxLength()),
    error: new RegExp(`${url}: .*: .* \\(\\d+ bytes at most\\) not received within \\d+ ms \\(2 attempts\\)$`),
  })),
  ...(['timestamp.json', 'root.ext4.lz4'] as const).map((n) => ({
    name: `no answer for ${n}`,
    attack: { file: target(n).file, behaviour: 'silent' as const },
    target: target(n),
    boundMs: () => worstCaseMs(LIMITS, target(n).maxLength()),
    error: new RegExp(`${url}: .*: no complete response headers within ${LIMITS.requestTimeoutMs} ms \\(2 attempts\\)$`),
  })),
  ...(['targets.json', 'root.ext4.lz4'] as const).map((n) => ({
    name: `connection reset mid-body of ${n}, every time`,
    attack: { file: target(n).file, behaviour: 'reset' as const },
    target: target(n),
    boundMs: () => worstCaseMs(LIMITS, target(n).maxLength()),
    error: new RegExp(`${url}: .*: (other side closed|read ECONNRESET|terminated|socket hang up).* \\(2 attempts\\)$`),
  })),
  ...(['timestamp.json', 'manifest.json', 'root.ext4.lz4'] as const).map((n) => ({
    name: `gzip-encoded ${n}`,
    attack: { file: target(n).file, behaviour: 'gzip' as const },
    target: target(n),
    boundMs: () => worstCaseMs({ ...LIMITS, retries: 0 }, target(n).maxLength()),
    error: new RegExp(`${url}: .*: the server sent it with Content-Encoding "gzip", which updog did not ask for$`),
  })),
];

/** Recovered by a retry or a redirect: the update completes. */
const recoveredCases: { name: string; attack: Attack; requests?: () => number }[] = [
  { name: '503 then success for snapshot.json', attack: { file: target('snapshot.json').file, behaviour: '503', times: 1 } },
  { name: '503 then success for the root image', attack: { file: target('root.ext4.lz4').file, behaviour: '503', times: 1 } },
  { name: 'reset mid-body once, then the rest, for the root image', attack: { file: target('root.ext4.lz4').file, behaviour: 'reset', times: 1 } },
  { name: 'reset mid-body once for targets.json', attack: { file: target('targets.json').file, behaviour: 'reset', times: 1 } },
  { name: '302 to another loopback port for the root image', attack: { file: target('root.ext4.lz4').file, behaviour: 'redirect', times: Infinity } },
  { name: '302 to another loopback port for the migration', attack: { file: target(MIGRATION).file, behaviour: 'redirect', times: Infinity } },
];

describe('updog update-image against a hostile server', () => {
  const cases = [...overLengthCases(), ...slowCases()];
  it.each(cases.map((c) => [c.name, c] as const))('%s: exit 1, one line, bounded, disk untouched', async (_name, c) => {
    attack = { times: Infinity, ...c.attack };
    attacked = 0;
    const r = await runUpdate().finally(() => (attack = undefined));
    expect(attacked).toBeGreaterThan(0);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.message).toMatch(/^updog: error: /);
    expect(r.message).toMatch(c.error);
    expect(r.elapsedMs).toBeLessThan(c.boundMs() + SLACK_MS);
    await expectUntouched(c.target);
  });

  it.each(recoveredCases.map((c) => [c.name, c] as const))('%s: the update completes', async (_name, c) => {
    attack = c.attack;
    attacked = 0;
    const mirrored = mirror.requests.length;
    const r = await runUpdate().finally(() => (attack = undefined));
    expect(attacked).toBeGreaterThan(0);
    expect(r.message).toMatch(/"msg":"update written and verified; inactive set marked valid"/);
    expect(r.code).toBe(0);
    expect(activeHashes()).toEqual(activeBefore);
    expect((await fx.status()).B).toMatchObject({ triesLeft: 1 });
    if (c.attack.behaviour === 'redirect') expect(mirror.requests.length).toBe(mirrored + 1);
  });

  it('check-update and updog tuf refresh: an endless timestamp.json is exit 1 with one line (was a silent exit 13)', async () => {
    attack = { file: target('timestamp.json').file, behaviour: 'endless', times: Infinity };
    try {
      resetHost();
      const check = await fx.run(['check-update']);
      expect(check.code).toBe(1);
      expect(check.stderr.trimEnd().split('\n').at(-1)).toMatch(
        new RegExp(`^updog: error: TUF metadata from ${esc(fx.server.url)}/metadata/: ${url}: timestamp\\.json: the server sent more than the 16384 bytes .*; download cancelled$`),
      );
      const md = join(fx.dir.path, `tuf-${++case_}`);
      expect((await fx.run(['tuf', '--metadata-dir', md, 'init', fx.env.UPDOG_ROOT_JSON!])).code).toBe(0);
      const refresh = await fx.run(['tuf', '--metadata-dir', md, '--metadata-url', `${fx.server.url}/metadata`, 'refresh']);
      expect(refresh.code).toBe(1);
      expect(refresh.stderr.trimEnd().split('\n').at(-1)).toMatch(
        new RegExp(`^updog: error: refreshing from ${esc(fx.server.url)}/metadata: ${url}: timestamp\\.json: the server sent more than the 16384 bytes .*; download cancelled$`),
      );
    } finally {
      attack = undefined;
    }
  });

  it('Connection: close with large bodies (targets.json, manifest, images), 20 runs', async () => {
    attack = { file: /\/(metadata|targets)\//, behaviour: 'close', times: Infinity };
    try {
      for (let run = 0; run < 20; run++) {
        attacked = 0;
        const r = await runUpdate();
        expect({ run, code: r.code }).toEqual({ run, code: 0 });
        expect(r.message).toMatch(/"msg":"update written and verified; inactive set marked valid"/);
        expect(attacked).toBeGreaterThanOrEqual(6); // timestamp, snapshot, targets, manifest, migration, 3 images
      }
    } finally {
      attack = undefined;
    }
  }, 300_000);
});

describe('updog serve against a hostile server: the API answers the next command', () => {
  let serve: ServeProcess;
  beforeAll(async () => {
    resetHost();
    serve = await startServe(join(fx.dir.path, 'api.sock'), {
      ...fx.env,
      UPDOG_API_STATUS_FILE: join(fx.dir.path, 'api-status.json'),
      UPDOG_REBOOT_COMMAND: '/bin/false',
      UPDOG_MIGRATIONS_DIR: join(fx.dir.path, 'serve-migrations'),
    });
  });
  afterAll(async () => {
    await serve?.stop();
  });

  const failure = (p: Promise<unknown>): Promise<UpdateApiError> =>
    p.then(
      () => {
        throw new Error('expected the command to fail');
      },
      (err: unknown) => err as UpdateApiError,
    );

  const cases = [...overLengthCases(), ...slowCases()];
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const client = serve.client;
    fs.rmSync(fx.env.UPDOG_METADATA_CACHE!, { recursive: true, force: true });
    fs.rmSync(join(fx.dir.path, 'serve-migrations'), { recursive: true, force: true });
    attack = { times: Infinity, ...c.attack };
    attacked = 0;
    const started = performance.now();
    let err: UpdateApiError;
    try {
      // metadata and manifest: refresh fails; images and migrations: prepare does
      err = c.target.beforeDisk && c.target.name !== MIGRATION ? await failure(client.refresh()) : (await client.refresh(), await failure(client.prepare('1.1.0')));
    } finally {
      attack = undefined;
    }
    expect(attacked).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(UpdateApiError);
    expect(err.kind).toBe('failed');
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(c.error);
    expect(performance.now() - started).toBeLessThan(c.boundMs() + SLACK_MS);
    const status = await client.status();
    expect(status.commandInProgress).toBeNull();
    expect(status.mostRecentCommand).toMatchObject({ status: 'Failed', error: err.message });
    expect(activeHashes()).toEqual(activeBefore);
    expect((await fx.status()).B).toMatchObject({ priority: 0, triesLeft: 0 });
    // the next command runs
    expect((await client.refresh()).availableUpdates).toEqual(['1.1.0']);
  });

  it('cancel stops a prepare whose server never answers, and the next command runs', async () => {
    const client = serve.client;
    const config = fs.readFileSync(fx.env.UPDOG_CONFIG!, 'utf8');
    // a limit far beyond this test: only the cancel can end the prepare
    fs.writeFileSync(fx.env.UPDOG_CONFIG!, config.replace(/request_timeout_ms = \d+/, 'request_timeout_ms = 600000'));
    await client.refresh();
    attack = { file: target('root.ext4.lz4').file, behaviour: 'silent', times: Infinity };
    attacked = 0;
    try {
      const prepare = failure(client.prepare('1.1.0'));
      for (let i = 0; i < 400 && attacked === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(attacked).toBe(1);
      await expect(client.refresh()).rejects.toMatchObject({ kind: 'busy' });
      const cancelled = await client.cancel();
      expect(cancelled.commandInProgress).toBeNull();
      const err = await prepare;
      expect(err.kind).toBe('failed');
      expect(err.message).toMatch(new RegExp(`${url}: download of .*root\\.ext4\\.lz4 cancelled$`));
      expect(cancelled.mostRecentCommand).toMatchObject({ command: 'prepare', status: 'Failed', error: err.message });
    } finally {
      attack = undefined;
      fs.writeFileSync(fx.env.UPDOG_CONFIG!, config);
    }
    expect((await fx.status()).B).toMatchObject({ priority: 0, triesLeft: 0 });
    await expect(client.cancel()).rejects.toMatchObject({ kind: 'conflict', message: 'no update API command is in progress' });
    expect((await client.refresh()).availableUpdates).toEqual(['1.1.0']);
  });
});
