/**
 * Every object an install needs besides the CRDs: namespace, service accounts, least-privilege
 * RBAC, the ValidatingAdmissionPolicy that confines each agent to its own node's status, the
 * controller Deployment (2 replicas, leader-elected), the agent DaemonSet and the metrics Service.
 * `deploy/operator.yaml` and the Helm chart are generated from this and checked by a test.
 */
import { GROUP, NODE_UPDATE, UPDATE_POLICY } from '../model/api.js';

export interface ManifestOptions {
  namespace: string;
  image: string;
  controllerReplicas: number;
  /** Node label that opts a node into the agent DaemonSet. */
  agentNodeLabel: string;
  /** Host directory holding the update API socket (`updog serve --socket <dir>/api.sock`). */
  hostSocketDir: string;
}

export const DEFAULT_MANIFEST_OPTIONS: ManifestOptions = {
  namespace: 'update-operator',
  image: 'ghcr.io/updog-ts/updog:0.1.0',
  controllerReplicas: 2,
  agentNodeLabel: `${GROUP}/agent`,
  hostSocketDir: '/run/updog',
};

export const CONTROLLER_SA = 'update-operator-controller';
/**
 * V8 heap limits of the controller: its caches take a few MiB even at 1,000 nodes, and V8 would
 * otherwise grow the young generation and the old space lazily to well over 100 MiB before
 * collecting (measured: see README, update-operator scale benchmark).
 */
export const CONTROLLER_NODE_OPTIONS = '--max-semi-space-size=1 --max-old-space-size=96';
export const AGENT_SA = 'update-operator-agent';
const METRICS_PORT = 8080;
const NODE_NAME_CLAIM = 'authentication.kubernetes.io/node-name';

type Obj = Record<string, unknown>;

const labels = (component: string) => ({ 'app.kubernetes.io/name': 'update-operator', 'app.kubernetes.io/component': component });

function rbac(o: ManifestOptions): Obj[] {
  const controllerRules = [
    { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'delete'] },
    { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    { apiGroups: [GROUP], resources: [NODE_UPDATE.plural], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
    { apiGroups: [GROUP], resources: [`${NODE_UPDATE.plural}/status`, `${UPDATE_POLICY.plural}/status`], verbs: ['get', 'patch'] },
    { apiGroups: [GROUP], resources: [UPDATE_POLICY.plural], verbs: ['get', 'list', 'watch'] },
  ];
  const agentRules = [
    { apiGroups: [GROUP], resources: [NODE_UPDATE.plural], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [GROUP], resources: [`${NODE_UPDATE.plural}/status`], verbs: ['get', 'patch'] },
  ];
  const binding = (kind: 'ClusterRoleBinding' | 'RoleBinding', name: string, sa: string, roleKind: string) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: { name, ...(kind === 'RoleBinding' ? { namespace: o.namespace } : {}) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name },
    subjects: [{ kind: 'ServiceAccount', name: sa, namespace: o.namespace }],
  });
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: CONTROLLER_SA }, rules: controllerRules },
    binding('ClusterRoleBinding', CONTROLLER_SA, CONTROLLER_SA, 'ClusterRole'),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: CONTROLLER_SA, namespace: o.namespace },
      rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }],
    },
    binding('RoleBinding', CONTROLLER_SA, CONTROLLER_SA, 'Role'),
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: AGENT_SA }, rules: agentRules },
    binding('ClusterRoleBinding', AGENT_SA, AGENT_SA, 'ClusterRole'),
  ];
}

/**
 * RBAC cannot say "only your own node's object": this policy does, from the node-name claim the
 * apiserver puts in a pod-bound service-account token.
 */
