/**
 * Where the decode worker's code comes from: the compiled `decode-worker.js` beside this module,
 * or, in a single executable (which has no files beside it), the bundled worker script stored as
 * one of the executable's assets. None when running from TypeScript sources (tests), where the
 * decoder runs inline instead.
 */
import { existsSync } from 'node:fs';
import { getAsset, isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';

/** The asset name under which updog's single-executable build stores the bundled worker. */
export const DECODE_WORKER_ASSET = 'decode-worker.cjs';

export type DecodeWorkerSource = { file: string } | { code: string };

export function decodeWorkerSource(): DecodeWorkerSource | undefined {
  if (isSea()) return { code: getAsset(DECODE_WORKER_ASSET, 'utf8') };
  const file = fileURLToPath(new URL('./decode-worker.js', import.meta.url));
  return existsSync(file) ? { file } : undefined;
}
