import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRootFile } from '../src/tuf/load.js';
import { tufRepo, tufRepoOk, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

interface RootDoc {
  signatures: { keyid: string }[];
  signed: { version: number; expires: string; consistent_snapshot: boolean; keys: Record<string, unknown>; roles: Record<string, { keyids: string[]; threshold: number }> };
}
const readRoot = async (path: string): Promise<RootDoc> => JSON.parse(await readFile(path, 'utf8')) as RootDoc;

describe('root commands', () => {
  it('init, add keys, threshold, expiry, version, sign; edits clear signatures', async () => {
    const dir = await tempDir();
    const root = join(dir, 'root.json');
    const [a, b] = [join(dir, 'a.pem'), join(dir, 'b.pem')];
    const idA = (await tufRepoOk('key', 'gen', '--out', a)).trim();
    const idB = (await tufRepoOk('key', 'gen', '--type', 'ecdsa', '--out', b)).trim();
    await tufRepoOk('root', 'init', root, '--expires', '2031-02-03T04:05:06.700Z');
    expect((await tufRepo('root', 'init', root)).stderr).toBe(`tuf-repo: error: ${root} already exists\n`);
    let doc = await readRoot(root);
    expect(doc.signed).toEqual({
      _type: 'root',
      spec_version: '1.0.31',
      version: 1,
      expires: '2031-02-03T04:05:06Z',
      consistent_snapshot: true,
      keys: {},
      roles: Object.fromEntries(['root', 'targets', 'snapshot', 'timestamp'].map((r) => [r, { keyids: [], threshold: 1 }])),
    });

    expect((await tufRepoOk('root', 'add-key', root, '--key', a, '--role', 'root', '--role', 'targets', '--role', 'snapshot', '--role', 'timestamp')).trim()).toBe(idA);
    await tufRepoOk('root', 'add-key', root, '--key', b, '--role', 'root');
    await tufRepoOk('root', 'set-threshold', root, 'root', '2');
    await tufRepoOk('root', 'set-version', root, '5');
    await tufRepoOk('root', 'expire', root, '2032-01-01T00:00:00Z');
    doc = await readRoot(root);
    expect(doc.signed.roles.root).toEqual({ keyids: [idA, idB], threshold: 2 });
    expect(doc.signed.roles.targets).toEqual({ keyids: [idA], threshold: 1 });
    expect(Object.keys(doc.signed.keys).sort()).toEqual([idA, idB].sort());
    expect([doc.signed.version, doc.signed.expires]).toEqual([5, '2032-01-01T00:00:00Z']);

    // Below threshold: refused and nothing written, unless explicitly allowed.
    const below = await tufRepo('root', 'sign', root, '-k', a);
    expect(below.code).toBe(1);
    expect(below.stderr).toBe('tuf-repo: error: root version 5: 1 valid root signature(s), threshold is 2\n');
    expect((await readRoot(root)).signatures).toEqual([]);
    await tufRepoOk('root', 'sign', root, '-k', a, '--allow-below-threshold');
    expect((await readRoot(root)).signatures.map((s) => s.keyid)).toEqual([idA]);
    await tufRepoOk('root', 'sign', root, '-k', b);
    expect((await readRoot(root)).signatures.map((s) => s.keyid).sort()).toEqual([idA, idB].sort());
    expect((await loadRootFile(root)).signed.version).toBe(5);

    // Any edit invalidates the signatures.
    await tufRepoOk('root', 'bump-version', root);
    doc = await readRoot(root);
    expect([doc.signed.version, doc.signatures]).toEqual([6, []]);

    await tufRepoOk('root', 'remove-key', root, idB);
    doc = await readRoot(root);
    expect(doc.signed.roles.root!.keyids).toEqual([idA]);
    expect(Object.keys(doc.signed.keys)).toEqual([idA]);
    const unusable = await tufRepo('root', 'sign', root, '-k', a);
    expect(unusable.stderr).toBe('tuf-repo: error: role(s) root have fewer keys than their threshold\n');
    expect((await tufRepo('root', 'set-threshold', root, 'mirror', '1')).stderr).toBe('tuf-repo: error: unknown role "mirror" (use root, targets, snapshot, timestamp)\n');
    expect((await tufRepo('root', 'set-threshold', root, 'root', '0')).code).toBe(64);
  });

  it('cross-signing needs consecutive versions and the old threshold', async () => {
    const dir = await tempDir();
    const [a, b] = [join(dir, 'a.pem'), join(dir, 'b.pem')];
    await tufRepoOk('key', 'gen', '--out', a);
    await tufRepoOk('key', 'gen', '--out', b);
    const v1 = join(dir, '1.root.json');
    const v2 = join(dir, '2.root.json');
    for (const [file, key, version] of [[v1, a, '1'], [v2, b, '3']] as const) {
      await tufRepoOk('root', 'init', file);
      await tufRepoOk('root', 'add-key', file, '--key', key, '--role', 'root', '--role', 'targets', '--role', 'snapshot', '--role', 'timestamp');
      await tufRepoOk('root', 'set-version', file, version);
    }
    await tufRepoOk('root', 'sign', v1, '-k', a);
    const gap = await tufRepo('root', 'sign', v2, '-k', a, '-k', b, '--cross-sign', v1);
    expect(gap.stderr).toBe('tuf-repo: error: cross-signing root version 3 with version 1: versions must be consecutive\n');
    await tufRepoOk('root', 'set-version', v2, '2');
    const noOld = await tufRepo('root', 'sign', v2, '-k', b, '--cross-sign', v1);
    expect(noOld.stderr).toBe('tuf-repo: error: root version 2 cross-signed by version 1: 0 valid root signature(s), threshold is 1\n');
    await tufRepoOk('root', 'sign', v2, '-k', a, '-k', b, '--cross-sign', v1);
    expect((await readRoot(v2)).signatures).toHaveLength(2);
  });
});
