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
});
