import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '@updog-ts/updog/release';
import { addUpdate, emptyManifest, manifestProblems, parseReleaseToml, removeUpdate, setMaxVersion } from '../src/manifest/edit.js';
import { BUILTIN_WAVE_POLICIES, parseWavePolicy, resolveWavePolicy, wavesFromPolicy } from '../src/manifest/wave-policy.js';
import { formatExpires, parseDuration, parseTime } from '../src/time/time.js';
import { tufRepo, tufRepoOk, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
const T = new Date('2024-10-30T17:00:00Z');
const images = (v: string) => ({ boot: `b-${v}`, root: `r-${v}`, hash: `h-${v}` });
const key = (version: string) => ({ variant: 'aws-k8s-1.31', arch: 'x86_64', version });

describe('durations and times', () => {
  it('parses durations with or without "in" and formats expiries without fractions', () => {
    expect(parseDuration('1 hour')).toBe(3_600_000);
    expect(parseDuration('in 7 days')).toBe(7 * 86_400_000);
    expect(parseDuration('2 weeks')).toBe(14 * 86_400_000);
    expect(parseDuration('30 minutes')).toBe(1_800_000);
    expect(() => parseDuration('soon')).toThrow('"soon" is not a duration (expected e.g. "7 days", "in 2 weeks", "1 hour")');
    expect(parseTime('in 1 day', T).toISOString()).toBe('2024-10-31T17:00:00.000Z');
    expect(parseTime('2030-01-01T01:00:00+01:00').toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(() => parseTime('tomorrow')).toThrow(/neither an RFC 3339 time/);
    expect(formatExpires(new Date('2030-01-01T00:00:00.999Z'))).toBe('2030-01-01T00:00:00Z');
  });
});

describe('wave policies', () => {
  it('the default policy gives keys 0->1h, 20->4h, 102->1d, 307->2d, 819->4d, 1228->5d, 1843->6d', async () => {
    const waves = wavesFromPolicy(await resolveWavePolicy('default'), T);
    const hours = (d: Date): number => (d.getTime() - T.getTime()) / 3_600_000;
    expect(waves.map((w) => [w.seed, hours(w.startsAt)])).toEqual([
      [0, 1], [20, 4], [102, 24], [307, 48], [819, 96], [1228, 120], [1843, 144],
    ]);
  });

  it('ships accelerated and slow policies that parse, with increasing times and seeds', async () => {
    for (const name of BUILTIN_WAVE_POLICIES) {
      const waves = wavesFromPolicy(await resolveWavePolicy(name), T);
      expect(waves[0]!.seed).toBe(0);
      for (let i = 1; i < waves.length; i++) {
        expect(waves[i]!.seed).toBeGreaterThan(waves[i - 1]!.seed);
        expect(waves[i]!.startsAt.getTime()).toBeGreaterThan(waves[i - 1]!.startsAt.getTime());
      }
    }
  });

  it('rejects malformed policies with the offending wave named', () => {
    expect(() => parseWavePolicy('[[waves]\n', 'p.toml')).toThrow(/^p\.toml: invalid TOML: /);
    expect(() => parseWavePolicy('x = 1', 'p.toml')).toThrow('p.toml: expected one or more [[waves]] tables');
    expect(() => parseWavePolicy('[[waves]]\nstart_after = "1 hour"\nfleet_percentage = 101', 'p.toml')).toThrow(
      'p.toml: waves[0]: fleet_percentage must be an integer from 1 to 100',
    );
    expect(() => parseWavePolicy('[[waves]]\nstart_after = "1 fortnight"\nfleet_percentage = 5', 'p.toml')).toThrow(/p\.toml: waves\[0\]: "1 fortnight" is not a duration/);
    expect(() =>
      parseWavePolicy('[[waves]]\nstart_after = "2 hours"\nfleet_percentage = 5\n[[waves]]\nstart_after = "1 hour"\nfleet_percentage = 10', 'p.toml'),
    ).toThrow('p.toml: waves[1].start_after must be later than waves[0]');
  });
});

describe('manifest editing', () => {
  it('add-update shares max_version across a variant+arch; remove and set-max-version', () => {
    let m = addUpdate(emptyManifest(), key('1.1.0'), images('1.1.0'));
    m = addUpdate(m, key('1.2.0'), images('1.2.0'));
    m = addUpdate(m, { ...key('1.0.0'), arch: 'aarch64' }, images('a'));
    expect(m.updates.map((u) => [u.arch, u.version, u.maxVersion])).toEqual([
      ['x86_64', '1.1.0', '1.2.0'],
      ['x86_64', '1.2.0', '1.2.0'],
      ['aarch64', '1.0.0', '1.0.0'],
    ]);
    m = setMaxVersion(m, 'aws-k8s-1.31', 'x86_64', '1.1.0');
    expect(m.updates.map((u) => u.maxVersion)).toEqual(['1.1.0', '1.1.0', '1.0.0']);
    m = removeUpdate(m, key('1.2.0'));
    expect(m.updates.map((u) => u.version)).toEqual(['1.1.0', '1.0.0']);
    expect(() => removeUpdate(m, key('9.9.9'))).toThrow('no update aws-k8s-1.31 x86_64 9.9.9 in the manifest');
    expect(() => addUpdate(m, key('v1.0'), images('x'))).toThrow('version "v1.0" is not a semantic version like 1.26.1');
  });

  it('reads migrations from a Release.toml through updog\'s manifest rules', () => {
    const rel = parseReleaseToml('version = "1.26.0"\n[migrations]\n"(1.25.0,  1.26.0)" = ["migrate_v1.26.0_foo.lz4"]\n');
    expect(rel).toEqual({ version: '1.26.0', migrations: [{ from: '1.25.0', to: '1.26.0', targets: ['migrate_v1.26.0_foo.lz4'] }] });
    expect(() => parseReleaseToml('[migrations]\n"1.25.0 -> 1.26.0" = []\n', 'Release.toml')).toThrow(
      'Release.toml: invalid manifest: migrations: key "1.25.0 -> 1.26.0" must look like "(1.25.0, 1.26.0)"',
    );
    expect(() => parseReleaseToml('version = 3', 'Release.toml')).toThrow('Release.toml: version must be a semantic version string like "1.26.1"');
    expect(() => parseReleaseToml('version = "1.0.0', 'Release.toml')).toThrow(/^Release\.toml: invalid TOML: /);
  });

  it('manifestProblems finds missing targets and backward migrations', () => {
    const m = { ...addUpdate(emptyManifest(), key('1.1.0'), images('1.1.0')), migrations: [{ from: '1.1.0', to: '1.0.0', targets: ['m.lz4'] }] };
    expect(manifestProblems(m, new Set(['b-1.1.0', 'r-1.1.0']))).toEqual([
      'aws-k8s-1.31 x86_64 1.1.0: image target "h-1.1.0" is not in the repository',
      'migration (1.1.0, 1.0.0) does not go forward',
      'migration (1.1.0, 1.0.0): target "m.lz4" is not in the repository',
    ]);
  });

  it('the manifest commands build a manifest updog parses', async () => {
    const dir = await tempDir();
    const file = join(dir, 'manifest.json');
    await tufRepoOk('manifest', 'init', file);
    await tufRepoOk('manifest', 'add-update', file, '--variant', 'aws-k8s-1.31', '--arch', 'x86_64', '--version', '1.26.1', '--boot', 'b', '--root', 'r', '--hash', 'h');
    await tufRepoOk('manifest', 'set-waves', file, '--variant', 'aws-k8s-1.31', '--arch', 'x86_64', '--version', '1.26.1', '--wave-file', 'accelerated', '--start-at', '2024-10-30T17:00:00Z');
    await writeFile(join(dir, 'Release.toml'), '[migrations]\n"(1.25.0, 1.26.1)" = ["migrate_a.lz4"]\n');
    await tufRepoOk('manifest', 'set-migrations', file, '--from', join(dir, 'Release.toml'));
    await tufRepoOk('manifest', 'set-max-version', file, '--variant', 'aws-k8s-1.31', '--arch', 'x86_64', '--max-version', '1.27.0');
    const m = parseManifest(await readFile(file, 'utf8'));
    expect(m.updates[0]!.maxVersion).toBe('1.27.0');
    expect(m.updates[0]!.waves.map((w) => [w.seed, w.startsAt.toISOString()])).toEqual([
      [0, '2024-10-30T17:10:00.000Z'],
      [102, '2024-10-30T18:00:00.000Z'],
      [512, '2024-10-30T21:00:00.000Z'],
      [1228, '2024-10-31T05:00:00.000Z'],
    ]);
    expect(m.migrations).toEqual([{ from: '1.25.0', to: '1.26.1', targets: ['migrate_a.lz4'] }]);
    expect(JSON.parse(await tufRepoOk('manifest', 'validate', file))).toEqual({ manifest: file, updates: 1, migrations: 1 });

    await writeFile(join(dir, 'bad-waves.toml'), '[[waves]]\nstart_after = "1 hour"\n');
    const bad = await tufRepo('manifest', 'set-waves', file, '--variant', 'aws-k8s-1.31', '--arch', 'x86_64', '--version', '1.26.1', '--wave-file', join(dir, 'bad-waves.toml'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`tuf-repo: error: ${join(dir, 'bad-waves.toml')}: waves[0]: fleet_percentage must be an integer from 1 to 100\n`);
  });

  it('a rewrite keeps wave times with fractions to the nanosecond, written as upstream (chrono) writes them', async () => {
    const dir = await tempDir();
    const file = join(dir, 'manifest.json');
    const waves = {
      '0': '2024-10-30T15:00:00.123456789Z', // upstream's tools stamping "now"
      '20': '2024-10-30T16:00:00.5Z', // chrono writes 3, 6 or 9 digits
      '102': '2024-10-30T17:00:00.000001Z',
      '307': '2024-10-30T18:00:00.1234567891Z', // past nanoseconds: dropped, as chrono
      '819': '2024-10-30T20:00:00.000000250+01:00', // an offset: the same instant in UTC
      '1228': '2024-10-30T21:00:00Z',
    };
    const update = { variant: 'aws-k8s-1.31', arch: 'x86_64', version: '1.26.1', max_version: '1.26.1', waves, images: { boot: 'b', root: 'r', hash: 'h' } };
    await writeFile(file, JSON.stringify({ updates: [update], migrations: {} }));
    await tufRepoOk('manifest', 'set-max-version', file, '--variant', 'aws-k8s-1.31', '--arch', 'x86_64', '--max-version', '1.27.0');
    const written = JSON.parse(await readFile(file, 'utf8')) as { updates: { max_version: string; waves: Record<string, string> }[] };
    expect(written.updates[0]!.max_version).toBe('1.27.0');
    expect(written.updates[0]!.waves).toEqual({
      '0': '2024-10-30T15:00:00.123456789Z',
      '20': '2024-10-30T16:00:00.500Z',
      '102': '2024-10-30T17:00:00.000001Z',
      '307': '2024-10-30T18:00:00.123456789Z',
      '819': '2024-10-30T19:00:00.000000250Z',
      '1228': '2024-10-30T21:00:00Z',
    });
    // and again: a second rewrite changes nothing
    const once = await readFile(file, 'utf8');
    await tufRepoOk('manifest', 'set-max-version', file, '--variant', 'aws-k8s-1.31', '--arch', 'x86_64', '--max-version', '1.27.0');
    expect(await readFile(file, 'utf8')).toBe(once);
  });
});
