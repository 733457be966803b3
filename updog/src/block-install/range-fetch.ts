// TEMPORARY: replaced by the net layer's range download at merge.
import { request } from 'undici';
import type { DownloadContext } from '../net/bounded-download.js';

export class RangeNotSupportedError extends Error {}
export class WrongRangeError extends Error {}

export async function* downloadRange(spec: { url: string; name: string; start: number; end: number }, ctx: DownloadContext): AsyncGenerator<Buffer, void, undefined> {
  const response = await request(spec.url, { dispatcher: ctx.dispatcher, signal: ctx.signal, headers: { range: `bytes=${spec.start}-${spec.end - 1}`, 'accept-encoding': 'identity' } });
  try {
    if (response.statusCode === 200) throw new RangeNotSupportedError(`HTTP 200 to a range request for ${spec.name}`);
    if (response.statusCode !== 206) throw new Error(`HTTP ${response.statusCode}`);
    const cr = String(response.headers['content-range'] ?? '');
    if (!cr.startsWith(`bytes ${spec.start}-${spec.end - 1}/`)) throw new WrongRangeError(`wrong Content-Range ${cr}`);
    let n = 0;
    for await (const chunk of response.body) {
      n += (chunk as Buffer).length;
      if (n > spec.end - spec.start) throw new WrongRangeError('too long');
      yield chunk as Buffer;
    }
  } finally {
    if (!response.body.destroyed) response.body.destroy();
  }
}
