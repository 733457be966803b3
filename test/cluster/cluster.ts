/**
 * A real Kubernetes control plane for tests and the demo: etcd, kube-apiserver and
 * kube-controller-manager on loopback, with generated certificates, service-account token signing
 * and ValidatingAdmissionPolicy. There is no scheduler and no kubelet: `PodBinder` binds pending pods
 * to simulated nodes (see sim-node.ts).
 *
 * Vitest: cluster tests live in the `cluster` project (files `test/cluster/**\/*.test.ts` and
 * `**\/*.cluster.test.ts`); its global setup starts one cluster per run and tests get it with
 * `useTestCluster()` from ./vitest-cluster.js.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ensureControlPlaneBinaries, type ControlPlaneBinaries } from './binaries.js';
import { generateClusterPki, type ClusterPki } from './pki.js';
import { PodBinder } from './pod-binder.js';
import { freePorts, isRunning, killNow, logTail, spawnManaged, startWatchdog, stopManaged, type ManagedProcess } from './processes.js';
import { waitFor } from './wait.js';

/** What a test process needs to reach a cluster that another process started. */
export interface ClusterInfo {
  kubeconfigPath: string;
  server: string;
}

export interface NodeTokenOptions {
  /** Namespace of the service account; created if missing. Default `default`. */
  namespace?: string;
  /** Service account name; created if missing. Default `updog-node-agent`. */
  serviceAccount?: string;
  expirationSeconds?: number;
}

export interface TestCluster extends ClusterInfo {
  /** Admin (system:masters) client configuration. */
  kc: KubeConfig;
  /**
   * A service account token bound to the Node object `nodeName`, as a DaemonSet pod on that node
   * would hold: the apiserver adds `authentication.kubernetes.io/node-name` to the user's extra
   * info, which admission policies can check. The node must exist.
   */
  createNodeServiceAccountToken(nodeName: string, opts?: NodeTokenOptions): Promise<string>;
  /** Client configuration authenticating with a bearer token (e.g. a node token). */
  kubeConfigForToken(token: string): KubeConfig;
  /** Stops whatever this handle started and removes its temp dir; idempotent. */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  /** Parent directory of the cluster's temp dir (default: the OS temp dir). */
  workDir?: string;
}

const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

function apiserverArgs(pki: ClusterPki, etcdPort: number, port: number): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    // Endpoints may not hold loopback addresses; nothing in the tests needs the kubernetes Service.
    '--endpoint-reconciler-type=none',
    `--tls-cert-file=${pki.apiserverCert}`,
    `--tls-private-key-file=${pki.apiserverKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    // Tokens must expire when they say so (tests of token-bound access rely on it).
    '--service-account-extend-token-expiration=false',
    '--service-cluster-ip-range=10.96.0.0/16',
    '--authorization-mode=RBAC',
    '--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,TaintNodesByCondition,DefaultTolerationSeconds,MutatingAdmissionWebhook,ValidatingAdmissionPolicy,ValidatingAdmissionWebhook,ResourceQuota',
    '--allow-privileged=true',
    // Serve lists and watches from etcd: Debian's etcd 3.4.23 predates the watch-progress fixes the
    // watch cache relies on, and a watch on a quiet resource then fails with 504 "Too large
    // resource version" after 3 s.
    '--watch-cache=false',
    '--profiling=false',
  ];
}

function controllerManagerArgs(pki: ClusterPki, kubeconfig: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    '--secure-port=0',
    '--leader-elect=false',
    '--use-service-account-credentials=false',
    `--root-ca-file=${pki.caCert}`,
    `--service-account-private-key-file=${pki.serviceAccountKey}`,
    '--controllers=*',
  ];
}

function writeKubeconfig(path: string, server: string, pki: ClusterPki): void {
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority: ${pki.caCert}`,
      'users:',
      '- name: admin',
      '  user:',
      `    client-certificate: ${pki.adminCert}`,
      `    client-key: ${pki.adminKey}`,
      'contexts:',
      '- name: test',
      '  context: { cluster: test, user: admin }',
      'current-context: test',
      '',
    ].join('\n'),
  );
}

/** GET with the admin client certificate; resolves to the HTTP status, or rejects. */
function adminGet(server: string, path: string, pki: ClusterPki): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server}${path}`,
      { ca: readFileSync(pki.caCert), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey), timeout: 2_000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitUntilHealthy(p: ManagedProcess, what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      if (!isRunning(p)) throw new Error(`${p.name} exited during startup; log tail:\n${logTail(p)}`);
      return probe();
    },
    { what, timeoutMs, intervalMs: 250 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${p.name} log tail:\n${logTail(p)}`);
  });
}

/** Starts etcd, kube-apiserver and kube-controller-manager; builds the binaries on first use. */
export async function startCluster(opts: StartClusterOptions = {}): Promise<TestCluster> {
  const bins = ensureControlPlaneBinaries();
  // The free ports are picked before the servers bind them: another process may win the race.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startControlPlane(bins, opts);
    } catch (err) {
      if (attempt === 3 || !String(err).includes('address already in use')) throw err;
    }
  }
}

