/**
 * `updog update` / `update-image` stage, before touching the disk, what Bottlerocket's migrator
 * reads at boot: the migrations of the path from the running version to the chosen one and the
 * signed manifest.json under their repository names (`<sha256>.<name>`) in the migrations
 * directory, and the TUF metadata that verifies them in the migrator's metadata directory
 * (loopback repository built with tuf-repo-tools, real disk image). The staged layout is then
 * loaded the way the migrator loads it: from files, starting at the host's trusted root.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Updater } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { BaseFetcher } from 'tuf-js/dist/fetcher.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  loadKeyDir,
  loadRepository,
  RepositoryEditor,
  setRootVersion,
  signRoot,
} from '@updog-ts/tuf-repo-tools';
import { emptyStatus } from '../../src/api/state-rules.js';
import { saveStatus } from '../../src/api/status-store.js';
import { parseManifest, type Migration } from '../../src/manifest/manifest.js';
import { migrationPath } from '../../src/selection/selection.js';
import { startServe } from '../helpers/serve-process.js';
import { createUpdateFixture, fakeImageHash, IMAGE_SIZES, publishWithMigrations, sgdiskVerifies, type UpdateFixture } from './update-fixture.js';

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

/** A migration's name in the migrations directory: its repository (consistent-snapshot) name. */
const stored = (name: string): string => `${sha256(MIGRATION_FILES[name]!)}.${name}`;
const expected = (names: string[]): Record<string, string> => Object.fromEntries(names.map((n) => [stored(n), sha256(MIGRATION_FILES[n]!)]));
/** The signed manifest.json of the repository as now published: its stored name and sha256. */
async function publishedManifest(f: UpdateFixture): Promise<Record<string, string>> {
  const hash = (await loadRepository(f.repoDir)).targets.signed.targets['manifest.json']!.hashes.sha256!;
  return { [`${hash}.manifest.json`]: hash };
}
const migrationRequests = (f: UpdateFixture): string[] =>
  f.server.requests.filter((r) => r.includes('migrate_')).map((r) => decodeURIComponent(new URL(r, 'http://x').pathname).replace(/^\/targets\/[0-9a-f]{64}\./, ''));

/**
 * Runs updog (migrations dir under the fixture) and expects exit 1 with exactly `stderr`, before
 * any migration is fetched, the migrations directory created or the disk touched.
 */
