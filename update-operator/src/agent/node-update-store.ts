/**
 * The agent's only Kubernetes access: read and watch its own NodeUpdate, merge-patch the agent
 * fields of its status. (RBAC: get/list/watch nodeupdates, patch nodeupdates/status.)
 */
import { isApiCode, type KubeClient } from '../common/kube-client.js';
import { NODE_UPDATES_PATH, type NodeUpdate } from '../model/api.js';
import type { StatusPatch } from './decide.js';

export interface NodeUpdateStore {
  /** The node's NodeUpdate, or undefined while the controller has not created it. */
  get(): Promise<NodeUpdate | undefined>;
  /** Patches the status; resolves with the object as the server stored it. */
  patchStatus(patch: StatusPatch): Promise<NodeUpdate>;
  /**
   * Calls `onChange` with the object on every watch event (the first one is its current state;
   * undefined when it was deleted) until the returned stop is called.
   */
  watch(onChange: (nodeUpdate: NodeUpdate | undefined) => void, onError: (err: unknown) => void): Promise<() => void>;
}

/** The apiserver ends the watch after this long and the agent reopens it (one request). */
const WATCH_TIMEOUT_SECONDS = 300;

export function nodeUpdateStore(client: KubeClient, nodeName: string): NodeUpdateStore {
  const path = `${NODE_UPDATES_PATH}/${encodeURIComponent(nodeName)}`;
  return {
    async get() {
      try {
        return await client.request<NodeUpdate>('GET', path);
      } catch (err) {
        if (isApiCode(err, 404)) return undefined;
        throw err;
      }
    },
    async patchStatus(patch) {
      return client.request<NodeUpdate>('PATCH', `${path}/status`, { body: { status: patch }, mergePatch: true });
    },
    async watch(onChange, onError) {
      const abort = new AbortController();
      const query = { fieldSelector: `metadata.name=${nodeName}`, timeoutSeconds: String(WATCH_TIMEOUT_SECONDS) };
      client
        .watch(
          NODE_UPDATES_PATH,
          query,
          ({ type, object }) => {
            if (type === 'ADDED' || type === 'MODIFIED') onChange(object as NodeUpdate);
            else if (type === 'DELETED') onChange(undefined);
          },
          abort.signal,
        )
        // The apiserver ends watches now and then; the caller restarts it (its heartbeat covers the gap).
        .then(() => onError(null), onError);
      return () => abort.abort();
    },
  };
}
