/**
 * Per simulated node, what a real node runs for the operator: the host update API (in-process,
 * on a Unix socket, over the node's own disk image, updog.toml and os-release; its reboot is the
 * simulated node's reboot) and the agent, authenticated with a service-account token bound to
 * that node. Also: a signed repository of fake releases on loopback, and the operator's CRDs plus
 * what the agent needs from the deploy manifests (RBAC, own-node admission policy) installed in
 * the test cluster; and the controller as a child process. Used by the operator's cluster tests
 * and by `npm run demo:cluster`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiextensionsV1Api, KubernetesObjectApi, type KubeConfig, type KubernetesObject, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { ObjectSerializer } from '@kubernetes/client-node/dist/serializer.js';
import { type ApiServer, createUpdateHost, HealthCheckError, startApiServer, UpdateApiClient } from '@updog-ts/updog/host-api';
import { createLogger, type LogLevel } from '@updog-ts/updog/common';
import type { Manifest } from '@updog-ts/updog/release';
import { buildReleaseRepository, makeFakeRelease, serveDirectory } from '@updog-ts/tuf-repo-tools';
import type { TestCluster } from './cluster.js';
import { ignoreConflict } from './cluster.js';
import type { FleetMember } from './fleet.js';
import { repoRoot } from './repo-root.js';
import { DEFAULT_ARCH, DEFAULT_VARIANT } from './sim-host.js';
import { waitFor } from './wait.js';
import { AGENT_SA, CONTROLLER_NODE_OPTIONS, crds, DEFAULT_MANIFEST_OPTIONS, KubeClient, namespaceObject, NodeAgent, nodeUpdateStore, operatorObjects } from '@updog-ts/update-operator';

/** The agents' service account, as the DaemonSet runs them (update-operator/src/deploy/manifests.ts). */
export const AGENT_SERVICE_ACCOUNT = { namespace: DEFAULT_MANIFEST_OPTIONS.namespace, name: AGENT_SA };

