import { describe, expect, it } from 'vitest';
import { processBandwidth, TokenBucket } from '../../src/net/bandwidth.js';
import { parseByteRate } from '../../src/net/byte-rate.js';

describe('TokenBucket', () => {
  it('lets one burst through at once, then makes each caller wait for its bytes in turn', () => {
    let now = 1000;
    const bucket = new TokenBucket(1000, () => now); // 1000 B/s, burst 100 B
    expect(bucket.burstBytes).toBe(100);
    expect(bucket.reserve(60)).toBe(0);
    expect(bucket.reserve(40)).toBe(0);
    expect(bucket.reserve(50)).toBe(50); // 50 B in debt: 50 ms
    expect(bucket.reserve(50)).toBe(100); // queued behind the first
    now += 100; // 100 B earned: the debt is paid
    expect(bucket.reserve(100)).toBe(100);
  });

  it('earns no more than one burst while idle, and its long-run rate is the cap', () => {
    let now = 0;
    const bucket = new TokenBucket(10 * 1024 * 1024, () => now);
    now += 60_000; // a minute idle
    let waited = 0;
    for (let i = 0; i < 1600; i++) waited = bucket.reserve(64 * 1024); // 100 MiB at once
    // everything but the burst waits for the rate: (100 MiB - 1 MiB) / 10 MiB/s
    expect(waited).toBeCloseTo(((100 * 1024 * 1024 - bucket.burstBytes) * 1000) / (10 * 1024 * 1024), 6);
    expect(waited).toBeCloseTo(9900, 0);
  });

  it('is one bucket per cap in a process, shared by every download with that cap', () => {
    expect(processBandwidth(4096)).toBe(processBandwidth(4096));
    expect(processBandwidth(4096)).not.toBe(processBandwidth(8192));
    expect(() => new TokenBucket(0)).toThrow('bytesPerSecond must be positive, got 0');
  });

  it('stops waiting when the signal aborts', async () => {
    const bucket = new TokenBucket(1, () => 0, 1);
    const abort = new AbortController();
    const taking = bucket.take(1000, abort.signal);
    abort.abort();
    await expect(taking).rejects.toThrow('aborted');
  });
});

describe('parseByteRate', () => {
  it('reads whole bytes per second and binary units, with or without /s', () => {
    expect(parseByteRate(10_485_760)).toBe(10_485_760);
    expect(parseByteRate('10485760')).toBe(10_485_760);
    expect(parseByteRate('10MiB')).toBe(10_485_760);
    expect(parseByteRate('10 MiB/s')).toBe(10_485_760);
    expect(parseByteRate('512KiB')).toBe(524_288);
    expect(parseByteRate('1.5GiB')).toBe(1_610_612_736);
    expect(parseByteRate('100B')).toBe(100);
  });

  it('refuses anything else', () => {
    for (const bad of [0, -1, 1.5, '0', '10M', '10MB', '10mib', 'fast', '', '1e6', true, null, Number.MAX_VALUE, '99999999999PiB']) {
      expect(parseByteRate(bad), String(bad)).toBeUndefined();
    }
  });
});
