import { EnvHttpProxyAgent, type Dispatcher } from 'undici';
import { DEFAULT_DOWNLOAD_LIMITS } from '../net/download-limits.js';

export interface NetworkSettings {
  /** Proxy for every repository request (http and https), overriding the environment. */
  httpsProxy?: string;
  /** Hosts reached directly, overriding NO_PROXY from the environment. */
  noProxy?: string[];
  /**
   * undici's own timeouts: for the headers, and for silence inside a body. The deadlines that
   * bound a whole download are bounded-download.ts's.
   */
  requestTimeoutMs?: number;
}

/**
 * The dispatcher for all repository traffic. Without settings it follows the usual
 * http_proxy/https_proxy/no_proxy environment variables, like other tools on the host; the
 * updog.toml `https_proxy`/`no_proxy` settings take precedence (as on Bottlerocket).
 */
export function createDispatcher(settings: NetworkSettings = {}): Dispatcher {
  const timeout = settings.requestTimeoutMs ?? DEFAULT_DOWNLOAD_LIMITS.requestTimeoutMs;
  return new EnvHttpProxyAgent({
    ...(settings.httpsProxy === undefined ? {} : { httpProxy: settings.httpsProxy, httpsProxy: settings.httpsProxy }),
    ...(settings.noProxy === undefined ? {} : { noProxy: settings.noProxy.join(',') }),
    headersTimeout: timeout,
    bodyTimeout: timeout,
    // undici 8 forwards plain-http requests to the proxy in absolute form; tunnel them as before,
    // so a caching proxy can never answer from its cache (a stale timestamp stalls updates).
    proxyTunnel: true,
  });
}
