/**
 * Where on the host each wanted piece hash was seen: an open-addressing hash table from 64-bit
 * piece hashes to a byte position, in typed arrays (16 bytes a slot, at most three quarters full:
 * 4 MiB for the 196,608 pieces of a 768 MiB image; linear probing still ends within a few slots). Hashes
 * are read as two 32-bit words straight from the arrays that hold them (`HashWords`): a
 * `Map<bigint, number>`, or even a BigInt per probe, would allocate for each of the quarter million
 * pieces of a 1 GiB image, on every update.
 */
const NOT_FOUND = -1;

/** 64-bit hashes as little-endian 32-bit word pairs: hash i is (words[2i], words[2i + 1]). */
export type HashWords = Uint32Array;

/** The word view of an array of 64-bit hashes (no copy). */
export function hashWords(hashes: BigUint64Array): HashWords {
  return new Uint32Array(hashes.buffer, hashes.byteOffset, hashes.length * 2);
}

export class PieceTable {
  /** Word pairs; (0, 0) marks an empty slot, so the zero hash is kept apart. */
  private readonly keys: Uint32Array;
  private readonly positions: Float64Array;
  private readonly mask: number;
  private zeroKeyPosition: number | undefined;

  /** A table that can hold `capacity` distinct hashes. */
  constructor(capacity: number) {
    let slots = 16;
    while (slots * 3 < capacity * 4) slots *= 2;
    this.keys = new Uint32Array(slots * 2);
    this.positions = new Float64Array(slots);
    this.mask = slots - 1;
  }

  /** Starts looking for hash i of `words` (not found until `record`). Adding a hash twice is harmless. */
  want(words: HashWords, i: number): void {
    const lo = words[2 * i]!;
    const hi = words[2 * i + 1]!;
    if (lo === 0 && hi === 0) {
      this.zeroKeyPosition ??= NOT_FOUND;
      return;
    }
    const slot = this.slotOf(lo, hi);
    if (this.keys[2 * slot] === 0 && this.keys[2 * slot + 1] === 0) {
      this.keys[2 * slot] = lo;
      this.keys[2 * slot + 1] = hi;
      this.positions[slot] = NOT_FOUND;
    }
  }

  /** Records where hash i of `words` was seen (the first sighting wins); ignores hashes not wanted. */
  record(words: HashWords, i: number, position: number): void {
    const lo = words[2 * i]!;
    const hi = words[2 * i + 1]!;
    if (lo === 0 && hi === 0) {
      if (this.zeroKeyPosition === NOT_FOUND) this.zeroKeyPosition = position;
      return;
    }
    const slot = this.slotOf(lo, hi);
    if (this.keys[2 * slot] === lo && this.keys[2 * slot + 1] === hi && this.positions[slot] === NOT_FOUND) this.positions[slot] = position;
  }

  /** Where hash i of `words` was seen, or undefined. */
  find(words: HashWords, i: number): number | undefined {
    const lo = words[2 * i]!;
    const hi = words[2 * i + 1]!;
    if (lo === 0 && hi === 0) return this.zeroKeyPosition === NOT_FOUND ? undefined : this.zeroKeyPosition;
    const slot = this.slotOf(lo, hi);
    const position = this.keys[2 * slot] === lo && this.keys[2 * slot + 1] === hi ? this.positions[slot]! : NOT_FOUND;
    return position === NOT_FOUND ? undefined : position;
  }

  /** The slot holding the hash, or the empty slot where it would go (linear probing on the low word). */
  private slotOf(lo: number, hi: number): number {
    let slot = lo & this.mask;
    for (;;) {
      const klo = this.keys[2 * slot]!;
      const khi = this.keys[2 * slot + 1]!;
      if ((klo === lo && khi === hi) || (klo === 0 && khi === 0)) return slot;
      slot = (slot + 1) & this.mask;
    }
  }
}
