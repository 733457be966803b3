/**
 * The host update API server: HTTP with JSON bodies over a Unix socket (mode 0600). One command
 * runs at a time; a second one gets 423 "busy" instead of racing (in this process by a flag, across
 * processes by the update lock file that `updog update` also takes). Every command starts from the
 * persisted status reconciled with the disk, checks the state rules, runs, reconciles again and
 * persists the result together with the command's outcome.
 */
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { ExitCode, UserError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import {
  CANCEL_ROUTE,
  COMMAND_ROUTES,
  HTTP_STATUS_FOR,
  STATUS_ROUTE,
  UPDATE_COMMANDS,
  type ApiErrorBody,
  type ApiErrorKind,
  type CommandResult,
  type PrepareProgress,
  type StatusResponse,
  type UpdateCommand,
  type UpdateImage,
  type UpdateStatus,
} from './protocol.js';
import {
  IllegalTransitionError,
  applyPrepared,
  applyRefresh,
  assertCommandAllowed,
  assertVersionAvailable,
  rebootRequestedThisBoot,
  reconcileStatus,
  recordRebootRequest,
} from './state-rules.js';
import { finishedPrepareProgress, startPrepareProgress, withSnapshot } from './prepare-progress.js';
import { loadStatus, saveStatus } from './status-store.js';
import type { HostFacts, UpdateHost } from './update-host.js';
import { isVersion } from '../manifest/semver.js';
import { otherSet } from '../partitions/partition-sets.js';

export interface ApiServerOptions {
  socketPath: string;
  statusFile: string;
  host: UpdateHost;
  logger: Logger;
}

export interface ApiServer {
  socketPath: string;
  close(): Promise<void>;
}

/** A request the server rejects before running anything (HTTP 400/404). */
class RequestError extends UserError {
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 64 * 1024;

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const { host, statusFile, logger } = opts;
  let running: UpdateCommand | null = null;
  /** Cancels the running command's downloads; `settled` resolves once it has released the lock. */
  let inFlight: { abort: AbortController; settled: Promise<unknown> } | undefined;
  /** The disk facts last read: what a status during a command reports (the disk is being written). */
  let lastFacts: HostFacts | undefined;
  /** The bytes of the running or last prepare. */
  let prepareProgress: PrepareProgress | null = null;

  async function readFacts(): Promise<HostFacts> {
    lastFacts = await host.facts();
    return lastFacts;
  }

  async function currentStatus(facts: HostFacts): Promise<UpdateStatus> {
    return reconcileStatus(await loadStatus(statusFile), facts);
  }

  function response(status: UpdateStatus, facts: HostFacts): StatusResponse {
    return {
      ...status,
      running: { set: facts.activeSet, version: facts.running.version, bootId: facts.bootId },
      rebootPending: running === 'reboot' || rebootRequestedThisBoot(status, facts.bootId),
      activeBootSuccessful: facts.activeBootSuccessful,
      commandInProgress: running,
      prepareProgress,
    };
  }

  async function getStatus(): Promise<StatusResponse> {
    if (running && lastFacts) return response(await loadStatus(statusFile), lastFacts);
    const facts = await readFacts();
    return response(await currentStatus(facts), facts);
  }

  /** The command's effect on the status; the disk effects happen inside `host`. */
  async function execute(command: UpdateCommand, status: UpdateStatus, facts: HostFacts, body: unknown, signal: AbortSignal): Promise<UpdateStatus> {
    switch (command) {
      case 'refresh':
        return applyRefresh(status, await host.refresh(signal));
      case 'prepare': {
        const version = preparedVersion(body);
        assertVersionAvailable(status, version);
        // Forget the old staged image first: if this write is interrupted, nothing claims to be staged.
        await saveStatus(statusFile, { ...status, stagingPartition: null });
        prepareProgress = startPrepareProgress(version);
        let prepared: UpdateImage;
        try {
          prepared = await host.prepare(version, signal, (snapshot) => {
            if (prepareProgress !== null) prepareProgress = withSnapshot(prepareProgress, snapshot);
          });
        } catch (err) {
          prepareProgress = finishedPrepareProgress(prepareProgress, signal.aborted ? 'cancelled' : 'failed');
          throw err;
        }
        prepareProgress = finishedPrepareProgress(prepareProgress, 'done');
        return applyPrepared(status, prepared, otherSet(facts.activeSet));
      }
      case 'activate':
        await host.activate();
        return status;
      case 'deactivate':
        await host.deactivate();
        return status;
      case 'reboot': {
        // Record the request first: a real reboot ends this process before the command returns.
        const requested = recordRebootRequest(status, facts.bootId);
        await saveStatus(statusFile, withResult(requested, command, { bootId: facts.bootId }));
        await host.reboot();
        return requested;
      }
      case 'mark-successful-boot':
        await host.markSuccessfulBoot();
        return status;
    }
  }

  async function runCommand(command: UpdateCommand, body: unknown): Promise<StatusResponse> {
    if (running) throw busyError(`${running} is in progress`);
    running = command;
    const abort = new AbortController();
    const result = (async () => {
      try {
        return await runLocked(command, body, abort.signal);
      } finally {
        running = null;
        inFlight = undefined;
      }
    })();
    inFlight = { abort, settled: result.catch(() => undefined) };
    return result;
  }

  /**
   * POST /actions/cancel: stops the running command's downloads (a refresh or prepare fails with
   * "cancelled" and leaves the disk as a failed one does) and answers once it has let go.
   */
  async function cancelCommand(): Promise<StatusResponse> {
    const current = inFlight;
    if (current === undefined) throw new RequestError('conflict', 'no update API command is in progress');
    logger.info({ command: running }, 'cancelling the update API command');
    current.abort.abort();
    await current.settled;
    return getStatus();
  }

  async function runLocked(command: UpdateCommand, body: unknown, signal: AbortSignal): Promise<StatusResponse> {
    return await host.withLock(async () => {
      const factsBefore = await readFacts();
      const before = await currentStatus(factsBefore);
      assertCommandAllowed(command, before.updateState);
      let after: UpdateStatus;
      try {
        after = await execute(command, before, factsBefore, body, signal);
      } catch (err) {
        if (!(err instanceof IllegalTransitionError || err instanceof RequestError)) {
          await saveStatus(statusFile, withResult(before, command, { error: err }));
        }
        throw err;
      }
      const facts = await readFacts();
      const bootId = command === 'reboot' ? factsBefore.bootId : undefined;
      const final = withResult(reconcileStatus(after, facts), command, { bootId });
      await saveStatus(statusFile, final);
      running = null; // over: the answer must not call it in progress
      return response(final, facts);
    });
  }

  const server = http.createServer((req, res) => {
    void handle(req, res);
  });
  // Commands such as prepare stream whole OS images: no request deadline.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const route = (req.url ?? '/').split('?')[0];
    try {
      let result: StatusResponse;
      if (req.method === 'GET' && route === STATUS_ROUTE) {
        result = await getStatus();
      } else if (req.method === 'POST' && route === CANCEL_ROUTE) {
        result = await cancelCommand();
      } else {
        const command = UPDATE_COMMANDS.find((c) => COMMAND_ROUTES[c] === route);
        if (!command) throw new RequestError('not-found', `no such route: ${req.method ?? ''} ${route ?? ''}`);
        if (req.method !== 'POST') throw new RequestError('bad-request', `${route} takes POST`);
        const body = await readJsonBody(req);
        if (command === 'prepare') preparedVersion(body);
        logger.info({ command, body }, 'update API command');
        result = await runCommand(command, body);
        logger.info({ command, updateState: result.updateState }, 'update API command done');
      }
      send(res, 200, result);
    } catch (err) {
      const { kind, body } = errorBody(err);
      if (kind === 'failed') logger.error({ err, route }, 'update API command failed');
      else logger.info({ kind, error: body.error, route }, 'update API request refused');
      send(res, HTTP_STATUS_FOR[kind], body);
    }
  }

  await listenOnSocket(server, opts.socketPath);
  logger.info({ socket: opts.socketPath, statusFile }, 'update API listening');
  return {
    socketPath: opts.socketPath,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function withResult(status: UpdateStatus, command: UpdateCommand, outcome: { error?: unknown; bootId?: string | undefined } = {}): UpdateStatus {
  const result: CommandResult = { command, status: 'Success', timestamp: new Date().toISOString() };
  if (outcome.error !== undefined) {
    result.status = 'Failed';
    result.error = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
  }
  if (outcome.bootId !== undefined) result.bootId = outcome.bootId;
  return { ...status, mostRecentCommand: result };
}

function preparedVersion(body: unknown): string {
  const version = (body as { version?: unknown } | undefined)?.version;
  if (typeof version !== 'string' || !isVersion(version)) {
    throw new RequestError('bad-request', 'prepare needs a JSON body {"version": "X.Y.Z"} naming the version to write');
  }
  return version;
}

function busyError(why: string): UserError {
  return new UserError(`update API is busy: ${why}; retry later`, { exitCode: ExitCode.Busy });
}

function errorBody(err: unknown): { kind: ApiErrorKind; body: ApiErrorBody } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof IllegalTransitionError) {
    return { kind: 'conflict', body: { kind: 'conflict', error: message, updateState: err.updateState } };
  }
  if (err instanceof RequestError) return { kind: err.kind, body: { kind: err.kind, error: message } };
  if (err instanceof UserError && err.exitCode === ExitCode.Busy) return { kind: 'busy', body: { kind: 'busy', error: message } };
  if (err instanceof UserError && err.exitCode === ExitCode.NothingToDo) {
    return { kind: 'conflict', body: { kind: 'conflict', error: message } };
  }
  return { kind: 'failed', body: { kind: 'failed', error: message } };
}

async function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new RequestError('bad-request', `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RequestError('bad-request', 'request body is not JSON');
  }
}

function send(res: http.ServerResponse, code: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Listens on a Unix socket readable and writable by the owner only. A socket file left by a dead
 * server is replaced; one that still answers means another server runs, which is an error.
 */
async function listenOnSocket(server: http.Server, socketPath: string): Promise<void> {
  if (await socketAnswers(socketPath)) {
    throw new UserError(`another process is already serving the update API on ${socketPath}`);
  }
  await fs.rm(socketPath, { force: true });
  await fs.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  await fs.chmod(socketPath, 0o600);
}

function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
