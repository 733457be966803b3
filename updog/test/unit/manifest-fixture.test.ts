/** The manifest of DESIGN.md section 2, as a file: parsed to exact values and written back byte for byte. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifest, serializeManifest } from '../../src/manifest/manifest.js';
import { readyAt } from '../../src/waves/waves.js';

const text = readFileSync(new URL('../../../test/fixtures/manifest.json', import.meta.url), 'utf8');

describe('test/fixtures/manifest.json', () => {
  const manifest = parseManifest(text);

  it('parses to the exact model', () => {
    expect(manifest.migrations).toEqual([{ from: '1.25.0', to: '1.26.0', targets: ['migrate_v1.26.0_foo.lz4'] }]);
    const [update] = manifest.updates;
    expect(update).toMatchObject({ variant: 'aws-k8s-1.31', arch: 'x86_64', version: '1.26.1', maxVersion: '1.26.1' });
    expect(update!.waves.map((w) => [w.seed, w.startsAt.toISOString()])).toEqual([
      [0, '2024-10-30T18:00:00.000Z'],
      [20, '2024-10-30T21:00:00.000Z'],
    ]);
    expect(update!.images.hash).toBe('bottlerocket-aws-k8s-1.31-x86_64-1.26.1-abcdef01-root.verity.lz4');
  });

  it('serializes back to the same bytes', () => {
    expect(serializeManifest(manifest)).toBe(text);
  });

  it('spreads seeds inside the wave and holds later seeds at the last wave time', () => {
    const [update] = manifest.updates;
    expect(readyAt(update!, 0).toISOString()).toBe('2024-10-30T18:00:00.000Z');
    expect(readyAt(update!, 10).toISOString()).toBe('2024-10-30T19:30:00.000Z');
    expect(readyAt(update!, 2047).toISOString()).toBe('2024-10-30T21:00:00.000Z');
  });
});
