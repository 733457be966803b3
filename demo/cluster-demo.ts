#!/usr/bin/env node
/**
 * `npm run demo:cluster`: a real Kubernetes control plane on loopback (no root, no Docker), a few
 * simulated nodes, a workload with a PodDisruptionBudget, and the update operator rolling a new OS
 * release across the nodes one at a time, shown live. Exits 0 once every node runs the new
 * release; everything it started is stopped on the way out, also on Ctrl-C.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type TestCluster } from '../test/cluster/cluster.js';
import { NEW, runClusterRollout } from './cluster-rollout.js';
import { say, step } from './narrate.js';

const NODES = 4;

async function main(): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), 'updog-cluster-demo-'));
  say(`Demo working directory: ${workDir}`);
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (abort.signal.aborted) {
      // a second Ctrl-C: exit now; exit handlers still kill the control plane and the controller
      process.exit(130);
    }
    process.stderr.write(`\n${signal}: stopping the rollout and tearing everything down (Ctrl-C again to force)\n`);
    abort.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let cluster: TestCluster | undefined;
  try {
    step(1, 'A Kubernetes control plane on loopback', 'etcd, kube-apiserver and kube-controller-manager as your user, built once from the k8s.io/kubernetes Go module and cached (the first run builds them: several minutes, progress below).');
    cluster = await startCluster({ workDir });
    abort.signal.throwIfAborted();
    say(`   API server ${cluster.server}, kubeconfig ${cluster.kubeconfigPath}`);
    const outcome = await runClusterRollout(cluster, { id: 'demo', nodes: NODES, workDir, out: process.stdout, signal: abort.signal });
    const updated = outcome.nodes.filter((n) => n.version === NEW && !n.cordoned).length;
    step(8, 'Summary', `${updated}/${outcome.nodes.length} nodes run ${NEW} and are schedulable again, after ${outcome.rolloutSeconds} s of rollout.`);
    say(`At most ${outcome.maxCordoned} node cordoned at once (budget ${outcome.budget}); the workload never had fewer than ${outcome.minReadyPods} Ready pods (PDB minAvailable ${outcome.pdbMinAvailable}).`);
    say(`Kept in ${workDir}: outcome.json (what was observed) and update-policy.json; the cluster itself is stopped and removed.`);
    if (updated !== outcome.nodes.length) process.exitCode = 1;
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    process.exitCode = 130;
  } finally {
    await cluster?.stop();
  }
  if (abort.signal.aborted) say('Interrupted: the controller, the nodes and the control plane are stopped and removed.');
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
