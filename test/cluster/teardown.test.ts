/**
 * A test run that dies must not leave a control plane behind. A child process starts its own
 * cluster (from dist/) and then dies: by an uncaught error (the 'exit' handler cleans up) or by
 * SIGKILL (the detached watchdog cleans up). Afterwards no process mentions its work dir and the
 * dir is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from './repo-root.js';
import { waitFor } from './wait.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Pids of processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

/** Starts a cluster in a child process; resolves with the child and the cluster's work dir. */
async function clusterInChild(then: string): Promise<{ child: ChildProcess; workDir: string }> {
  const module = join(repoRoot(), 'dist', 'test', 'cluster', 'cluster.js');
  const script = `import { startCluster } from ${JSON.stringify(module)};\nconst c = await startCluster();\nconsole.log(c.kubeconfigPath);\n${then}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [line] = (await Promise.race([once(child.stdout!, 'data'), once(child, 'exit').then(() => { throw new Error(`child exited before the cluster started: ${stderr}`); })])) as [Buffer];
  const workDir = dirname(line.toString().trim());
  expect(existsSync(workDir)).toBe(true);
  // the control plane and the watchdog (bash) that cleans up if the child is killed; comm is cut at 15 chars
  const names = processesMentioning(workDir).map((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
  expect(names.sort()).toEqual(['bash', 'etcd', 'kube-apiserver', 'kube-controller']);
  return { child, workDir };
}

async function expectNothingLeft(workDir: string): Promise<void> {
  await waitFor(() => processesMentioning(workDir).length === 0 && !existsSync(workDir), {
    what: `no process and no directory left of ${workDir}`,
    timeoutMs: 30_000,
  });
}

describe('test cluster teardown', () => {
  it('cleans up when the process that started it dies of an uncaught error', async () => {
    // the child fails only once told to: a timer raced the look at its processes on a loaded machine
    const { child, workDir } = await clusterInChild("process.stdin.once('data', () => { throw new Error('test failed hard'); });");
    child.stdin!.write('fail now\n');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(1);
    await expectNothingLeft(workDir);
  });

  it('cleans up when the process that started it is SIGKILLed', async () => {
    const { child, workDir } = await clusterInChild('setInterval(() => undefined, 1000);');
    child.kill('SIGKILL');
    await once(child, 'exit');
    await expectNothingLeft(workDir);
  });
});
