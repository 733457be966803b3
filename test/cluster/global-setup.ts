/**
 * Vitest global setup of the `cluster` project: one test cluster per run, shared by every cluster
 * test file (they get it with useTestCluster()). If the control plane cannot be built or started,
 * the run fails with the reason; nothing is skipped.
 */
import type { TestProject } from 'vitest/node';
import { startCluster, type ClusterInfo } from './cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    testCluster: ClusterInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startCluster();
  project.provide('testCluster', { kubeconfigPath: cluster.kubeconfigPath, server: cluster.server });
  return () => cluster.stop();
}
