import { describe, expect, it } from 'vitest';
import { parseExpiryPolicy } from '../src/tuf/expiry-policy.js';

const NOW = new Date('2030-01-01T00:00:00Z');

describe('expiry policy files', () => {
  it('reads durations and absolute times per role', () => {
    const e = parseExpiryPolicy('targets = "in 4 weeks"\nsnapshot = "1 week"\ntimestamp = "2030-01-02T12:00:00Z"\n', NOW);
    expect([e.targets?.toISOString(), e.snapshot?.toISOString(), e.timestamp?.toISOString()]).toEqual([
      '2030-01-29T00:00:00.000Z',
      '2030-01-08T00:00:00.000Z',
      '2030-01-02T12:00:00.000Z',
    ]);
    expect(parseExpiryPolicy('', NOW)).toEqual({});
  });

  it('names the file and the problem', () => {
    expect(() => parseExpiryPolicy('targets = ', NOW, 'e.toml')).toThrow(/^e\.toml: invalid TOML: /);
    expect(() => parseExpiryPolicy('root = "1 day"', NOW, 'e.toml')).toThrow('e.toml: unknown key(s) root (expected targets, snapshot, timestamp)');
    expect(() => parseExpiryPolicy('snapshot = 7', NOW, 'e.toml')).toThrow('e.toml: snapshot must be a string such as "in 7 days"');
    expect(() => parseExpiryPolicy('timestamp = "later"', NOW, 'e.toml')).toThrow(/^e\.toml: timestamp: "later" is neither an RFC 3339 time/);
  });
});
