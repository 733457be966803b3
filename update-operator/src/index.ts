/**
 * update-operator's public surface: the API types and CRDs, the generated deployment objects, and
 * the node agent (demo and test harnesses run agents in-process).
 */
export * from './model/api.js';
export { crds } from './model/crd.js';
export { AGENT_SA, DEFAULT_MANIFEST_OPTIONS, namespaceObject, operatorObjects } from './deploy/manifests.js';
export { NodeAgent } from './agent/agent.js';
export { nodeUpdateStore } from './agent/node-update-store.js';
