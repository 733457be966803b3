/**
 * updog and signpost as single executables (npm run build:sea) on a host without Node.js: the
 * executables run with an environment whose PATH holds no `node`, against a loopback repository,
 * and install onto a disk image with the decode worker they carry.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExecutable, UPDOG_BIN, type BinResult } from '../helpers/run-bin.js';
import { createUpdateFixture, fakeImageHash, IMAGE_SIZES, VARIANT, type UpdateFixture } from './update-fixture.js';

const PACKAGE = resolve(import.meta.dirname, '../..');
const SEA_DIR = join(PACKAGE, 'dist-sea');

/** Runs an executable with exactly `env` (nothing inherited) and a PATH without node. */
const runAlone = (exe: string, args: string[], env: Record<string, string | undefined>, emptyPath: string): Promise<BinResult> =>
  runExecutable(exe, args, { ...env, PATH: emptyPath });

/** Best of five wall-clock times of `updog --help`, in ms. */
function startupMs(command: string, args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = process.hrtime.bigint();
    execFileSync(command, [...args, '--help'], { stdio: 'ignore' });
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return Math.min(...times);
}

describe('single executables (no Node.js on the host)', () => {
  let fixture: UpdateFixture;
  let emptyPath: string;

  beforeAll(async () => {
    execFileSync(process.execPath, [join(PACKAGE, '..', 'updog/scripts/build-sea.mjs')], { stdio: 'pipe' }); // throws with its output on failure
    emptyPath = mkdtempSync(join(tmpdir(), 'no-node-'));
    fixture = await createUpdateFixture();
  }, 300_000);
  afterAll(async () => {
    await fixture?.close();
    if (emptyPath) rmSync(emptyPath, { recursive: true, force: true });
  });

  it('checks for and stages an update onto a disk image with no node on PATH', async () => {
    const updog = join(SEA_DIR, 'updog');
    await fixture.publish([{ version: '1.1.0' }]);
    expect(execFileSync('/bin/sh', ['-c', 'command -v node || echo none'], { env: { PATH: emptyPath }, encoding: 'utf8' })).toBe('none\n');

    expect(await runAlone(updog, ['check-update'], fixture.env, emptyPath)).toEqual({ code: 0, stdout: `${VARIANT} 1.1.0\n`, stderr: '' });
    const staged = await runAlone(updog, ['update-image', '--json'], fixture.env, emptyPath);
    expect(staged.code).toBe(0);
    expect(JSON.parse(staged.stdout)).toMatchObject({ version: '1.1.0', variant: VARIANT, set: 'B', applied: false });
    for (const part of ['root', 'boot', 'hash'] as const) {
      expect(fixture.partitionHash('B', part, IMAGE_SIZES[part])).toBe(fakeImageHash('1.1.0', part));
      expect(fixture.partitionHash('A', part, IMAGE_SIZES[part])).toBe(fakeImageHash('1.0.0', part));
    }

    const signpost = await runAlone(join(SEA_DIR, 'signpost'), ['status'], { UPDOG_DISK: fixture.env.UPDOG_DISK, UPDOG_ACTIVE_SET_FILE: fixture.env.UPDOG_ACTIVE_SET_FILE }, emptyPath);
    expect(signpost.code).toBe(0);
    expect(signpost.stdout).toMatch(/^set B \(inactive\): priority=0 tries=1 successful=0 will-boot=no /m);
  });

  it('reports a usage error like the script does (exit 64, one line)', async () => {
    const r = await runAlone(join(SEA_DIR, 'updog'), ['no-such-command'], {}, emptyPath);
    expect(r.code).toBe(64);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('prints its size and start-up time next to node running the compiled script (figures, not asserted)', () => {
    const size = statSync(join(SEA_DIR, 'updog')).size;
    const sea = startupMs(join(SEA_DIR, 'updog'), []);
    const script = startupMs(process.execPath, [UPDOG_BIN]);
    console.log(`single executable: ${(size / 2 ** 20).toFixed(1)} MiB; updog --help ${sea.toFixed(0)} ms, node updog.js --help ${script.toFixed(0)} ms (best of 5)`);
    expect(size).toBeGreaterThan(0);
  });
});
