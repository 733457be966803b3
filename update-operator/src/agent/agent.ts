/**
 * The update-operator agent: one per node. It talks only to its host's update API (Unix socket)
 * and to its own NodeUpdate object. Each pass reports the host's state into the status and, when
 * the spec has a generation not yet handled, takes the one step `decideStep` names. Passes run
 * one at a time, on start, on every change of the object, and every heartbeat interval.
 */
import type { Logger } from '@updog-ts/updog/common';
import { UpdateApiClient, isTransientApiError } from '@updog-ts/updog/host-api';
import type { StatusResponse } from '@updog-ts/updog/host-api';
import type { NodeUpdate } from '../model/api.js';
import { decideStep, hostReport, rfc3339, type AgentFailureReason, type AgentStep } from './decide.js';
import type { NodeUpdateStore } from './node-update-store.js';

export interface AgentOptions {
  api: UpdateApiClient;
  store: NodeUpdateStore;
  logger: Logger;
  /** How often to report even when nothing changes. */
  heartbeatMs: number;
  /** How often to re-read the update repository for `availableVersion`. */
  refreshMs: number;
  now?: () => Date;
}

/** A step failed in a way that answers the spec: report it for this generation. */
class StepFailure extends Error {
  constructor(
    readonly reason: AgentFailureReason,
    message: string,
  ) {
    super(message);
  }
}

export class NodeAgent {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopWatch: (() => void) | undefined;
  private stopped = false;
  private lastRefresh = 0;
  /** Health check failures by spec generation, to explain the rollback that follows them. */
  private readonly healthFailures = new Map<number, string>();
  private readonly now: () => Date;

  constructor(private readonly opts: AgentOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  /** Starts watching and the periodic pass; the first pass runs at once. */
  async start(): Promise<void> {
    this.stopped = false;
    this.timer = setInterval(() => this.trigger(), this.opts.heartbeatMs);
    await this.startWatch();
    await this.trigger();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.stopWatch?.();
    await this.running;
  }

  /** Runs a pass now, or right after the current one; resolves when the pass is over. */
  trigger(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.pass();
        } catch (err) {
          this.opts.logger.warn({ err }, 'agent pass failed; retrying on the next heartbeat');
        }
      } while (this.again && !this.stopped);
      this.running = undefined;
    })();
    return this.running;
  }

  private async startWatch(): Promise<void> {
    if (this.stopped) return;
    try {
      const stop = await this.opts.store.watch(
        () => void this.trigger(),
        (err) => {
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

  /** One pass: report, then act on an unhandled spec generation. */
  async pass(): Promise<void> {
    const { api, store, logger } = this.opts;
    const nodeUpdate = await store.get();
    let host = await api.status();
    if (!host.commandInProgress && this.now().getTime() - this.lastRefresh >= this.opts.refreshMs) {
      host = await this.refresh(host);
    }
    if (!nodeUpdate) {
      logger.debug('no NodeUpdate for this node yet');
      return;
    }
    const step = decideStep(nodeUpdate, host);
    if (step.kind === 'none' || step.kind === 'wait') {
      if (step.kind === 'wait') logger.info({ why: step.why }, 'waiting');
      await store.patchStatus(hostReport(host, this.now()));
      return;
    }
    logger.info({ step, generation: nodeUpdate.metadata.generation }, 'acting on NodeUpdate spec');
    await this.act(step, nodeUpdate, host);
  }

  private async act(step: Exclude<AgentStep, { kind: 'none' | 'wait' }>, nodeUpdate: NodeUpdate, host: StatusResponse): Promise<void> {
    const { api, store } = this.opts;
    const generation = nodeUpdate.metadata.generation ?? 0;
    const done = (h: StatusResponse) => store.patchStatus({ ...hostReport(h, this.now()), observedGeneration: generation });
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
            this.again = true;
            return;
          }
        }
        case 'reboot': {
          let h = host;
          if (step.prepare) h = await this.prepare(step.version);
          if (step.activate) h = await this.guard('ActivateFailed', () => api.activate());
          // Recorded before the reboot: after it, this generation's answer is verify or rollback.
          await store.patchStatus({ ...hostReport(h, this.now()), rebootGeneration: generation });
          await this.guard('ActivateFailed', () => api.reboot());
          // A real host goes down now; a simulated one has rebooted already: look again.
          this.again = true;
          return;
        }
      }
    } catch (err) {
      if (!(err instanceof StepFailure)) throw err;
      this.opts.logger.warn({ reason: err.reason, message: err.message, generation }, 'reporting agent failure');
      const failure = { reason: err.reason, message: err.message, time: rfc3339(this.now()), generation, version: nodeUpdate.spec.targetVersion };
      await store.patchStatus({ ...hostReport(await api.status(), this.now()), agentFailure: failure, observedGeneration: generation });
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
