/**
 * The host update API over a Unix socket: its protocol, a client (the operator's agent uses it)
 * and the server with the actions behind it (test harnesses run hosts with it). Public surface of
 * @updog-ts/updog.
 */
export * from './api/protocol.js';
export { UpdateApiClient, isTransientApiError } from './api/client.js';
export { startApiServer, type ApiServer } from './api/server.js';
export { createUpdateHost } from './api/host-actions.js';
export { HealthCheckError } from './api/health-check.js';
