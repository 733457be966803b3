/**
 * `updog update` / `update-image` fetch the migrations of the path from the running version to
 * the chosen one, through the TUF repository, into the migrations directory before touching the
 * disk (loopback repository built with tuf-repo-tools, real disk image).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildReleaseRepository, hashedTargetPath, loadRepository, setMigrations } from '../../../tuf-repo-tools/src/index.js';
import { emptyStatus } from '../../src/api/state-rules.js';
import { saveStatus } from '../../src/api/status-store.js';
import { parseManifest, type Migration } from '../../src/manifest/manifest.js';
import { startServe } from '../helpers/serve-process.js';
import { createUpdateFixture, fakeImageHash, IMAGE_SIZES, sgdiskVerifies, type ReleaseSpec, type UpdateFixture } from './update-fixture.js';

const fixtures: UpdateFixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.close();
});

async function fixture(): Promise<UpdateFixture> {
  const f = await createUpdateFixture();
  fixtures.push(f);
  return f;
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** Distinct, recognisable bytes per migration file. */
const MIGRATION_FILES: Record<string, Buffer> = {
  'migrate_v1.1.0_a.lz4': Buffer.from('migration a: 1.0.0 -> 1.1.0\n'),
  'migrate_v1.1.0_b.lz4': Buffer.alloc(70_000, 'b'), // several HTTP chunks
  'migrate_v1.2.0_c.lz4': Buffer.from('migration c: 1.1.0 -> 1.2.0\n'),
  'migrate_v1.3.0_d.lz4': Buffer.from('migration d: 1.2.0 -> 1.3.0\n'),
};
const MIGRATIONS: Migration[] = [
  { from: '1.0.0', to: '1.1.0', targets: ['migrate_v1.1.0_a.lz4', 'migrate_v1.1.0_b.lz4'] },
  { from: '1.1.0', to: '1.2.0', targets: ['migrate_v1.2.0_c.lz4'] },
  { from: '1.2.0', to: '1.3.0', targets: ['migrate_v1.3.0_d.lz4'] },
];

/**
 * Publishes the releases (fixture), then signs a new repository version adding `files` as targets
 * and `migrations` to its manifest, as `tuf-repo release --release-toml ... --add name=path` does.
 */
async function publishWithMigrations(f: UpdateFixture, releases: ReleaseSpec[], migrations: Migration[], files: Record<string, Buffer>): Promise<void> {
  await f.publish(releases);
  const repo = await loadRepository(f.repoDir);
  const manifestInfo = repo.targets.signed.targets['manifest.json']!;
  const manifestFile = join(f.repoDir, 'targets', hashedTargetPath('manifest.json', manifestInfo.hashes.sha256!));
  const manifest = parseManifest(fs.readFileSync(manifestFile, 'utf8'));
  const sources = join(f.dir.path, 'migration-sources');
  fs.mkdirSync(sources, { recursive: true });
  const targets: Record<string, string> = {};
  for (const [name, data] of Object.entries(files)) {
    targets[name] = join(sources, name);
    fs.writeFileSync(targets[name], data);
  }
  // the fixture's signing key (createUpdateFixture keeps it in <dir>/keys)
  await buildReleaseRepository({ outDir: f.repoDir, keysDir: join(f.dir.path, 'keys'), manifest: setMigrations(manifest, migrations), targets });
}

/** The served file of a published target (consistent-snapshot name). */
function servedTarget(f: UpdateFixture, name: string): string {
  const hashed = fs.readdirSync(join(f.repoDir, 'targets')).filter((file) => file.endsWith(`.${name}`));
  expect(hashed).toHaveLength(1);
  return join(f.repoDir, 'targets', hashed[0]!);
}

/** Every file in a directory with its contents, sorted by name (hidden temp files included). */
function dirContents(dir: string): Record<string, string> {
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((name) => [name, sha256(fs.readFileSync(join(dir, name)))]),
  );
}

const expected = (names: string[]): Record<string, string> => Object.fromEntries(names.map((n) => [n, sha256(MIGRATION_FILES[n]!)]));
const migrationRequests = (f: UpdateFixture): string[] =>
  f.server.requests.filter((r) => r.includes('migrate_')).map((r) => decodeURIComponent(new URL(r, 'http://x').pathname).replace(/^\/targets\/[0-9a-f]{64}\./, ''));

