import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode, UserError } from '../../src/common/errors.js';
import { withUpdateLock } from '../../src/update/lock.js';
import { parseRebootCommand, rebootHost } from '../../src/update/reboot.js';
import { tempDir, type TempDir } from '../helpers/temp-dir.js';

let dir: TempDir;
let lock: string;
beforeEach(() => {
  dir = tempDir();
  lock = join(dir.path, 'updog.lock');
});
afterEach(() => dir.cleanup());

const failure = (p: Promise<unknown>): Promise<UserError> =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as UserError,
  );

describe('withUpdateLock', () => {
  it('holds the lock file (pid) while fn runs and removes it after, also when fn throws', async () => {
    const inside = await withUpdateLock(lock, async () => JSON.parse(fs.readFileSync(lock, 'utf8')) as { pid: number });
    expect(inside.pid).toBe(process.pid);
    expect(fs.existsSync(lock)).toBe(false);
    await expect(withUpdateLock(lock, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('is busy (exit code 3) while a live process holds it, nested or from another process', async () => {
    const nested = await withUpdateLock(lock, () => failure(withUpdateLock(lock, async () => 'no')));
    expect(nested.exitCode).toBe(ExitCode.Busy);
    expect(nested.message).toBe(`another updog process (pid ${process.pid}) is updating this host (lock file ${lock}); try again later`);

    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(lock, JSON.stringify({ pid: child.pid }));
      const err = await failure(withUpdateLock(lock, async () => 'no'));
      expect(err.exitCode).toBe(ExitCode.Busy);
      expect(fs.readFileSync(lock, 'utf8')).toBe(JSON.stringify({ pid: child.pid })); // untouched
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('takes over a lock whose owner is gone, has a recycled pid, or that holds garbage', async () => {
    const dead = spawn('true', { stdio: 'ignore' });
    await new Promise((r) => dead.on('close', r));
    for (const stale of [JSON.stringify({ pid: dead.pid }), JSON.stringify({ pid: process.pid, startTime: '1' }), 'garbage']) {
      fs.writeFileSync(lock, stale);
      expect(await withUpdateLock(lock, async () => 'ran')).toBe('ran');
      expect(fs.readdirSync(dir.path)).toEqual([]); // no lock and no leftovers
    }
  });

  it('excludes concurrent processes: taking it is atomic, a lock being created is never taken for a stale one', async () => {
    // Each process takes the lock 150 times; inside, it creates a marker file exclusively and checks
    // that the lock file holds its own pid. Two holders at once would fail one of these.
    const lockModule = new URL('../../dist/update/lock.js', import.meta.url).href;
    const script = `
      import fs from 'node:fs';
      const { withUpdateLock } = await import(${JSON.stringify(lockModule)});
      const [lock, marker] = process.argv.slice(1);
      let held = 0;
      for (let round = 0; round < 150; round++) {
        try {
          await withUpdateLock(lock, async () => {
            fs.closeSync(fs.openSync(marker, 'wx'));
            if (JSON.parse(fs.readFileSync(lock, 'utf8')).pid !== process.pid) throw new Error('lock file names another owner');
            await new Promise((r) => setImmediate(r));
            fs.rmSync(marker);
            held++;
          });
        } catch (err) {
          if (err.exitCode !== 3) { console.error(err.message); process.exit(1); }
        }
      }
      process.stdout.write(String(held));
    `;
    const marker = join(dir.path, 'inside');
    const runs = await Promise.all(
      [0, 1, 2, 3].map(
        () =>
          new Promise<{ code: number | null; out: string; err: string }>((done) => {
            const child = spawn(process.execPath, ['--input-type=module', '-e', script, lock, marker], { stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            let err = '';
            child.stdout.on('data', (d: Buffer) => (out += d));
            child.stderr.on('data', (d: Buffer) => (err += d));
            child.on('close', (code) => done({ code, out, err }));
          }),
      ),
    );
    expect(runs.map((r) => [r.code, r.err])).toEqual([[0, ''], [0, ''], [0, ''], [0, '']]);
    expect(runs.reduce((n, r) => n + Number(r.out), 0)).toBeGreaterThan(0);
    expect(fs.readdirSync(dir.path)).toEqual([]); // no lock, no marker, no temp files
  });

  it('says how to fix an unwritable lock location', async () => {
    const err = await failure(withUpdateLock(join(dir.path, 'missing', 'updog.lock'), async () => 'no'));
    expect(err.message).toMatch(/cannot create the update lock .*missing\/updog\.lock: ENOENT.*\(set --lock-file or UPDOG_LOCK_FILE\)$/);
  });
});

describe('rebootHost', () => {
  it('runs the command without a shell and reports failures', async () => {
    const marker = join(dir.path, 'rebooted');
    await rebootHost(parseRebootCommand(` touch   ${marker} `));
    expect(fs.existsSync(marker)).toBe(true);
    expect((await failure(rebootHost(['false']))).message).toBe('the reboot command "false" failed (exit 1); the update is applied and takes effect on the next reboot');
    expect((await failure(rebootHost(['/nonexistent/reboot']))).message).toMatch(/^cannot run the reboot command "\/nonexistent\/reboot": .*ENOENT/);
    expect(() => parseRebootCommand('  ')).toThrow(/the reboot command is empty/);
  });
});
