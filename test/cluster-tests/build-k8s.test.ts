/** The cache and toolchain checks of test/cluster/build-k8s.sh (no Kubernetes build here). */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../cluster/repo-root.js';

const script = join(repoRoot(), 'test', 'cluster', 'build-k8s.sh');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function run(cache: string, path: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('/bin/bash', [script], { env: { HOME: cache, PATH: path, UPDOG_TS_CACHE: cache, K8S_VERSION: '1.34.4' }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('build-k8s.sh', () => {
  it('reuses cached binaries without needing the Go toolchain', () => {
    const cache = mkdtempSync(join(tmpdir(), 'build-k8s-test-'));
    dirs.push(cache);
    const bin = join(cache, 'k8s-1.34.4');
    mkdirSync(bin);
    for (const cmd of ['kube-apiserver', 'kube-controller-manager']) {
      writeFileSync(join(bin, cmd), '#!/bin/sh\n');
      chmodSync(join(bin, cmd), 0o755);
    }
    expect(run(cache, '/nonexistent')).toEqual({
      status: 0,
      stdout: `${bin}\n`,
      stderr: `build-k8s: reusing cached Kubernetes v1.34.4 binaries in ${bin}\n`,
    });
  });

  it('fails with a clear message when nothing is cached and go is missing', () => {
    const cache = mkdtempSync(join(tmpdir(), 'build-k8s-test-'));
    dirs.push(cache);
    const r = run(cache, '/nonexistent');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('build-k8s: error: the Go toolchain (go) is not on PATH; install Go >= 1.24');
  });
});
