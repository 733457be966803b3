import { readFileSync } from 'node:fs';
import { canonicalize } from '@tufjs/canonical-json';
import { Metadata, MetadataKind } from '@tufjs/models';
import { describe, expect, it } from 'vitest';
import { metadataJson, signedJson, targetsMetadataFromJson, type JSONObject } from '../src/tuf/metadata-json.js';

const DOC = JSON.parse(readFileSync(new URL('../../test/fixtures/targets.json', import.meta.url), 'utf8')) as JSONObject;

describe('metadata JSON (linear-time targets)', () => {
  it('parses and serialises exactly like @tufjs/models', () => {
    const ours = targetsMetadataFromJson(DOC);
    const library = Metadata.fromJSON(MetadataKind.Targets, DOC);
    expect(canonicalize(signedJson(ours))).toBe(canonicalize(library.signed.toJSON()));
    expect(canonicalize(metadataJson(ours))).toBe(canonicalize(library.toJSON()));
    expect(canonicalize(metadataJson(ours))).toBe(canonicalize(DOC));
    expect(ours.signed.targets['dir/b.txt']!.hashes).toEqual({ sha256: '22', sha512: '33' });
  });

  it('rejects what the library rejects', () => {
    const bad = (change: (d: { signed: Record<string, unknown>; signatures: unknown[] }) => void): JSONObject => {
      const d = structuredClone(DOC) as unknown as { signed: Record<string, unknown>; signatures: unknown[] };
      change(d);
      return d as unknown as JSONObject;
    };
    expect(() => targetsMetadataFromJson(bad((d) => (d.signed._type = 'snapshot')))).toThrow("expected 'targets', got snapshot");
    expect(() => targetsMetadataFromJson(bad((d) => (d.signed.targets = 'x')))).toThrow('targets must be an object');
    expect(() => targetsMetadataFromJson(bad((d) => delete d.signed.expires))).toThrow('expires is not defined');
    expect(() => targetsMetadataFromJson(bad((d) => d.signatures.push({ keyid: 'ab', sig: 'ef' })))).toThrow('multiple signatures found for keyid: ab');
    expect(() => targetsMetadataFromJson(bad((d) => ((d.signed.targets as Record<string, unknown>)['a.txt'] = { hashes: {} })))).toThrow(
      'length must be a number',
    );
  });
});
