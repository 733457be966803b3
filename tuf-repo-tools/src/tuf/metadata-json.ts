/**
 * Metadata <-> JSON through @tufjs/models, with its targets conversions made linear in the
 * number of targets (updog/src/tuf/targets-json.ts: the library's own take 66 s each way for
 * 10,000 targets).
 */
import { Metadata, MetadataKind, type Root, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';
import { makeTargetsJsonLinear } from '@updog-ts/updog/release';

makeTargetsJsonLinear();

/** The JSON object type @tufjs/models reads and writes. */
export type AnyMetadata = Metadata<Root> | Metadata<Targets> | Metadata<Snapshot> | Metadata<Timestamp>;

export type JSONObject = Parameters<typeof Metadata.fromJSON>[1];

/** `md.signed` as JSON (what signatures cover, once canonicalised). */
export function signedJson(md: AnyMetadata): JSONObject {
  return md.signed.toJSON();
}

/** The whole metadata document as JSON. */
export function metadataJson(md: AnyMetadata): JSONObject {
  return md.toJSON();
}

/** Parses targets metadata; throws the library's errors for malformed input. */
export function targetsMetadataFromJson(data: JSONObject): Metadata<Targets> {
  return Metadata.fromJSON(MetadataKind.Targets, data);
}
