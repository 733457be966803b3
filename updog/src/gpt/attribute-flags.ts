/**
 * The gptprio attribute bits of a GPT entry, as GRUB's `gptprio.next` reads them. Pure: no disk
 * access. On the BOOT partition of each set: bits 48-51 priority, 52-55 tries left, 56 successful.
 * On PRIVATE: bit 57 "a boot has ever succeeded". No other bit is ever changed.
 */
export interface SetFlags {
  /** 0-15; 0 means "never boot this set". */
  priority: number;
  /** 0-15; the bootloader decrements it on each boot attempt. */
  triesLeft: number;
  successful: boolean;
}

const PRIORITY_SHIFT = 48n;
const TRIES_SHIFT = 52n;
const SUCCESSFUL_BIT = 1n << 56n;
const BOOT_EVER_SUCCEEDED_BIT = 1n << 57n;
const SET_FLAGS_MASK = 0x1ffn << PRIORITY_SHIFT; // bits 48-56

export function decodeSetFlags(attributes: bigint): SetFlags {
  return {
    priority: Number((attributes >> PRIORITY_SHIFT) & 0xfn),
    triesLeft: Number((attributes >> TRIES_SHIFT) & 0xfn),
    successful: (attributes & SUCCESSFUL_BIT) !== 0n,
  };
}

/** Returns `attributes` with bits 48-56 replaced by `flags`; every other bit is kept. */
export function encodeSetFlags(attributes: bigint, flags: SetFlags): bigint {
  for (const [name, value] of [['priority', flags.priority], ['tries', flags.triesLeft]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 15) throw new RangeError(`${name} must be 0-15, got ${value}`);
  }
  const bits = (BigInt(flags.priority) << PRIORITY_SHIFT) | (BigInt(flags.triesLeft) << TRIES_SHIFT) | (flags.successful ? SUCCESSFUL_BIT : 0n);
  return (attributes & ~SET_FLAGS_MASK) | bits;
}

export function decodeBootEverSucceeded(attributes: bigint): boolean {
  return (attributes & BOOT_EVER_SUCCEEDED_BIT) !== 0n;
}

export function encodeBootEverSucceeded(attributes: bigint, value: boolean): bigint {
  return value ? attributes | BOOT_EVER_SUCCEEDED_BIT : attributes & ~BOOT_EVER_SUCCEEDED_BIT;
}

/** What the bootloader considers bootable. */
export function willBoot(flags: SetFlags): boolean {
  return (flags.priority > 0 && flags.triesLeft > 0) || flags.successful;
}

export function describeFlags(flags: SetFlags): string {
  return `priority=${flags.priority} tries=${flags.triesLeft} successful=${flags.successful ? 1 : 0}`;
}
