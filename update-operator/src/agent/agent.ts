/**
 * The update-operator agent: one per node. It talks only to its host's update API (Unix socket)
 * and to its own NodeUpdate object. A pass reports the host's state into the status and, when
 * the spec has a generation not yet handled, takes the one step `decideStep` names. Passes run one
 * at a time: on start, when the watch shows a new spec generation (never for the agent's own
 * status writes), shortly after a step that waits on the host, and at the heartbeat interval
 * (with a jitter, so a fleet started together spreads out). Only a heartbeat writes an unchanged
 * report, so the API load is one status patch per heartbeat interval whatever the latency.
 */
import type { Logger } from '@updog-ts/updog/common';
import { isTransientApiError, type StatusResponse, type UpdateApiClient } from '@updog-ts/updog/host-api';
import type { NodeUpdate } from '../model/api.js';
import { decideStep, hostReport, reportChanged, rfc3339, type AgentFailureReason, type AgentStep, type StatusPatch } from './decide.js';
import type { NodeUpdateStore } from './node-update-store.js';

/** The host update API calls the agent makes (UpdateApiClient; the benchmark passes the same client). */
export type HostUpdateApi = Pick<UpdateApiClient, 'status' | 'refresh' | 'prepare' | 'activate' | 'deactivate' | 'reboot' | 'markSuccessfulBoot'>;

export interface AgentOptions {
  api: HostUpdateApi;
  store: NodeUpdateStore;
  logger: Logger;
  /** How often to report even when nothing changes. */
  heartbeatMs: number;
  /** How often to re-read the update repository for `availableVersion`. */
  refreshMs: number;
  /** How soon to look again while the host is busy or rebooting (default: min(2 s, heartbeat)). */
  recheckMs?: number;
  /** Each heartbeat interval is stretched or shrunk by up to half this fraction at random (default 0.2). */
  jitter?: number;
  now?: () => Date;
  random?: () => number;
}

/** Why a pass runs: a heartbeat always reports; a change reports only what changed. */
export type PassReason = 'heartbeat' | 'change';

/** A step failed in a way that answers the spec: report it for this generation. */
class StepFailure extends Error {
  constructor(
    readonly reason: AgentFailureReason,
    message: string,
  ) {
    super(message);
  }
}

/** Is `a` a later version of the object than `b`? (resourceVersions of one object grow; opaque ones: trust the latest arrival) */
function isNewer(a: NodeUpdate, b: NodeUpdate | undefined): boolean {
  const ra = Number(a.metadata.resourceVersion);
  const rb = Number(b?.metadata.resourceVersion);
  return !Number.isFinite(ra) || !Number.isFinite(rb) || ra >= rb;
}

export class NodeAgent {
  private running: Promise<void> | undefined;
  private again: PassReason | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private recheckTimer: NodeJS.Timeout | undefined;
  private stopWatch: (() => void) | undefined;
  private stopped = false;
  private lastRefresh = 0;
  /** The object as the watch (and this agent's own patches) last showed it; used only while the watch is live. */
  private latest: NodeUpdate | undefined;
  private watchLive = false;
  /** Spec generation the last pass looked at: a watch event with another one starts a pass. */
  private seenGeneration: number | undefined;
  /** Health check failures by spec generation, to explain the rollback that follows them. */
  private readonly healthFailures = new Map<number, string>();
  private readonly now: () => Date;
  private readonly random: () => number;

  constructor(private readonly opts: AgentOptions) {
    this.now = opts.now ?? (() => new Date());
    this.random = opts.random ?? Math.random;
  }

