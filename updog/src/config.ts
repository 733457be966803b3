/** updog.toml: its parser and the settings it yields. Public surface of @updog-ts/updog. */
export { parseUpdogConfig, type UpdogConfig } from './config/updog-config.js';
