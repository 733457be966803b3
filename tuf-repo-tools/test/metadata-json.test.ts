import { canonicalize } from '@tufjs/canonical-json';
import { Metadata, MetadataKind } from '@tufjs/models';
import { describe, expect, it } from 'vitest';
import { metadataJson, signedJson, targetsMetadataFromJson, type JSONObject } from '../src/tuf/metadata-json.js';

const DOC = {
  signatures: [{ keyid: 'ab', sig: 'cd' }],
  signed: {
    _type: 'targets',
    spec_version: '1.0.31',
    version: 3,
    expires: '2030-01-01T00:00:00Z',
    targets: {
      'a.txt': { length: 5, hashes: { sha256: '11' }, custom: { x: 1 } },
      'dir/b.txt': { length: 7, hashes: { sha256: '22', sha512: '33' } },
    },
    x_extra: 'kept',
  },
  other: 'kept too',
} as unknown as JSONObject;

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
