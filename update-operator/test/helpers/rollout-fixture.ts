/**
 * The whole update path on the shared test cluster: a signed repository with two releases on
 * loopback, simulated nodes (test/cluster) each with the real host update API (updog serve, in
 * process) over its own disk image and the real agent, and the controller as child processes.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type V1CustomResourceDefinition, type V1Node } from '@kubernetes/client-node';
// The generated client renames fields such as `x-kubernetes-int-or-string` (and drops them when
// given a plain object): convert manifests to its model first.
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { buildReleaseRepository, makeFakeRelease } from '@updog-ts/tuf-repo-tools';
import { type ApiServer, createUpdateHost, startApiServer, UpdateApiClient } from '@updog-ts/updog/host-api';
import { createLogger } from '@updog-ts/updog/common';
import type { Manifest, Update } from '@updog-ts/updog/release';
import { startStaticServer, type StaticServer } from '../../../updog/test/helpers/static-server.js';
import { NodeAgent } from '../../src/agent/agent.js';
import { nodeUpdateStore } from '../../src/agent/node-update-store.js';
import { KubeClient } from '../../src/common/kube-client.js';
import { GROUP, NODE_UPDATE, UPDATE_POLICY, VERSION, type NodeUpdate, type UpdatePolicy, type UpdatePolicySpec } from '../../src/model/api.js';
import { crds } from '../../src/model/crd.js';
import type { TestCluster } from '../../../test/cluster/cluster.js';
import { DEFAULT_ARCH, DEFAULT_VARIANT } from '../../../test/cluster/sim-host.js';
import { startSimulatedFleet, type SimulatedFleet } from '../../../test/cluster/fleet.js';
import { installOperatorApi, startControllerProcess, type ControllerProcess } from '../../../test/cluster/operator-stack.js';
import { waitFor } from '../../../test/cluster/wait.js';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
export const OLD = '1.0.0';
export const NEW = '1.1.0';
const logger = createLogger('rollout-test', (process.env['ROLLOUT_TEST_LOG'] as 'info' | undefined) ?? 'silent');

/** Installs (or updates) the operator's CRDs and waits until they are served. */
export async function installCrds(cluster: TestCluster): Promise<void> {
  const custom = cluster.kc.makeApiClient(CustomObjectsApi);
  const ext = cluster.kc.makeApiClient(ApiextensionsV1Api);
  for (const raw of crds) {
    const crd = ObjectSerializer.deserialize(raw, 'V1CustomResourceDefinition', '') as V1CustomResourceDefinition;
    try {
      await ext.createCustomResourceDefinition({ body: crd });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
      const current = await ext.readCustomResourceDefinition({ name: raw.metadata.name });
      crd.metadata = { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion };
      await ext.replaceCustomResourceDefinition({ name: raw.metadata.name, body: crd });
    }
  }
  await waitFor(
    async () => {
      await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural });
      await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: UPDATE_POLICY.plural });
      return true;
    },
    { what: 'the operator CRDs to be served', timeoutMs: 30_000 },
  );
}

export interface RolloutHost {
  name: string;
  /** Reboot requests the host's update API received (one per update; two when the agent rolls back a failed health check). */
  rebootRequests: number;
  api: ApiServer;
  agent: NodeAgent;
}

export interface RolloutFixture {
  /** Label every node of this fixture carries (`<key>=<value>`), and the policy selects. */
  label: { key: string; value: string };
  policyName: string;
  /** Namespace for the controller's Lease and Events (created). */
  namespace: string;
  fleet: SimulatedFleet;
  hosts: RolloutHost[];
  names: string[];
  /** Creates or replaces the fixture's UpdatePolicy (nodeSelector added). */
  setPolicy(spec: UpdatePolicySpec): Promise<void>;
  patchPolicy(spec: UpdatePolicySpec): Promise<void>;
  nodeUpdates(): Promise<NodeUpdate[]>;
  /** Waits until every node's agent has reported its version and the new one as available. */
  awaitAgentReports(): Promise<void>;
  nodes(): Promise<V1Node[]>;
  /** Starts a controller replica (child process) with short lease times. */
  startController(identity: string): ControllerProcess;
  stop(): Promise<void>;
}

export type { ControllerProcess };

export interface RolloutOptions {
  /** Unique per test file: prefixes node names, label value, policy and namespace. */
  id: string;
  nodes: number;
  /** Make the new release fail its health check (boots, never marked successful, falls back). */
  badRelease?: boolean;
  /** Nodes whose host accepts a reboot request and never reboots (a hung host). */
  hungNodes?: string[];
}

/**
 * A fixture for the tests of one describe block: started before them, stopped after them. Call
 * the returned function inside a test to get it.
 */
export function useRolloutFixture(cluster: TestCluster, opts: RolloutOptions): () => RolloutFixture {
  let fixture: RolloutFixture | undefined;
  beforeAll(async () => {
    fixture = await startRolloutFixture(cluster, opts);
  });
  afterAll(async () => {
    await fixture?.stop();
  });
  return () => {
    if (fixture === undefined) throw new Error(`the rollout fixture ${opts.id} is used outside its tests`);
    return fixture;
  };
}

