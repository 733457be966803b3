/// <reference path="./undici-parts.d.ts" />
/**
 * The parts of undici updog uses, loaded on their own. undici's index loads all of it (109
 * modules, 1.3 MB of source: mock agents, cache stores, WebSocket, fetch) for +28 MiB of RSS on
 * Node 24; the proxy-aware agent and the request API alone cost +16 MiB. undici has no `exports`
 * map, so these paths are reachable; the lockfile pins the version they are read from, and the
 * proxy and hostile-server tests use every path through them.
 */
import type { Dispatcher as DispatcherType } from 'undici';
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';
import EnvHttpProxyAgent from 'undici/lib/dispatcher/env-http-proxy-agent.js';
import api from 'undici/lib/api/index.js';

// What undici's index does when loaded: every dispatcher gets request(), connect() and the rest.
// Its proxy agent tunnels through connect(), so this must run before any dispatcher is used.
Object.assign(Dispatcher.prototype, api);

export { EnvHttpProxyAgent };

export type RequestOptions = Omit<DispatcherType.RequestOptions, 'origin' | 'path'>;

/** undici's `request(url, { dispatcher, ... })`, always on the given dispatcher. */
export function request(dispatcher: DispatcherType, url: string, options: RequestOptions): Promise<DispatcherType.ResponseData> {
  const target = new URL(url);
  return dispatcher.request({ ...options, origin: target.origin, path: `${target.pathname}${target.search}` });
}
