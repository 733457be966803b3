/**
 * A small typed client for the host update API (used by `updog api` and the update-operator
 * agent). Refusals come back as `UpdateApiError` carrying the server's kind, so callers can tell
 * "busy, retry" (exit code Busy) from "not allowed in this state" and from a failed command.
 */
import http from 'node:http';
import { ExitCode, UserError } from '../common/errors.js';
import {
  CANCEL_ROUTE,
  COMMAND_ROUTES,
  STATUS_ROUTE,
  type ApiErrorBody,
  type ApiErrorKind,
  type StatusResponse,
  type UpdateCommand,
} from './protocol.js';

export class UpdateApiError extends UserError {
  constructor(
    readonly kind: ApiErrorKind,
    readonly httpStatus: number,
    message: string,
  ) {
    super(message, { exitCode: kind === 'busy' ? ExitCode.Busy : ExitCode.Failure });
  }
}

/** Nothing answered on the socket (server not running yet, or restarting): worth retrying. */
export class UpdateApiUnreachableError extends UserError {}

/** No answer in time; a command may still be running (see status, or cancel it). */
export class UpdateApiTimeoutError extends UserError {}

export interface ApiClientTimeouts {
  /** For status and cancel. */
  queryMs: number;
  /** For the commands; a prepare streams whole OS images within the download limits. */
  commandMs: number;
}

/** README "Host update API": a status never takes long; a command at most its downloads' limits. */
export const DEFAULT_API_TIMEOUTS: Readonly<ApiClientTimeouts> = Object.freeze({ queryMs: 30_000, commandMs: 12 * 60 * 60_000 });

/** Refusals that go away by themselves: the host is busy, or its API is (re)starting. */
export function isTransientApiError(err: unknown): boolean {
  return err instanceof UpdateApiUnreachableError || (err instanceof UpdateApiError && err.kind === 'busy');
}

export class UpdateApiClient {
  constructor(
    readonly socketPath: string,
    private readonly timeouts: ApiClientTimeouts = DEFAULT_API_TIMEOUTS,
  ) {}

  status(): Promise<StatusResponse> {
    return this.request('GET', STATUS_ROUTE, this.timeouts.queryMs);
  }

  /** Cancels the command in progress and answers once it has stopped (409 conflict when none runs). */
  cancel(): Promise<StatusResponse> {
    return this.request('POST', CANCEL_ROUTE, this.timeouts.queryMs);
  }

  refresh(): Promise<StatusResponse> {
    return this.command('refresh');
  }

  prepare(version: string): Promise<StatusResponse> {
    return this.command('prepare', { version });
  }

  activate(): Promise<StatusResponse> {
    return this.command('activate');
  }

  deactivate(): Promise<StatusResponse> {
    return this.command('deactivate');
  }

  reboot(): Promise<StatusResponse> {
    return this.command('reboot');
  }

  markSuccessfulBoot(): Promise<StatusResponse> {
    return this.command('mark-successful-boot');
  }

  command(command: UpdateCommand, body?: unknown): Promise<StatusResponse> {
    return this.request('POST', COMMAND_ROUTES[command], this.timeouts.commandMs, body);
  }

  private request(method: string, path: string, timeoutMs: number, body?: unknown): Promise<StatusResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const code = res.statusCode ?? 0;
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              reject(new UpdateApiError('failed', code, `update API answered ${code} with a non-JSON body: ${text.slice(0, 200)}`));
              return;
            }
            if (code === 200) resolve(parsed as StatusResponse);
            else {
              const err = parsed as ApiErrorBody;
              reject(new UpdateApiError(err.kind, code, err.error));
            }
          });
        },
      );
      req.setTimeout(timeoutMs, () => {
        req.destroy(
          new UpdateApiTimeoutError(
            `the update API on ${this.socketPath} did not answer ${method} ${path} within ${timeoutMs} ms; a command may still be running: see \`updog api status\`, or stop it with \`updog api cancel\``,
          ),
        );
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof UpdateApiTimeoutError) return reject(err);
        reject(
          new UpdateApiUnreachableError(`cannot reach the update API on ${this.socketPath} (${err.code ?? err.message}); is \`updog serve\` running?`, {
            cause: err,
          }),
        );
      });
      req.end(payload);
    });
  }
}
