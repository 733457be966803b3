/**
 * Makes @tufjs/models read and write targets metadata in linear time. The library (4.1.1, still 5.0.2) builds
 * the `targets` map in Targets.fromJSON and Targets#toJSON by spreading an accumulator in a
 * reduce, which is O(n²) in the number of targets: about 66 s each way for 10,000 targets, and
 * tuf-js does both on every refresh (parse, then serialise to check the signatures). Bottlerocket
 * repositories carry thousands of targets.
 *
 * The replacements let the library do everything but the `targets` loop (common fields,
 * delegations, unknown fields, all validation), so their results and errors are the library's.
 * tuf-js uses the same class objects as we do (one copy of @tufjs/models in node_modules).
 */
import { TargetFile, Targets } from '@tufjs/models';

type TargetsJson = Parameters<typeof Targets.fromJSON>[0];

/** The library's own conversions, for tests that compare against them. */
export const libraryTargetsJson = { fromJSON: Targets.fromJSON, toJSON: Targets.prototype.toJSON };

function isObjectRecord(value: unknown): value is Record<string, object> {
  return typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'object' && v !== null);
}

function fromJSON(data: TargetsJson): Targets {
  const targets: unknown = typeof data === 'object' && data !== null ? data.targets : undefined;
  // absent or malformed: the library handles it (and throws its own error)
  if (!isObjectRecord(targets)) return libraryTargetsJson.fromJSON.call(Targets, data);
  Targets.commonFieldsFromJSON(data); // the library checks these before the targets
  // fromEntries makes own keys, as the library's spread does (a target may be named "__proto__")
  const parsedTargets = Object.fromEntries(Object.entries(targets).map(([path, file]) => [path, TargetFile.fromJSON(path, file as TargetsJson)]));
  const parsed = libraryTargetsJson.fromJSON.call(Targets, { ...data, targets: {} });
  (parsed as { targets: Record<string, TargetFile> }).targets = parsedTargets;
  return parsed;
}

function toJSON(this: Targets): ReturnType<Targets['toJSON']> {
  // the library's output for the same fields with no targets (own fields: toJSON reads only those)
  const json = libraryTargetsJson.toJSON.call({ ...this, targets: {} } as Targets);
  // the key exists already, so the key order stays the library's
  json.targets = Object.fromEntries(Object.entries(this.targets).map(([path, file]) => [path, file.toJSON()]));
  return json;
}

/** Installs the linear conversions (idempotent). */
export function makeTargetsJsonLinear(): void {
  Targets.fromJSON = fromJSON;
  Targets.prototype.toJSON = toJSON;
}
