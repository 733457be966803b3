import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestRepository, type TestRepository } from '../helpers/build-repo.js';
import { runBin, UPDOG_BIN, type BinResult } from '../helpers/run-bin.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { tempDir, type TempDir } from '../helpers/temp-dir.js';

const TARGETS = { 'a.txt': Buffer.from('alpha\n'), 'dir/b.bin': Buffer.from([0, 1, 2, 3, 255]) };

interface Setup {
  dir: TempDir;
  repo: TestRepository;
  server: StaticServer;
  md: string;
  td: string;
  tuf(args: string[]): Promise<BinResult>;
}
const setups: Setup[] = [];
afterEach(async () => {
  for (const s of setups.splice(0)) {
    await s.server.close();
    s.dir.cleanup();
  }
});

async function setup(): Promise<Setup> {
  const dir = tempDir();
  const repo = buildTestRepository(join(dir.path, 'repo'), { targets: TARGETS });
  const server = await startStaticServer(join(dir.path, 'repo'));
  const s: Setup = {
    dir,
    repo,
    server,
    md: join(dir.path, 'md'),
    td: join(dir.path, 'td'),
    tuf: (args) => runBin(UPDOG_BIN, ['tuf', ...args], { http_proxy: undefined, HTTP_PROXY: undefined }),
  };
  setups.push(s);
  return s;
}

const metaArgs = (s: Setup): string[] => ['--metadata-dir', s.md, '--metadata-url', `${s.server.url}/metadata`];
const downloadArgs = (s: Setup, names: string[]): string[] => [
  ...metaArgs(s),
  ...names.flatMap((n) => ['--target-name', n]),
  '--target-base-url',
  `${s.server.url}/targets/`,
  '--target-dir',
  s.td,
  'download',
];

