/** Test data and the real lz4 CLI, shared by the image and block index tests. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { decodeBlockIndex, type BlockIndex } from '@updog-ts/updog/image';

const run = promisify(execFile);

/** `lz4 -dc`: what the real CLI decodes `path` to. */
export async function lz4Cli(path: string): Promise<Buffer> {
  const { stdout } = await run('lz4', ['-dc', path], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
  return stdout;
}

/** Runs the real lz4 CLI with `args`; returns stdout and stderr together. */
export async function lz4Run(...args: string[]): Promise<string> {
  const { stdout, stderr } = await run('lz4', args);
  return stdout + stderr;
}

/** 9 MiB + 123 bytes: 1 MiB runs alternating compressible and random. */
export function mixedData(): Buffer {
  const size = 9 * 1024 * 1024 + 123;
  const buf = Buffer.alloc(size);
  let x = 12345;
  for (let i = 0; i < size; i++) {
    if (i % (2 * 1024 * 1024) < 1024 * 1024) buf[i] = (i >> 6) & 0xff;
    else {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      buf[i] = x >>> 24;
    }
  }
  return buf;
}

export const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/** Decodes `indexBytes` as updog does, against the image file `image` it must describe. */
export function decodeIndexOf(indexBytes: Buffer, image: Buffer, name = 'image.lz4'): BlockIndex {
  return decodeBlockIndex(indexBytes, { name, length: image.length, sha256: sha256(image).toString('hex') });
}
