import { describe, expect, it } from 'vitest';
import { ManifestError, MAX_MANIFEST_BYTES, parseManifest, serializeManifest, type Manifest } from '../../src/manifest/manifest.js';
import { JsonSyntaxError, parseJsonRejectingDuplicates } from '../../src/manifest/strict-json.js';

const images = { boot: 'b.lz4', root: 'r.lz4', hash: 'h.lz4' };

function doc(update: Record<string, unknown> = {}, migrations: unknown = {}): string {
  return JSON.stringify({
    updates: [{ variant: 'aws-k8s-1.31', arch: 'x86_64', version: '1.26.1', max_version: '1.26.1', waves: {}, images, ...update }],
    migrations,
  });
}

function parseError(json: string): string {
  try {
    parseManifest(json);
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    return (err as Error).message;
  }
  throw new Error('expected parseManifest to throw');
}

describe('parseManifest', () => {
  it('parses the DESIGN.md example, sorting waves by seed and ignoring unknown keys', () => {
    const m = parseManifest(`{ "updates": [ { "variant": "aws-k8s-1.31", "arch": "x86_64", "version": "1.26.1",
        "max_version": "1.26.1", "extra": 1,
        "waves": { "20": "2024-10-30T21:00:00Z", "0": "2024-10-30T18:00:00Z" },
        "images": { "boot": "b", "root": "r", "hash": "h" } } ],
      "migrations": { "(1.25.0, 1.26.0)": ["migrate_v1.26.0_foo.lz4"], "(1.26.0,1.26.1)": [] }, "other": true }`);
    expect(m).toEqual({
      updates: [
        {
          variant: 'aws-k8s-1.31',
          arch: 'x86_64',
          version: '1.26.1',
          maxVersion: '1.26.1',
          waves: [
            { seed: 0, startsAt: new Date('2024-10-30T18:00:00Z') },
            { seed: 20, startsAt: new Date('2024-10-30T21:00:00Z') },
          ],
          images: { boot: 'b', root: 'r', hash: 'h' },
        },
      ],
      migrations: [
        { from: '1.25.0', to: '1.26.0', targets: ['migrate_v1.26.0_foo.lz4'] },
        { from: '1.26.0', to: '1.26.1', targets: [] },
      ],
    });
  });

  it('accepts lenient datetimes', () => {
    const m = parseManifest(doc({ waves: { '1': '2019-8-06T15:00:00Z', '2': '2019-08-06 15:00:00.5+02:00' } }));
    expect(m.updates[0]!.waves.map((w) => w.startsAt.toISOString())).toEqual(['2019-08-06T15:00:00.000Z', '2019-08-06T13:00:00.500Z']);
  });

  it('rejects a bad wave key', () => {
    expect(parseError(doc({ waves: { x1: '2024-10-30T18:00:00Z' } }))).toBe(
      'invalid manifest: updates[0].waves: wave key "x1" is not a seed number (0..4294967295)',
    );
    expect(parseError(doc({ waves: { '4294967296': '2024-10-30T18:00:00Z' } }))).toMatch(/wave key "4294967296" is not a seed/);
    expect(parseError(doc({ waves: { '-1': '2024-10-30T18:00:00Z' } }))).toMatch(/wave key "-1" is not a seed/);
  });

  it('rejects a bad wave datetime', () => {
    expect(parseError(doc({ waves: { '0': '2024-02-30T18:00:00Z' } }))).toBe(
      'invalid manifest: updates[0].waves.0: "2024-02-30T18:00:00Z" is not a UTC datetime like 2024-10-30T18:00:00Z',
    );
    expect(parseError(doc({ waves: { '0': '2024-10-30T18:00:00' } }))).toMatch(/is not a UTC datetime/);
  });

  it('rejects duplicate wave keys, literal or numerically equal', () => {
    const literal = doc().replace('"waves":{}', '"waves":{"20":"2024-10-30T21:00:00Z","20":"2024-10-30T22:00:00Z"}');
    expect(parseError(literal)).toBe('invalid manifest: duplicate key "20" in updates[0].waves');
    expect(parseError(doc({ waves: { '20': '2024-10-30T21:00:00Z', '020': '2024-10-30T22:00:00Z' } }))).toBe(
      'invalid manifest: updates[0].waves: duplicate wave key "020" (same seed as "20")',
    );
  });

  it('rejects bad and duplicate migration keys', () => {
    expect(parseError(doc({}, { '1.25.0 -> 1.26.0': [] }))).toBe('invalid manifest: migrations: key "1.25.0 -> 1.26.0" must look like "(1.25.0, 1.26.0)"');
    expect(parseError(doc({}, { '(v1.25.0, 1.26.0)': [] }))).toMatch(/key "\(v1.25.0, 1.26.0\)" must look like/);
    expect(parseError(doc({}, { '(1.25.0 ,1.26.0)': [] }))).toMatch(/must look like/);
    expect(parseError(doc({}, { '(1.25.0,1.26.0,1.27.0)': [] }))).toMatch(/must look like/);
    expect(parseError(doc({}, { '(1.25.0, 1.26.0)': [], '(1.25.0,1.26.0)': [] }))).toBe(
      'invalid manifest: migrations: duplicate key "(1.25.0,1.26.0)" (same as "(1.25.0, 1.26.0)")',
    );
    expect(parseError(doc({}, { '(1.25.0, 1.26.0)': 'x.lz4' }))).toBe('invalid manifest: migrations["(1.25.0, 1.26.0)"] must be a JSON array');
  });

  it('rejects missing fields and wrong types with their location', () => {
    expect(parseError('{"updates": []}')).toBe('invalid manifest: the manifest is missing required field "migrations"');
    expect(parseError(doc({ max_version: undefined }))).toBe('invalid manifest: updates[0] is missing required field "max_version"');
    expect(parseError(doc({ images: { boot: 'b', root: 'r' } }))).toBe('invalid manifest: updates[0].images is missing required field "hash"');
    expect(parseError(doc({ version: 'v1.2.3' }))).toBe('invalid manifest: updates[0].version: "v1.2.3" is not a semantic version like 1.26.1');
    expect(parseError(doc({ arch: 64 }))).toBe('invalid manifest: updates[0].arch must be a string');
    expect(parseError('[]')).toBe('invalid manifest: the manifest must be a JSON object');
    expect(parseError('{"updates": [], "migrations": {}')).toBe("invalid manifest: expected '}' at offset 32");
  });
});

