import fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createUpdateFixture, fakeImageHash, IMAGE_SIZES, sgdiskVerifies, VARIANT, type UpdateFixture } from './update-fixture.js';

const fixtures: UpdateFixture[] = [];
async function fixture(): Promise<UpdateFixture> {
  const f = await createUpdateFixture();
  fixtures.push(f);
  return f;
}
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.close();
});

const flags = (s: { priority: number; triesLeft: number; successful: boolean }): string => `${s.priority}/${s.triesLeft}/${s.successful ? 1 : 0}`;

describe('updog update end to end (loopback repository, disk image, boot model)', () => {
  it('installs a release into the inactive set, boots it, keeps it once marked; a bad release rolls back', async () => {
    const f = await fixture();
    await f.publish([{ version: '1.1.0' }]);

    const first = await f.run(['update']);
    expect(first.stdout).toBe(`${VARIANT} 1.1.0 written to set B; it boots next\n`);
    expect(first.code).toBe(0);
    expect(sgdiskVerifies(f.disk)).toBe(true);
    // every image byte-exact in set B; set A untouched
    for (const part of ['root', 'boot', 'hash'] as const) {
      expect(f.partitionHash('B', part, IMAGE_SIZES[part])).toBe(fakeImageHash('1.1.0', part));
      expect(f.partitionHash('A', part, IMAGE_SIZES[part])).toBe(fakeImageHash('1.0.0', part));
    }
    let status = await f.status();
    expect([flags(status.A), flags(status.B), status.nextBoot]).toEqual(['1/0/1', '2/1/0', 'B']);

    expect(await f.boot()).toMatchObject({ set: 'B', version: '1.1.0', triesBefore: 1, triesAfter: 0 });
    await f.markSuccessfulBoot();
    expect(await f.boot()).toMatchObject({ set: 'B', version: '1.1.0', triesBefore: 0 });
    expect(await f.boot()).toMatchObject({ set: 'B', version: '1.1.0' });
    status = await f.status();
    expect([flags(status.A), flags(status.B), status.bootEverSucceeded]).toEqual(['1/0/1', '2/0/1', true]);

    // a release whose image never passes its health check: tried once, then the old set again
    await f.publish([{ version: '1.1.0' }, { version: '1.2.0', bad: true }]);
    const second = await f.run(['update', '--json']);
    expect(second.code).toBe(0);
    const json = JSON.parse(second.stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ version: '1.2.0', variant: VARIANT, set: 'A', applied: true, rebooting: false });
    // per image: how it was installed and the bytes downloaded, reused from the host and written
    expect(json.images).toEqual(
      Object.fromEntries(
        (['root', 'boot', 'hash'] as const).map((part) => {
          const file = f.targetFile('1.2.0', part);
          const target = file.split('/').at(-1)!.replace(/^[0-9a-f]{64}\./, '');
          return [part, { target, method: 'stream', downloadedBytes: fs.statSync(file).size, reusedBytes: 0, writtenBytes: IMAGE_SIZES[part] }];
        }),
      ),
    );
    expect(f.partitionHash('A', 'root', IMAGE_SIZES.root)).toBe(fakeImageHash('1.2.0', 'root', true));
    expect(await f.boot()).toMatchObject({ set: 'A', version: '1.2.0', bad: true, triesBefore: 1 });
    // no mark-successful-boot: the next boot falls back to B
    expect(await f.boot()).toMatchObject({ set: 'B', version: '1.1.0' });
    expect(await f.boot()).toMatchObject({ set: 'B', version: '1.1.0' });
    expect(sgdiskVerifies(f.disk)).toBe(true);
  });

  it('update-image stages without applying; update-apply and update-revert flip only the flags', async () => {
    const f = await fixture();
    await f.publish([{ version: '1.1.0' }]);
    expect(await f.run(['update-apply'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/no update is staged in set B/) });
    expect(await f.run(['update-revert'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/no update is applied/) });

    const staged = await f.run(['update-image', '-n']);
    expect(staged).toMatchObject({ code: 0, stdout: `${VARIANT} 1.1.0 written to set B; run update-apply to boot it\n` });
    let s = await f.status();
    expect([flags(s.A), flags(s.B), s.nextBoot]).toEqual(['1/0/1', '0/1/0', 'A']);

    // offline: the repository is gone
    await f.server.close();
    expect(await f.run(['update-apply'])).toMatchObject({ code: 0, stdout: 'update applied: the staged set boots next\n' });
    s = await f.status();
    expect([flags(s.A), flags(s.B), s.nextBoot]).toEqual(['1/0/1', '2/1/0', 'B']);
    expect((await f.run(['update-apply'])).code).toBe(2);
    expect(await f.run(['update-revert'])).toMatchObject({ code: 0, stdout: 'update reverted: the running set boots next\n' });
    s = await f.status();
    expect([flags(s.A), flags(s.B), s.nextBoot]).toEqual(['2/0/1', '0/1/0', 'A']);
    expect(await f.boot()).toMatchObject({ set: 'A', version: '1.0.0' });
    expect(sgdiskVerifies(f.disk)).toBe(true);
  });

  it('exits 2 when there is nothing to install, and fails for an unknown --image', async () => {
    const f = await fixture();
    await f.publish([{ version: '1.0.0' }]);
    const before = fs.readFileSync(f.disk);
    expect(await f.run(['update'])).toEqual({ code: 2, stdout: '', stderr: `updog: no update available for ${VARIANT} x86_64 1.0.0\n` });
    const unknown = await f.run(['update', '--image', '9.9.9']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/version 9\.9\.9 is not offered to aws-k8s-1\.31\/x86_64 now \(try --ignore-waves\); the repository lists: 1\.0\.0/);
    expect(fs.readFileSync(f.disk).equals(before)).toBe(true);
  });

  it('refuses while another live process holds the lock (exit 3) and takes over a stale lock', async () => {
    const f = await fixture();
    await f.publish([{ version: '1.1.0' }]);
    const lock = f.env.UPDOG_LOCK_FILE!;
    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid }));
    const busy = await f.run(['update']);
    expect(busy.code).toBe(3);
    expect(busy.stderr).toBe(`updog: error: another updog process (pid ${process.pid}) is updating this host (lock file ${lock}); try again later\n`);
    expect((await f.run(['update-apply'])).code).toBe(3);
    // a lock left by a process that is gone (or a recycled pid with another start time)
    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, startTime: '1' }));
    expect((await f.run(['update'])).code).toBe(0);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('--reboot runs the reboot command after applying', async () => {
    const f = await fixture();
    await f.publish([{ version: '1.1.0' }]);
    const marker = join(f.dir.path, 'rebooted');
    const r = await f.run(['update', '--reboot'], { UPDOG_REBOOT_COMMAND: `touch ${marker}` });
    expect(r).toMatchObject({ code: 0, stdout: `${VARIANT} 1.1.0 written to set B; rebooting\n` });
    expect(fs.existsSync(marker)).toBe(true);
    const failing = await f.run(['update-apply', '--reboot', '--reboot-command', 'false']);
    expect(failing.code).toBe(2); // already applied: nothing to do, no reboot
    expect((await f.run(['update-revert'])).code).toBe(0);
    const fails = await f.run(['update-apply', '--reboot', '--reboot-command', 'false']);
    expect(fails.code).toBe(1);
    expect(fails.stderr).toMatch(/\nupdog: error: the reboot command "false" failed \(exit 1\); the update is applied and takes effect on the next reboot\n$/);
  });

  it('refuses to overwrite the fallback set while the running set is on its only try', async () => {
    const f = await fixture();
    await f.publish([{ version: '1.1.0' }]);
    expect((await f.run(['update'])).code).toBe(0);
    expect(await f.boot()).toMatchObject({ set: 'B', version: '1.1.0' });
    // not marked successful yet; a newer release appears
    await f.publish([{ version: '1.1.0' }, { version: '1.2.0' }]);
    const before = f.partitionHash('A', 'root');
    const r = await f.run(['update']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the running set B would not boot again \(priority=2 tries=0 successful=0\): mark this boot successful/);
    expect(f.partitionHash('A', 'root')).toBe(before);
    await f.markSuccessfulBoot();
    expect((await f.run(['update'])).code).toBe(0);
    expect(await f.boot()).toMatchObject({ set: 'A', version: '1.2.0' });
  });
});