describe('updog update fetches the migrations of the update', () => {
  it('downloads the path 1.0.0 -> 1.2.0 in order before writing the images; a re-run keeps verified files; a downgrade takes the path reversed', async () => {
    const f = await fixture();
    await publishWithMigrations(f, [{ version: '1.1.0' }, { version: '1.2.0' }], MIGRATIONS, MIGRATION_FILES);
    const dir = join(f.dir.path, 'var', 'lib', 'bottlerocket-migrations'); // parents created too
    const env = { UPDOG_MIGRATIONS_DIR: dir };

    const first = await f.run(['update', '--json'], env);
    expect(first.code).toBe(0);
    const json = JSON.parse(first.stdout) as { version: string; set: string; migrations: unknown };
    expect(json).toMatchObject({ version: '1.2.0', set: 'B', applied: true });
    const path = ['migrate_v1.1.0_a.lz4', 'migrate_v1.1.0_b.lz4', 'migrate_v1.2.0_c.lz4'];
    expect(json.migrations).toEqual(path.map((target) => ({ target, file: join(dir, target), sha256: sha256(MIGRATION_FILES[target]!), downloaded: true })));
    expect(dirContents(dir)).toEqual(expected(path));
    expect(fs.readFileSync(join(dir, 'migrate_v1.1.0_a.lz4'), 'utf8')).toBe('migration a: 1.0.0 -> 1.1.0\n');
    expect(migrationRequests(f)).toEqual(path);
    // each logged, all before the disk is written
    const logs = first.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; migration?: string });
    const order = logs.map((l) => (l.migration === undefined ? l.msg : `${l.msg}: ${l.migration}`));
    expect(order.filter((m) => m.startsWith('migration') || m === 'writing update to the inactive set')).toEqual([
      ...path.map((m) => `migration downloaded and verified: ${m}`),
      'writing update to the inactive set',
    ]);
    expect(f.partitionHash('B', 'root', IMAGE_SIZES.root)).toBe(fakeImageHash('1.2.0', 'root'));

    // again (update-image, --migrations-dir flag): files with the signed hash stay; a damaged one is replaced
    fs.writeFileSync(join(dir, 'migrate_v1.1.0_b.lz4'), Buffer.alloc(70_000, 'x'));
    fs.writeFileSync(join(dir, '.updog-partial-0123456789ab'), 'left by a crash'); // removed
    f.server.requests.length = 0;
    const again = await f.run(['update-image', '--json', '--image', '1.2.0', '--migrations-dir', dir], { UPDOG_MIGRATIONS_DIR: join(f.dir.path, 'unused') });
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { migrations: { target: string; downloaded: boolean }[] }).migrations.map((m) => [m.target, m.downloaded])).toEqual([
      ['migrate_v1.1.0_a.lz4', false],
      ['migrate_v1.1.0_b.lz4', true],
      ['migrate_v1.2.0_c.lz4', false],
    ]);
    expect(migrationRequests(f)).toEqual(['migrate_v1.1.0_b.lz4']);
    expect(dirContents(dir)).toEqual(expected(path));
    expect(fs.existsSync(join(f.dir.path, 'unused'))).toBe(false);

    // boot 1.2.0, then go back to 1.0.0: the same migrations, last first
    await f.run(['update-apply']);
    expect(await f.boot()).toMatchObject({ set: 'B', version: '1.2.0' });
    await f.markSuccessfulBoot();
    await publishWithMigrations(f, [{ version: '1.0.0' }, { version: '1.1.0' }, { version: '1.2.0' }], MIGRATIONS, MIGRATION_FILES);
    const downDir = join(f.dir.path, 'down');
    const down = await f.run(['update-image', '--json', '--image', '1.0.0'], { UPDOG_MIGRATIONS_DIR: downDir });
    expect(down.code).toBe(0);
    expect((JSON.parse(down.stdout) as { migrations: { target: string }[] }).migrations.map((m) => m.target)).toEqual([...path].reverse());
    expect(dirContents(downDir)).toEqual(expected(path));
    expect(f.partitionHash('A', 'root', IMAGE_SIZES.root)).toBe(fakeImageHash('1.0.0', 'root'));
    expect(sgdiskVerifies(f.disk)).toBe(true);
  });

  it('creates nothing when the hop has no migrations', async () => {
    const f = await fixture();
    // only migrations for hops this update does not cross
    await publishWithMigrations(f, [{ version: '1.1.0' }], MIGRATIONS.slice(1), MIGRATION_FILES);
    const dir = join(f.dir.path, 'migrations');
    const r = await f.run(['update-image', '--json'], { UPDOG_MIGRATIONS_DIR: dir });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ version: '1.1.0', migrations: [] });
    expect(fs.existsSync(dir)).toBe(false);
    expect(migrationRequests(f)).toEqual([]);
  });

  it('fails naming a migration the repository does not sign, before touching the disk', async () => {
    const f = await fixture();
    const missing: Migration[] = [{ from: '1.0.0', to: '1.1.0', targets: ['migrate_v1.1.0_a.lz4', 'migrate_v1.1.0_gone.lz4'] }];
    await publishWithMigrations(f, [{ version: '1.1.0' }], missing, { 'migrate_v1.1.0_a.lz4': MIGRATION_FILES['migrate_v1.1.0_a.lz4']! });
    const dir = join(f.dir.path, 'migrations');
    const disk = fs.readFileSync(f.disk);
    const r = await f.run(['update'], { UPDOG_MIGRATIONS_DIR: dir });
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr:
        "updog: error: migration migrate_v1.1.0_gone.lz4 (needed to go from 1.0.0 to 1.1.0): the repository's signed targets do not list migrate_v1.1.0_gone.lz4\n",
    });
    expect(fs.readFileSync(f.disk).equals(disk)).toBe(true);
    expect(fs.existsSync(dir)).toBe(false);
    expect(migrationRequests(f)).toEqual([]);
  });

  it('fails naming a migration whose served bytes do not match the signed hash; the disk is untouched and no partial file stays', async () => {
    const f = await fixture();
    await publishWithMigrations(f, [{ version: '1.1.0' }], MIGRATIONS, MIGRATION_FILES);
    // same length, other bytes: only the sha256 can tell
    fs.writeFileSync(servedTarget(f, 'migrate_v1.1.0_b.lz4'), Buffer.alloc(70_000, 'z'));
    const dir = join(f.dir.path, 'migrations');
    const disk = fs.readFileSync(f.disk);
    const statusBefore = await f.status();
    const r = await f.run(['update-image'], { UPDOG_MIGRATIONS_DIR: dir });
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toContain(
      `\nupdog: error: migration migrate_v1.1.0_b.lz4: sha256 mismatch: the signed metadata say ${sha256(MIGRATION_FILES['migrate_v1.1.0_b.lz4']!)}, the 70000 bytes downloaded hash to ${sha256(Buffer.alloc(70_000, 'z'))}\n`,
    );
    expect(fs.readFileSync(f.disk).equals(disk)).toBe(true);
    expect(await f.status()).toEqual(statusBefore);
    // the migration verified before it stays whole; nothing of the bad one
    expect(dirContents(dir)).toEqual(expected(['migrate_v1.1.0_a.lz4']));

    // served longer than signed: refused at the signed length
    fs.writeFileSync(servedTarget(f, 'migrate_v1.1.0_b.lz4'), Buffer.alloc(80_000, 'b'));
    const longer = await f.run(['update-image'], { UPDOG_MIGRATIONS_DIR: dir });
    expect(longer.code).toBe(1);
    expect(longer.stderr).toMatch(/updog: error: migration migrate_v1\.1\.0_b\.lz4: the server sent more than the 70000 bytes/);
    expect(fs.readFileSync(f.disk).equals(disk)).toBe(true);
    expect(dirContents(dir)).toEqual(expected(['migrate_v1.1.0_a.lz4']));

    // signed but not served
    fs.rmSync(servedTarget(f, 'migrate_v1.1.0_b.lz4'));
    const gone = await f.run(['update-image'], { UPDOG_MIGRATIONS_DIR: dir });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/\nupdog: error: migration migrate_v1\.1\.0_b\.lz4: GET http:\/\/127\.0\.0\.1:\d+\/targets\/[0-9a-f]{64}\.migrate_v1\.1\.0_b\.lz4\?\S+: HTTP 404\n$/);
    expect(fs.readFileSync(f.disk).equals(disk)).toBe(true);
    expect(dirContents(dir)).toEqual(expected(['migrate_v1.1.0_a.lz4']));
  });
});

