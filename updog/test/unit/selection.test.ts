import { describe, expect, it } from 'vitest';
import type { Manifest, Update } from '../../src/manifest/manifest.js';
import { hostSelection } from '../../src/selection/host-selection.js';
import { applicableUpdates, migrationPath, SelectionError, selectUpdate, type HostSelection } from '../../src/selection/selection.js';

const NOW = new Date('2024-11-01T00:00:00Z');

function upd(version: string, opts: Partial<Update> & { readyIn?: number } = {}): Update {
  const { readyIn, ...rest } = opts;
  return {
    variant: 'aws-k8s-1.31',
    arch: 'x86_64',
    version,
    maxVersion: '1.3.0',
    // one wave at seed 0: everyone is ready at NOW + readyIn hours
    waves: readyIn === undefined ? [] : [{ seed: 0, startsAt: new Date(NOW.getTime() + readyIn * 3_600_000) }],
    images: { boot: `boot-${version}`, root: `root-${version}`, hash: `hash-${version}` },
    ...rest,
  };
}

const manifest: Manifest = {
  updates: [
    upd('1.1.0'),
    upd('1.3.0', { readyIn: 5 }), // not ready yet
    upd('1.2.0'),
    upd('1.0.0'),
    upd('1.4.0'), // above max_version 1.3.0: never applicable
    upd('1.2.5', { arch: 'aarch64' }),
    upd('1.2.6', { variant: 'metal-dev' }),
  ],
  migrations: [],
};

const host: HostSelection = {
  variant: 'aws-k8s-1.31',
  arch: 'x86_64',
  version: '1.1.0',
  seed: 1000,
  versionLock: 'latest',
  ignoreWaves: false,
  now: NOW,
};
const pick = (over: Partial<HostSelection>): string | undefined => selectUpdate(manifest, { ...host, ...over })?.version;

describe('applicableUpdates', () => {
  it('keeps matching variant/arch within max_version and ready, newest first', () => {
    expect(applicableUpdates(manifest, host).map((a) => a.update.version)).toEqual(['1.2.0', '1.1.0', '1.0.0']);
  });
  it('includes not-yet-ready updates when waves are ignored, with their readyAt', () => {
    const all = applicableUpdates(manifest, { ...host, ignoreWaves: true });
    expect(all.map((a) => [a.update.version, a.readyAt.toISOString()])).toEqual([
      ['1.3.0', '2024-11-01T05:00:00.000Z'],
      ['1.2.0', '1970-01-01T00:00:00.000Z'],
      ['1.1.0', '1970-01-01T00:00:00.000Z'],
      ['1.0.0', '1970-01-01T00:00:00.000Z'],
    ]);
  });
});

describe('selectUpdate', () => {
  it('picks the newest ready update above the running version', () => {
    expect(pick({})).toBe('1.2.0');
    expect(pick({ ignoreWaves: true })).toBe('1.3.0');
    expect(pick({ now: new Date(NOW.getTime() + 5 * 3_600_000) })).toBe('1.3.0');
  });
  it('finds nothing when the host runs the newest version', () => {
    expect(pick({ version: '1.2.0' })).toBeUndefined();
  });
  it('filters variant and arch mismatches', () => {
    expect(pick({ arch: 'aarch64' })).toBe('1.2.5');
    expect(pick({ variant: 'metal-dev' })).toBe('1.2.6');
    expect(pick({ variant: 'nope' })).toBeUndefined();
  });
  it('ignores updates above max_version', () => {
    expect(pick({ version: '1.3.0', ignoreWaves: true })).toBeUndefined();
    expect(pick({ image: '1.4.0', ignoreWaves: true })).toBeUndefined();
  });
  it('rolls back a pulled release when running above max_version', () => {
    expect(pick({ version: '1.4.0' })).toBe('1.2.0');
  });
  it('locks to an exact version, even older, with or without v', () => {
    expect(pick({ versionLock: '1.0.0' })).toBe('1.0.0');
    expect(pick({ versionLock: 'v1.2.0' })).toBe('1.2.0');
    expect(pick({ versionLock: '1.3.0' })).toBeUndefined(); // not ready
  });
  it('a lock equal to the running version means no update', () => {
    expect(pick({ versionLock: '1.1.0' })).toBeUndefined();
    expect(pick({ versionLock: 'v1.1.0', version: '1.4.0' })).toBe('1.1.0');
  });
  it('--image picks exactly that version, overriding the lock', () => {
    expect(pick({ image: '1.0.0' })).toBe('1.0.0');
    expect(pick({ image: '1.0.0', versionLock: '1.2.0' })).toBe('1.0.0');
    expect(pick({ image: '1.3.0' })).toBeUndefined();
    expect(pick({ image: '1.3.0', ignoreWaves: true })).toBe('1.3.0');
    expect(pick({ image: '9.9.9' })).toBeUndefined();
  });
});

