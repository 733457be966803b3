/**
 * The update-operator API (group `updates.updog.dev`, version `v1alpha1`): the per-node
 * `NodeUpdate` object through which the controller and the agent talk, and the cluster-wide
 * `UpdatePolicy`. The protocol (who writes which field, and when) is in ./README.md.
 */

export const GROUP = 'updates.updog.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const NODE_UPDATE = { kind: 'NodeUpdate', plural: 'nodeupdates', singular: 'nodeupdate', shortName: 'nu' } as const;
export const UPDATE_POLICY = { kind: 'UpdatePolicy', plural: 'updatepolicies', singular: 'updatepolicy', shortName: 'up' } as const;
/** API paths of the two collections (cluster-scoped). */
export const NODE_UPDATES_PATH = `/apis/${API_VERSION}/${NODE_UPDATE.plural}`;
export const UPDATE_POLICIES_PATH = `/apis/${API_VERSION}/${UPDATE_POLICY.plural}`;

/** Name of the policy the controller follows unless told otherwise. */
export const DEFAULT_POLICY_NAME = 'default';

/** Node annotation: the node was already cordoned (by an admin) before the operator cordoned it. */
export const ANNOTATION_PRIOR_CORDON = `${GROUP}/cordoned-before-update`;
/** Node annotation: the operator itself added the exclude-from-load-balancers label. */
export const ANNOTATION_PRIOR_LB_EXCLUSION = `${GROUP}/excluded-from-lb-before-update`;
/**
 * NodeUpdate label: the node holds a slot of the budget. Set with (or before) the Staging status and
 * removed only after the node left flight, so a quorum list by it never under-counts nodes in flight.
 */
export const LABEL_IN_FLIGHT = `${GROUP}/in-flight`;
/** NodeUpdate label: the policy (node group) that admitted the node, while it is in flight. */
export const LABEL_POLICY = `${GROUP}/policy`;
/** Node annotation: the autoscaler hold annotations' values before the operator set them (JSON). */
export const ANNOTATION_PRIOR_AUTOSCALER_HOLD = `${GROUP}/autoscaler-hold-before-update`;
/** NodeUpdate condition type: the node is skipped while an autoscaler hold annotation is on it. */
export const CONDITION_DISRUPTION_HOLD = 'DisruptionHold';
/** Standard label that removes a node from external load balancers. */
export const LABEL_EXCLUDE_FROM_LB = 'node.kubernetes.io/exclude-from-external-load-balancers';

/** What the controller asks the agent to do (spec.desiredState). */
export const DESIRED_STATES = ['Idle', 'Staged', 'Rebooted'] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

/** The rollout phase of one node (status.state), owned by the controller. */
export const NODE_STATES = ['Idle', 'Staging', 'Staged', 'Draining', 'Rebooting', 'Verifying', 'Failed'] as const;
export type NodeState = (typeof NODE_STATES)[number];

/** The host update API's own state, as reported by the agent (status.hostState). */
export const HOST_STATES = ['Idle', 'Available', 'Staged', 'Ready'] as const;
export type HostState = (typeof HOST_STATES)[number];

export interface ObjectMeta {
  name: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
  creationTimestamp?: string;
}

export interface NodeUpdateSpec {
  /** Idle: do nothing. Staged: write targetVersion to the inactive set. Rebooted: activate it and reboot. */
  desiredState: DesiredState;
  /** Version the agent must stage / boot. Required unless desiredState is Idle. */
  targetVersion?: string;
}

/** Why something failed; `reason` is a CamelCase machine word, `message` says what to do. */
export interface Failure {
  reason: string;
  message: string;
  /** RFC 3339 */
  time: string;
  /** Version being installed when it failed. */
  version?: string;
}

/** `reason` values of AgentFailure. */
export const AGENT_FAILURE_REASONS = {
  /** refresh/prepare of targetVersion failed. */
  PrepareFailed: 'PrepareFailed',
  /** activate or the reboot request failed. */
  ActivateFailed: 'ActivateFailed',
  /** The host came back on another version than targetVersion: never retried automatically. */
  RolledBack: 'RolledBack',
  /** The host booted targetVersion but its local health check failed (boot not marked successful). */
  HealthCheckFailed: 'HealthCheckFailed',
} as const;

