/**
 * The agent's passes against the real host update API server (Unix socket, status file) over an
 * in-memory host whose reboot, as on a real machine, returns before the host goes down; its
 * NodeUpdate is an in-memory object patched the way the apiserver merges a status patch. Passes are
 * run one by one, with a refresh on every pass, so the window between a reboot request and the
 * reboot is examined step by step.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer, UpdateApiClient } from '@updog-ts/updog/host-api';
import { createLogger } from '@updog-ts/updog/common';
import { MemoryHost } from '../../updog/test/helpers/memory-host.js';
import { NodeAgent } from '../src/agent/agent.js';
import type { StatusPatch } from '../src/agent/decide.js';
import type { NodeUpdateStore } from '../src/agent/node-update-store.js';
import { API_VERSION, type NodeUpdate, type NodeUpdateSpec } from '../src/model/api.js';

/** One NodeUpdate in memory; a status patch is a JSON merge patch (null deletes). */
class MemoryNodeUpdateStore implements NodeUpdateStore {
  constructor(public object: NodeUpdate) {}
  async get(): Promise<NodeUpdate> {
    return structuredClone(this.object);
  }
  async patchStatus(patch: StatusPatch): Promise<NodeUpdate> {
    const status: Record<string, unknown> = { ...this.object.status };
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete status[key];
      else if (value !== undefined) status[key] = value;
    }
    this.object = { ...this.object, status };
    return structuredClone(this.object);
  }
  async watch(): Promise<() => void> {
    return () => undefined;
  }
  /** The controller's spec change: a new generation. */
  setSpec(spec: NodeUpdateSpec): void {
    this.object = { ...this.object, spec, metadata: { ...this.object.metadata, generation: (this.object.metadata.generation ?? 0) + 1 } };
  }
}

let dir: string;
let host: MemoryHost;
let server: ApiServer;
let store: MemoryNodeUpdateStore;
let agent: NodeAgent;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agent-pass-'));
  host = new MemoryHost();
  host.rebootLater = true;
  const logger = createLogger('test', 'silent');
  server = await startApiServer({ socketPath: path.join(dir, 'api.sock'), statusFile: path.join(dir, 'status.json'), host, logger });
  store = new MemoryNodeUpdateStore({ apiVersion: API_VERSION, kind: 'NodeUpdate', metadata: { name: 'node-1', generation: 1 }, spec: { desiredState: 'Idle' } });
  // refreshMs 0: every pass refreshes, as the periodic refresh may at any moment
  agent = new NodeAgent({ api: new UpdateApiClient(server.socketPath), store, logger, heartbeatMs: 3_600_000, refreshMs: 0 });
});

