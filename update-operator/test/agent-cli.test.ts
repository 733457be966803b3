import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distBin, runBin } from '../../updog/test/helpers/run-bin.js';

const BIN = distBin('update-operator/dist/bundle/update-operator.js');

describe('update-operator agent (command line)', () => {
  it('needs its node name', async () => {
    const r = await runBin(BIN, ['agent', '--socket', '/nonexistent.sock'], { NODE_NAME: undefined });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('update-operator: error: the agent needs its node name: pass --node-name or set NODE_NAME\n');
  });

  it('rejects a bad interval as a usage error', async () => {
    const r = await runBin(BIN, ['agent', '--node-name', 'n1', '--heartbeat-seconds', '0']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('expected a positive number of seconds, got "0"');
  });

  it('keeps running while the apiserver and the host API are unreachable, and exits 0 on SIGTERM', { timeout: 20_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-cli-'));
    try {
      const kubeconfig = join(dir, 'kubeconfig');
      // port 9 on loopback: nothing listens (connection refused at once)
      writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "http://127.0.0.1:9", insecure-skip-tls-verify: true}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: t}\n');
      const child = spawn(process.execPath, [BIN, 'agent', '--node-name', 'n1', '--kubeconfig', kubeconfig, '--socket', join(dir, 'none.sock')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      await new Promise((r) => setTimeout(r, 3000));
      expect(child.exitCode).toBeNull();
      expect(stderr).toContain('agent pass failed; retrying on the next heartbeat');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).not.toContain('internal error');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
