/**
 * Signing metadata with `Signer`s and counting valid signatures against a role's threshold.
 */
import { canonicalize } from '@tufjs/canonical-json';
import { Metadata, Signature, type Root, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';
import { UserError } from '@updog-ts/updog/common';
import type { Signer } from '../keys/keys.js';
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

/** The signers that hold keys of `role` under `root`. */
export function signersFor(root: Root, role: TopRole, signers: readonly Signer[]): Signer[] {
  const ids = new Set(root.roles[role]?.keyIDs ?? []);
  return signers.filter((s) => ids.has(s.keyId));
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
