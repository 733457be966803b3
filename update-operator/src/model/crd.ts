/**
 * CustomResourceDefinitions for the API in ./api.ts. `deploy/crds.yaml` is generated from these
 * (`update-operator manifests crds`) and a test keeps schema, types and YAML in step.
 */
import { AGENT_FAILURE_REASONS, DESIRED_STATES, DRAIN_ESCALATIONS, GROUP, HOST_STATES, NODE_STATES, NODE_UPDATE, UPDATE_POLICY, VERSION } from './api.js';

type Schema = Record<string, unknown>;

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const int = (description: string, minimum = 0): Schema => ({ type: 'integer', format: 'int64', minimum, description });
const bool = (description: string): Schema => ({ type: 'boolean', description });
const time = (description: string): Schema => str(description, { format: 'date-time' });
const obj = (description: string, properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  description,
  properties,
  ...(required.length > 0 ? { required } : {}),
});

const failureProps = {
  reason: str('CamelCase reason'),
  message: str('What failed and what to do'),
  time: time('When it failed'),
  version: str('Version being installed'),
};

const nodeUpdateSpec = obj(
  'Written by the controller only.',
  {
    desiredState: str('Idle: nothing to do; Staged: write targetVersion to the inactive partitions; Rebooted: activate it and reboot.', {
      enum: [...DESIRED_STATES],
    }),
    targetVersion: str('Version to stage or boot'),
  },
  ['desiredState'],
);

const nodeUpdateStatus = obj('Controller fields: state..conditions; agent fields: hostState..agentHeartbeat.', {
  state: str('Rollout phase of this node', { enum: [...NODE_STATES] }),
  stateSince: time('When state was entered'),
  targetVersion: str('Version this node is being moved to'),
  attempts: int('Consecutive failed attempts'),
  lastFailure: obj('Last failure', failureProps, ['reason', 'message', 'time']),
  nextAttemptAt: time('A Failed node is not retried before this time'),
  conditions: {
    type: 'array',
    description: 'Conditions with reasons (e.g. DrainBlocked naming pod and PDB)',
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
    items: obj(
      'Condition',
      {
        type: str('Condition type'),
        status: str('True, False or Unknown', { enum: ['True', 'False', 'Unknown'] }),
        reason: str('CamelCase reason'),
        message: str('Human readable detail'),
        lastTransitionTime: time('Last change of status'),
      },
      ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
    ),
  },
  hostState: str('State of the host update API', { enum: [...HOST_STATES] }),
  currentVersion: str('Version the host runs'),
  availableVersion: str('Newer version the host may take now'),
  stagedVersion: str('Version written to the inactive partitions'),
  observedGeneration: int('Spec generation the agent has finished acting on'),
  rebootGeneration: int('Spec generation for which the agent asked its host to reboot'),
  agentFailure: obj(
    `Failure of the agent for a spec generation; reason one of ${Object.values(AGENT_FAILURE_REASONS).join(', ')}`,
    { ...failureProps, generation: int('Spec generation this failure answers') },
    ['reason', 'message', 'time', 'generation'],
  ),
  agentHeartbeat: time('Last report of the agent'),
});

const labelSelector = obj('Standard label selector', {
  matchLabels: { type: 'object', additionalProperties: { type: 'string' }, description: 'Labels that must match' },
  matchExpressions: {
    type: 'array',
    description: 'Set-based requirements',
    items: obj(
      'Requirement',
      {
        key: str('Label key'),
        operator: str('Operator', { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }),
        values: { type: 'array', items: { type: 'string' }, description: 'Values for In/NotIn' },
      },
      ['key', 'operator'],
    ),
  },
});

