/**
 * Editing root metadata: keys, thresholds, expiry, version and signatures (including the
 * cross-signature a rotation needs: version N+1 signed by the thresholds of N and of N+1).
 * Every content change drops existing signatures, which no longer cover the content.
 */
import { Metadata, Root, type Key } from '@tufjs/models';
import { UserError } from '@updog-ts/updog/common';
import type { Signer } from '../keys/keys.js';
import { writeFileAtomic } from '../fs/files.js';
import { formatExpires } from '../time/time.js';
import { SPEC_VERSION, serializeMetadata } from './repository.js';
import { addSignatures, listedKeyId, requireThreshold, signersListedIn, TOP_ROLES, type TopRole } from './signing.js';

export function parseRole(text: string): TopRole {
  if (!(TOP_ROLES as readonly string[]).includes(text)) throw new UserError(`unknown role "${text}" (use ${TOP_ROLES.join(', ')})`);
  return text as TopRole;
}

/** Root's `signed` JSON, the form edits work on. */
interface RootJson {
  _type: 'root';
  spec_version: string;
  version: number;
  expires: string;
  consistent_snapshot: boolean;
  keys: Record<string, unknown>;
  roles: Record<string, { keyids: string[]; threshold: number }>;
}

function rootFromJson(json: RootJson): Metadata<Root> {
  return new Metadata(Root.fromJSON(json as unknown as Parameters<typeof Root.fromJSON>[0]));
}

/** A version-1 root with the four top-level roles, no keys yet, threshold 1, consistent snapshots. */
export function initRoot(expires: Date): Metadata<Root> {
  return rootFromJson({
    _type: 'root',
    spec_version: SPEC_VERSION,
    version: 1,
    expires: formatExpires(expires),
    consistent_snapshot: true,
    keys: {},
    roles: Object.fromEntries(TOP_ROLES.map((r) => [r, { keyids: [], threshold: 1 }])),
  });
}

/** Returns an unsigned copy of `md` with `change` applied to its `signed` JSON. */
function editRoot(md: Metadata<Root>, change: (json: RootJson) => void): Metadata<Root> {
  const json = structuredClone(md.signed.toJSON()) as unknown as RootJson;
  change(json);
  return rootFromJson(json);
}

function roleOf(json: RootJson, role: TopRole): { keyids: string[]; threshold: number } {
  const def = json.roles[role];
  if (!def) throw new UserError(`root has no "${role}" role`);
  return def;
}

/**
 * Adds `key` to `role`. A key the root already lists (same material, whatever its spelling) keeps
 * its entry and key id: rewriting them would void the signatures made under that id.
 */
export function addRootKey(md: Metadata<Root>, key: Key, role: TopRole): Metadata<Root> {
  const keyId = listedKeyId(md.signed, key) ?? key.keyID;
  return editRoot(md, (json) => {
    const def = roleOf(json, role);
    json.keys[keyId] ??= key.toJSON();
    if (!def.keyids.includes(keyId)) def.keyids.push(keyId);
  });
}

/** Removes `keyId` from `role` (or from every role), and drops the key when no role uses it. */
export function removeRootKey(md: Metadata<Root>, keyId: string, role?: TopRole): Metadata<Root> {
  if (!md.signed.keys[keyId]) throw new UserError(`root has no key ${keyId}`);
  return editRoot(md, (json) => {
    for (const name of role ? [role] : TOP_ROLES) {
      const def = roleOf(json, name);
      def.keyids = def.keyids.filter((id) => id !== keyId);
    }
    if (!Object.values(json.roles).some((r) => r.keyids.includes(keyId))) delete json.keys[keyId];
  });
}

export function setRootThreshold(md: Metadata<Root>, role: TopRole, threshold: number): Metadata<Root> {
  if (!Number.isSafeInteger(threshold) || threshold < 1) throw new UserError(`threshold must be a positive integer (got ${threshold})`);
  return editRoot(md, (json) => {
    roleOf(json, role).threshold = threshold;
  });
}

export function setRootExpires(md: Metadata<Root>, expires: Date): Metadata<Root> {
  return editRoot(md, (json) => {
    json.expires = formatExpires(expires);
  });
}

export function setRootVersion(md: Metadata<Root>, version: number): Metadata<Root> {
  if (!Number.isSafeInteger(version) || version < 1) throw new UserError(`root version must be a positive integer (got ${version})`);
  return editRoot(md, (json) => {
    json.version = version;
  });
}

/** Roles whose key count is below their threshold: such a root could never be used. */
export function unsatisfiableRoles(md: Metadata<Root>): TopRole[] {
  return TOP_ROLES.filter((r) => {
    const def = md.signed.roles[r];
    return !def || new Set(def.keyIDs).size < def.threshold;
  });
}

export interface SignRootOptions {
  /** The previous root version: signers holding its root keys cross-sign, and its threshold must be met. */
  crossSign?: Metadata<Root>;
  /** Keep signatures below the threshold (to collect the rest from other key holders later). */
  allowBelowThreshold?: boolean;
}

/**
 * Signs `md` (in place) with every signer holding a root key of it or of `crossSign`, then checks
 * the thresholds. Returns the key ids that signed.
 */
export async function signRoot(md: Metadata<Root>, signers: readonly Signer[], opts: SignRootOptions = {}): Promise<string[]> {
  // under each root's own key ids: the two roots may list the same key under different ids
  const listed = [
    ...signersListedIn(md.signed, md.signed.roles.root?.keyIDs ?? [], signers),
    ...(opts.crossSign ? signersListedIn(opts.crossSign.signed, opts.crossSign.signed.roles.root?.keyIDs ?? [], signers) : []),
  ];
  const useful = [...new Map(listed.map((s) => [s.keyId, s])).values()];
  if (useful.length === 0) throw new UserError('none of the given keys is a root key of this root (or of the cross-signed root)');
  if (opts.crossSign && opts.crossSign.signed.version + 1 !== md.signed.version) {
    throw new UserError(`cross-signing root version ${md.signed.version} with version ${opts.crossSign.signed.version}: versions must be consecutive`);
  }
  await addSignatures(md, useful);
  if (!opts.allowBelowThreshold) {
    requireThreshold(md.signed, 'root', md, `root version ${md.signed.version}`);
    if (opts.crossSign) {
      requireThreshold(opts.crossSign.signed, 'root', md, `root version ${md.signed.version} cross-signed by version ${opts.crossSign.signed.version}`);
    }
  }
  return useful.map((s) => s.keyId);
}

export async function writeRootFile(path: string, md: Metadata<Root>): Promise<void> {
  writeFileAtomic(path, serializeMetadata(md));
}
