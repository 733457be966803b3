/**
 * The agent's only Kubernetes access: read and watch its own NodeUpdate, merge-patch the agent
 * fields of its status. (RBAC: get/list/watch nodeupdates, patch nodeupdates/status.)
 */
import { ApiException, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { quietWatch } from '../common/quiet-watch.js';
import { GROUP, NODE_UPDATE, VERSION, type NodeUpdate } from '../model/api.js';
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

export function nodeUpdateStore(kc: KubeConfig, nodeName: string): NodeUpdateStore {
  const api = kc.makeApiClient(CustomObjectsApi);
  const ref = { group: GROUP, version: VERSION, plural: NODE_UPDATE.plural, name: nodeName };
  return {
    async get() {
      try {
        return (await api.getClusterCustomObject(ref)) as NodeUpdate;
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw err;
      }
    },
    async patchStatus(patch) {
      return (await api.patchClusterCustomObjectStatus({ ...ref, body: { status: patch } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))) as NodeUpdate;
    },
    async watch(onChange, onError) {
      const path = `/apis/${GROUP}/${VERSION}/${NODE_UPDATE.plural}`;
      const controller = await quietWatch(kc, WATCH_TIMEOUT_SECONDS).watch(
        path,
        { fieldSelector: `metadata.name=${nodeName}`, timeoutSeconds: WATCH_TIMEOUT_SECONDS },
        (type: string, object: NodeUpdate) => {
          if (type === 'ADDED' || type === 'MODIFIED') onChange(object);
          else if (type === 'DELETED') onChange(undefined);
        },
        // The apiserver ends watches now and then; the caller restarts it (its heartbeat covers the gap).
        (err: unknown) => onError(err),
      );
      return () => controller.abort();
    },
  };
}
