/**
 * The controller process while it leads. Informers keep caches of the policy, the Nodes and the
 * NodeUpdates (list once, then watch); events that change something the controller reads queue
 * that node's key in a rate-limited work queue with bounded concurrency. A node's reconcile reads
 * the caches, steps its NodeUpdate through the state machine (several states in one write when
 * nothing in between waits on anyone), writes status, Node effects and spec, and asks to be
 * requeued at its next deadline. A cheap cluster-level step (in memory, at most once a second and
 * at every tick) decides admissions against the budget, after a quorum read, and writes the
 * policy status. Decisions are pure (state-machine.ts, scheduling.ts); this file carries them out.
 */
import type { KubeClient } from '../common/kube-client.js';
import type { Logger } from '@updog-ts/updog/common';
import { API_VERSION, CONDITION_DISRUPTION_HOLD, LABEL_IN_FLIGHT, LABEL_POLICY, NODE_UPDATE, NODE_UPDATES_PATH, UPDATE_POLICY, UPDATE_POLICIES_PATH, resolvePolicy, type NodeUpdate, type NodeUpdateStatus, type NodeUpdateStatusPatch, type ResolvedPolicy, type UpdatePolicy } from '../model/api.js';
import { drainNode } from './drain.js';
import { planPod, podDisruptionHold } from './drain-plan.js';
import { Informer } from './informer.js';
import { Kube, podRef } from './kube.js';
import type { ControllerMetrics } from './metrics.js';
import { cordonPatch, disruptionHold, holdPatch, mergeNodePatches, releasePatch, uncordonPatch, type NodeSnapshot } from './node-effects.js';
import { IN_FLIGHT_STATES, PolicyError, schedule, type Candidate } from './scheduling.js';
import { matchesSelector } from './selector.js';
import { admit, POD_HOLD_REASON, podHoldCondition, specFor, step, type DrainResult, type NodeFacts, type Step } from './state-machine.js';
import { admissionInputsChanged, nodeChanged, nodeUpdateChanged, projectNode, projectNodeUpdate, projectPolicy, type NodeView } from './views.js';
import { WorkQueue } from './work-queue.js';

export interface ControllerOptions {
  /** UpdatePolicies to follow, one per node group; `*` follows every one. */
  policyNames: string[];
  /** Period of the cluster-level step (admission, policy status, maintenance windows, backoff expiry). */
  tickMs: number;
  /** Nodes reconciled at once. */
  workers?: number;
}

interface DrainTask {
  result: DrainResult | undefined;
  cancelled: boolean;
  startedAt: number;
}

/** The queue key of the cluster-level step (not a valid node name). */
const CLUSTER = '\0cluster';
/** The cluster step runs at most this often (events in between are coalesced). */
const CLUSTER_STEP_MIN_INTERVAL_MS = 1000;
/** During a rollout, policy status counts are rewritten at most this often (flags such as paused: at once). */
const POLICY_STATUS_MIN_INTERVAL_MS = 5000;
/** While a node waits for its DaemonSet pods (no pod watch), look again this often. */
const DAEMONSET_POLL_MS = 5000;
/** A node a pod's do-not-disrupt annotation keeps back: how often its pods are listed again (one request). */
const POD_HOLD_RECHECK_MS = 15_000;
/** Steps taken in one reconcile before writing (Staging, Staged, Draining, Rebooting... ). */
const MAX_STEPS_PER_RECONCILE = 6;

const isInFlight = (nu: NodeUpdate | undefined): boolean => IN_FLIGHT_STATES.has(nu?.status?.state ?? 'Idle');
/** Conflicting nodes named in a policy's status (the count has them all). */
const MAX_CONFLICTS_LISTED = 10;

interface Policy {
  object: UpdatePolicy;
  resolved: ResolvedPolicy;
}

/**
 * Which followed policy (node group) a node belongs to: the one it is in flight under, else the one
 * selecting it; two selecting it is a conflict (the node is left alone). `selected`: the policy's
 * selector matches now (a node taken out mid-update still finishes, but is not admitted again).
 */
