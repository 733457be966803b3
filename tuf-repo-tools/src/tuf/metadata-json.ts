/**
 * Metadata <-> JSON in linear time. @tufjs/models (4.1.1, as 5.0.2) builds the `targets` map of
 * Targets.toJSON/fromJSON by spreading an accumulator in a reduce: O(n²), about 66 s each way
 * for 10,000 targets. Every signature check and serialisation goes through these functions
 * instead; other roles (small) and targets with delegations keep the library's code.
 */
import { Metadata, MetadataKind, Signature, Targets, TargetFile } from '@tufjs/models';
import type { AnyMetadata } from './signing.js';

/** The JSON object type @tufjs/models reads and writes. */
export type JSONObject = Parameters<typeof Metadata.fromJSON>[1];

function targetsSignedJson(t: Targets): JSONObject {
  const targets: JSONObject = {};
  for (const [path, file] of Object.entries(t.targets)) targets[path] = file.toJSON();
  return { _type: MetadataKind.Targets, spec_version: t.specVersion, version: t.version, expires: t.expires, targets, ...t.unrecognizedFields };
}

/** `md.signed` as JSON (what signatures cover, once canonicalised). */
export function signedJson(md: AnyMetadata): JSONObject {
  const signed = md.signed;
  return signed instanceof Targets && !signed.delegations ? targetsSignedJson(signed) : signed.toJSON();
}

/** The whole metadata document as JSON. */
export function metadataJson(md: AnyMetadata): JSONObject {
  return { signatures: Object.values(md.signatures).map((s) => s.toJSON()), signed: signedJson(md), ...md.unrecognizedFields };
}

/** Parses targets metadata; throws the library's errors for malformed input. */
export function targetsMetadataFromJson(data: JSONObject): Metadata<Targets> {
  const signed = data.signed as JSONObject | undefined;
  if (typeof signed !== 'object' || signed === null || Array.isArray(signed) || signed.delegations !== undefined) {
    return Metadata.fromJSON(MetadataKind.Targets, data);
  }
  if (signed._type !== MetadataKind.Targets) throw new TypeError(`expected metadata type "targets", got "${String(signed._type)}"`);
  const { unrecognizedFields, ...common } = Targets.commonFieldsFromJSON(signed);
  const { targets: rawTargets, _type: _ignored, ...rest } = unrecognizedFields as JSONObject;
  if (typeof rawTargets !== 'object' || rawTargets === null || Array.isArray(rawTargets)) throw new TypeError('targets must be an object');
  const targets: Record<string, TargetFile> = {};
  for (const [path, file] of Object.entries(rawTargets)) targets[path] = TargetFile.fromJSON(path, file as JSONObject);

  const { signatures: rawSignatures, signed: _signed, ...unrecognized } = data;
  if (!Array.isArray(rawSignatures)) throw new TypeError('signatures must be an array');
  const signatures: Record<string, Signature> = {};
  for (const raw of rawSignatures) {
    const sig = Signature.fromJSON(raw as JSONObject);
    if (signatures[sig.keyID]) throw new TypeError(`duplicate signature by key ${sig.keyID}`);
    signatures[sig.keyID] = sig;
  }
  return new Metadata(new Targets({ ...common, targets, unrecognizedFields: rest }), signatures, unrecognized);
}
