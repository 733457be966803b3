/** The `update-operator` bin's own commands (dist/: build first). */
import { loadAllYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { distBin, runBin } from '../../updog/test/helpers/run-bin.js';
import { installYaml } from '../src/deploy/render.js';
import { DEFAULT_MANIFEST_OPTIONS } from '../src/deploy/manifests.js';

const BIN = distBin('update-operator/dist/bundle/update-operator.js');

describe('update-operator controller', () => {
  it('refuses a renew deadline not shorter than the lease', async () => {
    const r = await runBin(BIN, ['controller', '--lease-duration', '5', '--renew-deadline', '5', '--kubeconfig', '/nonexistent']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('update-operator: error: --renew-deadline must be shorter than --lease-duration\n');
  });
  it('names a kubeconfig it cannot load', async () => {
    const r = await runBin(BIN, ['controller', '--kubeconfig', '/nonexistent/kubeconfig']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^update-operator: error: cannot load the kubeconfig \/nonexistent\/kubeconfig: .*ENOENT/);
  });
  it('is a usage error to pass a bad duration', async () => {
    const r = await runBin(BIN, ['controller', '--tick', 'soon']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('expected a positive number of seconds, got "soon"');
  });
});

describe('update-operator manifests', () => {
  it('prints the install for another namespace and image', async () => {
    const r = await runBin(BIN, ['manifests', '--namespace', 'ops', '--image', 'registry.example/updog:1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(installYaml({ ...DEFAULT_MANIFEST_OPTIONS, namespace: 'ops', image: 'registry.example/updog:1' }));
    const objects = loadAllYaml(r.stdout) as Array<{ kind: string; metadata: { namespace?: string }; spec?: { template?: { spec: { containers: Array<{ image: string }> } } } }>;
    expect(objects.filter((o) => o.metadata.namespace !== undefined).every((o) => o.metadata.namespace === 'ops')).toBe(true);
    expect(objects.filter((o) => o.spec?.template).map((o) => o.spec!.template!.spec.containers[0]!.image)).toEqual(['registry.example/updog:1', 'registry.example/updog:1']);
  });
});
