/** LeaderElector against the real apiserver's Lease: one leader at a time, release, takeover. */
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestCluster } from '../../test/cluster/vitest-cluster.js';
import { waitFor } from '../../test/cluster/wait.js';
import { createLogger } from '@updog-ts/updog/common';
import { LeaderElector } from '../src/controller/leader-election.js';
import { KubeClient } from '../src/common/kube-client.js';

const cluster = useTestCluster();
const NAMESPACE = 'uo-leader-election';
const api = cluster.kc.makeApiClient(CoordinationV1Api);
const client = new KubeClient(cluster.kc);
const log = createLogger('leader-election-test', 'silent');

function candidate(identity: string, lease: string, leaseDurationMs = 3000) {
  const events: string[] = [];
  const elector = new LeaderElector(client, { namespace: NAMESPACE, name: lease, identity, leaseDurationMs, renewDeadlineMs: leaseDurationMs - 1000, retryPeriodMs: 250 }, log);
  const running = elector.run(
    () => events.push('started'),
    () => events.push('stopped'),
  );
  return { identity, elector, events, running };
}

describe('LeaderElector', () => {
  beforeAll(async () => {
    await cluster.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
  });
  afterAll(async () => {
    await cluster.kc.makeApiClient(CoreV1Api).deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
  });

  it('elects exactly one of two candidates, and a released lease passes at once', async () => {
    // a 60 s lease: b can only lead within the test's waits if a hands the lease over
    const a = candidate('a', 'release', 60_000);
    await waitFor(() => a.elector.isLeader(), { what: 'a to lead' });
    const b = candidate('b', 'release', 60_000);
    // b keeps trying while a renews
    for (let i = 0; i < 16; i++) {
      await new Promise((r) => setTimeout(r, 250));
      expect(b.elector.isLeader()).toBe(false);
    }
    const lease = await api.readNamespacedLease({ name: 'release', namespace: NAMESPACE });
    expect(lease.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 60, leaseTransitions: 0 });
    expect(String(lease.spec?.renewTime)).toMatch(/\.\d{6}Z$/);

    await a.elector.stop();
    await a.running;
    await waitFor(() => b.elector.isLeader(), { what: 'b to lead after the release, long before the 60 s lease ends', timeoutMs: 10_000, intervalMs: 50 });
    expect((await api.readNamespacedLease({ name: 'release', namespace: NAMESPACE })).spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    expect(a.events).toEqual(['started']);
    expect(b.events).toEqual(['started']);
    await b.elector.stop();
    await b.running;
  });

  it('takes over a lease whose holder stopped renewing', async () => {
    // a holder that vanished without releasing: a lease renewed once, never again
    const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
    await api.createNamespacedLease({ namespace: NAMESPACE, body: { metadata: { name: 'expired' }, spec: { holderIdentity: 'gone', leaseDurationSeconds: 2, renewTime: now, acquireTime: now, leaseTransitions: 4 } } });
    const c = candidate('c', 'expired');
    await waitFor(() => c.elector.isLeader(), { what: 'c to take over', timeoutMs: 10_000, intervalMs: 50 });
    expect((await api.readNamespacedLease({ name: 'expired', namespace: NAMESPACE })).spec).toMatchObject({ holderIdentity: 'c', leaseTransitions: 5 });
    await c.elector.stop();
    await c.running;
  });

  it('a leader whose lease is taken from it steps down', async () => {
    const d = candidate('d', 'stolen');
    await waitFor(() => d.elector.isLeader(), { what: 'd to lead' });
    // an admin (or a split brain) rewrites the holder; d's renewals now conflict or see another holder
    const lease = await api.readNamespacedLease({ name: 'stolen', namespace: NAMESPACE });
    lease.spec = { ...lease.spec, holderIdentity: 'intruder', leaseDurationSeconds: 60 };
    await api.replaceNamespacedLease({ name: 'stolen', namespace: NAMESPACE, body: lease });
    await waitFor(() => d.events.includes('stopped'), { what: 'd to step down', timeoutMs: 10_000 });
    expect(d.elector.isLeader()).toBe(false);
    await d.elector.stop();
    await d.running;
  });
});
