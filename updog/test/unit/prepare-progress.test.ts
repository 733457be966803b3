import { describe, expect, it } from 'vitest';
import { finishedPrepareProgress, startPrepareProgress, withSnapshot } from '../../src/api/prepare-progress.js';

describe('prepareProgress', () => {
  it('keeps one entry per image in install order, summed; a stream install reuses nothing', () => {
    let p = startPrepareProgress('1.1.0');
    expect(p).toEqual({ version: '1.1.0', state: 'running', fetched: 0, reused: 0, total: 0, images: [] });
    p = withSnapshot(p, { image: 'root', downloaded: 100, total: 1000, reused: 4096, written: 8192, decodedTotal: 65536, elapsedMs: 5 });
    p = withSnapshot(p, { image: 'root', downloaded: 1000, total: 1000, reused: 60_000, written: 65536, decodedTotal: 65536, elapsedMs: 9 });
    p = withSnapshot(p, { image: 'boot', downloaded: 30, total: 50, elapsedMs: 1 });
    expect(p).toEqual({
      version: '1.1.0',
      state: 'running',
      fetched: 1030,
      reused: 60_000,
      total: 1050,
      images: [
        { image: 'root', fetched: 1000, reused: 60_000, total: 1000 },
        { image: 'boot', fetched: 30, reused: 0, total: 50 },
      ],
    });
    expect(finishedPrepareProgress(p, 'cancelled')).toEqual({ ...p, state: 'cancelled' });
  });
});