export function agentAdmissionPolicy(o: Pick<ManifestOptions, 'namespace'>, serviceAccount = AGENT_SA): Obj[] {
  const name = `${AGENT_SA}-own-node`;
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [{ apiGroups: [GROUP], apiVersions: ['*'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: [NODE_UPDATE.plural, `${NODE_UPDATE.plural}/status`] }],
        },
        matchConditions: [{ name: 'is-agent', expression: `request.userInfo.username == 'system:serviceaccount:${o.namespace}:${serviceAccount}'` }],
        validations: [
          {
            expression: `request.subResource == 'status' && '${NODE_NAME_CLAIM}' in request.userInfo.extra && request.userInfo.extra['${NODE_NAME_CLAIM}'].exists(n, n == request.name)`,
            messageExpression: `'the update-operator agent may only write the status of its own node\\'s NodeUpdate (token node: ' + ('${NODE_NAME_CLAIM}' in request.userInfo.extra ? request.userInfo.extra['${NODE_NAME_CLAIM}'][0] : 'none') + ', object: ' + request.name + ')'`,
            reason: 'Forbidden',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name },
      spec: { policyName: name, validationActions: ['Deny'] },
    },
  ];
}

function workloads(o: ManifestOptions): Obj[] {
  const securityContext = { runAsNonRoot: true, runAsUser: 65532, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
  const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'update-operator-controller', namespace: o.namespace, labels: labels('controller') },
      spec: {
        replicas: o.controllerReplicas,
        selector: { matchLabels: labels('controller') },
        template: {
          metadata: { labels: labels('controller') },
          spec: {
            serviceAccountName: CONTROLLER_SA,
            containers: [
              {
                name: 'controller',
                image: o.image,
                args: ['update-operator', 'controller', `--metrics-address=0.0.0.0:${METRICS_PORT}`],
                env: [fieldEnv('POD_NAMESPACE', 'metadata.namespace'), fieldEnv('POD_NAME', 'metadata.name'), { name: 'NODE_OPTIONS', value: CONTROLLER_NODE_OPTIONS }],
                ports: [{ name: 'metrics', containerPort: METRICS_PORT }],
                livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' } },
                resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '256Mi' } },
                securityContext,
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'update-operator-agent', namespace: o.namespace, labels: labels('agent') },
      spec: {
        selector: { matchLabels: labels('agent') },
        template: {
          metadata: { labels: labels('agent') },
          spec: {
            serviceAccountName: AGENT_SA,
            nodeSelector: { [o.agentNodeLabel]: 'true' },
            // the agent must keep running on a cordoned, draining or NotReady node
            tolerations: [{ operator: 'Exists' }],
            containers: [
              {
                name: 'agent',
                image: o.image,
                args: ['update-operator', 'agent', '--socket', `${o.hostSocketDir}/api.sock`],
                env: [fieldEnv('NODE_NAME', 'spec.nodeName')],
                volumeMounts: [{ name: 'updog-api', mountPath: o.hostSocketDir }],
                resources: { requests: { cpu: '10m', memory: '96Mi' }, limits: { memory: '160Mi' } },
                // the host API socket is mode 0600, owned by root
                securityContext: { ...securityContext, runAsNonRoot: false, runAsUser: 0 },
              },
            ],
            volumes: [{ name: 'updog-api', hostPath: { path: o.hostSocketDir, type: 'Directory' } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'update-operator-metrics', namespace: o.namespace, labels: labels('controller') },
      spec: { selector: labels('controller'), ports: [{ name: 'metrics', port: METRICS_PORT, targetPort: 'metrics' }] },
    },
  ];
}

/** Everything but the CRDs and the namespace, in apply order. */
export function operatorObjects(o: ManifestOptions = DEFAULT_MANIFEST_OPTIONS): Obj[] {
  const sa = (name: string) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: o.namespace } });
  return [sa(CONTROLLER_SA), sa(AGENT_SA), ...rbac(o), ...agentAdmissionPolicy(o), ...workloads(o)];
}

export function namespaceObject(o: ManifestOptions = DEFAULT_MANIFEST_OPTIONS): Obj {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: o.namespace } };
}
