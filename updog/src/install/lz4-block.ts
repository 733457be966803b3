/**
 * LZ4 block decoder (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md) in plain
 * TypeScript. It decodes into a caller-provided buffer whose bytes before `outStart` are the
 * history (previous 64 KiB of output) that linked blocks may refer back to.
 *
 * Why not lz4-napi's native block decoder (about 4x faster): each call returns a new napi
 * external buffer, which V8 frees only on full garbage collections; with 4 MiB blocks ~60 MiB of
 * dead output piled up and the install peaked at 130-143 MiB RSS. This decoder writes into
 * buffers the frame decoder reuses, so memory stays flat (measured peak ~115-120 MiB for the
 * whole install process, of which ~64 MiB is Node and the libraries loaded).
 */

export class Lz4BlockError extends Error {}

/**
 * Decodes `src` into `out` starting at `outStart`; returns the end offset of the output.
 * Throws `Lz4BlockError` on malformed input, including matches reaching before `out[0]`
 * and output beyond `out.length`.
 */
export function decodeLz4Block(src: Buffer, out: Buffer, outStart: number): number {
  const srcEnd = src.length;
  const outEnd = out.length;
  let s = 0;
  let o = outStart;
  for (;;) {
    if (s >= srcEnd) throw new Lz4BlockError('block ends inside a sequence');
    const token = src[s++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (s >= srcEnd) throw new Lz4BlockError('block ends inside a literal length');
        b = src[s++]!;
        literals += b;
      } while (b === 255);
    }
    if (literals > 0) {
      if (s + literals > srcEnd) throw new Lz4BlockError('literals run past the end of the block');
      if (o + literals > outEnd) throw new Lz4BlockError('output exceeds the block maximum size');
      if (literals < 16) {
        for (let i = 0; i < literals; i++) out[o + i] = src[s + i]!;
      } else {
        src.copy(out, o, s, s + literals);
      }
      s += literals;
      o += literals;
    }
    if (s === srcEnd) return o; // the last sequence has literals only
    if (s + 2 > srcEnd) throw new Lz4BlockError('block ends inside a match offset');
    const offset = src[s]! | (src[s + 1]! << 8);
    s += 2;
    if (offset === 0) throw new Lz4BlockError('match offset 0');
    let length = token & 15;
    if (length === 15) {
      let b: number;
      do {
        if (s >= srcEnd) throw new Lz4BlockError('block ends inside a match length');
        b = src[s++]!;
        length += b;
      } while (b === 255);
    }
    length += 4;
    const from = o - offset;
    if (from < 0) throw new Lz4BlockError(`match reaches ${-from} bytes before the available history`);
    if (o + length > outEnd) throw new Lz4BlockError('output exceeds the block maximum size');
    if (length <= 32) {
      // short matches: a forward byte copy, which also repeats overlapping patterns correctly
      for (let i = 0; i < length; i++) out[o + i] = out[from + i]!;
      o += length;
    } else if (offset >= length) {
      out.copyWithin(o, from, from + length);
      o += length;
    } else {
      // long overlapping match: the pattern repeats; each copy doubles the stretch already written
      const end = o + length;
      while (o < end) {
        const n = Math.min(o - from, end - o);
        out.copyWithin(o, from, from + n);
        o += n;
      }
    }
  }
}
