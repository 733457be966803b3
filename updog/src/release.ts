/**
 * The release format that updog reads and tuf-repo-tools writes: the manifest (updates, images,
 * waves, migrations), versions and wave times. Public surface of @updog-ts/updog.
 */
export * from './manifest/manifest.js';
export { compareVersions, isVersion } from './manifest/semver.js';
export { formatUtcSeconds } from './manifest/datetime.js';
export { MAX_SEED } from './waves/waves.js';
export { makeTargetsJsonLinear } from './tuf/targets-json.js';