describe('parse limits', () => {
  it('refuses nesting deeper than 64 levels, even 100,000 deep in an unknown field, in one line', () => {
    const nested = (depth: number) => doc().replace('{"updates"', `{"x":${'['.repeat(depth)}${']'.repeat(depth)},"updates"`);
    expect(parseManifest(nested(63)).updates).toHaveLength(1); // the top-level object is level 1
    expect(parseError(nested(64))).toBe('invalid manifest: nesting deeper than 64 levels at offset 68');
    expect(parseError(nested(100_000))).toBe('invalid manifest: nesting deeper than 64 levels at offset 68');
    expect(() => parseJsonRejectingDuplicates('[[[1]]]', { maxDepth: 2 })).toThrow(new JsonSyntaxError('nesting deeper than 2 levels at offset 2'));
    expect(parseJsonRejectingDuplicates('[[[1]]]', { maxDepth: 3 })).toEqual([[[1]]]);
  });

  it('refuses a manifest over 64 MiB before parsing it, and accepts one at the limit', () => {
    const text = doc();
    const atLimit = text + ' '.repeat(MAX_MANIFEST_BYTES - text.length);
    expect(parseManifest(atLimit).updates).toHaveLength(1);
    expect(parseError(`${atLimit} `)).toBe(`invalid manifest: it is ${MAX_MANIFEST_BYTES + 1} bytes, more than the limit of 67108864 (64 MiB)`);
    // counted in UTF-8 bytes, not characters: "é" is two
    const multiByte = doc({ variant: 'é'.repeat(34_000_000) });
    expect(multiByte.length).toBeLessThan(MAX_MANIFEST_BYTES);
    expect(parseError(multiByte)).toBe(`invalid manifest: it is ${Buffer.byteLength(multiByte)} bytes, more than the limit of 67108864 (64 MiB)`);
  });

  it('decodes keys with escapes before comparing them, and keeps JSON.parse values', () => {
    expect(() => parseJsonRejectingDuplicates('{"a":1,"\\\\u0061":2}')).not.toThrow(); // the key is backslash u0061
    expect(() => parseJsonRejectingDuplicates('{"a":1,"\\u0061":2}')).toThrow(new JsonSyntaxError('duplicate key "a" in the top-level object'));
    expect(() => parseJsonRejectingDuplicates('[{"u":[{"k":1,"k":2}]}]')).toThrow(new JsonSyntaxError('duplicate key "k" in [0].u[0]'));
    expect(parseJsonRejectingDuplicates('{"__proto__":{"x":1},"n":[1.5e3,-0,true,false,null,"\\ud83d\\ude00"]}')).toEqual(
      JSON.parse('{"__proto__":{"x":1},"n":[1.5e3,-0,true,false,null,"\\ud83d\\ude00"]}'),
    );
    for (const bad of ['', '{', '{"a"}', '{"a":}', '[1,]', '[1 2]', '{"a":1,}', '01', '"\\x"', 'tru', '[1]x', '{"a":1 "b":2}']) {
      expect(() => parseJsonRejectingDuplicates(bad), bad).toThrow(JsonSyntaxError);
    }
  });
});

describe('serializeManifest', () => {
  it('writes the exact DESIGN.md layout and round-trips', () => {
    const m: Manifest = {
      updates: [
        {
          variant: 'aws-k8s-1.31',
          arch: 'x86_64',
          version: '1.26.1',
          maxVersion: '1.26.1',
          waves: [
            { seed: 0, startsAt: new Date('2024-10-30T18:00:00.250Z') },
            { seed: 102, startsAt: new Date('2024-10-31T18:00:00Z') },
            { seed: 20, startsAt: new Date('2024-10-30T21:00:00Z') },
          ],
          images,
        },
      ],
      migrations: [{ from: '1.25.0', to: '1.26.0', targets: ['migrate_v1.26.0_foo.lz4'] }],
    };
    const text = serializeManifest(m);
    expect(text).toBe(`{
  "updates": [
    {
      "variant": "aws-k8s-1.31",
      "arch": "x86_64",
      "version": "1.26.1",
      "max_version": "1.26.1",
      "waves": {
        "0": "2024-10-30T18:00:00.250Z",
        "20": "2024-10-30T21:00:00Z",
        "102": "2024-10-31T18:00:00Z"
      },
      "images": {
        "boot": "b.lz4",
        "root": "r.lz4",
        "hash": "h.lz4"
      }
    }
  ],
  "migrations": {
    "(1.25.0, 1.26.0)": [
      "migrate_v1.26.0_foo.lz4"
    ]
  }
}
`);
    expect(serializeManifest(parseManifest(text))).toBe(text);
  });
});
