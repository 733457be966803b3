/**
 * Small stand-in OS images for tests and the demo. A fake image starts with one header line that
 * records what it is, so the boot model can tell which version booted by reading the first bytes
 * of the ROOT partition it picked. The rest is deterministic filler so that images compress like
 * real ones and a flipped byte anywhere is detectable by hash.
 */
export const FAKE_IMAGE_MAGIC = 'UPDOG-FAKE-IMAGE';

export type ImagePart = 'boot' | 'root' | 'hash';

export interface FakeImageHeader {
  part: ImagePart;
  variant: string;
  arch: string;
  version: string;
  /** A "bad" image boots but its health check fails, so it never marks the boot successful. */
  bad: boolean;
}

/** Header line: `UPDOG-FAKE-IMAGE {"part":...}\n`, at most this many bytes. */
export const FAKE_IMAGE_HEADER_MAX = 512;

export function fakeImageHeaderLine(header: FakeImageHeader): string {
  const line = `${FAKE_IMAGE_MAGIC} ${JSON.stringify(header)}\n`;
  if (Buffer.byteLength(line) > FAKE_IMAGE_HEADER_MAX) throw new Error('fake image header too long');
  return line;
}

/**
 * Builds a whole fake image of `size` bytes (size must fit the header). The filler after the header
 * is `filler` repeated (tests of block installs give versions mostly the same filler), by default a
 * version-dependent pattern (compressible, but not all zeros).
 */
export function makeFakeImage(header: FakeImageHeader, size: number, filler?: Uint8Array): Buffer {
  const buf = Buffer.alloc(size);
  const written = buf.write(fakeImageHeaderLine(header), 0, 'utf8');
  if (written >= size) throw new Error(`fake image of ${size} bytes cannot hold its header`);
  const pattern = filler === undefined ? Buffer.from(`${header.part}:${header.version}:`.padEnd(64, '.')) : Buffer.from(filler);
  for (let off = written; off < size; off += pattern.length) pattern.copy(buf, off, 0, Math.min(pattern.length, size - off));
  return buf;
}

/** Parses the header from the first bytes of a partition; undefined when it holds no fake image. */
export function parseFakeImageHeader(firstBytes: Buffer): FakeImageHeader | undefined {
  const text = firstBytes.subarray(0, FAKE_IMAGE_HEADER_MAX).toString('utf8');
  if (!text.startsWith(`${FAKE_IMAGE_MAGIC} `)) return undefined;
  const end = text.indexOf('\n');
  if (end < 0) return undefined;
  try {
    const parsed = JSON.parse(text.slice(FAKE_IMAGE_MAGIC.length + 1, end)) as Partial<FakeImageHeader>;
    if (typeof parsed.version !== 'string' || typeof parsed.part !== 'string') return undefined;
    return {
      part: parsed.part as ImagePart,
      variant: String(parsed.variant ?? ''),
      arch: String(parsed.arch ?? ''),
      version: parsed.version,
      bad: parsed.bad === true,
    };
  } catch {
    return undefined;
  }
}
