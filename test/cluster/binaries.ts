import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { repoRoot } from './repo-root.js';

export interface ControlPlaneBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(command: string): string | undefined {
  return (process.env.PATH ?? '').split(delimiter).map((d) => join(d, command)).find(isExecutable);
}

/**
 * Returns the control-plane binaries, building kube-apiserver and kube-controller-manager first if
 * they are not cached (build progress goes to our stderr). Throws with the reason when they cannot
 * be had: tests must fail, not skip.
 */
export function ensureControlPlaneBinaries(): ControlPlaneBinaries {
  const etcd = process.env.UPDOG_TEST_ETCD ?? onPath('etcd');
  if (etcd === undefined) throw new Error("etcd is not on PATH: install Debian's etcd-server package (.ci/run does it)");
  const build = spawnSync('bash', [join(repoRoot(), 'test', 'cluster', 'build-k8s.sh')], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`building the Kubernetes control plane failed (exit ${build.status}); see the build-k8s output above`);
  const binDir = build.stdout.trim().split('\n').pop() ?? '';
  return {
    etcd,
    kubeApiserver: join(binDir, 'kube-apiserver'),
    kubeControllerManager: join(binDir, 'kube-controller-manager'),
  };
}