const updatePolicySpec = obj('Rollout policy', {
  nodeSelector: labelSelector,
  targetVersion: str('Version to roll out; default each node\'s availableVersion'),
  maxUnavailable: {
    'x-kubernetes-int-or-string': true,
    description: 'Nodes updating at once: number or percentage ("20%")',
  },
  maintenanceWindows: {
    type: 'array',
    description: 'New nodes are admitted only inside a window (none = always)',
    items: obj(
      'Window',
      {
        schedule: str('Cron expression for the window start: five fields, or six with a leading seconds field'),
        timeZone: str('IANA time zone (default UTC)', { minLength: 1 }),
        durationSeconds: int('Window length', 1),
      },
      ['schedule', 'durationSeconds'],
    ),
  },
  drain: obj('Drain deadlines and escalation', {
    podTimeoutSeconds: int('Per-pod deadline', 1),
    timeoutSeconds: int('Overall drain deadline', 1),
    escalation: str('What to do at the per-pod deadline', { enum: [...DRAIN_ESCALATIONS] }),
  }),
  healthGate: obj('Checks after reboot', {
    soakSeconds: int('Seconds Ready on the target version'),
    requireDaemonSetPodsReady: bool('Require the node\'s DaemonSet pods Ready'),
  }),
  deadlines: obj('Per-phase deadlines', {
    stageSeconds: int('Staging deadline', 1),
    rebootSeconds: int('Reboot deadline', 1),
    verifySeconds: int('Health gate deadline', 1),
  }),
  failureBudget: obj('Pause after this many failures', {
    maxFailures: int('Failed nodes that pause the rollout', 1),
    resetAt: time('Forgive failures before this time'),
  }),
  excludeFromLoadBalancers: bool('Label nodes out of external load balancers while updating'),
  paused: bool('Admit no new nodes'),
});

const updatePolicyStatus = obj('Rollout status', {
  paused: bool('Rollout paused'),
  pausedReason: str('Paused or FailureBudgetExhausted'),
  failures: int('Failed nodes counted against the budget'),
  nodesUpdating: int('Nodes in flight'),
  maxUnavailable: int('Resolved budget'),
  inMaintenanceWindow: bool('Inside a maintenance window now'),
  observedGeneration: int('Spec generation last acted on'),
  nodes: int('Nodes of this group'),
  nodesUpToDate: int('Nodes of this group with nothing to update'),
  conflicts: int('Nodes another followed policy selects too (not updated)'),
  conflictingNodes: { type: 'array', description: 'The first 10 of them', items: { type: 'string' } },
});

function crd(names: { kind: string; plural: string; singular: string; shortName: string }, spec: Schema, status: Schema, columns: Schema[]) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: { kind: names.kind, plural: names.plural, singular: names.singular, shortNames: [names.shortName], listKind: `${names.kind}List` },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: columns,
          schema: { openAPIV3Schema: obj(names.kind, { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' }, spec, status }) },
        },
      ],
    },
  };
}

const column = (name: string, jsonPath: string, type = 'string', priority = 0): Schema => ({ name, type, jsonPath, ...(priority ? { priority } : {}) });

export const nodeUpdateCrd = crd(NODE_UPDATE, nodeUpdateSpec, nodeUpdateStatus, [
  column('State', '.status.state'),
  column('Desired', '.spec.desiredState'),
  column('Current', '.status.currentVersion'),
  column('Target', '.status.targetVersion'),
  column('Attempts', '.status.attempts', 'integer'),
  column('Reason', '.status.lastFailure.reason'),
  column('Message', '.status.lastFailure.message', 'string', 1),
  column('Age', '.metadata.creationTimestamp', 'date'),
]);

export const updatePolicyCrd = crd(UPDATE_POLICY, updatePolicySpec, updatePolicyStatus, [
  column('Nodes', '.status.nodes', 'integer'),
  column('UpToDate', '.status.nodesUpToDate', 'integer'),
  column('Updating', '.status.nodesUpdating', 'integer'),
  column('Paused', '.status.paused', 'boolean'),
  column('Reason', '.status.pausedReason'),
  column('Conflicts', '.status.conflicts', 'integer'),
  column('MaxUnavailable', '.status.maxUnavailable', 'integer'),
  column('Failures', '.status.failures', 'integer'),
  column('Age', '.metadata.creationTimestamp', 'date'),
]);

export const crds = [nodeUpdateCrd, updatePolicyCrd];
