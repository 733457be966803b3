import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// The benchmark itself runs in CI as a 50-node cluster test (bench.cluster.test.ts); here, its command line.
describe('npm run bench:operator (bench/operator-bench.mjs)', () => {
  it('refuses a bad fleet size with a one-line usage and exit code 2, before starting anything', () => {
    for (const args of [['--nodes', '0'], ['--nodes', '50,x'], ['--heartbeat-seconds', '-1']]) {
      const r = spawnSync(process.execPath, ['bench/operator-bench.mjs', ...args], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('usage: operator-bench.mjs [--nodes 50,200,1000] [--heartbeat-seconds 30] [--idle-seconds 90] (positive numbers)\n');
    }
  });
});