export async function startRolloutFixture(cluster: TestCluster, opts: RolloutOptions): Promise<RolloutFixture> {
  await installCrds(cluster);
  // the agents' service account and RBAC: another test file may have removed them (admission test)
  await installOperatorApi(cluster.kc);
  const dir = mkdtempSync(join(tmpdir(), `rollout-${opts.id}-`));
  const cleanups: Array<() => Promise<void> | void> = [() => rmSync(dir, { recursive: true, force: true })];
  const stop = async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  };
  try {
    const repoDir = join(dir, 'repo');
    mkdirSync(repoDir);
    const server: StaticServer = await startStaticServer(repoDir);
    cleanups.push(() => server.close());
    const manifest: Manifest = { updates: [], migrations: [] };
    const targets: Record<string, string> = {};
    for (const version of [OLD, NEW]) {
      const release = await makeFakeRelease({ dir: join(dir, 'releases', version), variant: DEFAULT_VARIANT, arch: DEFAULT_ARCH, version, bad: version === NEW && opts.badRelease === true });
      for (const part of ['boot', 'root', 'hash'] as const) targets[release.names[part]] = release[part];
      const update: Update = { variant: DEFAULT_VARIANT, arch: DEFAULT_ARCH, version, maxVersion: NEW, waves: [], images: release.names };
      manifest.updates.push(update);
    }
    const built = await buildReleaseRepository({ outDir: repoDir, keysDir: join(dir, 'keys'), manifest, targets });

    const label = { key: 'rollout.updog.dev/test', value: opts.id };
    const names = Array.from({ length: opts.nodes }, (_, i) => `${opts.id}-${i + 1}`);
    const fleet = await startSimulatedFleet(cluster, {
      names,
      version: OLD,
      labels: { [label.key]: label.value },
      host: { metadataBaseUrl: `${server.url}/metadata/`, targetsBaseUrl: `${server.url}/targets/` },
      node: { rebootDowntimeMs: 1000, leaseRenewMs: 2000, podSyncMs: 200 },
    });
    cleanups.push(() => fleet.stop());

    const hosts: RolloutHost[] = [];
    for (const { node, host } of fleet.members) {
      const rolloutHost = { name: node.name, rebootRequests: 0 };
      const updateHost = createUpdateHost({
        paths: {
          config: host.updogConfig,
          osRelease: host.osRelease,
          rootJson: built.rootJsonPath,
          metadataCache: join(host.dir, 'metadata-cache'),
          migrationsDir: join(host.dir, 'bottlerocket-migrations'),
          migratorMetadataDir: join(host.dir, 'bottlerocket-metadata'),
        },
        disk: { disk: host.diskImage, activeSetFile: host.activeSetFile },
        lockFile: join(host.dir, 'updog.lock'),
        // like a real reboot, the request returns and the host goes down a moment later
        reboot: async () => {
          rolloutHost.rebootRequests += 1;
          if (opts.hungNodes?.includes(node.name)) return;
          setTimeout(() => {
            node.reboot().catch((err: Error) => logger.error({ node: node.name, err: err.message }, 'sim reboot failed'));
          }, 100);
        },
        healthCheck: async () => {
          if (node.booted.bad) throw new Error(`image ${node.booted.version} is bad`);
        },
        bootId: async () => node.bootId,
        logger,
      });
      const socketPath = join(host.dir, 'api.sock');
      const api = await startApiServer({ socketPath, statusFile: join(host.dir, 'api-status.json'), host: updateHost, logger });
      const agent = new NodeAgent({ api: new UpdateApiClient(socketPath), store: nodeUpdateStore(new KubeClient(cluster.kc), node.name), logger: logger.child({ node: node.name }), heartbeatMs: 1000, refreshMs: 2000 });
      await agent.start();
      hosts.push(Object.assign(rolloutHost, { api, agent }));
      cleanups.push(async () => {
        await agent.stop();
        await api.close();
      });
    }

    const namespace = `rollout-${opts.id}`;
    const core = cluster.kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } }).catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
    const custom = cluster.kc.makeApiClient(CustomObjectsApi);
    const policyName = `rollout-${opts.id}`;
    const policyRef = { group: GROUP, version: VERSION, plural: UPDATE_POLICY.plural, name: policyName };
    cleanups.push(async () => {
      await custom.deleteClusterCustomObject(policyRef).catch(() => undefined);
      await core.deleteNamespace({ name: namespace }).catch(() => undefined);
      for (const name of names) await custom.deleteClusterCustomObject({ ...policyRef, plural: NODE_UPDATE.plural, name }).catch(() => undefined);
    });
    const selector = { matchLabels: { [label.key]: label.value } };

    const nodeUpdates = async (): Promise<NodeUpdate[]> => {
      const list = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural })) as { items: NodeUpdate[] };
      return list.items.filter((nu) => names.includes(nu.metadata.name)).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    };

    const controllers: ControllerProcess[] = [];
    cleanups.push(async () => {
      for (const c of controllers) await c.kill('SIGKILL');
    });

    return {
      label,
      policyName,
      namespace,
      fleet,
      hosts,
      names,
      async setPolicy(spec) {
        const body: UpdatePolicy = { apiVersion: `${GROUP}/${VERSION}`, kind: 'UpdatePolicy', metadata: { name: policyName }, spec: { ...spec, nodeSelector: selector } };
        await custom.deleteClusterCustomObject(policyRef).catch(() => undefined);
        await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: UPDATE_POLICY.plural, body });
      },
      async patchPolicy(spec) {
        await custom.patchClusterCustomObject({ ...policyRef, body: { spec } }, MERGE_PATCH);
      },
      nodeUpdates,
      async awaitAgentReports() {
        await waitFor(
          async () => {
            const nus = await nodeUpdates();
            return nus.length === names.length && nus.every((nu) => nu.status?.currentVersion === OLD && nu.status.availableVersion === NEW);
          },
          { what: `every agent of ${opts.id} to report ${OLD} with ${NEW} available`, timeoutMs: 60_000 },
        );
      },
      async nodes() {
        const list = await core.listNode({ labelSelector: `${label.key}=${label.value}` });
        return list.items.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
      },
      startController(identity) {
        const proc = startControllerProcess({ kubeconfigPath: cluster.kubeconfigPath, namespace, identity, policy: policyName });
        controllers.push(proc);
        return proc;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
