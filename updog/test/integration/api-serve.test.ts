/**
 * The real `updog serve` bin on a Unix socket, backed by a disk image and a signed repository on
 * loopback. Its reboot command runs the boot model (signpost simulate-boot) on the disk and
 * gives the host a new boot id; its health check fails on a "bad" fake image.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpdateApiClient } from '../../src/api/client.js';
import type { StatusResponse } from '../../src/api/protocol.js';
import { apiRefusal } from '../helpers/api-refusal.js';
import { distBin, runBin, UPDOG_BIN } from '../helpers/run-bin.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { createUpdateFixture, fakeImageHash, sgdiskVerifies, type UpdateFixture } from './update-fixture.js';

const SIGNPOST_BIN = distBin('updog/dist/cli/signpost.js');

let fx: UpdateFixture;
let serve: ServeProcess;
let socket: string;
let client: UpdateApiClient;

function writeScript(path: string, body: string): void {
  fs.writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}

beforeAll(async () => {
  fx = await createUpdateFixture();
  await fx.publish([{ version: '1.1.0' }, { version: '1.2.0', bad: true }]);
  const dir = fx.dir.path;
  socket = join(dir, 'api.sock');
  const bootJson = join(dir, 'boot.json');
  const bootId = join(dir, 'boot-id');
  fs.writeFileSync(bootId, 'boot-0\n');
  writeScript(
    join(dir, 'reboot.sh'),
    [
      'set -e',
      `"${process.execPath}" "${SIGNPOST_BIN}" --disk "${fx.disk}" simulate-boot --json --record-active-set "${fx.env.UPDOG_ACTIVE_SET_FILE!}" --os-release "${fx.env.UPDOG_OS_RELEASE!}" > "${bootJson}"`,
      `head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \\n' > "${bootId}"`,
    ].join('\n'),
  );
  // Healthy unless the image that booted is a "bad" one.
  writeScript(join(dir, 'health.sh'), `if grep -q '"bad":true' "${bootJson}" 2>/dev/null; then echo "fake image is bad: services failed" >&2; exit 1; fi`);

  serve = await startServe(socket, {
    ...fx.env,
    UPDOG_API_STATUS_FILE: join(dir, 'state', 'status.json'),
    UPDOG_REBOOT_COMMAND: join(dir, 'reboot.sh'),
    UPDOG_HEALTH_CHECK_COMMAND: join(dir, 'health.sh'),
    UPDOG_BOOT_ID_FILE: bootId,
  });
  client = serve.client;
});

afterAll(async () => {
  await serve?.stop();
  await fx?.close();
});

const image = (version: string) => ({ variant: 'aws-k8s-1.31', arch: 'x86_64', version });

describe('updog serve on a disk image and a loopback repository', () => {
  it('serves on a socket only root (its owner) can use', () => {
    expect(fs.statSync(socket).mode & 0o777).toBe(0o600);
  });

  it('refresh -> prepare -> activate -> reboot: the host runs the new version', async () => {
    const start = await client.status();
    expect(start.updateState).toBe('Idle');
    expect(start.running).toEqual({ set: 'A', version: '1.0.0', bootId: 'boot-0' });
    expect(start.activeBootSuccessful).toBe(true);

    const refreshed = await client.refresh();
    expect(refreshed.updateState).toBe('Available');
    expect(refreshed.availableUpdates).toEqual(['1.2.0', '1.1.0']);
    expect(refreshed.chosenUpdate).toEqual(image('1.2.0'));

    // The operator picks the version: prepare exactly 1.1.0, not the host's own choice.
    const prepared = await client.prepare('1.1.0');
    expect(prepared.updateState).toBe('Staged');
    expect(prepared.stagingPartition).toEqual({ set: 'B', image: image('1.1.0'), nextToBoot: false });
    expect(fx.partitionHash('B', 'root', 9 * 1024 * 1024)).toBe(fakeImageHash('1.1.0', 'root'));
    const staged = await fx.status();
    expect({ priority: staged.B.priority, tries: staged.B.triesLeft, successful: staged.B.successful }).toEqual({ priority: 0, tries: 1, successful: false });

    const activated = await client.activate();
    expect(activated.updateState).toBe('Ready');
    expect(activated.stagingPartition?.nextToBoot).toBe(true);
    expect((await fx.status()).nextBoot).toBe('B');
    expect(sgdiskVerifies(fx.disk)).toBe(true);

    const rebooted = await client.reboot();
    expect(rebooted.running.set).toBe('B');
    expect(rebooted.running.version).toBe('1.1.0');
    expect(rebooted.running.bootId).not.toBe('boot-0');
    expect(rebooted.rebootPending).toBe(false);
    expect(rebooted.activeBootSuccessful).toBe(false);
    // 1.2.0 is still this host's own choice: Available, with nothing staged.
    expect(rebooted.updateState).toBe('Available');
    expect(rebooted.stagingPartition).toBeNull();
    // Until this boot is marked successful the bootloader would fall back to A.
    expect(rebooted.activePartition).toEqual({ set: 'B', image: image('1.1.0'), nextToBoot: false });
    expect(rebooted.mostRecentCommand).toMatchObject({ command: 'reboot', status: 'Success', bootId: 'boot-0' });

    const marked = await client.markSuccessfulBoot();
    expect(marked.activeBootSuccessful).toBe(true);
    expect(marked.activePartition?.nextToBoot).toBe(true);
    const flags = await fx.status();
    expect(flags.B.successful).toBe(true);
    expect(flags.bootEverSucceeded).toBe(true);
  });

  it('a bad image boots, fails its health check, and the next reboot falls back', async () => {
    await client.refresh();
    expect((await client.prepare('1.2.0')).stagingPartition).toEqual({ set: 'A', image: image('1.2.0'), nextToBoot: false });
    expect((await client.activate()).updateState).toBe('Ready');
    const booted = await client.reboot();
    expect(booted.running).toMatchObject({ set: 'A', version: '1.2.0' });

    const unhealthy = await apiRefusal(client.markSuccessfulBoot());
    expect(unhealthy.httpStatus).toBe(500);
    expect(unhealthy.message).toBe(
      `health check "${join(fx.dir.path, 'health.sh')}" exited 1: fake image is bad: services failed; the boot is not marked successful`,
    );
    expect((await client.status()).mostRecentCommand).toMatchObject({ command: 'mark-successful-boot', status: 'Failed' });

    const fellBack = await client.reboot();
    expect(fellBack.running).toMatchObject({ set: 'B', version: '1.1.0' });
    expect(fellBack.activeBootSuccessful).toBe(true);
    expect(fellBack.stagingPartition).toBeNull();
    // The fallen-back version was this boot's image, so it is no longer "the" update until a refresh.
    expect(fellBack.updateState).toBe('Idle');
    const flags = await fx.status();
    expect({ priority: flags.A.priority, tries: flags.A.triesLeft, successful: flags.A.successful }).toEqual({ priority: 2, tries: 0, successful: false });
    expect(sgdiskVerifies(fx.disk)).toBe(true);
  });

  it('the state rules hold on the real host: activate with nothing staged is refused', async () => {
    expect((await client.refresh()).updateState).toBe('Available');
    const err = await apiRefusal(client.activate());
    expect(err.httpStatus).toBe(409);
    expect(err.message).toBe('activate is not allowed in state Available (allowed in Staged): prepare an update first');
  });

  it('answers 423 while `updog update` holds the update lock', async () => {
    const lock = fx.env.UPDOG_LOCK_FILE!;
    // A live process (this test runner) owns the lock, as a concurrent `updog update` would.
    fs.writeFileSync(lock, `${JSON.stringify({ pid: process.pid })}\n`);
    try {
      const busy = await apiRefusal(client.refresh());
      expect(busy.httpStatus).toBe(423);
      expect(busy.message).toBe(`another updog process (pid ${process.pid}) is updating this host (lock file ${lock}); try again later`);
    } finally {
      fs.rmSync(lock);
    }
  });

  it('`updog api` prints the status as JSON and maps refusals to exit codes', async () => {
    expect((await client.refresh()).updateState).toBe('Available');
    const status = await runBin(UPDOG_BIN, ['api', '--socket', socket, 'status']);
    expect(status.code).toBe(0);
    expect((JSON.parse(status.stdout) as StatusResponse).running).toMatchObject({ set: 'B', version: '1.1.0' });
    const refusedCli = await runBin(UPDOG_BIN, ['api', '--socket', socket, 'deactivate']);
    expect(refusedCli.code).toBe(1);
    expect(refusedCli.stdout).toBe('');
    expect(refusedCli.stderr).toBe('updog: error: deactivate is not allowed in state Available (allowed in Ready): only an activated update can be deactivated\n');
  });
});
