import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Metadata, MetadataKind, Targets } from '@tufjs/models';
import { describe, expect, it } from 'vitest';
import { libraryTargetsJson, makeTargetsJsonLinear } from '../../src/tuf/targets-json.js';

type Json = Parameters<typeof Targets.fromJSON>[0];

/** Targets metadata with target `custom` data and unknown fields, which must survive a round trip. */
const SIGNED = (JSON.parse(readFileSync(new URL('../../../test/fixtures/targets.json', import.meta.url), 'utf8')) as { signed: Record<string, unknown> }).signed;
const DELEGATIONS = {
  keys: { k1: { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: 'ab' } } },
  roles: [{ name: 'r', keyids: ['k1'], threshold: 1, terminating: false, paths: ['x/*'] }],
};

const library = (data: unknown): Targets => libraryTargetsJson.fromJSON.call(Targets, data as Json);
const libraryJson = (t: Targets): string => JSON.stringify(libraryTargetsJson.toJSON.call(t));
const outcome = (f: () => unknown): string => {
  try {
    return `ok ${JSON.stringify(f())}`;
  } catch (err) {
    return `${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
};

describe('linear targets JSON for @tufjs/models', () => {
  makeTargetsJsonLinear();

  it.each([
    ['targets and unknown fields', SIGNED],
    ['delegations', { ...SIGNED, delegations: DELEGATIONS }],
    ['no targets key', { ...SIGNED, targets: undefined }],
    ['empty targets', { ...SIGNED, targets: {} }],
    ['targets is an empty array (the library takes it)', { ...SIGNED, targets: [] }],
    ['a target named __proto__', { ...SIGNED, targets: JSON.parse('{"__proto__": {"length": 1, "hashes": {"sha256": "aa"}}, "b": {"length": 2, "hashes": {"sha256": "bb"}}}') as unknown }],
  ])('parses and serialises exactly like the library: %s', (_name, signed) => {
    const ours = Targets.fromJSON(signed as Json);
    const theirs = library(signed);
    expect(ours.equals(theirs)).toBe(true);
    expect(JSON.stringify(ours.toJSON())).toBe(libraryJson(theirs)); // key order included
    expect(Object.keys(ours.targets)).toEqual(Object.keys(theirs.targets));
    expect(Object.getPrototypeOf(ours.targets)).toBe(Object.prototype);
  });

  it.each([
    ['targets is a string', { ...SIGNED, targets: 'x' }],
    ['a target is not an object', { ...SIGNED, targets: { 'a.txt': 1 } }],
    ['a target lacks its length', { ...SIGNED, targets: { 'a.txt': { hashes: { sha256: '11' } } } }],
    ['expires is missing', { ...SIGNED, expires: undefined }],
    ['delegations are malformed', { ...SIGNED, delegations: 'x' }],
    ['a target and the delegations are malformed (the target is reported)', { ...SIGNED, targets: { 'a.txt': { hashes: {} } }, delegations: 'x' }],
    ['spec_version and a target are malformed (spec_version is reported)', { ...SIGNED, spec_version: 'x', targets: { 'a.txt': { hashes: {} } } }],
    ['the document is null', null],
  ])('fails with the library error when %s', (_name, signed) => {
    const theirs = outcome(() => library(signed));
    expect(theirs).not.toMatch(/^ok/);
    expect(outcome(() => Targets.fromJSON(signed as Json))).toBe(theirs);
  });

  it('is what Metadata.fromJSON and tuf-js use (one copy of @tufjs/models)', () => {
    const md = Metadata.fromJSON(MetadataKind.Targets, { signatures: [], signed: SIGNED } as unknown as Parameters<typeof Metadata.fromJSON>[1]);
    expect(md.signed.targets['dir/b.txt']!.length).toBe(7);
    const require = createRequire(import.meta.url);
    const fromTufJs = createRequire(require.resolve('tuf-js')).resolve('@tufjs/models');
    expect(fromTufJs).toBe(require.resolve('@tufjs/models'));
  });
});
