import { Watch, type KubeConfig } from '@kubernetes/client-node';

/**
 * A Watch for a watch that may stay quiet for minutes: the client's own inactivity timeout (30 s,
 * private) would reopen it twice a minute; pass `timeoutSeconds` to the watch too, so the server
 * ends it first and the caller resumes it.
 */
export function quietWatch(kc: KubeConfig, timeoutSeconds: number): Watch {
  const watch = new Watch(kc);
  (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = (timeoutSeconds + 30) * 1000;
  return watch;
}
