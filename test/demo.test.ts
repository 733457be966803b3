import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DEMO = new URL('../dist/demo/demo.js', import.meta.url).pathname;

describe('npm run demo', () => {
  it('installs 1.1.0, boots it, then falls back from the bad 1.2.0 to 1.1.0', () => {
    expect(existsSync(DEMO), 'run `npm run build` first').toBe(true);
    const result = spawnSync(process.execPath, [DEMO], { encoding: 'utf8', env: { ...process.env, UPDOG_LOG_LEVEL: 'warn' }, timeout: 120_000 });
    const workDir = /Demo working directory: (\S+)/.exec(result.stdout)?.[1];
    try {
      expect(result.stderr).not.toContain('demo failed');
      expect(result.status).toBe(0);
      expect(workDir).toBeDefined();
      const summary = JSON.parse(readFileSync(join(workDir!, 'summary.json'), 'utf8')) as { booted: string[]; rolledBack: boolean };
      expect(summary.booted).toEqual(['1.1.0', '1.2.0', '1.1.0']);
      expect(summary.rolledBack).toBe(true);
      // waves hold the update back for seed 1500 until --ignore-waves
      expect(result.stdout).toContain('$ updog check-update\n(exit 2)');
      expect(result.stderr).toContain('updog: no update available for aws-k8s-1.31 x86_64 1.0.0');
      expect(result.stdout).toContain('$ updog check-update --ignore-waves\naws-k8s-1.31 1.1.0\n(exit 0)');
      // the host's own record of what runs now
      expect(readFileSync(join(workDir!, 'host', 'os-release'), 'utf8')).toContain('VERSION_ID=1.1.0');
      expect(readFileSync(join(workDir!, 'host', 'active-set'), 'utf8').trim()).toBe('B');
    } finally {
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    }
  });
});