async function expectRefusedUntouched(f: UpdateFixture, args: string[], stderr: string): Promise<void> {
  const dir = join(f.dir.path, 'migrations');
  const disk = fs.readFileSync(f.disk);
  expect(await f.run(args, { UPDOG_MIGRATIONS_DIR: dir })).toEqual({ code: 1, stdout: '', stderr });
  expect(fs.readFileSync(f.disk).equals(disk)).toBe(true);
  expect(fs.existsSync(dir)).toBe(false);
  expect(migrationRequests(f)).toEqual([]);
}

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
    expect(json.migrations).toEqual(path.map((target) => ({ target, file: join(dir, stored(target)), sha256: sha256(MIGRATION_FILES[target]!), downloaded: true })));
    const manifest = await publishedManifest(f);
    expect(dirContents(dir)).toEqual({ ...expected(path), ...manifest });
    expect(fs.readFileSync(join(dir, stored('migrate_v1.1.0_a.lz4')), 'utf8')).toBe('migration a: 1.0.0 -> 1.1.0\n');
    expect(migrationRequests(f)).toEqual(path);
    // each logged, all before the disk is written
    const logs = first.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; migration?: string });
    const order = logs.map((l) => (l.migration === undefined ? l.msg : `${l.msg}: ${l.migration}`));
    expect(order.filter((m) => /^(migration|manifest|TUF)/.test(m) || m === 'writing update to the inactive set')).toEqual([
      ...path.map((m) => `migration downloaded and verified: ${m}`),
      'manifest staged for the migrator',
      'TUF metadata staged for the migrator',
      'writing update to the inactive set',
    ]);
    expect(f.partitionHash('B', 'root', IMAGE_SIZES.root)).toBe(fakeImageHash('1.2.0', 'root'));

    // again (update-image, --migrations-dir flag): files with the signed hash stay; a damaged one is replaced
    fs.writeFileSync(join(dir, stored('migrate_v1.1.0_b.lz4')), Buffer.alloc(70_000, 'x'));
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
    expect(dirContents(dir)).toEqual({ ...expected(path), ...manifest });
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
    expect(dirContents(downDir)).toEqual({ ...expected(path), ...(await publishedManifest(f)) });
    expect(f.partitionHash('A', 'root', IMAGE_SIZES.root)).toBe(fakeImageHash('1.0.0', 'root'));
    expect(sgdiskVerifies(f.disk)).toBe(true);
  });

  it('stages the manifest and metadata also when the hop has no migrations, as upstream (the migrator loads them at every boot into a new version)', async () => {
    const f = await fixture();
    // the hop this update crosses is listed with no targets, as Release.toml lists every hop
    await publishWithMigrations(f, [{ version: '1.1.0' }], [{ from: '1.0.0', to: '1.1.0', targets: [] }, ...MIGRATIONS.slice(1)], MIGRATION_FILES);
    const dir = join(f.dir.path, 'migrations');
    const r = await f.run(['update-image', '--json'], { UPDOG_MIGRATIONS_DIR: dir });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ version: '1.1.0', migrations: [] });
    expect(dirContents(dir)).toEqual(await publishedManifest(f));
    expect(migrationRequests(f)).toEqual([]);
  });

  it('fails naming a migration the repository does not sign, before touching the disk', async () => {
    const f = await fixture();
    const missing: Migration[] = [{ from: '1.0.0', to: '1.1.0', targets: ['migrate_v1.1.0_a.lz4', 'migrate_v1.1.0_gone.lz4'] }];
    await publishWithMigrations(f, [{ version: '1.1.0' }], missing, { 'migrate_v1.1.0_a.lz4': MIGRATION_FILES['migrate_v1.1.0_a.lz4']! });
    await expectRefusedUntouched(
      f,
      ['update'],
      "updog: error: migration migrate_v1.1.0_gone.lz4 (needed to go from 1.0.0 to 1.1.0): the repository's signed targets do not list migrate_v1.1.0_gone.lz4\n",
    );
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
    expect(longer.stderr).toMatch(
      /updog: error: migration migrate_v1\.1\.0_b\.lz4: GET http:\/\/127\.0\.0\.1:\d+\/targets\/[0-9a-f]{64}\.migrate_v1\.1\.0_b\.lz4\?\S+: migrate_v1\.1\.0_b\.lz4: the server sent more than the 70000 bytes the signed metadata allow; download cancelled\n$/,
    );
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
    expect(dirContents(dir)).toEqual({ ...expected(['migrate_v1.1.0_a.lz4', 'migrate_v1.1.0_b.lz4']), ...(await publishedManifest(f)) });
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

/** Reads repository files from disk, as the migrator's tough FilesystemTransport does. */
class FilesystemFetcher extends BaseFetcher {
  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(fileURLToPath(url));
    } catch {
      throw new DownloadHTTPError(`${url}: no such file`, 404);
    }
    return new ReadableStream({
      start(controller) {
        controller.enqueue(new Uint8Array(bytes));
        controller.close();
      },
    });
  }
}

/**
 * What the migrator does at boot with the staged files: load the TUF repository from
 * `metadataDir` (targets from `migrationsDir`) starting at `trustedRoot`, read the signed
 * manifest.json, find the migrations from `from` to `to`, and read each one, verified.
 */
