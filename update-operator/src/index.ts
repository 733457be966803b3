/**
 * update-operator's public surface: the API types and CRDs, the generated deployment objects, the
 * node agent (demo and test harnesses run agents in-process), and the cache the controller watches
 * through (the scale benchmark watches with it too).
 */
export * from './model/api.js';
export { crds } from './model/crd.js';
export { AGENT_SA, CONTROLLER_NODE_OPTIONS, DEFAULT_MANIFEST_OPTIONS, namespaceObject, operatorObjects } from './deploy/manifests.js';
export { NodeAgent, type HostUpdateApi } from './agent/agent.js';
export { nodeUpdateStore, type NodeUpdateStore } from './agent/node-update-store.js';
export { KubeClient } from './common/kube-client.js';
export { Informer } from './controller/informer.js';
export { projectNodeUpdate } from './controller/views.js';
export { IN_FLIGHT_STATES } from './controller/scheduling.js';
