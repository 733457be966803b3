/** For test files of the vitest `cluster` project: the cluster its global setup started. */
import { inject } from 'vitest';
import { connectToCluster, type TestCluster } from './cluster.js';

/** A handle on the run's shared cluster (its stop() does nothing: the global teardown stops it). */
export function useTestCluster(): TestCluster {
  const info = inject('testCluster');
  if (info === undefined) {
    throw new Error('no test cluster: cluster tests must be in the vitest "cluster" project (name them *.cluster.test.ts or put them in test/cluster/)');
  }
  return connectToCluster(info);
}
