/**
 * Cancel and progress figures, on a real disk image and a repository on loopback whose root image
 * trickles out (so a download is surely in progress): `updog update` stopped by SIGTERM/SIGINT,
 * and a prepare through `updog serve` watched and cancelled over the update API.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusResponse } from '../../src/api/protocol.js';
import { apiRefusal } from '../helpers/api-refusal.js';
import { UPDOG_BIN } from '../helpers/run-bin.js';
import { startServe } from '../helpers/serve-process.js';
import { expectedBootAttributes, sgdiskAttributes } from '../unit/gpt-helpers.js';
import { createUpdateFixture, fakeImageHash, IMAGE_SIZES, sgdiskVerifies, VARIANT, type UpdateFixture } from './update-fixture.js';

const PARTS = ['root', 'boot', 'hash'] as const;
const CANCELLED_LINE = (signal: string): string =>
  `updog: cancelled by ${signal}: nothing was applied and the inactive partition set is left unbootable; run the command again to continue\n`;

interface SlowRoot {
  /** Trickle the root image (1 KiB every 50 ms; it is about 37 KB) while true; serve it at full speed when false. */
  slow: boolean;
  /** Root image bytes sent by the trickle so far. */
  sent: number;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fixture with 1.1.0 published, whose root image target trickles out while `slow` is set. */
async function slowFixture(): Promise<{ f: UpdateFixture; root: SlowRoot }> {
  const root: SlowRoot = { slow: true, sent: 0 };
  let rootFile: string | undefined;
  const hook = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (!root.slow || rootFile === undefined || !decodeURIComponent(req.url ?? '').includes(rootFile.split('/').at(-1)!)) return false;
    const data = fs.readFileSync(rootFile);
    res.writeHead(200, { 'content-length': data.length });
    let at = 0;
    const timer = setInterval(() => {
      const piece = data.subarray(at, at + 1024);
      at += piece.length;
      root.sent += piece.length;
      res.write(piece);
      if (at >= data.length) {
        clearInterval(timer);
        res.end();
      }
    }, 50);
    res.on('close', () => clearInterval(timer));
    return true;
  };
  const f = await createUpdateFixture({ serverHook: hook });
  cleanups.push(() => f.close());
  await f.publish([{ version: '1.1.0' }]);
  rootFile = f.targetFile('1.1.0', 'root');
  return { f, root };
}

async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The inactive set B as the bootloader sees it: its flags via signpost, and sgdisk's attribute bits of its boot partition. */
async function setB(f: UpdateFixture): Promise<{ flags: string; attributes: string }> {
  const b = (await f.status()).B;
  return { flags: `${b.priority}/${b.triesLeft}/${b.successful ? 1 : 0}`, attributes: sgdiskAttributes(f.disk, f.sets().B.boot.number) };
}
const UNBOOTABLE = { flags: '0/0/0', attributes: expectedBootAttributes({ priority: 0, triesLeft: 0, successful: false }) };

describe('updog update on SIGTERM/SIGINT', () => {
  it('stops mid-download: exit 5, one line, set B unbootable, lock released; a re-run installs the update', async () => {
    const { f, root } = await slowFixture();
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      root.sent = 0;
      const defined: Record<string, string> = {};
      for (const [k, v] of Object.entries({ ...process.env, ...f.env })) if (v !== undefined) defined[k] = v;
      const child = spawn(process.execPath, [UPDOG_BIN, 'update', '--log-level', 'warn'], { env: defined, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
      await until('the root image download', () => root.sent >= 4096);
      expect(fs.existsSync(f.env.UPDOG_LOCK_FILE!)).toBe(true);
      child.kill(signal);
      expect({ code: await exited, stdout, stderr }).toEqual({ code: 5, stdout: '', stderr: CANCELLED_LINE(signal) });
      expect(root.sent).toBeLessThan(fs.statSync(f.targetFile('1.1.0', 'root')).size);
      expect(await setB(f)).toEqual(UNBOOTABLE);
      expect((await f.status()).nextBoot).toBe('A');
      expect(fs.existsSync(f.env.UPDOG_LOCK_FILE!)).toBe(false);
      expect(sgdiskVerifies(f.disk)).toBe(true);
    }

    root.slow = false;
    const badRate = await f.run(['update', '--max-rate', '10MB']);
    expect(badRate).toEqual({
      code: 64,
      stdout: '',
      stderr: `error: option '--max-rate <rate>' argument '10MB' is invalid. expected bytes per second, e.g. 10485760 or "10MiB" (units B, KiB, MiB, GiB)\n`,
    });
    const rerun = await f.run(['update', '--max-rate', '10MiB', '--log-level', 'warn']);
    expect(rerun).toEqual({ code: 0, stdout: `${VARIANT} 1.1.0 written to set B; it boots next\n`, stderr: '' });
    for (const part of PARTS) expect(f.partitionHash('B', part, IMAGE_SIZES[part])).toBe(fakeImageHash('1.1.0', part));
    expect(await setB(f)).toEqual({ flags: '2/1/0', attributes: expectedBootAttributes({ priority: 2, triesLeft: 1, successful: false }) });
  });
});

describe('update API prepare progress and cancel (updog serve)', () => {
  it('reports fetched, reused and total bytes while a prepare runs, after it is cancelled, and after it is done', async () => {
    const { f, root } = await slowFixture();
    const serve = await startServe(join(f.dir.path, 'api.sock'), { ...f.env, UPDOG_API_STATUS_FILE: join(f.dir.path, 'status.json') });
    cleanups.push(() => serve.stop());
    const client = serve.client;
    const length = Object.fromEntries(PARTS.map((p) => [p, fs.statSync(f.targetFile('1.1.0', p)).size])) as Record<(typeof PARTS)[number], number>;

    expect((await client.status()).prepareProgress).toBeNull();
    await client.refresh();
    const prepare = apiRefusal(client.prepare('1.1.0'));
    let during: StatusResponse | undefined;
    await until('root bytes in the status', async () => {
      during = await client.status();
      return (during.prepareProgress?.fetched ?? 0) >= 4096;
    });
    expect(during!.commandInProgress).toBe('prepare');
    const running = during!.prepareProgress!;
    expect(running).toEqual({
      version: '1.1.0',
      state: 'running',
      fetched: running.images[0]!.fetched,
      reused: 0,
      total: length.root,
      images: [{ image: 'root', fetched: running.fetched, reused: 0, total: length.root }],
    });
    expect(running.fetched).toBeLessThan(length.root);

    const cancelled = await client.cancel();
    expect((await prepare).message).toMatch(/download of .*root.* cancelled$/);
    const stopped = cancelled.prepareProgress!;
    expect(stopped.state).toBe('cancelled');
    expect(stopped.fetched).toBeGreaterThanOrEqual(running.fetched);
    expect(stopped.fetched).toBeLessThanOrEqual(root.sent);
    expect(stopped).toEqual({ ...running, state: 'cancelled', fetched: stopped.fetched, images: [{ ...running.images[0]!, fetched: stopped.fetched }] });
    expect(await setB(f)).toEqual(UNBOOTABLE);

    root.slow = false;
    const done = await client.prepare('1.1.0');
    expect(done.updateState).toBe('Staged');
    expect(done.prepareProgress).toEqual({
      version: '1.1.0',
      state: 'done',
      fetched: length.root + length.boot + length.hash,
      reused: 0,
      total: length.root + length.boot + length.hash,
      images: PARTS.map((image) => ({ image, fetched: length[image], reused: 0, total: length[image] })),
    });
    expect((await client.status()).prepareProgress).toEqual(done.prepareProgress);
  });
});
