/**
 * `npm run demo:cluster`: its rollout on the shared test cluster (every node updated and
 * uncordoned, the budget and the PDB kept, nothing left behind), and the compiled script on its
 * own control plane, interrupted mid-rollout like Ctrl-C: it must stop everything it started.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { NEW, runClusterRollout } from '../../demo/cluster-rollout.js';
import { GROUP, NODE_UPDATE, UPDATE_POLICY, VERSION } from '@updog-ts/update-operator';
import { repoRoot } from './repo-root.js';
import { useTestCluster } from './vitest-cluster.js';

const cluster = useTestCluster();
const dirs: string[] = [];
const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Processes whose command line contains `text` (every process the demo starts names one of its temp dirs). */
function processesMentioning(text: string): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return ps.stdout.split('\n').filter((line) => line.includes(text));
}

describe('cluster demo', () => {
  it('rolls 1.1.0 over 3 nodes one at a time, keeps the PDB minimum, ends uncordoned and cleans up', { timeout: 240_000 }, async () => {
    const workDir = tempDir('demo-cluster-test-');
    let view = '';
    const outcome = await runClusterRollout(cluster, { id: 'demotest', nodes: 3, workDir, out: { write: (text: string) => (view += text) } });

    expect(outcome.nodes).toEqual([1, 2, 3].map((i) => ({ name: `demotest-${i}`, version: NEW, cordoned: false, state: 'Idle' })));
    expect(outcome.budget).toBe(1);
    expect(outcome.maxCordoned).toBe(1);
    expect(outcome.maxInFlight).toBe(1);
    expect(outcome.minReadyPods).toBeGreaterThanOrEqual(outcome.pdbMinAvailable);
    expect(outcome.pdbMinAvailable).toBe(2);
    expect(existsSync(join(workDir, 'outcome.json'))).toBe(true);

    // not a terminal: the view appends one line per change, and each node went through the whole cycle
    for (const name of ['demotest-1', 'demotest-2', 'demotest-3']) {
      expect(view).toContain(`${name} | Idle | 1.0.0 | cordoned no | waiting for a free slot`);
      expect(view).toMatch(new RegExp(`${name} \\| Draining \\| 1\\.0\\.0 \\| cordoned yes \\| `));
      expect(view).toMatch(new RegExp(`${name} \\| Rebooting \\| [0-9.]+ \\| cordoned yes \\| rebooting into 1\\.1\\.0`));
      expect(view).toContain(`${name} | Idle | 1.1.0 | cordoned no | updated`);
    }
    expect(view).not.toContain('\x1b[');

    // nothing left in the shared cluster
    const core = cluster.kc.makeApiClient(CoreV1Api);
    const custom = cluster.kc.makeApiClient(CustomObjectsApi);
    expect((await core.listNode({ labelSelector: 'demo.updog.dev/fleet=demotest' })).items).toEqual([]);
    const nus = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_UPDATE.plural })) as { items: Array<{ metadata: { name: string } }> };
    expect(nus.items.filter((nu) => nu.metadata.name.startsWith('demotest-'))).toEqual([]);
    await expect(custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: UPDATE_POLICY.plural, name: 'demotest' })).rejects.toMatchObject({ code: 404 });
    expect(processesMentioning('--identity demotest-controller')).toEqual([]);
  });

  it('the compiled script, interrupted mid-rollout, stops every process and removes its temp dirs', { timeout: 240_000 }, async () => {
    // every temp dir the demo makes (its own, the control plane's, the fleet's, the repository's) lands here
    const tmp = tempDir('demo-cluster-sigint-');
    const child = spawn(process.execPath, [join(repoRoot(), 'dist/demo/cluster-demo.js')], {
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const killChild = () => child.kill('SIGKILL');
    process.on('exit', killChild);
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Ctrl-C once a node is being drained
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (/\| Draining \| /.test(stdout)) resolve();
      });
      void exited.then((code) => reject(new Error(`demo exited ${code} before draining a node\n${stdout}\n${stderr}`)));
    });
    expect(processesMentioning(tmp).length).toBeGreaterThan(0);
    child.kill('SIGINT');
    const code = await exited;
    process.off('exit', killChild);

    expect(code).toBe(130);
    expect(stdout).toContain('Interrupted: the controller, the nodes and the control plane are stopped and removed.');
    expect(processesMentioning(tmp)).toEqual([]);
    // left: only the demo's own working directory, holding the policy it applied
    const [workDir, ...others] = readdirSync(tmp);
    expect(others).toEqual([]);
    expect(workDir).toMatch(/^updog-cluster-demo-/);
    expect(readdirSync(join(tmp, workDir!))).toEqual(['update-policy.json']);
  });
});
