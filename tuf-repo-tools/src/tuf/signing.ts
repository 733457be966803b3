/**
 * Signing metadata with `Signer`s and counting valid signatures against a role's threshold.
 */
import { canonicalize } from '@tufjs/canonical-json';
import { Metadata, Signature, type Key, type Root, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';
import { UserError } from '@updog-ts/updog/common';
import { keyMaterial, type Signer } from '../keys/keys.js';
import { signedJson, type AnyMetadata } from './metadata-json.js';

export type TopRole = 'root' | 'targets' | 'snapshot' | 'timestamp';
export const TOP_ROLES: readonly TopRole[] = ['root', 'targets', 'snapshot', 'timestamp'];

/** Raised when a role cannot be signed by enough of its keys. */
export class ThresholdError extends UserError {}

/** The bytes a signature covers: canonical JSON of `signed`. */
export function signedBytes(md: AnyMetadata): Buffer {
  return Buffer.from(canonicalize(signedJson(md)));
}

/** Adds a signature from every signer (replacing any earlier signature by the same key). */
export async function addSignatures(md: AnyMetadata, signers: readonly Signer[]): Promise<void> {
  const data = signedBytes(md);
  for (const signer of signers) {
    const sig = await signer.sign(data);
    md.signatures[signer.keyId] = new Signature({ keyID: signer.keyId, sig });
  }
}

/** Key ids of `role` in `root` whose signature on `md` verifies. */
export function validSignerIds(root: Root, role: TopRole, md: AnyMetadata): string[] {
  const roleDef = root.roles[role];
  if (!roleDef) return [];
  const valid: string[] = [];
  // The library's verifier only calls signed.toJSON(): hand it the linear-time JSON, built once.
  const json = signedJson(md);
  const signable = { signatures: md.signatures, signed: { toJSON: () => json } } as unknown as AnyMetadata;
  for (const keyId of new Set(roleDef.keyIDs)) {
    const key = root.keys[keyId];
    if (!key || !md.signatures[keyId]) continue;
    try {
      key.verifySignature(signable);
      valid.push(keyId);
    } catch {
      // an invalid signature simply does not count
    }
  }
  return valid;
}

export function thresholdOf(root: Root, role: TopRole): number {
  const roleDef = root.roles[role];
  if (!roleDef) throw new UserError(`root has no "${role}" role`);
  return roleDef.threshold;
}

/** Throws ThresholdError unless `md` carries `threshold` valid signatures of `role` under `root`. */
export function requireThreshold(root: Root, role: TopRole, md: AnyMetadata, what: string): void {
  const valid = validSignerIds(root, role, md).length;
  const threshold = thresholdOf(root, role);
  if (valid < threshold) {
    throw new ThresholdError(`${what}: ${valid} valid ${role} signature(s), threshold is ${threshold}`);
  }
}

/**
 * The signers holding keys `keyIds` of `root`, each signing under the key id the root lists.
 * Keys are matched by key material, not by the id computed here: a root written by another tool
 * spells its keys its own way (and its ids cover that spelling).
 */
export function signersListedIn(root: Root, keyIds: Iterable<string>, signers: readonly Signer[]): Signer[] {
  const byMaterial = new Map<string, Signer>();
  for (const signer of signers) {
    const material = keyMaterial(signer.publicKey);
    if (material !== undefined && !byMaterial.has(material)) byMaterial.set(material, signer);
  }
  const listed: Signer[] = [];
  for (const keyId of new Set(keyIds)) {
    const key = root.keys[keyId];
    const material = key === undefined ? undefined : keyMaterial(key);
    const holder = material === undefined ? undefined : byMaterial.get(material);
    if (key !== undefined && holder !== undefined) listed.push({ keyId, publicKey: key, sign: (data) => holder.sign(data) });
  }
  return listed;
}

/** The signers that hold keys of `role` under `root`, under the key ids the root lists. */
export function signersFor(root: Root, role: TopRole, signers: readonly Signer[]): Signer[] {
  return signersListedIn(root, root.roles[role]?.keyIDs ?? [], signers);
}

/** The key id `root` lists for `key`'s material, if it lists the key at all. */
export function listedKeyId(root: Root, key: Key): string | undefined {
  const material = keyMaterial(key);
  if (material === undefined) return undefined;
  return Object.entries(root.keys).find(([, listed]) => keyMaterial(listed) === material)?.[0];
}

/**
 * Replaces all signatures of `md` with fresh ones from the signers holding `role` keys, and
 * refuses (ThresholdError) when they are fewer than the threshold.
 */
export async function signRole(root: Root, role: TopRole, md: AnyMetadata, signers: readonly Signer[]): Promise<void> {
  const mine = signersFor(root, role, signers);
  const threshold = thresholdOf(root, role);
  if (mine.length < threshold) {
    throw new ThresholdError(
      `cannot sign ${role}: ${mine.length} of its keys available, threshold is ${threshold} (key ids: ${root.roles[role]?.keyIDs.join(', ') ?? 'none'})`,
    );
  }
  md.signatures = {};
  await addSignatures(md, mine);
}
