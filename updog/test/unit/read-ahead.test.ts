import { describe, expect, it } from 'vitest';
import { withReadAhead } from '../../src/block-install/local-blocks.js';

describe('withReadAhead', () => {
  it('reads item k + 1 into the other slot before item k is processed, in order', async () => {
    const events: string[] = [];
    await withReadAhead(
      3,
      ['A', 'B'],
      async (k, slot) => {
        events.push(`read ${k} into ${slot}`);
        await new Promise((r) => setTimeout(r, 5));
      },
      (k, slot) => {
        events.push(`process ${k} from ${slot}`);
      },
    );
    expect(events).toEqual(['read 0 into A', 'read 1 into B', 'process 0 from A', 'read 2 into A', 'process 1 from B', 'process 2 from A']);
  });

  it('reports the first error and waits for the read in flight, whose own error is dropped', async () => {
    let inFlightSettled = false;
    const run = withReadAhead(
      3,
      [0, 1],
      async (k) => {
        if (k === 1) {
          await new Promise((r) => setTimeout(r, 20));
          inFlightSettled = true;
          throw new Error('read 1 failed too');
        }
      },
      () => {
        throw new Error('process 0 failed');
      },
    );
    await expect(run).rejects.toThrow('process 0 failed');
    expect(inFlightSettled).toBe(true);
  });

  it('does nothing for no items', async () => {
    await withReadAhead(0, [0, 1], () => Promise.reject(new Error('no read')), () => {
      throw new Error('no process');
    });
  });
});
