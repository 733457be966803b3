import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir, sgdisk, sgdiskAttributes, sgdiskVerifyOutput, writeFakeRoot } from '../unit/gpt-helpers.js';

const BIN = fileURLToPath(new URL('../../dist/cli/signpost.js', import.meta.url));
const MIB = 1024 * 1024;

let dir: string;
let img: string;

function signpost(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeEach(() => {
  dir = makeTempDir();
  img = path.join(dir, 'disk.img');
  const created = signpost(['create-disk-image', img, '--boot-size', '1M', '--root-size', '4M', '--hash-size', '1024K', '--private-size', '1M']);
  expect(created).toMatchObject({ code: 0, stdout: '' });
});
afterEach(() => removeDir(dir));

describe('signpost bin', () => {
  it('creates an image with the requested sizes', () => {
    const table = sgdisk('-p', img);
    expect(table).toMatch(/^\s+2\s+4096\s+12287\s+4\.0 MiB\s+FFFF\s+BOTTLEROCKET-ROOT-A$/m);
    expect(table).toMatch(/^\s+7\s+\d+\s+\d+\s+1024\.0 KiB\s+FFFF\s+BOTTLEROCKET-PRIVATE$/m);
  });

  it('prints status for humans and as JSON', () => {
    expect(signpost(['--disk', img, '--active-set', 'A', 'status'])).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        `disk: ${img}`,
        'set A (active): priority=1 tries=0 successful=1 will-boot=yes partitions boot=1 root=2 hash=3',
        'set B (inactive): priority=0 tries=0 successful=0 will-boot=no partitions boot=4 root=5 hash=6',
        'boot ever succeeded: no',
        'next boot: A',
        '',
      ].join('\n'),
    });
    const json = signpost(['status', '--json'], { UPDOG_DISK: img, UPDOG_ACTIVE_SET: 'B' });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ activeSet: 'B', inactiveSet: 'A', nextBoot: 'A', A: { priority: 1, successful: true } });
  });

  it('applies each command to the disk, sgdisk agreeing after every step', () => {
    const env = { UPDOG_DISK: img, UPDOG_ACTIVE_SET: 'A' };
    const steps: Array<[string, string, string]> = [
      ['clear-inactive', '0101000000000000', '0000000000000000'],
      ['mark-inactive-valid', '0101000000000000', '0010000000000000'],
      ['upgrade-to-inactive', '0101000000000000', '0012000000000000'],
      ['cancel-upgrade', '0102000000000000', '0010000000000000'],
      ['upgrade-to-inactive', '0101000000000000', '0012000000000000'],
      ['rollback-to-inactive', '0101000000000000', '0012000000000000'],
      ['mark-successful-boot', '0101000000000000', '0012000000000000'],
    ];
    for (const [command, bootA, bootB] of steps) {
      expect(signpost([command, '--log-level', 'warn'], env)).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(sgdiskVerifyOutput(img)).toContain('No problems found.');
      expect([command, sgdiskAttributes(img, 1), sgdiskAttributes(img, 4)]).toEqual([command, bootA, bootB]);
    }
    expect(sgdiskAttributes(img, 7)).toBe('0200000000000000');
  });

  it('logs each change as a structured line on stderr', () => {
    const run = signpost(['--disk', img, '--active-set', 'A', 'mark-inactive-valid']);
    expect(run.code).toBe(0);
    const log = JSON.parse(run.stderr.trim()) as Record<string, unknown>;
    expect(log).toMatchObject({ msg: 'signpost mark-inactive-valid', active: 'A', after: { B: { priority: 0, triesLeft: 1, successful: false } } });
  });

  it('refuses an invalid transition with exit 1 and the flags it found', () => {
    const before = fs.readFileSync(img);
    expect(signpost(['--disk', img, '--active-set', 'A', 'upgrade-to-inactive'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'signpost: error: cannot upgrade to set B: it holds no verified image (priority=0 tries=0 successful=0); write an image and run mark-inactive-valid first\n',
    });
    expect(fs.readFileSync(img).equals(before)).toBe(true);
  });

  it('answers has-boot-ever-succeeded with output and exit code', () => {
    const args = ['--disk', img, '--active-set', 'A'];
    expect(signpost([...args, 'has-boot-ever-succeeded'])).toEqual({ code: 2, stdout: 'false\n', stderr: '' });
    expect(signpost([...args, '--log-level', 'silent', 'mark-successful-boot']).code).toBe(0);
    expect(signpost([...args, 'has-boot-ever-succeeded'])).toEqual({ code: 0, stdout: 'true\n', stderr: '' });
  });

  it('simulate-boot records the booted set and version for the next commands', () => {
    writeFakeRoot(img, 2 * MIB, '1.0.0');
    writeFakeRoot(img, 8 * MIB, '1.1.0'); // ROOT-B: after 1 MiB lead-in, BOOT-A 1, ROOT-A 4, HASH-A 1, BOOT-B 1
    const activeFile = path.join(dir, 'active-set');
    const osRelease = path.join(dir, 'os-release');
    fs.writeFileSync(osRelease, 'NAME=Bottlerocket\nVERSION_ID=1.0.0\nBUILD_ID=abc\n');
    fs.writeFileSync(activeFile, 'A\n');
    const env = { UPDOG_DISK: img, UPDOG_ACTIVE_SET_FILE: activeFile };
    const boot = ['simulate-boot', '--record-active-set', activeFile, '--os-release', osRelease];

    for (const command of ['clear-inactive', 'mark-inactive-valid', 'upgrade-to-inactive']) expect(signpost([command, '--log-level', 'silent'], env).code).toBe(0);
    expect(signpost([...boot, '--json'], env)).toEqual({
      code: 0,
      stderr: '',
      stdout: '{"set":"B","bootPartitionNumber":4,"triesBefore":1,"triesAfter":0,"version":"1.1.0","bad":false}\n',
    });
    expect(fs.readFileSync(activeFile, 'utf8')).toBe('B\n');
    expect(fs.readFileSync(osRelease, 'utf8')).toBe('NAME=Bottlerocket\nVERSION_ID=1.1.0\nBUILD_ID=abc\n');

    // The active set file now says B: status agrees; without mark-successful-boot we fall back.
    expect(JSON.parse(signpost(['status', '--json'], env).stdout)).toMatchObject({ activeSet: 'B', nextBoot: 'A' });
    expect(signpost(boot, env)).toEqual({ code: 0, stderr: '', stdout: 'booted set A (partition 1, tries 0 -> 0), version 1.0.0\n' });
    expect(fs.readFileSync(activeFile, 'utf8')).toBe('A\n');
    expect(fs.readFileSync(osRelease, 'utf8')).toBe('NAME=Bottlerocket\nVERSION_ID=1.0.0\nBUILD_ID=abc\n');
  });

  it('rejects usage errors with exit 64', () => {
    expect(signpost(['--disk', img, '--active-set', 'C', 'status']).code).toBe(64);
    expect(signpost(['--disk', img, '--active-set', 'A', '--active-set-file', 'x', 'status']).code).toBe(64);
    expect(signpost(['create-disk-image', path.join(dir, 'x.img'), '--root-size', 'lots']).code).toBe(64);
    expect(signpost(['simulate-boot'])).toEqual({ code: 64, stdout: '', stderr: 'signpost: error: simulate-boot needs --disk (or UPDOG_DISK)\n' });
  });

  it('fails clearly on a disk whose GPT is destroyed', () => {
    fs.writeFileSync(img, Buffer.alloc(MIB));
    const run = signpost(['--disk', img, '--active-set', 'A', 'status']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^signpost: error: no usable GPT on .*disk\.img \(512-byte sectors: primary: no GPT signature at LBA 1;/);
  });
});
