import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestCluster } from './cluster.js';
import { createSimulatedHostFiles, type SimulatedHostFiles, type SimulatedHostOptions } from './sim-host.js';
import { startSimulatedNode, type SimNode, type SimulatedNodeOptions } from './sim-node.js';

export interface FleetMember {
  node: SimNode;
  host: SimulatedHostFiles;
}

export interface SimulatedFleet {
  /** In the order of `names`. */
  members: FleetMember[];
  /** Temp dir holding every host's files (one sub dir per node). */
  dir: string;
  /** Stops every node (deleting its Node object) and removes `dir`; idempotent. */
  stop(): Promise<void>;
}

export interface FleetOptions {
  names: string[];
  /** Version every host has installed (set A). */
  version: string;
  /** Labels for every node: give each test its own label and select workloads/policies by it. */
  labels?: Record<string, string>;
  /** Host file options; each host gets seed = (its index * 100) mod 2048 (seeds are 0..2047) unless `seed` is given. */
  host?: Omit<SimulatedHostOptions, 'version'>;
  node?: Pick<SimulatedNodeOptions, 'rebootDowntimeMs' | 'leaseRenewMs' | 'podSyncMs'>;
}

/**
 * Simulated nodes, each with its own disk image, os-release, active-set file, updog.toml and seed;
 * resolves once every node is Ready and takes pods.
 */
export async function startSimulatedFleet(cluster: TestCluster, opts: FleetOptions): Promise<SimulatedFleet> {
  const dir = mkdtempSync(join(tmpdir(), 'updog-sim-fleet-'));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  process.on('exit', removeDir);
  const members: FleetMember[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.all(members.map((m) => m.node.stop()));
      removeDir();
      process.off('exit', removeDir);
    })());
  try {
    for (const [index, name] of opts.names.entries()) {
      const host = await createSimulatedHostFiles(join(dir, name), { seed: (index * 100) % 2048, ...opts.host, version: opts.version });
      const node = await startSimulatedNode(cluster, { ...opts.node, name, labels: opts.labels, ...host });
      members.push({ node, host });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { members, dir, stop };
}
