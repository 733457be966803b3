/**
 * Monitoring shipped with the Helm chart: a Grafana dashboard and PrometheusRule alerts, built only
 * from the metrics the controller exports (metrics.ts; a test checks every expression's names).
 */

const IN_FLIGHT = 'Staging|Staged|Draining|Rebooting|Verifying';

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}

export function alertRules(): AlertRule[] {
  return [
    {
      alert: 'UpdateOperatorRolloutStalled',
      // nodes are in flight, yet no node has reached Idle (or Failed) for an hour
      expr: `sum(update_operator_nodes{state=~"${IN_FLIGHT}"}) > 0 and sum(changes(update_operator_nodes{state=~"Idle|Failed"}[1h])) == 0`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: { summary: 'OS update rollout stalled', description: 'Nodes have been in flight for over an hour without one finishing: check `kubectl get nodeupdates` and the controller log.' },
    },
    {
      alert: 'UpdateOperatorFailureBudgetSpent',
      expr: 'max(update_operator_paused) == 1 and sum(update_operator_nodes{state="Failed"}) > 0',
      for: '5m',
      labels: { severity: 'warning' },
      annotations: { summary: 'OS update rollout paused by its failure budget', description: 'Failed nodes paused the rollout: fix the cause, then set the policy spec.failureBudget.resetAt to now.' },
    },
    {
      alert: 'UpdateOperatorNodeFailed',
      expr: 'sum(update_operator_nodes{state="Failed"}) > 0',
      for: '5m',
      labels: { severity: 'warning' },
      annotations: { summary: 'A node failed its OS update', description: '{{ $value }} node(s) are Failed: `kubectl get nodeupdates` shows each reason.' },
    },
    {
      alert: 'UpdateOperatorNoLeader',
      expr: 'max(update_operator_leader) == 0',
      for: '10m',
      labels: { severity: 'warning' },
      annotations: { summary: 'No update-operator controller leads', description: 'No replica holds the leader Lease: no node is being updated.' },
    },
  ];
}

export function prometheusRule(namespace: string): object {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'update-operator', namespace },
    spec: { groups: [{ name: 'update-operator', rules: alertRules() }] },
  };
}

interface Panel {
  title: string;
  type: 'timeseries' | 'stat';
  exprs: Array<{ expr: string; legend: string }>;
  unit?: string;
}

const PANELS: Panel[] = [
  { title: 'Nodes by state', type: 'timeseries', exprs: [{ expr: 'sum by (state) (update_operator_nodes)', legend: '{{state}}' }] },
  { title: 'Nodes by version', type: 'timeseries', exprs: [{ expr: 'sum by (version) (update_operator_nodes)', legend: '{{version}}' }] },
  { title: 'Nodes in flight', type: 'stat', exprs: [{ expr: `sum(update_operator_nodes{state=~"${IN_FLIGHT}"})`, legend: 'in flight' }] },
  { title: 'Rollout paused', type: 'stat', exprs: [{ expr: 'max(update_operator_paused)', legend: 'paused' }] },
  { title: 'Failures by reason (1 h)', type: 'timeseries', exprs: [{ expr: 'sum by (reason) (increase(update_operator_failures_total[1h]))', legend: '{{reason}}' }] },
  { title: 'Drain duration p95', type: 'timeseries', unit: 's', exprs: [{ expr: 'histogram_quantile(0.95, sum by (le, result) (rate(update_operator_drain_duration_seconds_bucket[15m])))', legend: '{{result}}' }] },
  { title: 'Reconcile duration p95', type: 'timeseries', unit: 's', exprs: [{ expr: 'histogram_quantile(0.95, sum by (le, kind) (rate(update_operator_reconcile_duration_seconds_bucket[5m])))', legend: '{{kind}}' }] },
  { title: 'API requests per second', type: 'timeseries', unit: 'reqps', exprs: [{ expr: 'sum by (verb, resource) (rate(update_operator_api_requests_total[5m]))', legend: '{{verb}} {{resource}}' }] },
  { title: 'Leader replicas', type: 'stat', exprs: [{ expr: 'sum(update_operator_leader)', legend: 'leaders' }] },
];

export function grafanaDashboard(): object {
  return {
    title: 'update-operator',
    uid: 'update-operator',
    schemaVersion: 39,
    tags: ['update-operator'],
    time: { from: 'now-24h', to: 'now' },
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus' }] },
    panels: PANELS.map((p, i) => ({
      id: i + 1,
      title: p.title,
      type: p.type,
      datasource: { type: 'prometheus', uid: '${datasource}' },
      gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
      ...(p.unit ? { fieldConfig: { defaults: { unit: p.unit }, overrides: [] } } : {}),
      targets: p.exprs.map((e, j) => ({ refId: String.fromCharCode(65 + j), expr: e.expr, legendFormat: e.legend })),
    })),
  };
}

/** Every PromQL expression of the dashboard and the alerts (for the test that checks their metric names). */
export function monitoringExpressions(): string[] {
  return [...alertRules().map((r) => r.expr), ...PANELS.flatMap((p) => p.exprs.map((e) => e.expr))];
}
