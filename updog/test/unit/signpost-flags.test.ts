import { describe, expect, it } from 'vitest';
import { decodeBootEverSucceeded, decodeSetFlags, encodeBootEverSucceeded, encodeSetFlags, willBoot, type SetFlags } from '../../src/gpt/attribute-flags.js';
import {
  cancelUpgrade,
  clearInactive,
  markInactiveValid,
  markSuccessfulBoot,
  rollbackToInactive,
  SignpostError,
  upgradeToInactive,
  type SignpostFlags,
} from '../../src/signpost/flags.js';

const f = (priority: number, triesLeft: number, successful: boolean): SetFlags => ({ priority, triesLeft, successful });
/** Set A running and successful, B freshly written and marked valid. */
const staged: SignpostFlags = { A: f(1, 0, true), B: f(0, 1, false), bootEverSucceeded: true };

describe('flag bits', () => {
  it('decode and encode bits 48-56 only', () => {
    const foreign = (1n << 63n) | (1n << 60n) | (1n << 57n) | (1n << 2n) | 1n;
    const attrs = encodeSetFlags(foreign | (0xffn << 48n) | (1n << 56n), f(2, 15, false));
    expect(attrs).toBe(foreign | (2n << 48n) | (15n << 52n));
    expect(decodeSetFlags(attrs)).toEqual(f(2, 15, false));
    expect(decodeSetFlags((0xfn << 48n) | (1n << 56n))).toEqual(f(15, 0, true));
    expect(() => encodeSetFlags(0n, f(16, 0, false))).toThrow('priority must be 0-15, got 16');
  });
  it('decode and encode PRIVATE bit 57 only', () => {
    expect(encodeBootEverSucceeded(1n << 56n, true)).toBe((1n << 57n) | (1n << 56n));
    expect(encodeBootEverSucceeded((1n << 57n) | 4n, false)).toBe(4n);
    expect(decodeBootEverSucceeded(1n << 57n)).toBe(true);
    expect(decodeBootEverSucceeded(1n << 56n)).toBe(false);
  });
  it('will_boot = (priority > 0 && tries > 0) || successful', () => {
    expect(willBoot(f(1, 1, false))).toBe(true);
    expect(willBoot(f(0, 0, true))).toBe(true);
    expect(willBoot(f(2, 0, false))).toBe(false);
    expect(willBoot(f(0, 3, false))).toBe(false);
  });
});

describe('transitions (active A)', () => {
  it('clear-inactive zeroes the inactive set only', () => {
    expect(clearInactive({ A: f(1, 0, true), B: f(2, 3, true), bootEverSucceeded: true }, 'A')).toEqual({
      A: f(1, 0, true),
      B: f(0, 0, false),
      bootEverSucceeded: true,
    });
  });
  it('mark-inactive-valid sets inactive tries to 1', () => {
    expect(markInactiveValid({ A: f(1, 0, true), B: f(0, 0, false), bootEverSucceeded: false }, 'A')).toEqual({
      A: f(1, 0, true),
      B: f(0, 1, false),
      bootEverSucceeded: false,
    });
  });
  it('upgrade-to-inactive: inactive priority 2 not successful, active priority 1', () => {
    expect(upgradeToInactive({ ...staged, A: f(2, 0, true) }, 'A')).toEqual({ A: f(1, 0, true), B: f(2, 1, false), bootEverSucceeded: true });
  });
  it('upgrade-to-inactive refuses an already marked or unwritten inactive set, naming its flags', () => {
    expect(() => upgradeToInactive({ ...staged, B: f(2, 1, false) }, 'A')).toThrow(
      new SignpostError('cannot upgrade to set B: it is already marked for boot (priority=2 tries=1 successful=0); run cancel-upgrade, or clear-inactive and write a new image'),
    );
    expect(() => upgradeToInactive({ ...staged, B: f(0, 1, true) }, 'A')).toThrow('already marked for boot (priority=0 tries=1 successful=1)');
    expect(() => upgradeToInactive({ ...staged, B: f(0, 0, false) }, 'A')).toThrow(
      'cannot upgrade to set B: it holds no verified image (priority=0 tries=0 successful=0); write an image and run mark-inactive-valid first',
    );
  });
  it('cancel-upgrade: inactive priority 0 keeping tries, active priority 2', () => {
    expect(cancelUpgrade({ A: f(1, 0, true), B: f(2, 1, false), bootEverSucceeded: true }, 'A')).toEqual({
      A: f(2, 0, true),
      B: f(0, 1, false),
      bootEverSucceeded: true,
    });
  });
  it('rollback-to-inactive: inactive priority 2, active priority 1, only if the inactive set will boot', () => {
    expect(rollbackToInactive({ A: f(1, 0, true), B: f(2, 0, true), bootEverSucceeded: true }, 'B')).toEqual({
      A: f(2, 0, true),
      B: f(1, 0, true),
      bootEverSucceeded: true,
    });
    expect(() => rollbackToInactive({ A: f(0, 0, false), B: f(2, 0, true), bootEverSucceeded: true }, 'B')).toThrow(
      new SignpostError('cannot roll back to set A: it would not boot (priority=0 tries=0 successful=0)'),
    );
  });
  it('mark-successful-boot sets the active successful bit and bit 57', () => {
    expect(markSuccessfulBoot({ A: f(1, 0, true), B: f(2, 0, false), bootEverSucceeded: false }, 'B')).toEqual({
      A: f(1, 0, true),
      B: f(2, 0, true),
      bootEverSucceeded: true,
    });
  });
  it('are mirror images for active B', () => {
    const mirrored: SignpostFlags = { A: staged.B, B: staged.A, bootEverSucceeded: true };
    const up = upgradeToInactive(mirrored, 'B');
    expect(up).toEqual({ A: f(2, 1, false), B: f(1, 0, true), bootEverSucceeded: true });
  });
});
