/**
 * What every bin of the project shares: typed user errors and exit codes, logging, the CLI entry
 * point, durable (crash-safe) file writes. Public surface of @updog-ts/updog.
 */
export { UserError } from './common/errors.js';
export { createLogger, type Logger, type LogLevel } from './common/log.js';
export { logLevelOption, runCliMain } from './common/cli-main.js';
export { syncPath, tempSibling, writeFileAtomic } from './common/durable-file.js';
