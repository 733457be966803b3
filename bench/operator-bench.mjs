#!/usr/bin/env node
/**
 * `npm run bench:operator`: the update-operator at fleet scale on a fresh test cluster (etcd,
 * kube-apiserver, kube-controller-manager on loopback), one run per fleet size. What is real and
 * what is simulated: test/cluster/operator-bench.ts. Prints one table row per size and the request
 * counts by verb and resource.
 *
 *   node bench/operator-bench.mjs [--nodes 50,200,1000] [--heartbeat-seconds 30] [--idle-seconds 90]
 *                                                                            (after `npm run build`)
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const sizes = arg('nodes', '50,200,1000').split(',').map(Number);
const heartbeatMs = Number(arg('heartbeat-seconds', '30')) * 1000;
const idleMs = Number(arg('idle-seconds', '90')) * 1000;
if (sizes.some((n) => !Number.isInteger(n) || n <= 0) || !(heartbeatMs > 0) || !(idleMs > 0)) {
  console.error('usage: operator-bench.mjs [--nodes 50,200,1000] [--heartbeat-seconds 30] [--idle-seconds 90] (positive numbers)');
  process.exit(2);
}
const { startCluster } = await import(path.join(root, 'dist/test/cluster/cluster.js'));
const { runOperatorBench, formatBenchRow } = await import(path.join(root, 'dist/test/cluster/operator-bench.js'));

const header = '| nodes | rollout | max in flight / budget | controller requests per node: rollout (+ setup: lists, NodeUpdate creation) | controller idle requests/min | agent idle requests per node per heartbeat | node reconcile mean / p95 | controller peak RSS | controller CPU |';
const cluster = await startCluster();
const rows = [];
try {
  for (const nodes of sizes) {
    const started = Date.now();
    const r = await runOperatorBench(cluster, {
      nodes,
      id: `b${nodes}`,
      heartbeatMs,
      idleMs,
      leaseRenewMs: 20_000,
      rolloutTimeoutMs: 1_800_000,
      log: (line) => console.error(`[${nodes} nodes, ${((Date.now() - started) / 1000).toFixed(0)} s] ${line}`),
    });
    rows.push(`| ${formatBenchRow(r)} |`);
    console.log(JSON.stringify(r));
  }
} finally {
  await cluster.stop();
}
console.log(`\n${header}\n|${'---|'.repeat(9)}\n${rows.join('\n')}`);
