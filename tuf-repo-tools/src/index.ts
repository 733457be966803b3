/** tuf-repo-tools library: keys, root editing, repositories, manifests, images, serving. */
export { generateKey, computeKeyId, parsePrivateKeyPem, loadPrivateKeyFile, loadPublicKeyFile, tufPublicKey, LocalKeySigner, KeyError, KEY_TYPES } from './keys/keys.js';
export type { KeyType, Signer, GeneratedKey } from './keys/keys.js';
export { loadKeyDir, loadOrCreateKeyDir, writePrivateKeyFile } from './keys/key-dir.js';
export { parseDuration, parseTime, formatExpires, TimeError } from './time/time.js';
export { loadRepository, loadRootFile, RepositoryError, ExpiredError, METADATA_DIR, TARGETS_DIR } from './tuf/load.js';
export type { LoadedRepository, LoadOptions } from './tuf/load.js';
export { RepositoryEditor, hashedTargetPath, serializeMetadata, DEFAULT_LIFETIME_MS, SPEC_VERSION } from './tuf/repository.js';
export type { PublishOptions, PublishResult, RoleExpiries, RoleVersions } from './tuf/repository.js';
export {
  initRoot,
  addRootKey,
  removeRootKey,
  setRootThreshold,
  setRootExpires,
  setRootVersion,
  signRoot,
  writeRootFile,
  parseRole,
} from './tuf/root.js';
export { ThresholdError, requireThreshold, signRole, TOP_ROLES } from './tuf/signing.js';
export type { TopRole } from './tuf/signing.js';
export {
  emptyManifest,
  addUpdate,
  removeUpdate,
  setWaves,
  setMaxVersion,
  setMigrations,
  parseReleaseToml,
  loadReleaseToml,
  manifestProblems,
  ManifestEditError,
} from './manifest/edit.js';
export { parseWavePolicy, loadWavePolicy, resolveWavePolicy, wavesFromPolicy, builtinWavePolicyPath, WavePolicyError, BUILTIN_WAVE_POLICIES } from './manifest/wave-policy.js';
export type { PolicyWave } from './manifest/wave-policy.js';
export { packImage, imageTargetName, isLz4Frame, IMAGE_SUFFIX } from './image/pack.js';
export { encodeLz4Frame, packLz4File, DEFAULT_BLOCK_SIZE } from './image/lz4-pack.js';
export type { PackedLz4 } from './image/lz4-pack.js';
export { indexLz4Image, NotIndexableError } from './image/lz4-index.js';
export type { BuiltBlockIndex } from './image/block-index-builder.js';
export { makeFakeRelease, DEFAULT_FAKE_SIZES } from './image/fake-release.js';
export type { FakeRelease, FakeReleaseOptions } from './image/fake-release.js';
export { parseRange, serveDirectory } from './serve/static-server.js';
export { buildReleaseRepository, rootForSigners, MANIFEST_TARGET } from './release/build-release.js';
export type { BuildReleaseOptions, BuildReleaseResult } from './release/build-release.js';
