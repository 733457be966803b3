import { describe, expect, it } from 'vitest';
import type { Update } from '../../src/manifest/manifest.js';
import { MAX_SEED, readyAt, SeedError } from '../../src/waves/waves.js';

const T0 = Date.parse('2024-10-30T18:00:00Z');
const HOUR = 3_600_000;

function update(waves: [number, number][]): Update {
  return {
    variant: 'v',
    arch: 'x86_64',
    version: '1.0.0',
    maxVersion: '1.0.0',
    waves: waves.map(([seed, hours]) => ({ seed, startsAt: new Date(T0 + hours * HOUR) })),
    images: { boot: 'b', root: 'r', hash: 'h' },
  };
}

// keys 100 -> +0h, 200 -> +10h, 1000 -> +50h
const u = update([
  [100, 0],
  [200, 10],
  [1000, 50],
]);
const iso = (d: Date): string => d.toISOString();

describe('readyAt', () => {
  it('is the first key time before (and at) the first key', () => {
    expect(iso(readyAt(u, 0))).toBe('2024-10-30T18:00:00.000Z');
    expect(iso(readyAt(u, 99))).toBe('2024-10-30T18:00:00.000Z');
    expect(iso(readyAt(u, 100))).toBe('2024-10-30T18:00:00.000Z');
  });

  it('spreads hosts inside the first wave by position', () => {
    // (100, 200]: 0h..10h; seed 101 is 1/100 in, seed 150 half way, seed 200 at the end
    expect(iso(readyAt(u, 101))).toBe('2024-10-30T18:06:00.000Z');
    expect(iso(readyAt(u, 150))).toBe('2024-10-30T23:00:00.000Z');
    expect(iso(readyAt(u, 200))).toBe('2024-10-31T04:00:00.000Z');
  });

  it('spreads hosts inside a later wave by position in that wave, not by absolute seed', () => {
    // (200, 1000]: 10h..50h; seed 400 is 200/800 = 1/4 in -> 20h
    expect(iso(readyAt(u, 400))).toBe('2024-10-31T14:00:00.000Z');
    // seed 201 -> 10h + 40h/800 = 10h 3m
    expect(iso(readyAt(u, 201))).toBe('2024-10-31T04:03:00.000Z');
    // 10h + 40h * 333/800 = 10h + 16h 39m
    expect(iso(readyAt(u, 533))).toBe('2024-10-31T20:39:00.000Z');
  });

  it('is the last key time after the last key, including seed 2048', () => {
    expect(iso(readyAt(u, 1001))).toBe('2024-11-01T20:00:00.000Z');
    expect(iso(readyAt(u, MAX_SEED))).toBe('2024-11-01T20:00:00.000Z');
  });

  it('handles a wave keyed at seed 0 and seed 2048', () => {
    const edges = update([
      [0, 0],
      [2048, 20],
    ]);
    expect(iso(readyAt(edges, 0))).toBe('2024-10-30T18:00:00.000Z');
    expect(iso(readyAt(edges, 1024))).toBe('2024-10-31T04:00:00.000Z');
    expect(iso(readyAt(edges, 2048))).toBe('2024-10-31T14:00:00.000Z');
  });

  it('never ends a wave at a key above 2048, as upstream (such keys still parse)', () => {
    // {0: T, 4096: T+168h}: seed 2048 is after the last usable key, so ready at T (not T+84h)
    const above = update([
      [0, 0],
      [4096, 168],
    ]);
    expect(iso(readyAt(above, 2048))).toBe('2024-10-30T18:00:00.000Z');
    expect(iso(readyAt(above, 1))).toBe('2024-10-30T18:00:00.000Z');
    // with a key at 2048, that key ends the last wave; the one above is never reached
    const capped = update([
      [0, 0],
      [2048, 24],
      [4096, 168],
    ]);
    expect(iso(readyAt(capped, 2048))).toBe('2024-10-31T18:00:00.000Z');
    expect(iso(readyAt(capped, 1024))).toBe('2024-10-31T06:00:00.000Z');
    // only keys above 2048: no wave holds any seed, ready at once as with no waves
    expect(readyAt(update([[3000, 5]]), 100).getTime()).toBe(0);
  });

  it('does not depend on the order of a hand-built wave list', () => {
    const reversed = { ...u, waves: [...u.waves].reverse() };
    for (const seed of [0, 150, 400, 2048]) expect(readyAt(reversed, seed)).toEqual(readyAt(u, seed));
  });

  it('is ready at once with no waves', () => {
    expect(readyAt(update([]), 1234).getTime()).toBe(0);
  });

  it('rejects seeds above 2048 and non-integers', () => {
    expect(() => readyAt(u, 2049)).toThrow(SeedError);
    expect(() => readyAt(u, 2049)).toThrow('seed 2049 is out of range: it must be an integer from 0 to 2048');
    expect(() => readyAt(u, -1)).toThrow(SeedError);
    expect(() => readyAt(u, 1.5)).toThrow(SeedError);
  });
});