type Group = { policy: string; selected: boolean } | { policy?: undefined; conflict: string[] };

/** The status after a JSON merge patch (null deletes). */
function mergeStatus(status: NodeUpdateStatus | undefined, patch: NodeUpdateStatusPatch): NodeUpdateStatus {
  const next: Record<string, unknown> = { ...status };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete next[k];
    else if (v !== undefined) next[k] = v;
  }
  return next as NodeUpdateStatus;
}

const snapshot = (node: NodeView): NodeSnapshot => ({ unschedulable: node.unschedulable, labels: node.metadata.labels, annotations: node.metadata.annotations });

function podReady(pod: { status?: { conditions?: Array<{ type: string; status: string }> } }): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export class Controller {
  private readonly kube: Kube;
  private readonly drains = new Map<string, DrainTask>();
  /** When each pod-held node's pods were last listed. */
  private readonly podHoldChecked = new Map<string, number>();
  /** Nodes the cluster step admitted (policy, target) whose reconcile has not written it yet: they hold a slot. */
  private readonly admissions = new Map<string, { policy: string; target: string }>();
  private queue: WorkQueue<string> | undefined;
  private informers: { policy: Informer<UpdatePolicy>; nodes: Informer<NodeView>; nodeUpdates: Informer<NodeUpdate> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private synced = false;
  private warnedNoPolicy = false;
  private lastClusterStep = 0;
  private readonly lastPolicyStatusWrite = new Map<string, number>();
  private reportedConflicts = '';

  constructor(
    private readonly client: KubeClient,
    private readonly opts: ControllerOptions,
    private readonly log: Logger,
    private readonly metrics: ControllerMetrics,
  ) {
    this.kube = new Kube(client, (verb, resource) => metrics.apiRequests.inc({ verb, resource }));
    metrics.nodeCounts = () => this.nodeCounts();
  }

  /** Starts reconciling (call when this replica becomes leader): fills the caches, then works. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.synced = false;
    const queue = new WorkQueue<string>(
      (key) => (key === CLUSTER ? this.clusterStep() : this.reconcileNode(key)),
      (key, err, retryInMs) =>
        this.log.error({ key: key === CLUSTER ? 'cluster' : key, err: err instanceof Error ? err.message : String(err), retryInMs }, 'reconcile failed; retrying'),
      { concurrency: this.opts.workers ?? 8, perSecond: 50, burst: 200 },
    );
    this.queue = queue;
    const count = (resource: string) => (verb: 'list' | 'watch') => this.metrics.apiRequests.inc({ verb, resource });
    const onWatchError = (what: string) => (err: unknown) => this.log.warn({ watch: what, err: err instanceof Error ? err.message : String(err) }, 'watch failed; resuming');
    this.informers = {
      policy: new Informer(this.client, {
        path: UPDATE_POLICIES_PATH,
        query: this.opts.policyNames.length === 1 && this.opts.policyNames[0] !== '*' ? { fieldSelector: `metadata.name=${this.opts.policyNames[0]}` } : {},
        project: projectPolicy,
        handlers: {
          upsert: (prev, next) => {
            // a status write of ours changes nothing we act on
            if (this.follows(next.metadata.name) && prev?.metadata.generation !== next.metadata.generation) this.enqueueAll();
          },
          remove: (prev) => {
            if (this.follows(prev.metadata.name)) this.enqueueAll();
          },
        },
        onRequest: count(UPDATE_POLICY.plural),
        onWatchError: onWatchError('policy'),
      }),
      nodes: new Informer(this.client, {
        path: '/api/v1/nodes',
        project: projectNode,
        handlers: {
          upsert: (prev, next) => {
            if (!nodeChanged(prev, next)) return;
            this.enqueue(next.metadata.name);
            const metadata = (n: NodeView) => JSON.stringify([n.metadata.labels, n.metadata.annotations]);
            if (prev === undefined || metadata(prev) !== metadata(next)) this.enqueue(CLUSTER);
          },
          remove: (prev) => {
            this.finishDrain(prev.metadata.name, undefined);
            this.enqueue(CLUSTER);
          },
        },
        onRequest: count('nodes'),
        onWatchError: onWatchError('nodes'),
      }),
      nodeUpdates: new Informer(this.client, {
        path: NODE_UPDATES_PATH,
        project: projectNodeUpdate,
        handlers: {
          upsert: (prev, next) => {
            // an agent heartbeat alone is no work
            if (!nodeUpdateChanged(prev, next)) return;
            this.enqueue(next.metadata.name);
            if (admissionInputsChanged(prev, next)) this.enqueue(CLUSTER);
          },
          remove: (prev) => {
            this.enqueue(prev.metadata.name);
            this.enqueue(CLUSTER);
          },
        },
        onRequest: count(NODE_UPDATE.plural),
        onWatchError: onWatchError('nodeupdates'),
      }),
    };
    void this.sync();
  }

  /** Stops reconciling and cancels running drains (leadership lost or shutdown). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    for (const d of this.drains.values()) d.cancelled = true;
    const informers = this.informers;
    if (informers) await Promise.all([informers.policy.stop(), informers.nodes.stop(), informers.nodeUpdates.stop()]);
    await this.queue?.shutdown();
  }

  /** Initial lists (retried until the apiserver answers), then every node once and the cluster step. */
  private async sync(): Promise<void> {
    const informers = this.informers!;
    for (const informer of [informers.policy, informers.nodes, informers.nodeUpdates] as Array<{ start(): Promise<void> }>) {
      for (;;) {
        if (!this.running) return;
        try {
          await informer.start();
          break;
        } catch (err) {
          this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'initial list failed; retrying');
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
    this.synced = true;
    this.log.info({ nodes: informers.nodes.items.size, nodeUpdates: informers.nodeUpdates.items.size }, 'caches filled');
    this.enqueueAll();
    this.timer = setInterval(() => this.enqueue(CLUSTER), this.opts.tickMs);
  }

  private enqueue(key: string): void {
    if (this.running && this.synced) this.queue?.add(key);
  }

  private enqueueAll(): void {
    if (!this.synced) return;
    for (const name of this.informers!.nodes.items.keys()) this.enqueue(name);
    this.enqueue(CLUSTER);
  }

  private follows(name: string): boolean {
    return this.opts.policyNames.includes('*') || this.opts.policyNames.includes(name);
  }

  /** The followed policies by name (sorted). */
  private policies(): Map<string, Policy> {
    const out = new Map<string, Policy>();
    for (const object of [...this.informers!.policy.items.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
      if (this.follows(object.metadata.name)) out.set(object.metadata.name, { object, resolved: resolvePolicy(object.spec) });
    }
    if (out.size === 0) {
      // acting on every node of a cluster by default would be a surprise: a policy opts nodes in
      if (!this.warnedNoPolicy) this.log.warn({ policy: this.opts.policyNames }, 'UpdatePolicy not found: no node is touched until it exists');
      this.warnedNoPolicy = true;
    } else this.warnedNoPolicy = false;
    return out;
  }

  private groupOf(node: NodeView, nu: NodeUpdate | undefined, policies: Map<string, Policy>): Group {
    const matches = (name: string) => matchesSelector(node.metadata.labels, policies.get(name)!.resolved.nodeSelector);
    if (isInFlight(nu)) {
      const under = nu?.metadata.labels?.[LABEL_POLICY];
      // in flight under a policy gone (or admitted before groups existed): the first one finishes it
      const policy = under !== undefined && policies.has(under) ? under : [...policies.keys()][0]!;
      return { policy, selected: matches(policy) };
    }
    const matching = [...policies.keys()].filter(matches);
    if (matching.length > 1) return { conflict: matching };
    return matching.length === 1 ? { policy: matching[0]!, selected: true } : { conflict: [] };
  }

  private putNodeUpdate(raw: unknown): NodeUpdate {
    const nu = projectNodeUpdate(raw);
    this.informers!.nodeUpdates.put(nu);
    return nu;
  }

  // ---- per node ----

  private async reconcileNode(name: string): Promise<void> {
    if (!this.running) return;
    const end = this.metrics.reconcileSeconds.startTimer({ kind: 'node' });
    try {
      const policies = this.policies();
      const node = this.informers!.nodes.items.get(name);
      if (policies.size === 0 || node === undefined) return;
      let nu = this.informers!.nodeUpdates.items.get(name);
      const group = this.groupOf(node, nu, policies);
      // not in a group, or in two (reported in both policies' status): left alone
      if (group.policy === undefined) return;
      const policy = policies.get(group.policy)!.resolved;
      const selected = group.selected;
      if (nu === undefined) {
        if (!selected) return;
        // creation runs in the workers: new nodes are created concurrently, bounded by their number
        nu = this.putNodeUpdate(await this.kube.createNodeUpdate(node.metadata));
        this.enqueue(CLUSTER);
      }
      const admission = this.admissions.get(name);
      if (admission !== undefined) {
        this.admissions.delete(name);
        if (!isInFlight(nu) && admission.policy === group.policy) {
          await this.admitNode(nu, admission.target, admission.policy, policy);
          return;
        }
      }
      // a node taken out of the selector mid-update still finishes (and holds its slot until then)
      if (!selected && !isInFlight(nu)) return;
      if (!isInFlight(nu)) await this.reportHold(node, nu);
      await this.advance(node, nu, group.policy, policy);
    } finally {
      end();
    }
  }

  /**
   * A node not in flight: say in its status (condition) and an Event when an autoscaler hold starts
   * or ends keeping it back. The node's own annotations come from the cache; a pod's hold, found
   * when a drain started, is looked at again with one pod list every POD_HOLD_RECHECK_MS.
   */
  private async reportHold(node: NodeView, nu: NodeUpdate): Promise<void> {
    const name = nu.metadata.name;
    const conditions = nu.status?.conditions ?? [];
    const current = conditions.find((c) => c.type === CONDITION_DISRUPTION_HOLD);
    let hold = disruptionHold(snapshot(node));
    let reason = 'DoNotDisrupt';
    if (hold === undefined && podHoldCondition(nu) !== undefined) {
      if (!this.podHoldCheckDue(name)) return;
      hold = podDisruptionHold((await this.kube.podsOnNode(name)).map(podRef));
      reason = POD_HOLD_REASON;
    }
    const message = hold === undefined ? undefined : `skipped: ${hold}`;
    if (current?.message === message) return;
    const others = conditions.filter((c) => c.type !== CONDITION_DISRUPTION_HOLD);
    const now = new Date().toISOString();
    const next = hold === undefined ? others : [...others, { type: CONDITION_DISRUPTION_HOLD, status: 'True' as const, reason, message: message!, lastTransitionTime: now }];
    nu = this.putNodeUpdate(await this.kube.patchNodeUpdateStatus(name, { conditions: next.length > 0 ? next : null }));
    if (hold === undefined) this.podHoldChecked.delete(name);
    const event: Step['event'] =
      hold === undefined ? { type: 'Normal', reason: 'DisruptionHoldReleased', message: 'autoscaler hold annotation removed: the node may be updated' } : { type: 'Warning', reason: 'DisruptionHold', message: `skipped until the annotation is removed: ${hold}` };
    this.record(nu, nu.status?.state ?? 'Idle', { effects: [], event });
  }

  /** True (and the next check queued) when a pod-held node's pods are due to be looked at again; else its reconcile is queued for then. */
  private podHoldCheckDue(name: string): boolean {
    const now = Date.now();
    const due = (this.podHoldChecked.get(name) ?? 0) + POD_HOLD_RECHECK_MS;
    if (now < due) {
      this.queue?.addAfter(name, due - now);
      return false;
    }
    this.podHoldChecked.set(name, now);
    this.queue?.addAfter(name, POD_HOLD_RECHECK_MS);
    return true;
  }

  /**
   * Spec and in-flight label first, then the Staging status: a controller dying between the two
   * leaves a node that the admission's quorum read counts in flight (never one it misses); the
   * next leader's reconcile puts the spec back in line with the state.
   */
  private async admitNode(nu: NodeUpdate, target: string, policyName: string, policy: ResolvedPolicy): Promise<void> {
    const name = nu.metadata.name;
    nu = this.putNodeUpdate(await this.kube.patchNodeUpdateSpec(name, specFor('Staging', target), policyName));
    const s = admit(nu, target, new Date());
    nu = this.putNodeUpdate(await this.kube.patchNodeUpdateStatus(name, s.status!));
    this.record(nu, 'Idle', s);
    this.requeueAtDeadline(nu, undefined, policy);
    this.lookAgain(name);
  }

  /**
   * After a write: the object the apiserver answered (now in the cache) may carry an agent change
   * made in between, whose watch event will then look like nothing new; reconcile once more
   * (from the cache: no request unless there is something to do).
   */
  private lookAgain(name: string): void {
    this.enqueue(name);
  }

  /**
   * Steps the node as far as it goes without waiting (effects carried out on the way: the cordon
   * before the drain, the drain before Rebooting), then writes the status once, the spec, Events.
   */
  private async advance(node: NodeView, nu: NodeUpdate, policyName: string, policy: ResolvedPolicy): Promise<void> {
    const name = nu.metadata.name;
    const before = nu.status?.state ?? 'Idle';
    const facts: NodeFacts = { ready: node.ready, readySince: node.readySince ? new Date(node.readySince) : undefined, notReadyDaemonSetPods: [], drain: this.drains.get(name)?.result };
    let working = nu;
    let current = node;
    let patch: NodeUpdateStatusPatch = {};
    const steps: Step[] = [];
    for (let i = 0; i < MAX_STEPS_PER_RECONCILE; i++) {
      const now = new Date();
      let s = step(working, facts, policy, now);
      if (s.status?.state === 'Idle' && working.status?.state === 'Verifying' && policy.healthGate.requireDaemonSetPodsReady) {
        // the DaemonSet pods are listed only when they are all that is left to check
        facts.notReadyDaemonSetPods = await this.notReadyDaemonSetPods(name);
        s = step(working, facts, policy, now);
      }
      const drainBefore = facts.drain;
      for (const effect of s.effects) {
        if (effect === 'drain') facts.drain = await this.ensureDrain(name, s.status?.stateSince ?? working.status?.stateSince, policy);
        else current = await this.applyNodeEffect(current, effect, policy);
      }
      if (!s.status) {
        // a drain that just ended (nothing to evict) lets the node move on in this reconcile
        if (drainBefore === undefined && facts.drain !== undefined) continue;
        break;
      }
      patch = { ...patch, ...s.status };
      working = { ...working, status: mergeStatus(working.status, s.status) };
      steps.push(s);
    }
    if (Object.keys(patch).length > 0) {
      nu = this.putNodeUpdate(await this.kube.patchNodeUpdateStatus(name, patch));
      this.enqueue(CLUSTER);
    }
    const state = nu.status?.state ?? 'Idle';
    if (state !== 'Draining') this.finishDrain(name, state === 'Rebooting' ? 'ok' : state === 'Failed' ? 'blocked' : undefined);
    const spec = specFor(state, nu.status?.targetVersion);
    const labelled = nu.metadata.labels?.[LABEL_IN_FLIGHT] === 'true';
    if (spec.desiredState !== nu.spec.desiredState || spec.targetVersion !== nu.spec.targetVersion || labelled !== isInFlight(nu)) {
      nu = this.putNodeUpdate(await this.kube.patchNodeUpdateSpec(name, spec, isInFlight(nu) ? (nu.metadata.labels?.[LABEL_POLICY] ?? policyName) : undefined));
    }
    let from = before;
    for (const s of steps) {
      this.record(nu, from, s);
      from = s.status?.state ?? from;
    }
    this.requeueAtDeadline(nu, current, policy);
    if (steps.length > 0 || current !== node) this.lookAgain(name);
  }

  /** Cordon comes with the autoscaler hold, uncordon with its release (one patch each). */
  private async applyNodeEffect(node: NodeView, effect: 'cordon' | 'uncordon', policy: ResolvedPolicy): Promise<NodeView> {
    const current = snapshot(node);
    const patch =
      effect === 'cordon' ? mergeNodePatches(cordonPatch(current, policy.excludeFromLoadBalancers), holdPatch(current)) : mergeNodePatches(uncordonPatch(current), releasePatch(current));
    if (!patch) return node;
    const updated = projectNode(await this.kube.patchNode(node.metadata.name, patch));
    this.informers!.nodes.put(updated);
    this.log.info({ node: node.metadata.name, effect, patch }, effect === 'cordon' ? 'cordoned' : 'restored node schedulability');
    return updated;
  }

  /** Log line, failure metric and Event of one state change. */
  private record(nu: NodeUpdate, from: string, s: Step): void {
    if (!s.event) return;
    const name = nu.metadata.name;
    const to = s.status?.state ?? from;
    this.log.info({ node: name, from, to, reason: s.event.reason }, s.event.message);
    if (to === 'Failed' && from !== 'Failed') this.metrics.failures.inc({ reason: s.event.reason });
    // not awaited: an Event is for people, the reconcile need not wait for it
    void this.kube
      .event({ kind: NODE_UPDATE.kind, apiVersion: API_VERSION, name, uid: nu.metadata.uid ?? '' }, s.event.type, s.event.reason, s.event.message, 'update-operator')
      .catch((err: Error) => this.log.warn({ node: name, err: err.message }, 'could not record an event'));
  }

  /** Requeue the node when its current phase's deadline (or soak) is due. */
  private requeueAtDeadline(nu: NodeUpdate, node: NodeView | undefined, policy: ResolvedPolicy): void {
    const s = nu.status ?? {};
    const since = Date.parse(s.stateSince ?? '');
    if (!Number.isFinite(since)) return;
    const now = Date.now();
    const at = (seconds: number) => since + seconds * 1000;
    let due: number | undefined;
    switch (s.state) {
      case 'Staging':
        due = at(policy.deadlines.stageSeconds);
        break;
      case 'Rebooting':
        due = at(policy.deadlines.rebootSeconds);
        break;
      case 'Verifying': {
        const readySince = node?.readySince ? Date.parse(node.readySince) : now;
        const soakEnd = Math.max(since, readySince) + policy.healthGate.soakSeconds * 1000;
        due = Math.min(at(policy.deadlines.verifySeconds), soakEnd > now ? soakEnd : now + DAEMONSET_POLL_MS);
        break;
      }
      default:
        return;
    }
    // +50 ms: the step compares with ">", so wake just after the deadline
    this.queue?.addAfter(nu.metadata.name, Math.max(0, due - now) + 50);
  }

  private async notReadyDaemonSetPods(node: string): Promise<string[]> {
    const pods = await this.kube.podsOnNode(node);
    return pods.filter((p) => podRef(p).ownerKinds.includes('DaemonSet') && !podReady(p)).map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);
  }

  /**
   * The drain of this Draining phase: its result when finished. Pods are listed once here; with
   * none to evict the drain is done at once (no task), otherwise a task evicts them and requeues
   * the node when it ends.
   */
  private async ensureDrain(name: string, stateSince: string | undefined, policy: ResolvedPolicy): Promise<DrainResult | undefined> {
    const existing = this.drains.get(name);
    if (existing) return existing.result;
    const startedAt = Date.parse(stateSince ?? new Date().toISOString());
    const pods = (await this.kube.podsOnNode(name)).map(podRef);
    const task: DrainTask = { result: undefined, cancelled: false, startedAt };
    this.drains.set(name, task);
    const hold = podDisruptionHold(pods);
    if (hold !== undefined) {
      this.podHoldChecked.set(name, Date.now());
      task.result = { ok: false, hold };
      return task.result;
    }
    if (pods.every((p) => planPod(p).action === 'skip')) {
      task.result = { ok: true };
      return task.result;
    }
    this.log.info({ node: name, policy: policy.drain }, 'drain started');
    let listed = false;
    drainNode(name, startedAt, policy.drain, {
      // the first list is the one above
      listPods: async (n) => (listed ? (await this.kube.podsOnNode(n)).map(podRef) : ((listed = true), pods)),
      evict: (p) => this.kube.evict(p),
      forceDelete: (p) => this.kube.deletePod(p),
      gone: (p) => this.kube.podGone(p),
      now: () => Date.now(),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      cancelled: () => task.cancelled || !this.running,
      log: (msg, fields) => this.log.info({ node: name, ...fields }, msg),
    }).then(
      (result) => {
        task.result = result;
        if (result) this.enqueue(name);
      },
      (err: Error) => {
        // an API error is not a verdict on the node: drop the task so the next reconcile restarts it
        this.log.warn({ node: name, err: err.message }, 'drain interrupted by an API error; restarting');
        if (this.drains.get(name) === task) this.drains.delete(name);
        this.queue?.addAfter(name, 1000);
      },
    );
    return undefined;
  }

  private finishDrain(name: string, result: 'ok' | 'blocked' | undefined): void {
    const task = this.drains.get(name);
    if (!task) return;
    task.cancelled = true;
    this.drains.delete(name);
    if (result) this.metrics.drainSeconds.observe({ result }, (Date.now() - task.startedAt) / 1000);
  }

  // ---- cluster level ----

  /** Each group's nodes as the scheduler sees them, and the nodes two followed policies select. */
  private groups(policies: Map<string, Policy>): { candidates: Map<string, Candidate[]>; conflicts: Map<string, string[]> } {
    const { nodes, nodeUpdates } = this.informers!;
    const candidates = new Map<string, Candidate[]>([...policies.keys()].map((p) => [p, []]));
    const conflicts = new Map<string, string[]>([...policies.keys()].map((p) => [p, []]));
    for (const node of [...nodes.items.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
      const nu = nodeUpdates.items.get(node.metadata.name);
      const group = this.groupOf(node, nu, policies);
      if (group.policy === undefined) {
        for (const p of group.conflict) conflicts.get(p)!.push(node.metadata.name);
        continue;
      }
      if (nu === undefined || (!group.selected && !isInFlight(nu))) continue;
      const policy = policies.get(group.policy)!.resolved;
      // an admitted node holds its slot from the decision on
      const status: NodeUpdateStatus = this.admissions.has(nu.metadata.name) && !isInFlight(nu) ? { ...nu.status, state: 'Staging' } : (nu.status ?? {});
      candidates.get(group.policy)!.push({
        name: nu.metadata.name,
        status,
        target: group.selected ? (policy.targetVersion ?? nu.status?.availableVersion) : undefined,
        hold: disruptionHold(snapshot(node)) ?? podHoldCondition(nu)?.message,
      });
    }
    return { candidates, conflicts };
  }

  /** Each group's schedule; a policy that cannot be read admits nobody (logged). */
  private schedules(policies: Map<string, Policy>): Map<string, ReturnType<typeof schedule>> {
    const { candidates } = this.groups(policies);
    const out = new Map<string, ReturnType<typeof schedule>>();
    for (const [name, p] of policies) {
      try {
        out.set(name, schedule(candidates.get(name)!, p.resolved, new Date()));
      } catch (err) {
        if (!(err instanceof PolicyError)) throw err;
        this.log.error({ policy: name, err: err.message }, 'policy is invalid: no node is admitted until it is fixed');
      }
    }
    return out;
  }

  private async clusterStep(): Promise<void> {
    if (!this.running) return;
    const wait = this.lastClusterStep + CLUSTER_STEP_MIN_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.queue?.addAfter(CLUSTER, wait);
      return;
    }
    this.lastClusterStep = Date.now();
    const end = this.metrics.reconcileSeconds.startTimer({ kind: 'cluster' });
    try {
      const policies = this.policies();
      if (policies.size === 0) return;
      let schedules = this.schedules(policies);
      if ([...schedules.values()].some((sched) => sched.admit.length > 0)) {
        // Quorum read right before admitting: each budget must count every node in flight, even
        // one whose change the watch has not delivered yet (e.g. written by a previous leader).
        for (const nu of await this.kube.listInFlightNodeUpdates()) this.informers!.nodeUpdates.observe(projectNodeUpdate(nu));
        schedules = this.schedules(policies);
      }
      for (const [policy, sched] of schedules) {
        for (const c of sched.admit) {
          this.admissions.set(c.name, { policy, target: c.target! });
          this.enqueue(c.name);
        }
      }
      const { candidates, conflicts } = this.groups(policies);
      this.reportConflicts(conflicts);
      this.metrics.paused.set([...schedules.values()].some((sched) => sched.status.paused) ? 1 : 0);
      for (const [name, p] of policies) {
        const sched = schedules.get(name);
        if (sched === undefined) continue;
        const group = candidates.get(name)!;
        const conflicting = conflicts.get(name)!;
        const upToDate = group.filter((c) => (c.status.state ?? 'Idle') === 'Idle' && (c.target === undefined || c.target === c.status.currentVersion)).length;
        const status = {
          ...sched.status,
          nodesUpdating: sched.status.nodesUpdating + sched.admit.length,
          pausedReason: sched.status.pausedReason ?? null,
          observedGeneration: p.object.metadata.generation ?? 0,
          nodes: group.length,
          nodesUpToDate: upToDate,
          conflicts: conflicting.length,
          conflictingNodes: conflicting.slice(0, MAX_CONFLICTS_LISTED),
        };
        await this.writePolicyStatus(p.object, status);
      }
    } finally {
      end();
    }
  }

  private reportConflicts(conflicts: Map<string, string[]>): void {
    const summary = JSON.stringify([...conflicts].filter(([, nodes]) => nodes.length > 0));
    if (summary === this.reportedConflicts) return;
    this.reportedConflicts = summary;
    if (summary !== '[]') this.log.error({ conflicts: Object.fromEntries(conflicts) }, 'nodes selected by more than one UpdatePolicy are not updated: make the node selectors disjoint');
  }

  /** Flags at once; counts alone, during a rollout, at most every few seconds (the tick writes the last ones). */
  private async writePolicyStatus(policy: UpdatePolicy, next: Record<string, unknown>): Promise<void> {
    const name = policy.metadata.name;
    const current = (policy.status ?? {}) as Record<string, unknown>;
    const differs = (k: string) => JSON.stringify(current[k] ?? null) !== JSON.stringify(next[k]);
    const keys = Object.keys(next);
    if (!keys.some(differs)) return;
    const countsOnly = keys.filter(differs).every((k) => k === 'nodesUpdating' || k === 'failures' || k === 'nodesUpToDate');
    // during a rollout the counts change with every node: rewrite them at most every few seconds
    const rolling = (next['nodesUpdating'] as number) > 0 || (current['nodesUpdating'] as number | undefined ?? 0) > 0;
    if (countsOnly && rolling && Date.now() - (this.lastPolicyStatusWrite.get(name) ?? 0) < POLICY_STATUS_MIN_INTERVAL_MS) return;
    this.lastPolicyStatusWrite.set(name, Date.now());
    await this.kube.patchPolicyStatus(name, next as never);
    // our own write: keep the cache in step so the next step does not write it again
    this.informers!.policy.put({ ...policy, status: { ...policy.status, ...(next as object) } });
  }

  /** Managed nodes by state and running version, for the nodes gauge (computed when scraped: always current). */
  private nodeCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    if (!this.synced) return counts;
    const policies = this.policies();
    for (const c of [...this.groups(policies).candidates.values()].flat()) {
      const nu = this.informers!.nodeUpdates.items.get(c.name);
      const key = `${nu?.status?.state ?? 'Idle'}\0${nu?.status?.currentVersion ?? 'unknown'}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

}
