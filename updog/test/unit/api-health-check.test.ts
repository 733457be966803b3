import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthCheckError, runHealthCheck } from '../../src/api/health-check.js';
import { tempDir, type TempDir } from '../helpers/temp-dir.js';

let dir: TempDir | undefined;
afterEach(() => {
  dir?.cleanup();
  dir = undefined;
});

function script(body: string): string {
  dir ??= tempDir('updog-health-');
  const path = join(dir.path, `check-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
}

describe('runHealthCheck', () => {
  it('passes when the command exits 0', async () => {
    await expect(runHealthCheck([script('exit 0')], 10_000)).resolves.toBeUndefined();
  });

  it('fails with the exit code and the tail of stderr', async () => {
    const check = script('echo "kubelet: not running" >&2; exit 3');
    const err = await runHealthCheck([check, '--strict'], 10_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HealthCheckError);
    expect((err as Error).message).toBe(`health check "${check} --strict" exited 3: kubelet: not running; the boot is not marked successful`);
  });

  it('kills a check that outlives its deadline', async () => {
    const check = script('exec sleep 30');
    await expect(runHealthCheck([check], 300)).rejects.toThrow(`health check "${check}" did not finish within 0.3s; the boot is not marked successful`);
  });

  it('says so when the command cannot run', async () => {
    await expect(runHealthCheck(['/nonexistent/health'], 1_000)).rejects.toThrow('cannot run the health check "/nonexistent/health": spawn /nonexistent/health ENOENT');
  });
});
