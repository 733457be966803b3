/**
 * The agent's only Kubernetes access: read and watch its own NodeUpdate, merge-patch the agent
 * fields of its status. (RBAC: get/list/watch nodeupdates, patch nodeupdates/status.)
 */
import { ApiException, CustomObjectsApi, PatchStrategy, Watch, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, NODE_UPDATE, VERSION, type NodeUpdate } from '../model/api.js';
import type { StatusPatch } from './decide.js';

export interface NodeUpdateStore {
  /** The node's NodeUpdate, or undefined while the controller has not created it. */
  get(): Promise<NodeUpdate | undefined>;
  patchStatus(patch: StatusPatch): Promise<void>;
  /** Calls `onChange` on every watch event for the object until the returned stop is called. */
  watch(onChange: () => void, onError: (err: unknown) => void): Promise<() => void>;
}

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
      await api.patchClusterCustomObjectStatus({ ...ref, body: { status: patch } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    },
    async watch(onChange, onError) {
      const path = `/apis/${GROUP}/${VERSION}/${NODE_UPDATE.plural}`;
      const controller = await new Watch(kc).watch(path, { fieldSelector: `metadata.name=${nodeName}` }, () => onChange(), (err: unknown) => {
        // The apiserver ends watches now and then; the caller restarts it (and its periodic pass covers the gap).
        onError(err);
      });
      return () => controller.abort();
    },
  };
}
