/**
 * `npm run bench` runs end to end (small sizes, so it proves the harness, not the speed: the
 * figures are for a person to read, never asserted).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('npm run bench (bench/run.mjs), small', () => {
  it('installs through both paths with verified content, times the tuf-repo commands and measures manifest parsing', () => {
    const r = spawnSync(process.execPath, ['bench/run.mjs', '--size-mib', '8', '--rounds', '1', '--targets', '50', '--updates', '500'], { encoding: 'utf8', timeout: 240_000 });
    expect(r.stderr).not.toMatch(/failed/);
    expect(r.status).toBe(0);
    expect(r.stdout.match(/\(content verified\)/g)).toHaveLength(2);
    expect(r.stdout).toMatch(/throughput ratio updog\/pipeline: \d+\.\d\d/);
    expect(r.stdout).toMatch(/updog peak RSS \d+\.\d MiB/);
    expect(r.stdout).toMatch(/peak RSS ratio strict\/JSON\.parse: \d+\.\d\d, parseManifest\/JSON\.parse: \d+\.\d\d/);
    for (const step of ['tuf-repo update', 'tuf-repo refresh', 'tuf-repo validate', 'updog tuf refresh']) expect(r.stdout).toContain(step);
  });
});
