import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { loadOsRelease, parseOsRelease } from '../../src/config/os-release.js';
import { loadUpdogConfig, parseUpdogConfig } from '../../src/config/updog-config.js';

const GOOD = `metadata_base_url = "https://updates.example.com/metadata/"
targets_base_url = "https://updates.example.com/targets/"
seed = 1234
version_lock = "latest"
ignore_waves = false
`;

function configError(text: string): string {
  try {
    parseUpdogConfig(text, '/etc/updog.toml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('updog.toml', () => {
  it('parses required and optional fields', () => {
    expect(parseUpdogConfig(GOOD, 'f')).toEqual({
      metadataBaseUrl: 'https://updates.example.com/metadata/',
      targetsBaseUrl: 'https://updates.example.com/targets/',
      seed: 1234,
      versionLock: 'latest',
      ignoreWaves: false,
      download: { requestTimeoutMs: 30_000, minBytesPerSecond: 32_768, retries: 3, retryBackoffMs: 500, maxRedirects: 5 },
    });
    const withProxy = parseUpdogConfig(`${GOOD}https_proxy = "http://proxy:3128"\nno_proxy = ["localhost", ".internal"]\n`, 'f');
    expect(withProxy.httpsProxy).toBe('http://proxy:3128');
    expect(withProxy.noProxy).toEqual(['localhost', '.internal']);
    expect(parseUpdogConfig(GOOD.replace('"latest"', '"v1.2.3"').replace('1234', '2048'), 'f')).toMatchObject({ versionLock: 'v1.2.3', seed: 2048 });
  });

  it('reads the bandwidth cap [download] max_download_rate as bytes per second or with a binary unit', () => {
    expect(parseUpdogConfig(GOOD, 'f').download.maxBytesPerSecond).toBeUndefined();
    expect(parseUpdogConfig(`${GOOD}\n[download]\nmax_download_rate = 1048576\n`, 'f').download).toEqual({ ...parseUpdogConfig(GOOD, 'f').download, maxBytesPerSecond: 1_048_576 });
    expect(parseUpdogConfig(`${GOOD}\n[download]\nmax_download_rate = "10MiB"\n`, 'f').download.maxBytesPerSecond).toBe(10_485_760);
    for (const bad of ['0', '"10MB"', '2.5', 'true']) {
      expect(configError(`${GOOD}\n[download]\nmax_download_rate = ${bad}\n`)).toBe(
        '/etc/updog.toml: field "download.max_download_rate" must be bytes per second, e.g. 10485760 or "10MiB" (units B, KiB, MiB, GiB)',
      );
    }
  });

  it('reads the [download] limits over the defaults', () => {
    const text = `${GOOD}\n[download]\nrequest_timeout_ms = 250\nmin_bytes_per_second = 1000000\nretries = 0\nretry_backoff_ms = 10\nmax_redirects = 2\n`;
    expect(parseUpdogConfig(text, 'f').download).toEqual({ requestTimeoutMs: 250, minBytesPerSecond: 1_000_000, retries: 0, retryBackoffMs: 10, maxRedirects: 2 });
    expect(parseUpdogConfig(`${GOOD}\n[download]\nretries = 1\n`, 'f').download).toEqual({ ...parseUpdogConfig(GOOD, 'f').download, retries: 1 });
    expect(configError(`${GOOD}\n[download]\nretries = -1\n`)).toBe('/etc/updog.toml: field "download.retries" must be an integer of at least 0');
    expect(configError(`${GOOD}\n[download]\nrequest_timeout_ms = 0\n`)).toBe('/etc/updog.toml: field "download.request_timeout_ms" must be an integer of at least 1');
    expect(configError(`${GOOD}\n[download]\nmin_bytes_per_second = 1.5\n`)).toBe('/etc/updog.toml: field "download.min_bytes_per_second" must be an integer of at least 1');
    expect(configError(`${GOOD}\n[download]\ntimeout = 5\n`)).toBe(
      '/etc/updog.toml: field "download.timeout" is not a download setting; known: request_timeout_ms, min_bytes_per_second, retries, retry_backoff_ms, max_redirects, max_download_rate',
    );
    expect(configError(`${GOOD}download = 5\n`)).toBe('/etc/updog.toml: field "download" must be a table ([download])');
  });

  it('names the file and field of every problem', () => {
    expect(configError(GOOD.replace('seed = 1234', 'seed = 2049'))).toBe('/etc/updog.toml: field "seed" is 2049, above the maximum seed 2048');
    expect(configError(GOOD.replace('seed = 1234', 'seed = -1'))).toBe('/etc/updog.toml: field "seed" must be an integer from 0 to 2048');
    expect(configError(GOOD.replace('seed = 1234', 'seed = "7"'))).toBe('/etc/updog.toml: field "seed" must be an integer from 0 to 2048');
    expect(configError(GOOD.replace(/^seed.*\n/m, ''))).toBe('/etc/updog.toml: field "seed" is missing');
    expect(configError(GOOD.replace(/^targets_base_url.*\n/m, ''))).toBe('/etc/updog.toml: field "targets_base_url" is missing');
    expect(configError(GOOD.replace('https://updates.example.com/metadata/', 'ftp://x'))).toBe(
      '/etc/updog.toml: field "metadata_base_url" must be an http:// or https:// URL',
    );
    expect(configError(GOOD.replace('"latest"', '"newest"'))).toBe(
      '/etc/updog.toml: field "version_lock" must be "latest" or a version like "1.26.1" or "v1.26.1"',
    );
    expect(configError(GOOD.replace('false', '"no"'))).toBe('/etc/updog.toml: field "ignore_waves" must be true or false');
    expect(configError(`${GOOD}no_proxy = "localhost"\n`)).toMatch(/^\/etc\/updog.toml: field "no_proxy" must be a list of host names/);
    expect(configError('seed = ')).toMatch(/^\/etc\/updog.toml: not valid TOML: /);
  });
});

describe('os-release', () => {
  it('parses quoted values and maps the arch', () => {
    const os = parseOsRelease('NAME=Bottlerocket\nVARIANT_ID="aws-k8s-1.31"\nVERSION_ID=1.26.1\nBUILD_ID=\'abc123\'\n# c\n', 'f');
    expect(os).toEqual({
      variantId: 'aws-k8s-1.31',
      versionId: '1.26.1',
      buildId: 'abc123',
      arch: { x64: 'x86_64', arm64: 'aarch64' }[process.arch as string] ?? process.arch,
    });
    expect(parseOsRelease('VARIANT_ID=a\nVERSION_ID=1.0.0\nBUILD_ID=b\nARCH=aarch64\n', 'f').arch).toBe('aarch64');
    expect(parseOsRelease('VARIANT_ID=a\nVERSION_ID=1.0.0\nBUILD_ID=b\nBOTTLEROCKET_ARCH=x86_64\n', 'f').arch).toBe('x86_64');
  });

  it('names the file and field of every problem', () => {
    expect(() => parseOsRelease('VERSION_ID=1.0.0\nBUILD_ID=b\n', '/usr/lib/os-release')).toThrow('/usr/lib/os-release: field "VARIANT_ID" is missing');
    expect(() => parseOsRelease('VARIANT_ID=a\nVERSION_ID=1.0\nBUILD_ID=b\n', '/usr/lib/os-release')).toThrow(
      '/usr/lib/os-release: field "VERSION_ID" is "1.0", not a semantic version like 1.26.1',
    );
  });
});

describe('loading files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'updog-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads files and reports unreadable ones by path', () => {
    writeFileSync(join(dir, 'updog.toml'), GOOD);
    expect(loadUpdogConfig(join(dir, 'updog.toml')).seed).toBe(1234);
    expect(() => loadUpdogConfig(join(dir, 'missing.toml'))).toThrow(`${join(dir, 'missing.toml')}: cannot read the updog configuration: ENOENT`);
    expect(() => loadOsRelease(join(dir, 'missing'))).toThrow(`${join(dir, 'missing')}: cannot read os-release: ENOENT`);
  });
});