describe('the update API (updog serve) fetches migrations too', () => {
  it('prepare puts them in its --migrations-dir (UPDOG_MIGRATIONS_DIR) before staging the images', async () => {
    const f = await fixture();
    await publishWithMigrations(f, [{ version: '1.1.0' }], MIGRATIONS, MIGRATION_FILES);
    const dir = join(f.dir.path, 'serve-migrations');
    const serve = await startServe(join(f.dir.path, 'api.sock'), { ...f.env, UPDOG_API_STATUS_FILE: join(f.dir.path, 'status.json'), UPDOG_MIGRATIONS_DIR: dir });
    try {
      expect((await serve.client.refresh()).updateState).toBe('Available');
      expect((await serve.client.prepare('1.1.0')).updateState).toBe('Staged');
    } finally {
      await serve.stop();
    }
    expect(dirContents(dir)).toEqual(expected(['migrate_v1.1.0_a.lz4', 'migrate_v1.1.0_b.lz4']));
    expect(migrationRequests(f)).toEqual(['migrate_v1.1.0_a.lz4', 'migrate_v1.1.0_b.lz4']);
    expect(f.partitionHash('B', 'root', IMAGE_SIZES.root)).toBe(fakeImageHash('1.1.0', 'root'));
  });
});

describe('updog update refuses unsafe migration names', () => {
  it('a migration target that is not a plain file name is refused before anything is fetched', async () => {
    const f = await fixture();
    await publishWithMigrations(f, [{ version: '1.1.0' }], [{ from: '1.0.0', to: '1.1.0', targets: ['../escape.lz4'] }], {});
    const dir = join(f.dir.path, 'migrations');
    const disk = fs.readFileSync(f.disk);
    const r = await f.run(['update'], { UPDOG_MIGRATIONS_DIR: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/updog: error: migration target "\.\.\/escape\.lz4" is not a plain file name; /);
    expect(fs.readFileSync(f.disk).equals(disk)).toBe(true);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(join(f.dir.path, 'escape.lz4'))).toBe(false);
  });
});

