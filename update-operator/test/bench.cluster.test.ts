/**
 * The scale benchmark's smoke run (CI): 50 simulated nodes with the real agent and controller on
 * the shared test cluster. Checks what the benchmark measures is sound and the rollout completes
 * within its budget; no timing assertions (the figures are printed).
 */
import { describe, expect, it } from 'vitest';
import { BENCH_NEW, formatBenchRow, runOperatorBench } from '../../test/cluster/operator-bench.js';
import { useTestCluster } from '../../test/cluster/vitest-cluster.js';

const cluster = useTestCluster();

describe('operator benchmark, 50 nodes', () => {
  it('rolls out every node within the 10 % budget; heartbeats cause no controller work', { timeout: 600_000 }, async () => {
    const heartbeatMs = 5_000;
    const r = await runOperatorBench(cluster, { nodes: 50, id: 'smoke', heartbeatMs, idleMs: 3 * heartbeatMs, leaseRenewMs: 10_000, rolloutTimeoutMs: 400_000 });
    console.log(`${BENCH_NEW} on 50 nodes: ${formatBenchRow(r)}\n${JSON.stringify(r.controllerRequestsByVerb)}\n${JSON.stringify(r.controllerSetupRequestsByVerb)}`);
    expect(r.updated).toBe(50);
    expect(r.maxUnavailable).toBe(5);
    expect(r.samples).toBeGreaterThan(50 * 4);
    expect(r.maxInFlight).toBeGreaterThan(0);
    expect(r.maxInFlight).toBeLessThanOrEqual(5);
    // every NodeUpdate was created before the rollout; during it every node was cordoned and uncordoned once
    expect(r.controllerSetupRequestsByVerb['create nodeupdates']).toBe(50);
    expect(r.controllerRequestsByVerb['create nodeupdates']).toBeUndefined();
    expect(r.controllerRequestsByVerb['patch nodes']).toBe(100);
    // admitted (spec), to Rebooted (spec), back to Idle (spec)
    expect(r.controllerRequestsByVerb['patch nodeupdates']).toBe(150);
    expect(r.reconcile.count).toBeGreaterThan(0);
    // idle: no watch event is worth a reconcile, nothing is written; agents write one heartbeat per interval
    expect(r.controllerIdleRequestsPerMinute).toBeLessThanOrEqual(10);
    expect(r.agentIdleRequestsPerNodePerHeartbeat).toBeGreaterThan(0);
    expect(r.agentIdleRequestsPerNodePerHeartbeat).toBeLessThanOrEqual(2);
  });
});