  /** Starts watching and the heartbeat; the first pass runs at once (and writes what changed since the last run). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.startWatch();
    await this.trigger('change');
    // the first heartbeat falls anywhere in the interval: a fleet started together spreads out
    this.scheduleHeartbeat(this.opts.heartbeatMs * this.random());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.recheckTimer);
    this.stopWatch?.();
    await this.running;
  }

  /** Runs a pass now, or right after the current one; resolves when the pass is over. */
  trigger(reason: PassReason): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      if (this.again !== 'heartbeat') this.again = reason;
      return this.running;
    }
    this.running = (async () => {
      let next: PassReason | undefined = reason;
      while (next !== undefined && !this.stopped) {
        this.again = undefined;
        try {
          if (await this.pass(next)) this.scheduleHeartbeat(this.jittered());
        } catch (err) {
          this.opts.logger.warn({ err }, 'agent pass failed; retrying on the next heartbeat');
        }
        next = this.again;
      }
      this.running = undefined;
    })();
    return this.running;
  }

  private jittered(): number {
    const jitter = this.opts.jitter ?? 0.2;
    return this.opts.heartbeatMs * (1 - jitter / 2 + jitter * this.random());
  }

  /** The next heartbeat comes `ms` after the last report (a report resets it). */
  private scheduleHeartbeat(ms: number): void {
    clearTimeout(this.heartbeatTimer);
    if (this.stopped) return;
    this.heartbeatTimer = setTimeout(() => void this.trigger('heartbeat'), ms);
    this.heartbeatTimer.unref();
  }

  private scheduleRecheck(): void {
    clearTimeout(this.recheckTimer);
    if (this.stopped) return;
    this.recheckTimer = setTimeout(() => void this.trigger('change'), this.opts.recheckMs ?? Math.min(2000, this.opts.heartbeatMs));
    this.recheckTimer.unref();
  }

  private async startWatch(): Promise<void> {
    if (this.stopped) return;
    try {
      const stop = await this.opts.store.watch(
        (nodeUpdate) => this.observe(nodeUpdate),
        (err) => {
          this.watchLive = false;
          if (this.stopped) return;
          this.opts.logger.debug({ err }, 'NodeUpdate watch ended; restarting');
          setTimeout(() => void this.startWatch(), 1000).unref();
        },
      );
      // stop() may have run while the watch was being set up
      if (this.stopped) stop();
      else this.stopWatch = stop;
    } catch (err) {
      this.opts.logger.warn({ err }, 'cannot watch NodeUpdate; relying on the heartbeat');
    }
  }

  /** A watch event: remember the object; only a spec generation not yet looked at starts a pass. */
  private observe(nodeUpdate: NodeUpdate | undefined): void {
    this.watchLive = true;
    if (nodeUpdate !== undefined && !isNewer(nodeUpdate, this.latest)) return;
    this.latest = nodeUpdate;
    if (nodeUpdate !== undefined && nodeUpdate.metadata.generation !== this.seenGeneration) void this.trigger('change');
  }

  private async report(patch: StatusPatch): Promise<void> {
    const stored = await this.opts.store.patchStatus(patch);
    if (this.watchLive && isNewer(stored, this.latest)) this.latest = stored;
  }

  /**
   * One pass: report, then act on an unhandled spec generation. Resolves true when it wrote the
   * status (which counts as a heartbeat).
   */
  async pass(reason: PassReason = 'heartbeat'): Promise<boolean> {
    const { api, store, logger } = this.opts;
    const nodeUpdate = this.watchLive ? this.latest : await store.get();
    this.seenGeneration = nodeUpdate?.metadata.generation;
    let host = await api.status();
    if (!host.commandInProgress && this.now().getTime() - this.lastRefresh >= this.opts.refreshMs) {
      host = await this.refresh(host);
    }
    if (!nodeUpdate) {
      logger.debug('no NodeUpdate for this node yet');
      return false;
    }
    const step = decideStep(nodeUpdate, host);
    if (step.kind === 'none' || step.kind === 'wait') {
      if (step.kind === 'wait') {
        logger.info({ why: step.why }, 'waiting');
        this.scheduleRecheck();
      }
      const report = hostReport(host, this.now());
      if (reason === 'change' && !reportChanged(nodeUpdate.status, report)) return false;
      await this.report(report);
      return true;
    }
    logger.info({ step, generation: nodeUpdate.metadata.generation }, 'acting on NodeUpdate spec');
    await this.act(step, nodeUpdate, host);
    return true;
  }

  private async act(step: Exclude<AgentStep, { kind: 'none' | 'wait' }>, nodeUpdate: NodeUpdate, host: StatusResponse): Promise<void> {
    const { api } = this.opts;
    const generation = nodeUpdate.metadata.generation ?? 0;
    const done = (h: StatusResponse) => this.report({ ...hostReport(h, this.now()), observedGeneration: generation });
    try {
      switch (step.kind) {
        case 'observe':
          return await done(host);
        case 'deactivate':
          // Not answered until it is done: a failure fails the pass and the next one retries.
          return await done(await api.deactivate());
        case 'fail': {
          const healthFailure = this.healthFailures.get(generation);
          throw new StepFailure(step.reason, healthFailure ? `${step.message} (health check failed: ${healthFailure})` : step.message);
        }
        case 'prepare':
          return await done(await this.prepare(step.version));
        case 'verify': {
          if (step.alreadyMarked) return await done(host);
          try {
            return await done(await this.guard('HealthCheckFailed', () => api.markSuccessfulBoot()));
          } catch (err) {
            if (!(err instanceof StepFailure)) throw err;
            // An unmarked boot falls back on the next reboot: roll back now rather than leave the
            // node on a broken image; after the reboot this generation reads as RolledBack.
            this.opts.logger.warn({ version: step.version, error: err.message }, 'health check failed; rebooting to fall back');
            this.healthFailures.set(generation, err.message);
            await this.guard('HealthCheckFailed', () => api.reboot()).catch((rebootErr: unknown) => {
              if (!(rebootErr instanceof StepFailure)) throw rebootErr;
              throw new StepFailure('HealthCheckFailed', `${err.message}; rolling back by reboot failed: ${rebootErr.message}`);
            });
            this.again ??= 'change';
            return;
          }
        }
        case 'reboot': {
          let h = host;
          if (step.prepare) h = await this.prepare(step.version);
          if (step.activate) h = await this.guard('ActivateFailed', () => api.activate());
          // Recorded before the reboot: after it, this generation's answer is verify or rollback.
          await this.report({ ...hostReport(h, this.now()), rebootGeneration: generation });
          await this.guard('ActivateFailed', () => api.reboot());
          // A real host goes down now; a simulated one has rebooted already: look again.
          this.again ??= 'change';
          return;
        }
      }
    } catch (err) {
      if (!(err instanceof StepFailure)) throw err;
      this.opts.logger.warn({ reason: err.reason, message: err.message, generation }, 'reporting agent failure');
      const failure = { reason: err.reason, message: err.message, time: rfc3339(this.now()), generation, version: nodeUpdate.spec.targetVersion };
      await this.report({ ...hostReport(await api.status(), this.now()), agentFailure: failure, observedGeneration: generation });
    }
  }

  /** Refresh, then prepare exactly `version`. */
  private async prepare(version: string): Promise<StatusResponse> {
    await this.guard('PrepareFailed', () => this.opts.api.refresh());
    this.lastRefresh = this.now().getTime();
    return this.guard('PrepareFailed', () => this.opts.api.prepare(version));
  }

  /** Refreshes for the report; a failure here is only logged (the report keeps the last facts). */
  private async refresh(host: StatusResponse): Promise<StatusResponse> {
    try {
      const refreshed = await this.opts.api.refresh();
      this.lastRefresh = this.now().getTime();
      return refreshed;
    } catch (err) {
      if (!isTransientApiError(err)) this.lastRefresh = this.now().getTime();
      this.opts.logger.warn({ err }, 'refresh for the report failed');
      return host;
    }
  }

  /** Runs a host command; a refusal that will not go away by retrying becomes `reason`. */
  private async guard(reason: AgentFailureReason, command: () => Promise<StatusResponse>): Promise<StatusResponse> {
    try {
      return await command();
    } catch (err) {
      if (isTransientApiError(err)) throw err;
      throw new StepFailure(reason, err instanceof Error ? err.message : String(err));
    }
  }
}