afterEach(async () => {
  await server.close();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('agent passes against the host update API', () => {
  it('reboots once: refreshes while the reboot is pending do not make it look lost', async () => {
    store.setSpec({ desiredState: 'Rebooted', targetVersion: '1.1.0' });
    await agent.pass();
    expect(host.rebootRequests).toBe(1);
    expect(host.next).toBe('B');
    expect(store.object.status).toMatchObject({ rebootGeneration: 2, hostState: 'Ready', currentVersion: '1.0.0' });

    for (let i = 0; i < 3; i++) await agent.pass();
    expect(host.rebootRequests).toBe(1);
    expect(store.object.status?.observedGeneration).toBeUndefined();

    host.goDown();
    await agent.pass();
    expect(host.rebootRequests).toBe(1);
    expect(host.successful).toBe(true);
    expect(store.object.status).toMatchObject({ observedGeneration: 2, currentVersion: '1.1.0', hostState: 'Idle' });
    expect(store.object.status?.agentFailure).toBeUndefined();
  });

  it('an Idle spec after a reboot that never came deactivates the update, and the host boots its running version', async () => {
    store.setSpec({ desiredState: 'Rebooted', targetVersion: '1.1.0' });
    await agent.pass();
    expect(host.rebootRequests).toBe(1);
    store.setSpec({ desiredState: 'Idle' }); // the controller's RebootTimeout
    await agent.pass();
    expect(host.next).toBe('A');
    expect(store.object.status).toMatchObject({ observedGeneration: 3, hostState: 'Staged', stagedVersion: '1.1.0', currentVersion: '1.0.0' });
    host.goDown();
    await agent.pass();
    expect(host.active).toBe('A');
    expect(store.object.status).toMatchObject({ currentVersion: '1.0.0', hostState: 'Staged' });
  });

  it('an Idle spec leaves a staged, not activated update in place', async () => {
    store.setSpec({ desiredState: 'Staged', targetVersion: '1.1.0' });
    await agent.pass();
    expect(store.object.status).toMatchObject({ observedGeneration: 2, hostState: 'Staged', stagedVersion: '1.1.0' });
    store.setSpec({ desiredState: 'Idle' });
    await agent.pass();
    expect(store.object.status).toMatchObject({ observedGeneration: 3, hostState: 'Staged', stagedVersion: '1.1.0' });
    expect(host.next).toBe('A');
    expect(host.rebootRequests).toBe(0);
  });
});

/** The store above, with a watch that, like the apiserver's, shows every write (the agent's own status patches too). */
class WatchedNodeUpdateStore extends MemoryNodeUpdateStore {
  patches: StatusPatch[] = [];
  gets = 0;
  private listener: ((nu: NodeUpdate | undefined) => void) | undefined;
  override async get(): Promise<NodeUpdate> {
    this.gets += 1;
    return super.get();
  }
  override async patchStatus(patch: StatusPatch): Promise<NodeUpdate> {
    this.patches.push(patch);
    const stored = await super.patchStatus(patch);
    this.emit();
    return stored;
  }
  override async watch(onChange: (nu: NodeUpdate | undefined) => void): Promise<() => void> {
    this.listener = onChange;
    this.emit();
    return () => (this.listener = undefined);
  }
  override setSpec(spec: NodeUpdateSpec): void {
    super.setSpec(spec);
    this.emit();
  }
  private emit(): void {
    const rv = String(Number(this.object.metadata.resourceVersion ?? '0') + 1);
    this.object = { ...this.object, metadata: { ...this.object.metadata, resourceVersion: rv } };
    const copy = structuredClone(this.object);
    queueMicrotask(() => this.listener?.(copy));
  }
}

describe('agent wake-ups', () => {
  it('acts once per spec generation and never on its own status writes; reads the object from the watch', async () => {
    const watched = new WatchedNodeUpdateStore({ apiVersion: API_VERSION, kind: 'NodeUpdate', metadata: { name: 'node-1', generation: 1 }, spec: { desiredState: 'Idle' } });
    host.rebootLater = false;
    const logger = createLogger('test', 'silent');
    // heartbeat an hour away: every pass below is a wake-up by the watch or by start
    const a = new NodeAgent({ api: new UpdateApiClient(server.socketPath), store: watched, logger, heartbeatMs: 3_600_000, refreshMs: 3_600_000, random: () => 0.5 });
    await a.start();
    const settle = async () => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await settle();
    // start: one report (generation 1 answered: Idle spec, nothing to undo)
    expect(watched.patches.length).toBe(1);
    expect(watched.object.status?.observedGeneration).toBe(1);

    watched.setSpec({ desiredState: 'Staged', targetVersion: '1.1.0' });
    await settle();
    expect(watched.patches.length).toBe(2);
    expect(watched.object.status).toMatchObject({ observedGeneration: 2, stagedVersion: '1.1.0', hostState: 'Staged' });

    watched.setSpec({ desiredState: 'Rebooted', targetVersion: '1.1.0' });
    await settle();
    // rebootGeneration before the reboot, then the verified boot after it
    expect(watched.patches.map((p) => [p.rebootGeneration, p.observedGeneration])).toEqual([
      [undefined, 1],
      [undefined, 2],
      [3, undefined],
      [undefined, 3],
    ]);
    expect(watched.object.status).toMatchObject({ observedGeneration: 3, currentVersion: '1.1.0' });
    expect(host.rebootRequests).toBe(1);
    // every pass read the object from the watch
    expect(watched.gets).toBe(0);

    // a report that changes nothing but the heartbeat is the heartbeat's job: a change pass writes nothing
    expect(await a.pass('change')).toBe(false);
    expect(await a.pass('heartbeat')).toBe(true);
    await settle();
    expect(watched.patches.length).toBe(5);
    await a.stop();
  });
});
