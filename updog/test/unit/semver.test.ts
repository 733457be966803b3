import { describe, expect, it } from 'vitest';
import { compareVersions, parseVersion, VersionError } from '../../src/manifest/semver.js';

describe('semver', () => {
  it('parses strict versions', () => {
    expect(parseVersion('1.26.1-rc.1+b5')).toEqual({ major: 1, minor: 26, patch: 1, prerelease: ['rc', 1], build: ['b5'] });
    for (const bad of ['v1.2.3', '1.2', '01.2.3', '1.2.3-', '1.2.3-01', ' 1.2.3']) {
      expect(() => parseVersion(bad)).toThrow(VersionError);
    }
  });

  it('orders by semver precedence', () => {
    const sorted = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.10.0', '2.0.0'];
    for (let i = 0; i + 1 < sorted.length; i++) {
      expect(compareVersions(sorted[i]!, sorted[i + 1]!)).toBe(-1);
      expect(compareVersions(sorted[i + 1]!, sorted[i]!)).toBe(1);
    }
    expect(compareVersions('1.2.3+a', '1.2.3+b')).toBe(0);
  });
});