async function startControlPlane(bins: ControlPlaneBinaries, opts: StartClusterOptions): Promise<TestCluster> {
  const workDir = mkdtempSync(join(opts.workDir ?? tmpdir(), 'updog-test-cluster-'));
  const processes: ManagedProcess[] = [];
  const onExit = (): void => killNow(processes, workDir);
  process.on('exit', onExit);
  let binder: PodBinder | undefined;
  let watchdog: ReturnType<typeof startWatchdog> | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await binder?.stop();
      // controller-manager first, etcd last, so nothing logs connection errors on the way down
      for (const p of [...processes].reverse()) await stopManaged(p);
      killNow(processes, workDir);
      watchdog?.kill();
      process.off('exit', onExit);
    })());
  // Each started process is covered by a fresh watchdog at once.
  const track = (p: ManagedProcess): ManagedProcess => {
    processes.push(p);
    watchdog?.kill();
    watchdog = startWatchdog(processes, workDir);
    return p;
  };

  try {
    const pki = generateClusterPki(workDir);
    const [etcdPort, etcdPeerPort, apiPort] = (await freePorts(3)) as [number, number, number];
    const etcd = track(spawnManaged(
      'etcd',
      bins.etcd,
      [
        `--data-dir=${join(workDir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
        '--name=default',
      ],
      join(workDir, 'etcd.log'),
    ));
    await waitUntilHealthy(etcd, 'etcd to be healthy', async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok, 30_000);

    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfigPath = join(workDir, 'admin.kubeconfig');
    writeKubeconfig(kubeconfigPath, server, pki);
    const apiserver = track(spawnManaged('kube-apiserver', bins.kubeApiserver, apiserverArgs(pki, etcdPort, apiPort), join(workDir, 'kube-apiserver.log')));
    await waitUntilHealthy(apiserver, 'kube-apiserver /readyz', async () => (await adminGet(server, '/readyz', pki)) === 200, 90_000);

    const kcm = track(
      spawnManaged('kube-controller-manager', bins.kubeControllerManager, controllerManagerArgs(pki, kubeconfigPath), join(workDir, 'kube-controller-manager.log')),
    );

    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    // The service account controller creating `default` proves the controller-manager works; pods
    // cannot be created before it exists.
    await waitUntilHealthy(
      kcm,
      'kube-controller-manager to create the default service account',
      async () => (await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' })).metadata?.name === 'default',
      60_000,
    );
    binder = new PodBinder(kc);
    binder.start();
    return clusterHandle({ kubeconfigPath, server }, kc, stop);
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A handle on a cluster started elsewhere (e.g. by the vitest global setup); stop() is a no-op. */
export function connectToCluster(info: ClusterInfo): TestCluster {
  const kc = new KubeConfig();
  kc.loadFromFile(info.kubeconfigPath);
  return clusterHandle(info, kc, async () => undefined);
}

function clusterHandle(info: ClusterInfo, kc: KubeConfig, stop: () => Promise<void>): TestCluster {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    ...info,
    kc,
    stop,
    kubeConfigForToken(token) {
      const cluster = kc.getCurrentCluster();
      if (cluster === null) throw new Error('admin kubeconfig has no current cluster');
      const tokenKc = new KubeConfig();
      tokenKc.loadFromOptions({
        clusters: [cluster],
        users: [{ name: 'token', token }],
        contexts: [{ name: 'token', cluster: cluster.name, user: 'token' }],
        currentContext: 'token',
      });
      return tokenKc;
    },
    async createNodeServiceAccountToken(nodeName, opts = {}) {
      const namespace = opts.namespace ?? 'default';
      const serviceAccount = opts.serviceAccount ?? 'updog-node-agent';
      const node = await core.readNode({ name: nodeName }).catch((err: unknown) => {
        throw new Error(`cannot bind a token to node ${nodeName}: ${String(err)}`);
      });
      await ignoreConflict(core.createNamespace({ body: { metadata: { name: namespace } } }));
      await ignoreConflict(core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } }));
      const tokenRequest = await core.createNamespacedServiceAccountToken({
        name: serviceAccount,
        namespace,
        body: {
          spec: {
            audiences: [],
            expirationSeconds: opts.expirationSeconds ?? 3600,
            boundObjectRef: { apiVersion: 'v1', kind: 'Node', name: nodeName, uid: node.metadata?.uid },
          },
        },
      });
      const token = tokenRequest.status?.token;
      if (token === undefined) throw new Error(`the apiserver returned no token for ${namespace}/${serviceAccount}`);
      return token;
    },
  };
}

/** Awaits a create call, treating 409 AlreadyExists as success. */
export async function ignoreConflict(creating: Promise<unknown>): Promise<void> {
  try {
    await creating;
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}