describe('migrationPath', () => {
  const m = (from: string, to: string): { from: string; to: string; targets: string[] } => ({ from, to, targets: [`m-${from}-${to}-a`, `m-${from}-${to}-b`] });
  const migrations = [m('1.0.0', '1.1.0'), m('1.1.0', '1.2.0'), m('1.0.0', '1.2.0'), m('1.2.0', '1.3.0'), m('1.5.0', '1.6.0')];

  it('takes the largest jump not passing the target, forward', () => {
    expect(migrationPath(migrations, '1.0.0', '1.3.0')).toEqual(['m-1.0.0-1.2.0-a', 'm-1.0.0-1.2.0-b', 'm-1.2.0-1.3.0-a', 'm-1.2.0-1.3.0-b']);
    expect(migrationPath(migrations, '1.0.0', '1.1.0')).toEqual(['m-1.0.0-1.1.0-a', 'm-1.0.0-1.1.0-b']);
    expect(migrationPath(migrations, '1.1.0', '1.2.0')).toEqual(['m-1.1.0-1.2.0-a', 'm-1.1.0-1.2.0-b']);
  });
  it('is empty when there is nothing to cross, and for a manifest without migrations', () => {
    expect(migrationPath(migrations, '1.2.0', '1.2.0')).toEqual([]);
    expect(migrationPath([], '1.0.0', '1.3.0')).toEqual([]);
    expect(migrationPath([], '1.3.0', '1.0.0')).toEqual([]);
  });
  it('refuses a host whose version starts no migration, or whose chain stops short of the target (as upstream)', () => {
    // 1.3.0 starts no edge, though 1.5.0 -> 1.6.0 lies ahead
    expect(() => migrationPath(migrations, '1.3.0', '1.6.0')).toThrow(SelectionError);
    expect(() => migrationPath(migrations, '1.3.0', '1.6.0')).toThrow(
      'reached end of migration chain at 1.3.0 but target is 1.6.0: the manifest has no migration from 1.3.0 towards 1.6.0, so the update from 1.3.0 to 1.6.0 is refused',
    );
    expect(() => migrationPath(migrations, '1.3.0', '1.4.0')).toThrow('reached end of migration chain at 1.3.0 but target is 1.4.0');
    // 1.1.0 -> 1.2.0 exists, but nothing leads on to 1.2.5
    expect(() => migrationPath(migrations, '1.1.0', '1.2.5')).toThrow('reached end of migration chain at 1.2.0 but target is 1.2.5');
    // a version between edges is not "at or after" an edge start: 1.0.5 starts nothing
    expect(() => migrationPath(migrations, '1.0.5', '1.3.0')).toThrow('reached end of migration chain at 1.0.5 but target is 1.3.0');
    // backward: the same walk from the lower version, so the same refusal
    expect(() => migrationPath(migrations, '1.6.0', '1.3.0')).toThrow('reached end of migration chain at 1.3.0 but target is 1.6.0');
    expect(() => migrationPath(migrations, '1.3.0', '1.0.5')).toThrow('reached end of migration chain at 1.0.5 but target is 1.3.0');
  });
  it('reverses the upgrade path for a downgrade', () => {
    expect(migrationPath(migrations, '1.3.0', '1.0.0')).toEqual(['m-1.2.0-1.3.0-b', 'm-1.2.0-1.3.0-a', 'm-1.0.0-1.2.0-b', 'm-1.0.0-1.2.0-a']);
  });
  it('rejects a cycle, a backward edge and a self edge', () => {
    const cycle = [m('1.0.0', '1.1.0'), m('1.1.0', '1.0.0')];
    expect(() => migrationPath(cycle, '1.0.0', '1.1.0')).toThrow(SelectionError);
    expect(() => migrationPath(cycle, '1.0.0', '1.1.0')).toThrow(
      "migration (1.1.0, 1.0.0) does not go forward; the manifest's migrations must each go to a newer version",
    );
    expect(() => migrationPath([m('1.2.0', '1.2.0')], '1.0.0', '1.3.0')).toThrow('migration (1.2.0, 1.2.0) does not go forward');
  });
});

describe('hostSelection', () => {
  const config = { metadataBaseUrl: 'http://m/', targetsBaseUrl: 'http://t/', seed: 7, versionLock: 'v1.0.0', ignoreWaves: false };
  const os = { variantId: 'aws-k8s-1.31', versionId: '1.1.0', buildId: 'b', arch: 'aarch64' };
  it('maps config and os-release, and ORs the ignore-waves choices', () => {
    expect(hostSelection({ config, os }, { now: NOW })).toEqual({
      variant: 'aws-k8s-1.31',
      arch: 'aarch64',
      version: '1.1.0',
      seed: 7,
      versionLock: 'v1.0.0',
      ignoreWaves: false,
      now: NOW,
    });
    expect(hostSelection({ config, os }, { ignoreWaves: true, image: '1.2.0', now: NOW })).toMatchObject({ ignoreWaves: true, image: '1.2.0' });
    expect(hostSelection({ config: { ...config, ignoreWaves: true }, os }, { ignoreWaves: false, now: NOW }).ignoreWaves).toBe(true);
  });
});
