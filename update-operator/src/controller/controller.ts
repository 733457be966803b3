/**
 * The controller process while it leads: watches wake a work queue, a periodic tick re-checks
 * deadlines, and every pass reads the world fresh (quorum list), steps each node through the
 * state machine, admits new nodes by the schedule and writes the policy status. Decisions are
 * pure (state-machine.ts, scheduling.ts); this file only carries them out.
 */
import { Watch, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from '@updog-ts/updog/common';
import { API_VERSION, GROUP, NODE_UPDATE, UPDATE_POLICY, VERSION, resolvePolicy, type NodeUpdate, type ResolvedPolicy } from '../model/api.js';
import { drainNode } from './drain.js';
import { Kube, podRef } from './kube.js';
import type { ControllerMetrics } from './metrics.js';
import { cordonPatch, uncordonPatch, type NodeSnapshot } from './node-effects.js';
import { IN_FLIGHT_STATES, schedule, type Candidate } from './scheduling.js';
import { matchesSelector } from './selector.js';
import { WorkQueue } from './work-queue.js';
import { admit, specFor, step, type DrainResult, type NodeFacts, type Step } from './state-machine.js';

export interface ControllerOptions {
  policyName: string;
  /** Periodic full pass (deadlines, soak, backoff expiry). */
  tickMs: number;
}

interface DrainTask {
  result: DrainResult | undefined;
  cancelled: boolean;
  startedAt: number;
}

const PASS = 'pass';

function snapshot(node: V1Node): NodeSnapshot {
  return { unschedulable: node.spec?.unschedulable === true, labels: node.metadata?.labels ?? {}, annotations: node.metadata?.annotations ?? {} };
}

function readyCondition(node: V1Node) {
  return node.status?.conditions?.find((c) => c.type === 'Ready');
}

function podReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export class Controller {
  private readonly kube: Kube;
  private readonly drains = new Map<string, DrainTask>();
  private readonly watches = new Set<AbortController>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private warnedNoPolicy = false;
  private readonly queue: WorkQueue<string>;

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: ControllerOptions,
    private readonly log: Logger,
    private readonly metrics: ControllerMetrics,
  ) {
    this.kube = new Kube(kc);
    this.queue = new WorkQueue<string>(
      () => this.pass(),
      (_key, err) => this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'reconcile pass failed; retrying at the next tick'),
    );
  }

  /** Starts reconciling (call when this replica becomes leader). */
  start(): void {
    if (this.running) return;
    this.running = true;
    const trigger = () => this.queue.add(PASS);
    for (const path of ['/api/v1/nodes', `/apis/${GROUP}/${VERSION}/${NODE_UPDATE.plural}`, `/apis/${GROUP}/${VERSION}/${UPDATE_POLICY.plural}`]) void this.watch(path, trigger);
    this.timer = setInterval(trigger, this.opts.tickMs);
    trigger();
  }

  /** Stops reconciling and cancels running drains (leadership lost or shutdown). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    for (const w of this.watches) w.abort();
    this.watches.clear();
    for (const d of this.drains.values()) d.cancelled = true;
    await this.queue.settled();
  }

  private async watch(path: string, onEvent: () => void): Promise<void> {
    while (this.running) {
      let abort: AbortController | undefined;
      await new Promise<void>((resolve) => {
        new Watch(this.kc).watch(path, {}, () => onEvent(), () => resolve()).then(
          (a) => {
            abort = a;
            this.watches.add(a);
          },
          () => resolve(),
        );
      });
      if (abort) this.watches.delete(abort);
      // a watch ends on timeouts and errors; the tick covers the gap, so just re-open it
      if (this.running) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private async pass(): Promise<void> {
    if (!this.running) return;
    const policyObject = await this.kube.getPolicy(this.opts.policyName);
    if (policyObject === undefined) {
      // acting on every node of a cluster by default would be a surprise: the policy opts nodes in
      if (!this.warnedNoPolicy) this.log.warn({ policy: this.opts.policyName }, 'UpdatePolicy not found: no node is touched until it exists');
      this.warnedNoPolicy = true;
      return;
    }
    this.warnedNoPolicy = false;
    const policy = resolvePolicy(policyObject.spec);
    const [nodes, existing] = await Promise.all([this.kube.listNodes(), this.kube.listNodeUpdates()]);
    const byName = new Map(existing.map((nu) => [nu.metadata.name, nu]));
    const isSelected = (n: V1Node) => matchesSelector(n.metadata?.labels ?? {}, policy.nodeSelector);
    // a node taken out of the selector mid-update still finishes (and holds its slot until then)
    const managed = nodes.filter((n) => isSelected(n) || IN_FLIGHT_STATES.has(byName.get(n.metadata?.name ?? '')?.status?.state ?? 'Idle'));

    for (const node of managed) {
      if (!this.running) return;
      const name = node.metadata?.name ?? '';
      try {
        let nu = byName.get(name) ?? (await this.kube.ensureNodeUpdate(node));
        byName.set(name, nu);
        nu = await this.apply(node, nu, step(nu, await this.facts(node, nu), policy, new Date()), policy);
        byName.set(name, nu);
      } catch (err) {
        // one node's trouble must not stall the others; the next tick retries it
        this.log.error({ node: name, err: err instanceof Error ? err.message : String(err) }, 'reconciling node failed');
      }
    }

    const candidates: Candidate[] = managed.flatMap((node) => {
      const nu = byName.get(node.metadata?.name ?? '');
      if (!nu) return [];
      return [{ name: nu.metadata.name, status: nu.status ?? {}, target: isSelected(node) ? (policy.targetVersion ?? nu.status?.availableVersion) : undefined }];
    });
    let sched;
    try {
      sched = schedule(candidates, policy, new Date());
    } catch (err) {
      this.log.error({ policy: this.opts.policyName, err: (err as Error).message }, 'policy is invalid: no node is admitted until it is fixed');
      return;
    }
    for (const c of sched.admit) {
      if (!this.running) return;
      const node = managed.find((n) => n.metadata?.name === c.name)!;
      const nu = byName.get(c.name)!;
      byName.set(c.name, await this.apply(node, nu, admit(nu, c.target!, new Date()), policy));
    }

    this.metrics.paused.set(sched.status.paused ? 1 : 0);
    this.recordNodeMetrics(candidates.map((c) => byName.get(c.name)!));
    const status = { ...sched.status, nodesUpdating: sched.status.nodesUpdating + sched.admit.length, pausedReason: sched.status.pausedReason ?? null };
    await this.writePolicyStatus(policyObject.status ?? {}, { ...status, observedGeneration: policyObject.metadata.generation ?? 0 });
  }

  private async writePolicyStatus(current: object, next: Record<string, unknown>): Promise<void> {
    const changed = Object.entries(next).some(([k, v]) => ((current as Record<string, unknown>)[k] ?? null) !== v);
    if (changed) await this.kube.patchPolicyStatus(this.opts.policyName, next as never);
  }

  private recordNodeMetrics(nus: NodeUpdate[]): void {
    const counts = new Map<string, number>();
    for (const nu of nus) {
      const key = `${nu.status?.state ?? 'Idle'}\0${nu.status?.currentVersion ?? 'unknown'}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    this.metrics.setNodes(counts);
  }

  private async facts(node: V1Node, nu: NodeUpdate): Promise<NodeFacts> {
    const ready = readyCondition(node);
    const name = node.metadata?.name ?? '';
    let notReadyDaemonSetPods: string[] = [];
    if (nu.status?.state === 'Verifying') {
      const pods = await this.kube.podsOnNode(name);
      notReadyDaemonSetPods = pods
        .filter((p) => podRef(p).ownerKinds.includes('DaemonSet') && !podReady(p))
        .map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);
    }
    return {
      ready: ready?.status === 'True',
      readySince: ready?.status === 'True' && ready.lastTransitionTime ? new Date(ready.lastTransitionTime) : undefined,
      notReadyDaemonSetPods,
      drain: nu.status?.state === 'Draining' ? this.drains.get(name)?.result : undefined,
    };
  }

  /** Status first, then Node effects, then the spec the new state implies: each part is idempotent. */
  private async apply(node: V1Node, nu: NodeUpdate, s: Step, policy: ResolvedPolicy): Promise<NodeUpdate> {
    const name = nu.metadata.name;
    const before = nu.status?.state ?? 'Idle';
    if (s.status) nu = await this.kube.patchNodeUpdateStatus(name, s.status);
    const state = nu.status?.state ?? 'Idle';
    let current = node;
    for (const effect of s.effects) {
      if (effect === 'cordon' || effect === 'uncordon') {
        const patch = effect === 'cordon' ? cordonPatch(snapshot(current), policy.excludeFromLoadBalancers) : uncordonPatch(snapshot(current));
        if (patch) {
          current = await this.kube.patchNode(name, patch);
          this.log.info({ node: name, effect, patch }, effect === 'cordon' ? 'cordoned' : 'restored node schedulability');
        }
      } else if (state === 'Draining') {
        this.ensureDrain(name, nu, policy);
      }
    }
    if (state !== 'Draining') this.finishDrain(name, before === 'Draining' ? (state === 'Failed' ? 'blocked' : 'ok') : undefined);
    const spec = specFor(state, nu.status?.targetVersion);
    if (spec.desiredState !== nu.spec.desiredState || spec.targetVersion !== nu.spec.targetVersion) nu = await this.kube.patchNodeUpdateSpec(name, spec);
    if (s.event) {
      this.log.info({ node: name, from: before, to: state, reason: s.event.reason }, s.event.message);
      if (state === 'Failed' && before !== 'Failed') this.metrics.failures.inc({ reason: s.event.reason });
      await this.kube
        .event({ kind: NODE_UPDATE.kind, apiVersion: API_VERSION, name, uid: nu.metadata.uid ?? '' }, s.event.type, s.event.reason, s.event.message, 'update-operator')
        .catch((err: Error) => this.log.warn({ node: name, err: err.message }, 'could not record an event'));
    }
    return nu;
  }

  private ensureDrain(name: string, nu: NodeUpdate, policy: ResolvedPolicy): void {
    if (this.drains.has(name)) return;
    const startedAt = Date.parse(nu.status?.stateSince ?? new Date().toISOString());
    const task: DrainTask = { result: undefined, cancelled: false, startedAt };
    this.drains.set(name, task);
    this.log.info({ node: name, policy: policy.drain }, 'drain started');
    drainNode(name, startedAt, policy.drain, {
      listPods: async (n) => (await this.kube.podsOnNode(n)).map(podRef),
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
        if (result) this.queue.add(PASS);
      },
      (err: Error) => {
        // an API error is not a verdict on the node: drop the task so the next pass restarts it
        this.log.warn({ node: name, err: err.message }, 'drain interrupted by an API error; restarting');
        if (this.drains.get(name) === task) this.drains.delete(name);
      },
    );
  }

  private finishDrain(name: string, result: 'ok' | 'blocked' | undefined): void {
    const task = this.drains.get(name);
    if (!task) return;
    task.cancelled = true;
    this.drains.delete(name);
    if (result) this.metrics.drainSeconds.observe({ result }, (Date.now() - task.startedAt) / 1000);
  }
}
