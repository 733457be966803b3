/**
 * The update API server over a real Unix socket with a real status file, driven through the real
 * client. The host underneath is an in-memory model of the A/B flags (the real one, on a disk
 * image and a loopback repository, is exercised by test/integration/api-serve.test.ts): here the
 * subject is the server's state rules, persistence and busy handling.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpdateApiClient } from '../../src/api/client.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { apiRefusal } from '../helpers/api-refusal.js';
import { MemoryHost, img } from '../helpers/memory-host.js';
import { ExitCode, UserError } from '../../src/common/errors.js';
import { createLogger } from '../../src/common/log.js';

let dir: string;
let host: MemoryHost;
let server: ApiServer;
let client: UpdateApiClient;
let statusFile: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'updog-api-'));
  statusFile = path.join(dir, 'state', 'status.json');
  host = new MemoryHost();
  server = await startApiServer({ socketPath: path.join(dir, 'api.sock'), statusFile, host, logger: createLogger('test', 'silent') });
  client = new UpdateApiClient(server.socketPath);
});

afterEach(async () => {
  await server.close();
  await fs.rm(dir, { recursive: true, force: true });
});


describe('update API server', () => {
  it('listens on a socket only its owner can use', async () => {
    const st = await fs.stat(server.socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('goes Idle -> Available -> Staged -> Ready -> (reboot) -> Idle on the new version, persisting each step', async () => {
    const first = await client.status();
    expect(first.updateState).toBe('Idle');
    expect(first.running).toEqual({ set: 'A', version: '1.0.0', bootId: 'boot-0' });
    expect(first.mostRecentCommand).toBeNull();

    const refreshed = await client.refresh();
    expect(refreshed.updateState).toBe('Available');
    expect(refreshed.chosenUpdate).toEqual(img('1.1.0'));
    expect(refreshed.availableUpdates).toEqual(['1.1.0']);

    const prepared = await client.prepare('1.1.0');
    expect(prepared.updateState).toBe('Staged');
    expect(prepared.stagingPartition).toEqual({ set: 'B', image: img('1.1.0'), nextToBoot: false });

    const activated = await client.activate();
    expect(activated.updateState).toBe('Ready');
    expect(activated.stagingPartition?.nextToBoot).toBe(true);
    expect(activated.activePartition).toEqual({ set: 'A', image: img('1.0.0'), nextToBoot: false });
    const persisted = JSON.parse(await fs.readFile(statusFile, 'utf8')) as { updateState: string; mostRecentCommand: { command: string; status: string } };
    expect(persisted.updateState).toBe('Ready');
    expect(persisted.mostRecentCommand).toMatchObject({ command: 'activate', status: 'Success' });

    const rebooted = await client.reboot();
    expect(rebooted.updateState).toBe('Idle');
    expect(rebooted.running).toEqual({ set: 'B', version: '1.1.0', bootId: 'boot-1' });
    expect(rebooted.rebootPending).toBe(false);
    expect(rebooted.activeBootSuccessful).toBe(false);
    expect(rebooted.stagingPartition).toBeNull();
    expect(rebooted.chosenUpdate).toBeNull();
    expect(rebooted.mostRecentCommand).toMatchObject({ command: 'reboot', status: 'Success', bootId: 'boot-0' });

    const marked = await client.markSuccessfulBoot();
    expect(marked.activeBootSuccessful).toBe(true);
  });

  it('a reboot stays pending for the rest of its boot, whatever commands run before the host goes down', async () => {
    host.rebootLater = true;
    await client.refresh();
    await client.prepare('1.1.0');
    await client.activate();
    const requested = await client.reboot();
    expect(requested.rebootPending).toBe(true);
    expect(requested.rebootRequestedInBoot).toBe('boot-0');
    // the agent's periodic refresh, a report: none of them may make the reboot look lost
    expect((await client.refresh()).rebootPending).toBe(true);
    expect((await client.markSuccessfulBoot()).rebootPending).toBe(true);
    const persisted = JSON.parse(await fs.readFile(statusFile, 'utf8')) as { rebootRequestedInBoot: string; mostRecentCommand: { command: string } };
    expect(persisted).toMatchObject({ rebootRequestedInBoot: 'boot-0', mostRecentCommand: { command: 'mark-successful-boot' } });
    // a restarted server reads the same from the file
    await server.close();
    server = await startApiServer({ socketPath: server.socketPath, statusFile, host, logger: createLogger('test', 'silent') });
    expect((await client.status()).rebootPending).toBe(true);

    host.goDown();
    const after = await client.status();
    expect(after.running).toEqual({ set: 'B', version: '1.1.0', bootId: 'boot-1' });
    expect(after.rebootPending).toBe(false);
    expect((await client.refresh()).rebootPending).toBe(false);
    expect(host.rebootRequests).toBe(1);
  });

  it('a reboot request that fails is not pending', async () => {
    host.rebootError = new UserError('reboot command exited 1');
    const failed = await apiRefusal(client.reboot());
    expect(failed.message).toBe('reboot command exited 1');
    const s = await client.status();
    expect(s.rebootPending).toBe(false);
    expect(s.rebootRequestedInBoot).toBeNull();
    expect(s.mostRecentCommand).toMatchObject({ command: 'reboot', status: 'Failed' });
  });

  it('reads a status file written before rebootRequestedInBoot existed as no reboot requested', async () => {
    await client.refresh();
    const old = JSON.parse(await fs.readFile(statusFile, 'utf8')) as Record<string, unknown>;
    delete old['rebootRequestedInBoot'];
    await fs.writeFile(statusFile, JSON.stringify(old));
    const s = await client.status();
    expect(s.rebootRequestedInBoot).toBeNull();
    expect(s.rebootPending).toBe(false);
    expect(s.updateState).toBe('Available');
  });

  it('deactivate takes Ready back to Staged', async () => {
    await client.refresh();
    await client.prepare('1.1.0');
    await client.activate();
    const s = await client.deactivate();
    expect(s.updateState).toBe('Staged');
    expect(s.stagingPartition?.nextToBoot).toBe(false);
    expect(host.next).toBe('A');
  });

  it('refuses commands the state does not allow with 409 and the state, without recording them', async () => {
    const activate = await apiRefusal(client.activate());
    expect(activate.httpStatus).toBe(409);
    expect(activate.kind).toBe('conflict');
    expect(activate.message).toBe('activate is not allowed in state Idle (allowed in Staged): prepare an update first');
    const prepare = await apiRefusal(client.prepare('1.1.0'));
    expect(prepare.httpStatus).toBe(409);
    expect(prepare.message).toBe('prepare is not allowed in state Idle (allowed in Available, Staged): refresh first; prepare needs an available update');
    await client.refresh();
    const deactivate = await apiRefusal(client.deactivate());
    expect(deactivate.message).toBe('deactivate is not allowed in state Available (allowed in Ready): only an activated update can be deactivated');
    const unknownVersion = await apiRefusal(client.prepare('9.9.9'));
    expect(unknownVersion.httpStatus).toBe(409);
    expect(unknownVersion.message).toContain('version 9.9.9 is not among the available updates (1.1.0)');
    expect((await client.status()).mostRecentCommand).toMatchObject({ command: 'refresh', status: 'Success' });
  });

  it('answers a second command with 423 busy while one runs, and status keeps answering', async () => {
    await client.refresh();
    let open!: () => void;
    host.prepareGate = new Promise<void>((resolve) => (open = resolve));
    const preparing = client.prepare('1.1.0');
    // Wait until the server has started the prepare (it is observable through status).
    while ((await client.status()).commandInProgress !== 'prepare') await new Promise((r) => setImmediate(r));

    for (const second of [client.refresh(), client.activate(), client.prepare('1.1.0')]) {
      const busy = await apiRefusal(second);
      expect(busy.httpStatus).toBe(423);
      expect(busy.kind).toBe('busy');
      expect(busy.exitCode).toBe(ExitCode.Busy);
      expect(busy.message).toBe('update API is busy: prepare is in progress; retry later');
    }
    const during = await client.status();
    expect(during.commandInProgress).toBe('prepare');
    expect(during.updateState).toBe('Available');

    open();
    expect((await preparing).updateState).toBe('Staged');
    expect((await client.status()).commandInProgress).toBeNull();
  });

  it('answers 423 when another process holds the update lock', async () => {
    host.lockHeldElsewhere = true;
    const busy = await apiRefusal(client.refresh());
    expect(busy.httpStatus).toBe(423);
    expect(busy.message).toBe('lock /run/updog.lock is held by pid 4242');
    host.lockHeldElsewhere = false;
    expect((await client.refresh()).updateState).toBe('Available');
  });

  it('records a failed command with its error and leaves nothing staged', async () => {
    await client.refresh();
    host.prepareError = new UserError('sha256 mismatch for root image');
    const failed = await apiRefusal(client.prepare('1.1.0'));
    expect(failed.httpStatus).toBe(500);
    expect(failed.kind).toBe('failed');
    expect(failed.message).toBe('sha256 mismatch for root image');
    const s = await client.status();
    expect(s.updateState).toBe('Available');
    expect(s.stagingPartition).toBeNull();
    expect(s.mostRecentCommand).toMatchObject({ command: 'prepare', status: 'Failed', error: 'sha256 mismatch for root image' });
  });

  it('a staged update the disk no longer holds is dropped (e.g. after a fallback boot)', async () => {
    await client.refresh();
    await client.prepare('1.1.0');
    await client.activate();
    host.inactiveValid = false; // out-of-band signpost clear-inactive
    host.next = 'A';
    const s = await client.status();
    expect(s.updateState).toBe('Available');
    expect(s.stagingPartition).toBeNull();
  });

  it('reports a failed health check as a failed mark-successful-boot', async () => {
    host.healthy = false;
    host.successful = false;
    const err = await apiRefusal(client.markSuccessfulBoot());
    expect(err.httpStatus).toBe(500);
    expect(err.message).toBe('health check failed: kubelet not running');
    expect((await client.status()).activeBootSuccessful).toBe(false);
  });

  it('rejects malformed requests: bad version 400, unknown route 404', async () => {
    await client.refresh();
    const bad = await apiRefusal(client.command('prepare', { version: 'v1.1' }));
    expect(bad.httpStatus).toBe(400);
    expect(bad.message).toBe('prepare needs a JSON body {"version": "X.Y.Z"} naming the version to write');
    const missing = await apiRefusal(client.command('prepare'));
    expect(missing.httpStatus).toBe(400);
  });

  it('refuses to start a second server on a live socket, and replaces a dead one', async () => {
    const second = startApiServer({ socketPath: server.socketPath, statusFile, host, logger: createLogger('test', 'silent') });
    await expect(second).rejects.toThrow(`another process is already serving the update API on ${server.socketPath}`);
    await server.close();
    await fs.writeFile(server.socketPath, 'stale');
    server = await startApiServer({ socketPath: server.socketPath, statusFile, host, logger: createLogger('test', 'silent') });
    expect((await new UpdateApiClient(server.socketPath).status()).updateState).toBe('Idle');
  });

  it("creates the socket's directory when it is missing", async () => {
    const socketPath = path.join(dir, 'run', 'updog', 'api.sock');
    const other = await startApiServer({ socketPath, statusFile, host, logger: createLogger('test', 'silent') });
    try {
      expect((await new UpdateApiClient(socketPath).status()).updateState).toBe('Idle');
    } finally {
      await other.close();
    }
  });

  it('the client says clearly when nothing listens', async () => {
    const c = new UpdateApiClient(path.join(dir, 'nobody.sock'));
    await expect(c.status()).rejects.toThrow(`cannot reach the update API on ${path.join(dir, 'nobody.sock')} (ENOENT); is \`updog serve\` running?`);
  });
});
