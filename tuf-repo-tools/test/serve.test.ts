import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRange, serveDirectory, type StaticServer } from '../src/serve/static-server.js';
import { TUF_REPO_BIN, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
const servers: StaticServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const CONTENT = Buffer.from('0123456789abcdefghij');

async function served(): Promise<string> {
  const dir = await tempDir();
  await mkdir(join(dir, 'targets'));
  await writeFile(join(dir, 'targets', 'file.bin'), CONTENT);
  await writeFile(join(dir, 'root.json'), '{}');
  const server = await serveDirectory(dir);
  servers.push(server);
  return server.url;
}

async function get(url: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await fetch(url, { headers, method });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body };
}

describe('parseRange', () => {
  it('handles a-b, a-, -n, clamps the end, and reports unsatisfiable ranges', () => {
    expect(parseRange(undefined, 20)).toBeUndefined();
    expect(parseRange('bytes=0-4', 20)).toEqual({ start: 0, end: 4 });
    expect(parseRange('bytes=15-', 20)).toEqual({ start: 15, end: 19 });
    expect(parseRange('bytes=-5', 20)).toEqual({ start: 15, end: 19 });
    expect(parseRange('bytes=-50', 20)).toEqual({ start: 0, end: 19 });
    expect(parseRange('bytes=10-100', 20)).toEqual({ start: 10, end: 19 });
    expect(parseRange('bytes=20-', 20)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-2', 20)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,4-5', 20)).toBeUndefined();
  });
});

describe('serve', () => {
  it('serves whole files and byte ranges with exact lengths', async () => {
    const url = await served();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const whole = await get(`${url}targets/file.bin`);
    expect(whole.status).toBe(200);
    expect(whole.body).toEqual(CONTENT);
    expect(whole.headers.get('content-length')).toBe('20');
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    const part = await get(`${url}targets/file.bin`, { Range: 'bytes=5-9' });
    expect(part.status).toBe(206);
    expect(part.body.toString()).toBe('56789');
    expect(part.headers.get('content-length')).toBe('5');
    expect(part.headers.get('content-range')).toBe('bytes 5-9/20');
    const tail = await get(`${url}targets/file.bin`, { Range: 'bytes=-3' });
    expect(tail.body.toString()).toBe('hij');
    const past = await get(`${url}targets/file.bin`, { Range: 'bytes=20-' });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */20');
    const head = await get(`${url}targets/file.bin`, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('20');
    expect(head.body.length).toBe(0);
    expect((await get(`${url}root.json`)).headers.get('content-type')).toBe('application/json');
  });

  it('answers 404 for missing files, directories and paths outside the served directory', async () => {
    const url = await served();
    expect((await get(`${url}nope`)).status).toBe(404);
    expect((await get(`${url}targets`)).status).toBe(404);
    expect((await get(`${url}targets/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404);
    expect((await get(`${url}..%2fetc%2fpasswd`)).status).toBe(404);
    expect((await get(`${url}targets/file.bin`, {}, 'POST')).status).toBe(405);
  });

  it('tuf-repo serve prints its loopback URL on stdout and stops on SIGTERM', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'hello.txt'), 'hello');
    const child = spawn(process.execPath, [TUF_REPO_BIN, 'serve', dir, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const firstLine = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
      expect(firstLine).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect((await get(`${firstLine}hello.txt`)).body.toString()).toBe('hello');
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
  });
});
