import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { NodeUpdateSpec, NodeUpdateStatus, UpdatePolicySpec, UpdatePolicyStatus } from '../src/model/api.js';
import { resolvePolicy } from '../src/model/api.js';
import { nodeUpdateCrd, updatePolicyCrd } from '../src/model/crd.js';
import { deployFiles } from '../src/deploy/render.js';

type Schema = { properties?: Record<string, Schema>; items?: Schema };

/** Dotted paths of every property the schema declares (array items as `[]`). */
function schemaPaths(schema: Schema, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, sub] of Object.entries(schema.properties ?? {})) {
    const path = prefix + key;
    out.push(path);
    if (sub.items?.properties) out.push(...schemaPaths(sub.items, `${path}[].`));
    else if (sub.properties && key !== 'matchLabels') out.push(...schemaPaths(sub, `${path}.`));
  }
  return out.sort();
}

/** Dotted paths of every key of a fully populated example object. */
function valuePaths(value: unknown, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, sub] of Object.entries(value as Record<string, unknown>)) {
    const path = prefix + key;
    out.push(path);
    if (Array.isArray(sub)) {
      if (typeof sub[0] === 'object') out.push(...valuePaths(sub[0], `${path}[].`));
    }
    else if (typeof sub === 'object' && sub !== null && key !== 'matchLabels') out.push(...valuePaths(sub, `${path}.`));
  }
  return out.sort();
}

const t = '2026-01-01T00:00:00Z';
const failure = { reason: 'R', message: 'M', time: t, version: '1.0.1' };
// `Required<...>` makes the compiler demand every field the types declare.
const fullSpec: Required<NodeUpdateSpec> = { desiredState: 'Staged', targetVersion: '1.0.1' };
const fullStatus: Required<NodeUpdateStatus> = {
  state: 'Draining', stateSince: t, targetVersion: '1.0.1', attempts: 1, lastFailure: failure, nextAttemptAt: t,
  conditions: [{ type: 'DrainBlocked', status: 'True', reason: 'R', message: 'M', lastTransitionTime: t }],
  hostState: 'Staged', currentVersion: '1.0.0', availableVersion: '1.0.1', stagedVersion: '1.0.1',
  observedGeneration: 2, rebootGeneration: 2, agentFailure: { ...failure, generation: 2 }, agentHeartbeat: t,
};
const fullPolicy: Required<UpdatePolicySpec> = {
  nodeSelector: { matchLabels: { a: 'b' }, matchExpressions: [{ key: 'k', operator: 'In', values: ['v'] }] },
  targetVersion: '1.0.1', maxUnavailable: '20%',
  maintenanceWindows: [{ schedule: '0 2 * * *', timeZone: 'Europe/Paris', durationSeconds: 3600 }],
  drain: { podTimeoutSeconds: 1, timeoutSeconds: 2, escalation: 'GiveUp' },
  healthGate: { soakSeconds: 1, requireDaemonSetPodsReady: true },
  deadlines: { stageSeconds: 1, rebootSeconds: 1, verifySeconds: 1 },
  failureBudget: { maxFailures: 1, resetAt: t }, excludeFromLoadBalancers: true, paused: false,
};
const fullPolicyStatus: Required<UpdatePolicyStatus> = {
  paused: true, pausedReason: 'Paused', failures: 1, nodesUpdating: 1, maxUnavailable: 1, inMaintenanceWindow: true, observedGeneration: 1,
  nodes: 3, nodesUpToDate: 1, conflicts: 1, conflictingNodes: ['n1'],
};

function versionSchema(crd: typeof nodeUpdateCrd) {
  const props = crd.spec.versions[0]!.schema.openAPIV3Schema.properties as Record<string, Schema>;
  return { spec: props['spec']!, status: props['status']! };
}

describe('CRD schemas match the TypeScript types', () => {
  it('NodeUpdate spec and status declare exactly the typed fields', () => {
    const s = versionSchema(nodeUpdateCrd);
    expect(schemaPaths(s.spec)).toEqual(valuePaths(fullSpec));
    expect(schemaPaths(s.status)).toEqual(valuePaths(fullStatus));
  });
  it('UpdatePolicy spec and status declare exactly the typed fields', () => {
    const s = versionSchema(updatePolicyCrd);
    expect(schemaPaths(s.spec)).toEqual(valuePaths(fullPolicy));
    expect(schemaPaths(s.status)).toEqual(valuePaths(fullPolicyStatus));
  });
  it('both CRDs are cluster-scoped with a status subresource and printer columns', () => {
    for (const crd of [nodeUpdateCrd, updatePolicyCrd]) {
      expect(crd.spec.scope).toBe('Cluster');
      expect(crd.spec.versions[0]!.subresources).toEqual({ status: {} });
      expect(crd.spec.versions[0]!.additionalPrinterColumns.length).toBeGreaterThan(3);
    }
    expect(nodeUpdateCrd.metadata.name).toBe('nodeupdates.updates.updog.dev');
  });
  it('every file under deploy/ is the generated text (regenerate: update-operator manifests --write update-operator/deploy)', () => {
    const files = deployFiles();
    expect(Object.keys(files).sort()).toEqual([
      'crds.yaml', 'helm/update-operator/Chart.yaml', 'helm/update-operator/crds/crds.yaml', 'helm/update-operator/files/grafana-dashboard.json',
      'helm/update-operator/templates/grafana-dashboard.yaml', 'helm/update-operator/templates/operator.yaml', 'helm/update-operator/templates/prometheusrule.yaml',
      'helm/update-operator/values.yaml', 'operator.yaml',
    ]);
    for (const [path, text] of Object.entries(files)) expect(readFileSync(new URL(`../deploy/${path}`, import.meta.url), 'utf8'), path).toBe(text);
  });
});

describe('resolvePolicy', () => {
  it('fills every default for an absent policy', () => {
    expect(resolvePolicy()).toEqual({
      nodeSelector: {}, targetVersion: undefined, maxUnavailable: 1, maintenanceWindows: [],
      drain: { podTimeoutSeconds: 300, timeoutSeconds: 1800, escalation: 'GiveUp' },
      healthGate: { soakSeconds: 60, requireDaemonSetPodsReady: true },
      deadlines: { stageSeconds: 1800, rebootSeconds: 900, verifySeconds: 900 },
      failureBudget: { maxFailures: 1, resetAt: undefined }, excludeFromLoadBalancers: false, paused: false,
    });
  });
  it('keeps given fields and defaults the rest of a partly set group', () => {
    const p = resolvePolicy({ drain: { podTimeoutSeconds: 5 }, maxUnavailable: '40%' });
    expect(p.drain).toEqual({ podTimeoutSeconds: 5, timeoutSeconds: 1800, escalation: 'GiveUp' });
    expect(p.maxUnavailable).toBe('40%');
  });
});