describe('updog tuf (tuf-conformance client CLI)', () => {
  it('init copies the trusted root without network access', async () => {
    const s = await setup();
    expect(await s.tuf(['--metadata-dir', s.md, 'init', s.repo.rootJsonPath])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readdirSync(s.md)).toEqual(['root.json']);
    expect(readFileSync(join(s.md, 'root.json'))).toEqual(readFileSync(s.repo.rootJsonPath));
    expect(s.server.requests).toEqual([]);
    expect((await s.tuf(['--metadata-dir', s.md, 'init', join(s.dir.path, 'missing.json')])).code).toBe(1);
  });

  it('refresh stores the top-level metadata under non-versioned names', async () => {
    const s = await setup();
    await s.tuf(['--metadata-dir', s.md, 'init', s.repo.rootJsonPath]);
    expect(await s.tuf([...metaArgs(s), 'refresh'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readdirSync(s.md).sort()).toEqual(['root.json', 'snapshot.json', 'targets.json', 'timestamp.json']);
    expect(s.server.requests).toEqual(['/metadata/2.root.json', '/metadata/timestamp.json', '/metadata/1.snapshot.json', '/metadata/1.targets.json']);
  });

  it('download fetches repeated --target-name in order and skips verified cached copies', async () => {
    const s = await setup();
    await s.tuf(['--metadata-dir', s.md, 'init', s.repo.rootJsonPath]);
    const first = await s.tuf(downloadArgs(s, ['a.txt', 'dir/b.bin']));
    expect(first.code).toBe(0);
    expect(readFileSync(join(s.td, 'a.txt'))).toEqual(TARGETS['a.txt']);
    expect(readFileSync(join(s.td, 'dir%2Fb.bin'))).toEqual(TARGETS['dir/b.bin']);
    const targetRequests = (): string[] => s.server.requests.filter((r) => r.startsWith('/targets/'));
    expect(targetRequests()).toEqual([`/targets/${s.repo.targetPath('a.txt').split('/').pop()}`, `/targets/dir/${s.repo.targetPath('dir/b.bin').split('/').pop()}`]);
    s.server.requests.length = 0;
    expect((await s.tuf(downloadArgs(s, ['a.txt', 'dir/b.bin']))).code).toBe(0);
    expect(targetRequests()).toEqual([]);
  });

  it('fails with exit 1 on an unknown target, a tampered target and an unreachable repository', async () => {
    const s = await setup();
    await s.tuf(['--metadata-dir', s.md, 'init', s.repo.rootJsonPath]);
    const unknown = await s.tuf(downloadArgs(s, ['nope.txt']));
    expect(unknown).toEqual({ code: 1, stdout: '', stderr: "updog: error: target nope.txt is not in the repository's signed targets\n" });

    writeFileSync(s.repo.targetPath('a.txt'), 'alphX\n');
    const tampered = await s.tuf(downloadArgs(s, ['a.txt']));
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/^updog: error: downloading a\.txt: verification failed: LengthOrHashMismatchError: /);
    expect(existsSync(join(s.td, 'a.txt'))).toBe(false);

    const closedUrl = s.server.url;
    await s.server.close();
    const refused = await s.tuf([...metaArgs(s), 'refresh']);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trimEnd().split('\n').at(-1)).toBe(
      `updog: error: refreshing from ${closedUrl}/metadata: GET ${closedUrl}/metadata/2.root.json: 2.root.json: connect ECONNREFUSED ${closedUrl.slice('http://'.length)} (4 attempts)`,
    );
  });

  it('refuses a target reached through the second of two delegators of the same role name (diamond delegation)', async () => {
    const s = await setup();
    s.repo.publishDiamond({ 'team-a/x': Buffer.from('team a\n'), 'team-b/y': Buffer.from('team b\n') });
    expect((await s.tuf(['--metadata-dir', s.md, 'init', s.repo.rootJsonPath])).code).toBe(0);
    // through team-a, whose delegation names the key that signed `shared`: accepted
    expect((await s.tuf(downloadArgs(s, ['team-a/x']))).code).toBe(0);
    expect(readFileSync(join(s.td, encodeURIComponent('team-a/x')), 'utf8')).toBe('team a\n');
    // team-b delegates `shared` to another key: the same (cached) `shared` must not verify
    const both = await s.tuf(downloadArgs(s, ['team-a/x', 'team-b/y']));
    expect(both.code).toBe(1);
    expect(both.stderr.trimEnd().split('\n').at(-1)).toBe(
      'updog: error: looking up team-b/y: verification failed: UnsignedMetadataError: shared was signed by 0/1 keys',
    );
    expect(existsSync(join(s.td, encodeURIComponent('team-b/y')))).toBe(false);
    // and in a fresh process with nothing cached but the top-level metadata
    const alone = await s.tuf(downloadArgs(s, ['team-b/y']));
    expect(alone.code).toBe(1);
    // (tuf-js loads `shared` from the cache, then from the server, and reports only the text)
    expect(alone.stderr.trimEnd().split('\n').at(-1)).toBe(
      'updog: error: looking up team-b/y: failed: RuntimeError: Unable to load targets error Error: shared was signed by 0/1 keys',
    );
    expect(existsSync(join(s.td, encodeURIComponent('team-b/y')))).toBe(false);
  });

  it('exits 1 for usage errors too (tuf-conformance client protocol), with commander\'s one line', async () => {
    const s = await setup();
    const cases: [string[], string][] = [
      [['--metadata-dir', s.md, '--bogus', 'refresh'], "error: unknown option '--bogus'"],
      [['refresh'], "error: required option '--metadata-dir <dir>' not specified"],
      [['--metadata-dir', s.md, 'init'], "error: missing required argument 'trusted-root'"],
      [['--metadata-dir', s.md, 'frobnicate'], "error: unknown command 'frobnicate'"],
    ];
    for (const [args, message] of cases) {
      expect(await s.tuf(args)).toEqual({ code: 1, stdout: '', stderr: `${message}\n` });
    }
    expect(s.server.requests).toEqual([]);
  });
});
