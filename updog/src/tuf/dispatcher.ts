import { EnvHttpProxyAgent, type Dispatcher } from 'undici';

export interface NetworkSettings {
  /** Proxy for every repository request (http and https), overriding the environment. */
  httpsProxy?: string;
  /** Hosts reached directly, overriding NO_PROXY from the environment. */
  noProxy?: string[];
  /**
   * Give up when the server sends nothing for this long (headers or body). An idle timeout, not
   * a deadline: a multi-GB image may take as long as it needs while data keeps flowing.
   */
  idleTimeoutMs?: number;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/**
 * The dispatcher for all repository traffic. Without settings it follows the usual
 * http_proxy/https_proxy/no_proxy environment variables, like other tools on the host; the
 * updog.toml `https_proxy`/`no_proxy` settings take precedence (as on Bottlerocket).
 */
export function createDispatcher(settings: NetworkSettings = {}): Dispatcher {
  const idle = settings.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  return new EnvHttpProxyAgent({
    ...(settings.httpsProxy === undefined ? {} : { httpProxy: settings.httpsProxy, httpsProxy: settings.httpsProxy }),
    ...(settings.noProxy === undefined ? {} : { noProxy: settings.noProxy.join(',') }),
    headersTimeout: idle,
    bodyTimeout: idle,
    // undici 8 forwards plain-http requests to the proxy in absolute form; tunnel them as before,
    // so a caching proxy can never answer from its cache (a stale timestamp stalls updates).
    proxyTunnel: true,
  });
}