/** Failure the agent reports for the spec generation it acted on. */
export interface AgentFailure extends Failure {
  /** metadata.generation of the spec this failure answers. */
  generation: number;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface NodeUpdateStatus {
  // ---- written by the controller ----
  state?: NodeState;
  /** RFC 3339: when `state` was entered; per-phase deadlines count from here. */
  stateSince?: string;
  targetVersion?: string;
  /** Consecutive failed attempts for targetVersion (drives the 2^n minute backoff). */
  attempts?: number;
  lastFailure?: Failure;
  /** RFC 3339: a Failed node is not retried before this time. */
  nextAttemptAt?: string;
  conditions?: Condition[];
  // ---- written by the agent ----
  hostState?: HostState;
  /** Version the host runs now. */
  currentVersion?: string;
  /** Newest version the host's repository offers it now (waves respected), if newer than current. */
  availableVersion?: string;
  /** Version written to the inactive partition set (host state Staged or Ready). */
  stagedVersion?: string;
  /** metadata.generation of the spec the agent has finished acting on (successfully or not). */
  observedGeneration?: number;
  /** metadata.generation for which the agent has asked its host to reboot (written before rebooting). */
  rebootGeneration?: number;
  agentFailure?: AgentFailure;
  /** RFC 3339: last time the agent reported. */
  agentHeartbeat?: string;
}

/** A JSON merge patch of NodeUpdate status (both sides write this way): null removes a field. */
export type NodeUpdateStatusPatch = { [K in keyof NodeUpdateStatus]?: NodeUpdateStatus[K] | null };

export interface NodeUpdate {
  apiVersion: typeof API_VERSION;
  kind: 'NodeUpdate';
  metadata: ObjectMeta;
  spec: NodeUpdateSpec;
  status?: NodeUpdateStatus;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}

export interface MaintenanceWindow {
  /** Cron expression for the window's start, e.g. `0 2 * * *`; a sixth, leading field gives seconds. */
  schedule: string;
  /** IANA time zone the schedule is read in; default UTC. */
  timeZone?: string;
  durationSeconds: number;
}

export const DRAIN_ESCALATIONS = ['None', 'ForceDeleteAfter', 'GiveUp'] as const;
/**
 * What to do when a pod is not gone by the per-pod deadline:
 * - None: keep retrying until the overall drain deadline, then give up.
 * - ForceDeleteAfter: delete the pod directly (bypasses its PDB).
 * - GiveUp: give up at once.
 * Giving up = uncordon (unless an admin had cordoned), free the slot, mark Failed naming pod and PDB.
 */
export type DrainEscalation = (typeof DRAIN_ESCALATIONS)[number];

export interface DrainPolicy {
  podTimeoutSeconds?: number;
  timeoutSeconds?: number;
  escalation?: DrainEscalation;
}

export interface HealthGate {
  /** Seconds the node must stay Ready on the target version before it counts as done. */
  soakSeconds?: number;
  /** Also require every DaemonSet pod on the node to be Ready. */
  requireDaemonSetPodsReady?: boolean;
}

export interface PhaseDeadlines {
  stageSeconds?: number;
  rebootSeconds?: number;
  verifySeconds?: number;
}

export interface FailureBudget {
  /** The rollout pauses while this many nodes are Failed (failures before resetAt do not count). */
  maxFailures?: number;
  /** RFC 3339: forgive failures before this time (also allows retrying a rolled-back version). */
  resetAt?: string;
}

export interface UpdatePolicySpec {
  nodeSelector?: LabelSelector;
  /** Pin the version to roll out; default: each node's availableVersion. */
  targetVersion?: string;
  /** Nodes updating at once: a number or a percentage (`"20%"`, rounded down, at least 1). */
  maxUnavailable?: number | string;
  /** New nodes are admitted only inside a window; none = always. In-flight nodes always finish. */
  maintenanceWindows?: MaintenanceWindow[];
  drain?: DrainPolicy;
  healthGate?: HealthGate;
  deadlines?: PhaseDeadlines;
  failureBudget?: FailureBudget;
  /** Label nodes with node.kubernetes.io/exclude-from-external-load-balancers before draining. */
  excludeFromLoadBalancers?: boolean;
  paused?: boolean;
}

export interface UpdatePolicyStatus {
  paused?: boolean;
  /** Why the rollout is paused: Paused (spec) or FailureBudgetExhausted. */
  pausedReason?: string;
  failures?: number;
  nodesUpdating?: number;
  maxUnavailable?: number;
  inMaintenanceWindow?: boolean;
  observedGeneration?: number;
  /** Nodes of this group (selected by this policy alone, or in flight under it). */
  nodes?: number;
  /** Nodes of this group with nothing to update. */
  nodesUpToDate?: number;
  /** Nodes this policy selects that another followed policy selects too: an error, such nodes are not updated. */
  conflicts?: number;
  /** The first of them (at most 10), by name. */
  conflictingNodes?: string[];
}

export interface UpdatePolicy {
  apiVersion: typeof API_VERSION;
  kind: 'UpdatePolicy';
  metadata: ObjectMeta;
  spec: UpdatePolicySpec;
  status?: UpdatePolicyStatus;
}

/** Defaults applied to every optional policy field (see resolvePolicy). */
export const POLICY_DEFAULTS = {
  maxUnavailable: 1,
  drain: { podTimeoutSeconds: 300, timeoutSeconds: 1800, escalation: 'GiveUp' },
  healthGate: { soakSeconds: 60, requireDaemonSetPodsReady: true },
  deadlines: { stageSeconds: 1800, rebootSeconds: 900, verifySeconds: 900 },
  failureBudget: { maxFailures: 1 },
} as const;

export type ResolvedPolicy = {
  nodeSelector: LabelSelector;
  targetVersion: string | undefined;
  maxUnavailable: number | string;
  maintenanceWindows: MaintenanceWindow[];
  drain: Required<DrainPolicy>;
  healthGate: Required<HealthGate>;
  deadlines: Required<PhaseDeadlines>;
  failureBudget: { maxFailures: number; resetAt: string | undefined };
  excludeFromLoadBalancers: boolean;
  paused: boolean;
};

/** The policy with every default filled in; an absent policy object means all defaults. */
export function resolvePolicy(spec: UpdatePolicySpec = {}): ResolvedPolicy {
  return {
    nodeSelector: spec.nodeSelector ?? {},
    targetVersion: spec.targetVersion,
    maxUnavailable: spec.maxUnavailable ?? POLICY_DEFAULTS.maxUnavailable,
    maintenanceWindows: spec.maintenanceWindows ?? [],
    drain: { ...POLICY_DEFAULTS.drain, ...spec.drain },
    healthGate: { ...POLICY_DEFAULTS.healthGate, ...spec.healthGate },
    deadlines: { ...POLICY_DEFAULTS.deadlines, ...spec.deadlines },
    failureBudget: { maxFailures: spec.failureBudget?.maxFailures ?? POLICY_DEFAULTS.failureBudget.maxFailures, resetAt: spec.failureBudget?.resetAt },
    excludeFromLoadBalancers: spec.excludeFromLoadBalancers ?? false,
    paused: spec.paused ?? false,
  };
}