describe('file modes', () => {
  /** Every directory and file under `root` (relative path -> octal mode), sorted. */
  function modes(root: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (rel: string): void => {
      for (const name of fs.readdirSync(join(root, rel)).sort()) {
        const path = join(rel, name);
        const stat = fs.statSync(join(root, path));
        out[`${path}${stat.isDirectory() ? '/' : ''}`] = (stat.mode & 0o7777).toString(8).padStart(4, '0');
        if (stat.isDirectory()) walk(path);
      }
    };
    walk('');
    return out;
  }

  it('under umask 000, everything updog creates is 0755 (directories) or 0644 (files); a metadata cache others can write is refused', async () => {
    const f = await fixture();
    await publishWithMigrations(f, [{ version: '1.1.0' }], MIGRATIONS.slice(0, 1), MIGRATION_FILES);
    const created = join(f.dir.path, 'created'); // everything updog makes goes under here
    const env = {
      UPDOG_METADATA_CACHE: join(created, 'var/lib/updog/metadata'),
      UPDOG_MIGRATIONS_DIR: join(created, 'var/lib/bottlerocket-migrations'),
      UPDOG_LOCK_FILE: join(created, 'updog.lock'),
    };
    fs.mkdirSync(created);
    const umask = process.umask(0o000);
    try {
      const run = await f.run(['update', '--log-level', 'warn'], env);
      expect([run.code, run.stderr]).toEqual([0, '']);
      await saveStatus(join(created, 'run/updog/status.json'), emptyStatus()); // what `updog serve` keeps
    } finally {
      process.umask(umask);
    }
    const listing = modes(created);
    console.log(`modes under umask 000:\n${Object.entries(listing).map(([p, m]) => `  ${m} ${p}`).join('\n')}`);
    expect(listing).toEqual({
      'run/': '0755',
      'run/updog/': '0755',
      'run/updog/status.json': '0644',
      'var/': '0755',
      'var/lib/': '0755',
      'var/lib/bottlerocket-migrations/': '0755',
      'var/lib/bottlerocket-migrations/migrate_v1.1.0_a.lz4': '0644',
      'var/lib/bottlerocket-migrations/migrate_v1.1.0_b.lz4': '0644',
      'var/lib/updog/': '0755',
      'var/lib/updog/metadata/': '0755',
      'var/lib/updog/metadata/root.json': '0644',
      'var/lib/updog/metadata/snapshot.json': '0644',
      'var/lib/updog/metadata/targets.json': '0644',
      'var/lib/updog/metadata/timestamp.json': '0644',
    });

    // a cache (or cached root) another user could write to is not used
    const cache = env.UPDOG_METADATA_CACHE;
    fs.chmodSync(join(cache, 'root.json'), 0o666);
    const rootWritable = await f.run(['check-update'], env);
    expect([rootWritable.code, rootWritable.stderr]).toEqual([
      1,
      `updog: error: refusing the cached TUF root ${cache}/root.json: it is writable by other users (mode 0666), who could replace what updog trusts; run chmod go-w ${cache}/root.json\n`,
    ]);
    fs.chmodSync(join(cache, 'root.json'), 0o644);
    fs.chmodSync(cache, 0o777);
    const dirWritable = await f.run(['check-update'], env);
    expect([dirWritable.code, dirWritable.stderr]).toEqual([
      1,
      `updog: error: refusing the metadata cache ${cache}: it is writable by other users (mode 0777), who could replace what updog trusts; run chmod go-w ${cache}\n`,
    ]);
  });
});
