/**
 * `npm run bench` runs end to end (small sizes, so it proves the harness, not the speed: the
 * figures are for a person to read, never asserted).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('npm run bench (bench/run.mjs), small', () => {
  // --no-rust: the Rust peer's first cargo build takes minutes; the harness is the same for it
  it('installs through both paths with verified content, reports median and best, and times the tuf-repo commands', () => {
    const r = spawnSync(process.execPath, ['bench/run.mjs', '--size-mib', '8', '--rounds', '2', '--no-rust', '--targets', '50'], { encoding: 'utf8', timeout: 240_000 });
    expect(r.stderr).not.toMatch(/failed/);
    expect(r.status).toBe(0);
    expect(r.stdout.match(/\(content verified\)/g)).toHaveLength(4);
    expect(r.stdout.match(/^ {2}round \d (updog|pipeline) +\d+\.\d\d s +\d+ MiB\/s {2}user \d+\.\d\d s {2}sys \d+\.\d\d s/gm)).toHaveLength(4);
    expect(r.stdout).toMatch(/^contender +median MiB\/s +best MiB\/s +median user s +median sys s +peak RSS MiB$/m);
    expect(r.stdout).toMatch(/^updog\/pipeline: median \d+\.\d\d, best \d+\.\d\d/m);
    expect(r.stdout).toMatch(/updog peak RSS \d+\.\d MiB/);
    for (const step of ['tuf-repo update', 'tuf-repo refresh', 'tuf-repo validate', 'updog tuf refresh']) expect(r.stdout).toContain(step);
  });
});

describe('npm run bench:manifest (bench/manifest-bench.mjs), small', () => {
  it('parses a signed manifest with updog and with JSON.parse, each in its own process, and prints peak RSS', () => {
    const r = spawnSync(process.execPath, ['bench/manifest-bench.mjs', '--updates', '500'], { encoding: 'utf8', timeout: 120_000 });
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^manifest: 500 updates, 0\.\d MiB, signed target [0-9a-f]{64}\.manifest\.json$/m);
    for (const name of ['read only', 'JSON.parse', 'strict JSON parser', 'updog parseManifest', 'parseManifest, as in updog']) {
      expect(r.stdout).toMatch(new RegExp(`^${name.replace('.', '\\.')} +\\d+ ms  peak RSS \\d+\\.\\d MiB$`, 'm'));
    }
    expect(r.stdout).toMatch(/^peak RSS ratio strict\/JSON\.parse: \d+\.\d\d, parseManifest\/JSON\.parse: \d+\.\d\d, as in updog: \d+\.\d\d \(target <= 3\.00\)$/m);
  });
});
