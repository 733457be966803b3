import type { Dispatcher } from 'undici';
import { EnvHttpProxyAgent } from '../net/http-client.js';
import { DEFAULT_DOWNLOAD_LIMITS } from '../net/download-limits.js';

export interface NetworkSettings {
  /** Proxy for every repository request (http and https), overriding the environment. */
  httpsProxy?: string;
  /** Hosts reached directly, overriding NO_PROXY from the environment. */
  noProxy?: string[];
  /**
   * Silence inside a body longer than this ends it (undici's body timeout). The deadlines for
   * headers and whole bodies are bounded-download.ts's; undici's header timeout, twice this, is
   * only a backstop.
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
    headersTimeout: 2 * timeout,
    bodyTimeout: timeout,
    // undici 8 forwards plain-http requests to the proxy in absolute form; tunnel them as before,
    // so a caching proxy can never answer from its cache (a stale timestamp stalls updates).
    proxyTunnel: true,
  });
}
