/**
 * The operator's Kubernetes access: JSON over HTTP with the kubeconfig's credentials, and watches
 * as streams of JSON lines. The generated API classes of @kubernetes/client-node convert every
 * object through models for ~900 kinds (loading them costs ~50 MiB of RSS, and each response is
 * copied once more); the operator reads a few fields of five kinds, so it keeps the JSON as the
 * apiserver sent it and uses the client library for what it is good at: kubeconfig loading and
 * authentication (client certificates, tokens, exec plugins).
 */
// config.js, not the package index: the index loads the generated API classes and models too
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { HttpMethod, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import { request, type Dispatcher } from 'undici';
import { UserError } from '@updog-ts/updog/common';

/** A non-2xx answer; `body` is the apiserver's Status (or text), `headers` its response headers. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly body: unknown,
    readonly headers: Record<string, string>,
    what: string,
  ) {
    const message = (body as { message?: unknown } | null)?.message;
    super(`${what}: HTTP ${code}${typeof message === 'string' ? `: ${message}` : ''}`);
    this.name = 'KubeApiError';
  }
}

/** From a kubeconfig file, or else KUBECONFIG, ~/.kube/config or the in-cluster service account. */
export function loadKubeClient(path: string | undefined): KubeClient {
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new UserError(`cannot load the kubeconfig${path ? ` ${path}` : ''}: ${(err as Error).message}`);
  }
  return new KubeClient(kc);
}

export const isApiCode = (err: unknown, code: number): boolean => err instanceof KubeApiError && err.code === code;

export interface RequestOptions {
  query?: Record<string, string>;
  body?: unknown;
  /** Sends the body as a JSON merge patch (RFC 7386). */
  mergePatch?: boolean;
  signal?: AbortSignal;
}

/** A watch event as the apiserver streams it. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const METHODS: Record<Method, HttpMethod> = { GET: HttpMethod.GET, POST: HttpMethod.POST, PUT: HttpMethod.PUT, PATCH: HttpMethod.PATCH, DELETE: HttpMethod.DELETE };

export class KubeClient {
  /**
   * The client library builds a new connection pool for every request it authenticates (a new TLS
   * handshake each time, and sockets left open until they time out); one per client is reused.
   * Credentials (headers) are still applied per request, so rotated tokens are picked up.
   */
  private dispatcher: Dispatcher | undefined;

  constructor(readonly kc: KubeConfig) {}

  /** One request; resolves with the parsed JSON answer, rejects with KubeApiError on a non-2xx. */
  async request<T = unknown>(method: Method, path: string, options: RequestOptions = {}): Promise<T> {
    const what = `${method} ${path}`;
    const response = await this.send(method, path, options);
    const text = await response.body.text();
    const parsed = parseJson(text);
    if (response.statusCode < 200 || response.statusCode > 299) throw new KubeApiError(response.statusCode, parsed ?? text, headerRecord(response.headers), what);
    if (parsed === undefined) throw new Error(`${what}: HTTP ${response.statusCode} with a body that is not JSON (${JSON.stringify(text.slice(0, 80))})`);
    return parsed as T;
  }

  /**
   * Watches `path` (query: resourceVersion, selectors, timeoutSeconds...) and calls `onEvent` for
   * each event until the server ends the stream (resolves) or `signal` aborts it (resolves). A
   * refused watch (e.g. 410 Gone for a resourceVersion too old) rejects with KubeApiError.
   */
  async watch(path: string, query: Record<string, string>, onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    let response: Dispatcher.ResponseData;
    try {
      // the server ends the watch after timeoutSeconds; silence longer than that is a dead connection
      const idleMs = (Number(query.timeoutSeconds ?? 300) + 30) * 1000;
      response = await this.send('GET', path, { query: { ...query, watch: 'true' }, signal }, idleMs);
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    if (response.statusCode !== 200) {
      const text = await response.body.text();
      throw new KubeApiError(response.statusCode, parseJson(text) ?? text, headerRecord(response.headers), `watch ${path}`);
    }
    let pending = '';
    const utf8 = new TextDecoder(); // a character may be split between two chunks
    try {
      for await (const chunk of response.body) {
        pending += utf8.decode(chunk as Buffer, { stream: true });
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line === '') continue;
          const event = parseJson(line) as WatchEvent | undefined;
          if (event === undefined) throw new Error(`watch ${path}: an event that is not JSON (${JSON.stringify(line.slice(0, 80))})`);
          onEvent(event);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }

  private async send(method: Method, path: string, options: RequestOptions, bodyTimeoutMs?: number): Promise<Dispatcher.ResponseData> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const ctx = new RequestContext(url.toString(), METHODS[method]);
    await this.kc.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = options.mergePatch === true ? 'application/merge-patch+json' : 'application/json';
    this.dispatcher ??= ctx.getDispatcher() as Dispatcher | undefined;
    return request(url, {
      method,
      headers,
      ...(this.dispatcher === undefined ? {} : { dispatcher: this.dispatcher }),
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(bodyTimeoutMs === undefined ? {} : { bodyTimeout: bodyTimeoutMs }),
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function headerRecord(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}
