/**
 * `updog update` / `update-image` fetch the migrations of the path from the running version to
 * the chosen one, through the TUF repository, into the migrations directory before touching the
 * disk (loopback repository built with tuf-repo-tools, real disk image).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Migration } from '../../src/manifest/manifest.js';
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