async function loadAsMigrator(trustedRoot: string, metadataDir: string, migrationsDir: string, from: string, to: string): Promise<Record<string, Buffer>> {
  const work = fs.mkdtempSync(join(fs.realpathSync(metadataDir), '..', 'migrator-'));
  try {
    fs.copyFileSync(trustedRoot, join(work, 'root.json'));
    const updater = new Updater({
      metadataDir: work,
      metadataBaseUrl: pathToFileURL(metadataDir).href,
      targetBaseUrl: pathToFileURL(migrationsDir).href,
      targetDir: work,
      fetcher: new FilesystemFetcher(),
    });
    await updater.refresh();
    const read = async (name: string): Promise<Buffer> => {
      const info = await updater.getTargetInfo(name);
      if (info === undefined) throw new Error(`the staged targets metadata do not list ${name}`);
      return fs.readFileSync(await updater.downloadTarget(info, join(work, `target-${sha256(name)}`)));
    };
    const manifest = parseManifest((await read('manifest.json')).toString('utf8'));
    const out: Record<string, Buffer> = {};
    for (const name of migrationPath(manifest.migrations, from, to)) out[name] = await read(name);
    return out;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Rotates the published root to the next version, signed by the fixture's key (old and new thresholds). */
async function rotateRoot(f: UpdateFixture): Promise<void> {
  const keys = await loadKeyDir(join(f.dir.path, 'keys'));
  const repo = await loadRepository(f.repoDir);
  const next = setRootVersion(repo.root, repo.root.signed.version + 1);
  await signRoot(next, keys, { crossSign: repo.root });
  const editor = RepositoryEditor.edit(repo);
  editor.rotateRoot(next);
  await editor.publish(f.repoDir, { signers: keys });
}

describe('what the migrator reads at boot', () => {
  it('is staged as upstream updog (tough cache) lays it out, and loads from the trusted root as the migrator loads it', async () => {
    const f = await fixture();
    await publishWithMigrations(f, [{ version: '1.1.0' }, { version: '1.2.0' }], MIGRATIONS, MIGRATION_FILES);
    const trustedRoot = join(f.dir.path, 'shipped-root.json');
    fs.copyFileSync(f.env.UPDOG_ROOT_JSON!, trustedRoot);
    await rotateRoot(f);
    await rotateRoot(f); // root chain 1 -> 2 -> 3
    const migrationsDir = join(f.dir.path, 'var', 'lib', 'bottlerocket-migrations');
    const metadataDir = join(f.dir.path, 'var', 'cache', 'bottlerocket-metadata');
    const r = await f.run(['update-image', '--migrator-metadata-dir', metadataDir], { UPDOG_MIGRATIONS_DIR: migrationsDir, UPDOG_MIGRATOR_METADATA_DIR: join(f.dir.path, 'unused') });
    expect(r.code).toBe(0);
    expect(fs.existsSync(join(f.dir.path, 'unused'))).toBe(false);

    // metadata: the root chain, timestamp, and the versioned snapshot and targets, byte for byte as served
    const repo = await loadRepository(f.repoDir);
    const [snapshot, targets] = [repo.snapshot.signed.version, repo.targets.signed.version];
    const served = join(f.repoDir, 'metadata');
    const names = ['1.root.json', '2.root.json', '3.root.json', 'timestamp.json', `${snapshot}.snapshot.json`, `${targets}.targets.json`].sort();
    expect(Object.keys(dirContents(metadataDir))).toEqual(names);
    for (const name of names) expect(fs.readFileSync(join(metadataDir, name)).equals(fs.readFileSync(join(served, name))), name).toBe(true);
    // targets: the migrations and the manifest under their repository names
    const path = ['migrate_v1.1.0_a.lz4', 'migrate_v1.1.0_b.lz4', 'migrate_v1.2.0_c.lz4'];
    expect(dirContents(migrationsDir)).toEqual({ ...expected(path), ...(await publishedManifest(f)) });

    // the migrator's view: the shipped root, files only, finds and verifies the same migrations
    const loaded = await loadAsMigrator(trustedRoot, metadataDir, migrationsDir, '1.0.0', '1.2.0');
    expect(Object.keys(loaded)).toEqual(path);
    for (const name of path) expect(loaded[name]!.equals(MIGRATION_FILES[name]!), name).toBe(true);
    expect(f.partitionHash('B', 'root', IMAGE_SIZES.root)).toBe(fakeImageHash('1.2.0', 'root'));
  });

  it('an older root that does not chain to the next is refused before the disk is touched', async () => {
    const f = await fixture();
    await publishWithMigrations(f, [{ version: '1.1.0' }], [{ from: '1.0.0', to: '1.1.0', targets: [] }], {});
    const check = await f.run(['check-update']); // the host trusts the genuine root 1 from here on
    expect(check.code).toBe(0);
    await rotateRoot(f);
    // the served 1.root.json with a broken signature: only staging reads it again
    const servedRoot1 = join(f.repoDir, 'metadata', '1.root.json');
    const doc = JSON.parse(fs.readFileSync(servedRoot1, 'utf8')) as { signatures: { sig: string }[] };
    doc.signatures[0]!.sig = doc.signatures[0]!.sig.replace(/^../, (h) => (h === '00' ? '01' : '00'));
    fs.writeFileSync(servedRoot1, JSON.stringify(doc));
    const metadataDir = join(f.dir.path, 'metadata-for-migrator');
    const disk = fs.readFileSync(f.disk);
    const r = await f.run(['update-image'], { UPDOG_MIGRATOR_METADATA_DIR: metadataDir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\nupdog: error: 1\.root\.json from the repository does not chain to root version 2: .+\n$/);
    expect(fs.readFileSync(f.disk).equals(disk)).toBe(true);
    expect(fs.existsSync(metadataDir)).toBe(false);
  });
});

describe('a migration chain with a gap', () => {
  it('refuses the update before anything is fetched or written, forward and backward', async () => {
    const f = await fixture();
    // 1.0.0 -> 1.1.0 -> (nothing from 1.1.0) ... 1.2.0 -> 1.3.0
    const gap = [MIGRATIONS[0]!, MIGRATIONS[2]!];
    await publishWithMigrations(f, [{ version: '1.1.0' }, { version: '1.3.0' }], gap, MIGRATION_FILES);
    await expectRefusedUntouched(
      f,
      ['update'],
      'updog: error: reached end of migration chain at 1.1.0 but target is 1.3.0: the manifest has no migration from 1.1.0 towards 1.3.0, so the update from 1.0.0 to 1.3.0 is refused\n',
    );
    // backward: a host at 1.3.0 going to 1.1.0 walks the same chain, from 1.1.0
    fs.writeFileSync(f.env.UPDOG_OS_RELEASE!, fs.readFileSync(f.env.UPDOG_OS_RELEASE!, 'utf8').replace('VERSION_ID=1.0.0', 'VERSION_ID=1.3.0'));
    await expectRefusedUntouched(
      f,
      ['update-image', '--image', '1.1.0'],
      'updog: error: reached end of migration chain at 1.1.0 but target is 1.3.0: the manifest has no migration from 1.1.0 towards 1.3.0, so the update from 1.3.0 to 1.1.0 is refused\n',
    );
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
      UPDOG_MIGRATOR_METADATA_DIR: join(created, 'var/cache/bottlerocket-metadata'),
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
    const repo = await loadRepository(f.repoDir);
    const staged = [...Object.keys(expected(['migrate_v1.1.0_a.lz4', 'migrate_v1.1.0_b.lz4'])), ...Object.keys(await publishedManifest(f))];
    const stagedMetadata = ['1.root.json', 'timestamp.json', `${repo.snapshot.signed.version}.snapshot.json`, `${repo.targets.signed.version}.targets.json`];
    console.log(`modes under umask 000:\n${Object.entries(listing).map(([p, m]) => `  ${m} ${p}`).join('\n')}`);
    expect(listing).toEqual({
      'run/': '0755',
      'run/updog/': '0755',
      'run/updog/status.json': '0644',
      'var/': '0755',
      'var/cache/': '0755',
      'var/cache/bottlerocket-metadata/': '0755',
      ...Object.fromEntries(stagedMetadata.map((name) => [`var/cache/bottlerocket-metadata/${name}`, '0644'])),
      'var/lib/': '0755',
      'var/lib/bottlerocket-migrations/': '0755',
      ...Object.fromEntries(staged.map((name) => [`var/lib/bottlerocket-migrations/${name}`, '0644'])),
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
