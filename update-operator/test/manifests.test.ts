import { loadAllYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { helmChartFiles, installYaml } from '../src/deploy/render.js';
import { AGENT_SA, CONTROLLER_SA, DEFAULT_MANIFEST_OPTIONS } from '../src/deploy/manifests.js';
import { alertRules, grafanaDashboard, monitoringExpressions } from '../src/deploy/monitoring.js';
import { ControllerMetrics } from '../src/controller/metrics.js';

type K8sObject = { kind: string; metadata: { name: string; namespace?: string }; spec?: any; rules?: any[] };
const objects = loadAllYaml(installYaml()) as K8sObject[];
const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;

describe('install manifests', () => {
  it('hold every part of an install, namespaced objects in the operator namespace', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Namespace/update-operator',
      'CustomResourceDefinition/nodeupdates.updates.updog.dev',
      'CustomResourceDefinition/updatepolicies.updates.updog.dev',
      `ServiceAccount/${CONTROLLER_SA}`, `ServiceAccount/${AGENT_SA}`,
      `ClusterRole/${CONTROLLER_SA}`, `ClusterRoleBinding/${CONTROLLER_SA}`, `Role/${CONTROLLER_SA}`, `RoleBinding/${CONTROLLER_SA}`,
      `ClusterRole/${AGENT_SA}`, `ClusterRoleBinding/${AGENT_SA}`,
      'ValidatingAdmissionPolicy/update-operator-agent-own-node', 'ValidatingAdmissionPolicyBinding/update-operator-agent-own-node',
      'Deployment/update-operator-controller', 'DaemonSet/update-operator-agent', 'Service/update-operator-metrics',
    ]);
    for (const o of objects.filter((x) => ['ServiceAccount', 'Role', 'RoleBinding', 'Deployment', 'DaemonSet', 'Service'].includes(x.kind))) {
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('update-operator');
    }
  });
  it('give the agent only read access to NodeUpdates and patch on their status', () => {
    expect(find('ClusterRole', AGENT_SA).rules).toEqual([
      { apiGroups: ['updates.updog.dev'], resources: ['nodeupdates'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['updates.updog.dev'], resources: ['nodeupdates/status'], verbs: ['get', 'patch'] },
    ]);
    // leases only in its own namespace
    expect(find('Role', CONTROLLER_SA).rules).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
    expect(JSON.stringify(find('ClusterRole', CONTROLLER_SA).rules)).not.toContain('"*"');
  });
  it('run 2 controller replicas and the agent on opted-in nodes with its node name and the host socket', () => {
    expect(find('Deployment', 'update-operator-controller').spec.replicas).toBe(2);
    const agent = find('DaemonSet', 'update-operator-agent').spec.template.spec;
    expect(agent.nodeSelector).toEqual({ 'updates.updog.dev/agent': 'true' });
    expect(agent.containers[0].env).toEqual([{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }]);
    expect(agent.volumes[0].hostPath.path).toBe(DEFAULT_MANIFEST_OPTIONS.hostSocketDir);
  });
  it('the Helm template is the same objects with namespace, image and replicas as template values', () => {
    const template = helmChartFiles()['templates/operator.yaml']!;
    expect(template).toContain('namespace: {{ .Release.Namespace }}');
    expect(template).toContain('image: {{ .Values.image }}');
    expect(template).toContain('replicas: {{ .Values.controller.replicas }}');
    const rendered = template
      .replaceAll('{{ .Release.Namespace }}', 'update-operator')
      .replaceAll('{{ .Values.image }}', DEFAULT_MANIFEST_OPTIONS.image)
      .replaceAll('{{ .Values.controller.replicas }}', '2');
    expect(loadAllYaml(rendered)).toEqual(objects.slice(3));
  });
});

describe('monitoring', () => {
  it('every dashboard and alert expression names only metrics the controller exports', async () => {
    const exported = new Set<string>();
    for (const m of await new ControllerMetrics().registry.getMetricsAsJSON()) {
      exported.add(m.name);
      if (m.type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${m.name}${suffix}`);
    }
    const expressions = monitoringExpressions();
    expect(expressions.length).toBe(alertRules().length + 9);
    for (const expr of expressions) {
      const names = [...expr.matchAll(/\b(update_operator_[a-z_]+)\b/g)].map((m) => m[1]!);
      expect(names.length, expr).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${name} in ${expr}`).toBe(true);
    }
    expect(alertRules().map((r) => r.alert)).toEqual(['UpdateOperatorRolloutStalled', 'UpdateOperatorFailureBudgetSpent', 'UpdateOperatorNodeFailed', 'UpdateOperatorNoLeader']);
  });
  it('the Helm chart ships the dashboard JSON and the rules behind values switched off by default', () => {
    const files = helmChartFiles();
    expect(JSON.parse(files['files/grafana-dashboard.json']!)).toEqual(grafanaDashboard());
    expect(files['values.yaml']).toContain('grafanaDashboard: false');
    expect(files['templates/grafana-dashboard.yaml']).toContain('{{- if .Values.monitoring.grafanaDashboard }}');
    expect(files['templates/grafana-dashboard.yaml']).toContain('{{ .Files.Get "files/grafana-dashboard.json" | indent 4 }}');
    const rules = files['templates/prometheusrule.yaml']!;
    expect(rules).toContain('{{- if .Values.monitoring.prometheusRule }}');
    // Prometheus's own template syntax survives Helm
    expect(rules).toContain('{{ "{{" }} $value {{ "}}" }}');
    const rendered = loadAllYaml(rules.replace(/^.*\n.*\n/, '').replace('{{- end }}', '').replaceAll('{{ .Release.Namespace }}', 'ns').replaceAll('{{ "{{" }} $value {{ "}}" }}', '{{ $value }}')) as Array<{ spec: { groups: Array<{ rules: unknown[] }> } }>;
    expect(rendered[0]!.spec.groups[0]!.rules).toEqual(alertRules());
  });
});