/** The deploy objects an agent depends on: its service account, its RBAC and the own-node admission policy. */
function agentObjects(): KubernetesObject[] {
  const isAgentObject = (o: Record<string, unknown>): boolean => {
    const kind = String(o.kind);
    const name = (o.metadata as { name?: string } | undefined)?.name ?? '';
    return kind.startsWith('ValidatingAdmissionPolicy') || (['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(kind) && name === AGENT_SA);
  };
  return [namespaceObject(), ...operatorObjects().filter(isAgentObject)] as KubernetesObject[];
}

/** Installs the operator's CRDs (waiting until they serve) and, from the deploy manifests, what the agent needs. */
export async function installOperatorApi(kc: KubeConfig): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  for (const wire of crds) {
    // The typed client re-serializes its model: wire keys such as x-kubernetes-int-or-string must be mapped in first.
    const crd = ObjectSerializer.deserialize(wire, 'V1CustomResourceDefinition') as V1CustomResourceDefinition;
    await ignoreConflict(ext.createCustomResourceDefinition({ body: crd }));
    const name = crd.metadata?.name ?? '';
    await waitFor(
      async () => (await ext.readCustomResourceDefinition({ name })).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'),
      { what: `CRD ${name} established`, timeoutMs: 30_000 },
    );
  }
  const objects = KubernetesObjectApi.makeApiClient(kc);
  for (const object of agentObjects()) await ignoreConflict(objects.create(object));
}

export interface ReleaseSpec {
  version: string;
  bad?: boolean;
}

export interface FakeRepository {
  metadataBaseUrl: string;
  targetsBaseUrl: string;
  rootJsonPath: string;
  close(): Promise<void>;
}

/** A signed repository offering `releases` (fake images) to the sim hosts' variant, served on loopback. */
export async function startFakeRepository(releases: ReleaseSpec[]): Promise<FakeRepository> {
  const dir = mkdtempSync(join(tmpdir(), 'updog-agent-repo-'));
  try {
    const repoDir = join(dir, 'repo');
    mkdirSync(repoDir);
    const maxVersion = releases.map((r) => r.version).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1) ?? '0.0.0';
    const manifest: Manifest = { updates: [], migrations: [] };
    const targets: Record<string, string> = {};
    for (const r of releases) {
      const release = await makeFakeRelease({ dir: join(dir, 'releases', r.version), variant: DEFAULT_VARIANT, arch: DEFAULT_ARCH, version: r.version, bad: r.bad ?? false });
      for (const part of ['boot', 'root', 'hash'] as const) targets[release.names[part]] = release[part];
      manifest.updates.push({ variant: DEFAULT_VARIANT, arch: DEFAULT_ARCH, version: r.version, maxVersion, waves: [], images: release.names });
    }
    const built = await buildReleaseRepository({ outDir: repoDir, manifest, targets });
    const server = await serveDirectory(repoDir);
    return {
      metadataBaseUrl: `${server.url}metadata/`,
      targetsBaseUrl: `${server.url}targets/`,
      rootJsonPath: built.rootJsonPath,
      async close() {
        await server.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface NodeStack {
  name: string;
  member: FleetMember;
  socketPath: string;
  api: UpdateApiClient;
  server: ApiServer;
  stop(): Promise<void>;
}

export interface NodeStackOptions {
  rootJsonPath: string;
  /** Run the agent as the real `update-operator agent` bin (child process) instead of in-process. */
  agentProcess?: boolean;
  heartbeatMs?: number;
  refreshMs?: number;
  /** Default: env UPDOG_TEST_LOG_LEVEL, else silent. */
  logLevel?: LogLevel;
}

/** Starts the host update API and the agent of one simulated node. */
export async function startNodeStack(cluster: TestCluster, member: FleetMember, opts: NodeStackOptions): Promise<NodeStack> {
  const name = member.node.name;
  const dir = member.host.dir;
  const logLevel = opts.logLevel ?? (process.env.UPDOG_TEST_LOG_LEVEL as LogLevel | undefined) ?? 'silent';
  const logger = createLogger('sim-host', logLevel).child({ node: name });
  const host = createUpdateHost({
    paths: {
      config: member.host.updogConfig,
      osRelease: member.host.osRelease,
      rootJson: opts.rootJsonPath,
      metadataCache: join(dir, 'metadata-cache'),
      migrationsDir: join(dir, 'bottlerocket-migrations'),
      migratorMetadataDir: join(dir, 'bottlerocket-metadata'),
    },
    disk: { disk: member.host.diskImage, activeSetFile: member.host.activeSetFile },
    lockFile: join(dir, 'updog.lock'),
    reboot: async () => {
      await member.node.reboot();
    },
    // The simulated OS is unhealthy exactly when the image it booted is a "bad" fake image.
    healthCheck: async () => {
      if (member.node.booted.bad) throw new HealthCheckError(`simulated host ${name}: image ${member.node.booted.version} is bad, its services did not start`);
    },
    bootId: async () => member.node.bootId,
    logger,
  });
  const socketPath = join(dir, 'api.sock');
  const server = await startApiServer({ socketPath, statusFile: join(dir, 'api-status.json'), host, logger });
  const api = new UpdateApiClient(socketPath);
  const token = await cluster.createNodeServiceAccountToken(name, { namespace: AGENT_SERVICE_ACCOUNT.namespace, serviceAccount: AGENT_SERVICE_ACCOUNT.name });
  const agentKc = cluster.kubeConfigForToken(token);
  const heartbeatMs = opts.heartbeatMs ?? 1_000;
  const refreshMs = opts.refreshMs ?? 60_000;
  let stopAgent: () => Promise<void>;
  if (opts.agentProcess) {
    const kubeconfig = join(dir, 'agent.kubeconfig');
    writeFileSync(kubeconfig, agentKc.exportConfig(), { mode: 0o600 });
    const args = ['agent', '--node-name', name, '--socket', socketPath, '--kubeconfig', kubeconfig];
    args.push('--heartbeat-seconds', String(heartbeatMs / 1000), '--refresh-seconds', String(refreshMs / 1000), '--log-level', logLevel);
    const child = spawn(process.execPath, [join(repoRoot(), 'update-operator', 'dist', 'bundle', 'update-operator.js'), ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    stopAgent = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    };
  } else {
    const agent = new NodeAgent({
      api,
      store: nodeUpdateStore(new KubeClient(agentKc), name),
      logger: createLogger('agent', logLevel).child({ node: name }),
      heartbeatMs,
      refreshMs,
    });
    await agent.start();
    stopAgent = () => agent.stop();
  }
  return {
    name,
    member,
    socketPath,
    api,
    server,
    async stop() {
      await stopAgent();
      await server.close();
    },
  };
}

export interface ControllerProcess {
  identity: string;
  child: ChildProcess;
  /** stderr so far (JSON log lines). */
  log(): string;
  /** The replica's /metrics text (address from its start-up log line). */
  metrics(): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface ControllerProcessOptions {
  kubeconfigPath: string;
  /** Namespace for the controller's Lease and Events. */
  namespace: string;
  identity: string;
  /** UpdatePolicies to follow (several: node groups). */
  policy: string | string[];
  /** Cluster-step period (default 1 s, for quick tests; the production default is 5 s). */
  tickSeconds?: number;
}

/** Starts a controller replica (the real bin, child process) with a 1 s tick and short lease times. */
export function startControllerProcess(opts: ControllerProcessOptions): ControllerProcess {
  const bin = join(repoRoot(), 'update-operator', 'dist', 'bundle', 'update-operator.js');
  const args = [bin, '--log-level', 'info', 'controller', '--kubeconfig', opts.kubeconfigPath, '--namespace', opts.namespace, '--identity', opts.identity, ...[opts.policy].flat().flatMap((p) => ['--policy', p]),
    '--metrics-address', '127.0.0.1:0', '--tick', String(opts.tickSeconds ?? 1), '--lease-duration', '4', '--renew-deadline', '3', '--retry-period', '1'];
  // the Deployment's heap limits, so tests and the benchmark measure what runs in a cluster
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: CONTROLLER_NODE_OPTIONS } });
  // never outlive the process that started it, even if it dies before its cleanup
  const killChild = () => child.kill('SIGKILL');
  process.on('exit', killChild);
  child.once('exit', () => process.off('exit', killChild));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    identity: opts.identity,
    child,
    log: () => stderr,
    async metrics() {
      const port = /"metrics":"127\.0\.0\.1:(\d+)"/.exec(stderr)?.[1];
      if (port === undefined) throw new Error(`controller ${opts.identity} has not logged its metrics address yet`);
      return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    },
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}
