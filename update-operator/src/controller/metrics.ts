/** Prometheus metrics of the controller and the HTTP endpoint serving them (/metrics, /healthz). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class ControllerMetrics {
  readonly registry = new Registry();
  /** Counts of managed nodes by `state\0version`, read at each scrape (the controller's caches). */
  nodeCounts: () => ReadonlyMap<string, number> = () => new Map();
  readonly nodes = new Gauge({
    name: 'update_operator_nodes',
    help: 'Nodes per rollout state and running version',
    labelNames: ['state', 'version'],
    registers: [this.registry],
    collect: () => this.setNodes(this.nodeCounts()),
  });
  readonly drainSeconds = new Histogram({
    name: 'update_operator_drain_duration_seconds',
    help: 'Time from cordon to a finished or abandoned drain',
    labelNames: ['result'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  readonly failures = new Counter({ name: 'update_operator_failures_total', help: 'Nodes marked Failed, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly paused = new Gauge({ name: 'update_operator_paused', help: '1 while the rollout is paused (spec or failure budget)', registers: [this.registry] });
  readonly apiRequests = new Counter({ name: 'update_operator_api_requests_total', help: 'Kubernetes API requests made by the controller, by verb and resource (a watch counts once when opened)', labelNames: ['verb', 'resource'], registers: [this.registry] });
  readonly reconcileSeconds = new Histogram({
    name: 'update_operator_reconcile_duration_seconds',
    help: 'Time of one reconcile: of a node, or of the cluster-level admission step',
    labelNames: ['kind'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly leader = new Gauge({ name: 'update_operator_leader', help: '1 while this replica holds the leader Lease', registers: [this.registry] });

  private setNodes(counts: ReadonlyMap<string, number>): void {
    this.nodes.reset();
    for (const [key, n] of counts) {
      const [state, version] = key.split('\0') as [string, string];
      this.nodes.set({ state, version }, n);
    }
  }
}

/** Serves /metrics and /healthz on host:port (port 0 = any); resolves with the bound port. */
export async function serveMetrics(metrics: ControllerMetrics, host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}
