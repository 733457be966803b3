/**
 * Where on the host each wanted piece hash was seen: an open-addressing hash table from 64-bit
 * piece hashes to a byte position, in typed arrays (16 bytes a slot, at most half full). A
 * `Map<bigint, number>` would take about 6x the memory for the quarter million pieces of a
 * 1 GiB image, and this is built and probed on every update.
 */
const EMPTY_KEY = 0n;
const NOT_FOUND = -1;

export class PieceTable {
  private readonly keys: BigUint64Array;
  private readonly positions: Float64Array;
  private readonly mask: number;
  private readonly maskBig: bigint;
  /** The zero hash cannot be a key; a piece whose hash is 0 is remembered apart. */
  private zeroKeyPosition: number | undefined;

  /** A table that can hold `capacity` distinct hashes. */
  constructor(capacity: number) {
    let slots = 16;
    while (slots < capacity * 2) slots *= 2;
    this.keys = new BigUint64Array(slots);
    this.positions = new Float64Array(slots);
    this.mask = slots - 1;
    this.maskBig = BigInt(this.mask);
  }

  /** Starts looking for `hash` (not found until `record`). Adding a hash twice is harmless. */
  want(hash: bigint): void {
    if (hash === EMPTY_KEY) {
      this.zeroKeyPosition ??= NOT_FOUND;
      return;
    }
    const slot = this.slotOf(hash);
    if (this.keys[slot] === EMPTY_KEY) {
      this.keys[slot] = hash;
      this.positions[slot] = NOT_FOUND;
    }
  }

  /** Records where a wanted hash was seen (the first sighting wins); ignores hashes not wanted. */
  record(hash: bigint, position: number): void {
    if (hash === EMPTY_KEY) {
      if (this.zeroKeyPosition === NOT_FOUND) this.zeroKeyPosition = position;
      return;
    }
    const slot = this.slotOf(hash);
    if (this.keys[slot] === hash && this.positions[slot] === NOT_FOUND) this.positions[slot] = position;
  }

  /** Where the hash was seen, or undefined. */
  find(hash: bigint): number | undefined {
    if (hash === EMPTY_KEY) return this.zeroKeyPosition === NOT_FOUND ? undefined : this.zeroKeyPosition;
    const slot = this.slotOf(hash);
    const position = this.keys[slot] === hash ? this.positions[slot]! : NOT_FOUND;
    return position === NOT_FOUND ? undefined : position;
  }

  /** The slot holding `hash`, or the empty slot where it would go (linear probing). */
  private slotOf(hash: bigint): number {
    let slot = Number(hash & this.maskBig);
    while (this.keys[slot] !== EMPTY_KEY && this.keys[slot] !== hash) slot = (slot + 1) & this.mask;
    return slot;
  }
}
