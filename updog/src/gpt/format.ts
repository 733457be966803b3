/**
 * Pure encoding and decoding of a GUID Partition Table (UEFI spec, chapter 5): headers, entry
 * arrays, CRC32s and layout checks. No I/O here: `io.ts` reads and writes the bytes.
 *
 * Every decoded structure keeps the raw bytes it came from, and encoding writes the known fields
 * over a copy of them, so fields and bits this project does not own survive a rewrite unchanged.
 */
import { crc32 } from 'node:zlib';
import { decodeGuid, encodeGuid, ZERO_GUID } from './guid.js';

export const GPT_SIGNATURE = 'EFI PART';
export const GPT_REVISION_1_0 = 0x0001_0000;
export const GPT_HEADER_SIZE = 92;
export const DEFAULT_ENTRY_SIZE = 128;
export const DEFAULT_ENTRY_COUNT = 128;
/** Largest entry array accepted, so that a garbage header cannot make us allocate gigabytes. */
const MAX_ENTRIES_BYTES = 4 * 1024 * 1024;
const NAME_OFFSET = 56;
const NAME_UNITS = 36;

/** Why one copy of the GPT (primary or backup) cannot be used. */
export class GptFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GptFormatError';
  }
}

export interface GptHeader {
  revision: number;
  headerSize: number;
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  /** The whole header sector as read (or zeros for a new table). */
  raw: Buffer;
}

export interface GptEntry {
  typeGuid: string;
  uniqueGuid: string;
  firstLba: number;
  lastLba: number;
  /** All 64 attribute bits; bits 48-63 are type-specific (gptprio flags live there). */
  attributes: bigint;
  name: string;
  /** The entry bytes as read (or zeros for a new entry). */
  raw: Buffer;
}

/**
 * A whole table, independent of which copy it was read from. `header` is in primary form
 * (myLba 1, alternateLba = backup header LBA, entriesLba = primary entry array).
 */
export interface Gpt {
  sectorSize: number;
  diskSectors: number;
  header: GptHeader;
  backupEntriesLba: number;
  entries: GptEntry[];
}

/** The bytes of both copies of a table, ready to be written at `lba * sectorSize`. */
export interface EncodedGpt {
  entries: Buffer;
  primaryHeader: Buffer;
  backupHeader: Buffer;
}

export function isUsedEntry(entry: GptEntry): boolean {
  return entry.typeGuid !== ZERO_GUID;
}

export function entriesSectors(header: Pick<GptHeader, 'entryCount' | 'entrySize'>, sectorSize: number): number {
  return Math.ceil((header.entryCount * header.entrySize) / sectorSize);
}

function readLba(buf: Buffer, offset: number, what: string): number {
  const value = buf.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new GptFormatError(`${what} ${value} is out of range`);
  return Number(value);
}

function headerCrc(sector: Buffer, headerSize: number): number {
  const copy = Buffer.from(sector.subarray(0, headerSize));
  copy.writeUInt32LE(0, 16);
  return crc32(copy);
}

/** Decodes and checks (signature, size, CRC, own LBA, geometry) one header sector. */
export function decodeHeader(sector: Buffer, expectedLba: number, diskSectors: number): GptHeader {
  if (sector.length < GPT_HEADER_SIZE || sector.toString('latin1', 0, 8) !== GPT_SIGNATURE) throw new GptFormatError(`no GPT signature at LBA ${expectedLba}`);
  const headerSize = sector.readUInt32LE(12);
  if (headerSize < GPT_HEADER_SIZE || headerSize > sector.length) {
    throw new GptFormatError(`header at LBA ${expectedLba} has invalid size ${headerSize}`);
  }
  const storedCrc = sector.readUInt32LE(16);
  const actualCrc = headerCrc(sector, headerSize);
  if (storedCrc !== actualCrc) {
    throw new GptFormatError(`header CRC mismatch at LBA ${expectedLba} (stored ${hex32(storedCrc)}, computed ${hex32(actualCrc)})`);
  }
  const header: GptHeader = {
    revision: sector.readUInt32LE(8),
    headerSize,
    myLba: readLba(sector, 24, 'my LBA'),
    alternateLba: readLba(sector, 32, 'alternate LBA'),
    firstUsableLba: readLba(sector, 40, 'first usable LBA'),
    lastUsableLba: readLba(sector, 48, 'last usable LBA'),
    diskGuid: decodeGuid(sector.subarray(56, 72)),
    entriesLba: readLba(sector, 72, 'entry array LBA'),
    entryCount: sector.readUInt32LE(80),
    entrySize: sector.readUInt32LE(84),
    raw: Buffer.from(sector),
  };
  checkHeaderGeometry(header, expectedLba, sector.length, diskSectors);
  return header;
}

/**
 * Every LBA a header names must fit the disk and the standard layout, as `sgdisk -v` checks it: the
 * primary header at LBA 1 and the backup at the last LBA, each naming the other; each copy's
 * entry array between its header and the usable area; room on both sides of the usable area for
 * both entry arrays (a damaged copy is rebuilt where sgdisk rebuilds it: the primary array at
 * LBA 2, the backup array right after the last usable LBA). A header that names anything else
 * is not trusted, so nothing is ever written where it points.
 */
function checkHeaderGeometry(h: GptHeader, expectedLba: number, sectorSize: number, diskSectors: number): void {
  const where = `header at LBA ${expectedLba}`;
  const lastLba = diskSectors - 1;
  if (h.myLba !== expectedLba) throw new GptFormatError(`${where} claims to be at LBA ${h.myLba}`);
  if (h.revision !== GPT_REVISION_1_0) throw new GptFormatError(`${where} has unsupported revision ${hex32(h.revision)}`);
  if (h.entrySize < DEFAULT_ENTRY_SIZE || h.entrySize % 8 !== 0) throw new GptFormatError(`${where} has invalid entry size ${h.entrySize}`);
  if (h.entryCount === 0 || h.entryCount * h.entrySize > MAX_ENTRIES_BYTES) {
    throw new GptFormatError(`${where} has invalid entry count ${h.entryCount}`);
  }
  if (h.firstUsableLba > h.lastUsableLba || h.lastUsableLba >= diskSectors) {
    throw new GptFormatError(`${where} has invalid usable range ${h.firstUsableLba}-${h.lastUsableLba} on a disk of ${diskSectors} sectors`);
  }
  const primary = expectedLba === 1;
  const expectedAlternate = primary ? lastLba : 1;
  if (h.alternateLba !== expectedAlternate) {
    throw new GptFormatError(
      `${where} names LBA ${h.alternateLba} as the ${primary ? 'backup' : 'primary'} header's, not LBA ${expectedAlternate}${primary ? ' (the last LBA of the disk)' : ''}`,
    );
  }
  const arraySectors = entriesSectors(h, sectorSize);
  if (h.firstUsableLba < 2 + arraySectors || h.lastUsableLba + arraySectors >= lastLba) {
    throw new GptFormatError(
      `${where} has a usable range ${h.firstUsableLba}-${h.lastUsableLba} that leaves no room for ${arraySectors}-sector entry arrays on a disk of ${diskSectors} sectors`,
    );
  }
  const [low, high] = primary ? [2, h.firstUsableLba] : [h.lastUsableLba + 1, lastLba]; // the array must fit in [low, high)
  if (h.entriesLba < low || h.entriesLba + arraySectors > high) {
    throw new GptFormatError(`${where} has an entry array at LBA ${h.entriesLba} outside LBA ${low}-${high - 1}, between the header and the usable range`);
  }
}

/** Decodes an entry array after checking its CRC against the header's and every partition's LBAs. */
export function decodeEntries(buf: Buffer, header: GptHeader): GptEntry[] {
  const length = header.entryCount * header.entrySize;
  const bytes = buf.subarray(0, length);
  const storedCrc = header.raw.readUInt32LE(88);
  const actualCrc = crc32(bytes);
  if (bytes.length !== length || storedCrc !== actualCrc) {
    throw new GptFormatError(
      `entry array CRC mismatch at LBA ${header.entriesLba} (stored ${hex32(storedCrc)}, computed ${hex32(actualCrc)})`,
    );
  }
  const entries: GptEntry[] = [];
  for (let i = 0; i < header.entryCount; i++) {
    const raw = Buffer.from(bytes.subarray(i * header.entrySize, (i + 1) * header.entrySize));
    entries.push({
      typeGuid: decodeGuid(raw.subarray(0, 16)),
      uniqueGuid: decodeGuid(raw.subarray(16, 32)),
      firstLba: readLba(raw, 32, `partition ${i + 1} first LBA`),
      lastLba: readLba(raw, 40, `partition ${i + 1} last LBA`),
      attributes: raw.readBigUInt64LE(48),
      name: decodeName(raw),
      raw,
    });
  }
  checkEntriesLayout(entries, header);
  return entries;
}

function checkEntriesLayout(entries: GptEntry[], header: GptHeader): void {
  const used = entries
    .map((entry, index) => ({ entry, number: index + 1 }))
    .filter(({ entry }) => isUsedEntry(entry));
  for (const { entry, number } of used) {
    if (entry.firstLba > entry.lastLba || entry.firstLba < header.firstUsableLba || entry.lastLba > header.lastUsableLba) {
      throw new GptFormatError(
        `partition ${number} spans LBA ${entry.firstLba}-${entry.lastLba}, outside the usable range ${header.firstUsableLba}-${header.lastUsableLba}`,
      );
    }
  }
  const sorted = [...used].sort((a, b) => a.entry.firstLba - b.entry.firstLba);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.entry.firstLba <= prev.entry.lastLba) throw new GptFormatError(`partitions ${prev.number} and ${cur.number} overlap`);
  }
}

function decodeName(raw: Buffer): string {
  const units = raw.subarray(NAME_OFFSET, NAME_OFFSET + NAME_UNITS * 2);
  let end = 0;
  while (end < units.length && units.readUInt16LE(end) !== 0) end += 2;
  return units.toString('utf16le', 0, end);
}

function encodeEntry(entry: GptEntry, entrySize: number): Buffer {
  const out = Buffer.alloc(entrySize);
  entry.raw.copy(out, 0, 0, Math.min(entry.raw.length, entrySize));
  encodeGuid(entry.typeGuid).copy(out, 0);
  encodeGuid(entry.uniqueGuid).copy(out, 16);
  out.writeBigUInt64LE(BigInt(entry.firstLba), 32);
  out.writeBigUInt64LE(BigInt(entry.lastLba), 40);
  out.writeBigUInt64LE(BigInt.asUintN(64, entry.attributes), 48);
  // Rewrite the name only when it changed, so bytes after its terminator stay as they were.
  if (decodeName(out) !== entry.name) {
    if (entry.name.length > NAME_UNITS) throw new Error(`partition name longer than ${NAME_UNITS} UTF-16 units: ${entry.name}`);
    out.fill(0, NAME_OFFSET, NAME_OFFSET + NAME_UNITS * 2);
    out.write(entry.name, NAME_OFFSET, 'utf16le');
  }
  return out;
}

function encodeHeader(header: GptHeader, sectorSize: number, entriesCrc: number): Buffer {
  const out = Buffer.alloc(sectorSize);
  header.raw.copy(out, 0, 0, Math.min(header.raw.length, sectorSize));
  out.write(GPT_SIGNATURE, 0, 'latin1');
  out.writeUInt32LE(header.revision, 8);
  out.writeUInt32LE(header.headerSize, 12);
  out.writeBigUInt64LE(BigInt(header.myLba), 24);
  out.writeBigUInt64LE(BigInt(header.alternateLba), 32);
  out.writeBigUInt64LE(BigInt(header.firstUsableLba), 40);
  out.writeBigUInt64LE(BigInt(header.lastUsableLba), 48);
  encodeGuid(header.diskGuid).copy(out, 56);
  out.writeBigUInt64LE(BigInt(header.entriesLba), 72);
  out.writeUInt32LE(header.entryCount, 80);
  out.writeUInt32LE(header.entrySize, 84);
  out.writeUInt32LE(entriesCrc, 88);
  out.writeUInt32LE(headerCrc(out, header.headerSize), 16);
  return out;
}

/** Serialises both copies of `gpt` with fresh CRCs. */
export function encodeGpt(gpt: Gpt): EncodedGpt {
  const { header, sectorSize } = gpt;
  if (gpt.entries.length !== header.entryCount) throw new Error(`GPT has ${gpt.entries.length} entries, header says ${header.entryCount}`);
  const entries = Buffer.concat(gpt.entries.map((e) => encodeEntry(e, header.entrySize)));
  const entriesCrc = crc32(entries);
  const primaryHeader = encodeHeader({ ...header, myLba: 1 }, sectorSize, entriesCrc);
  const backupHeader = encodeHeader(
    { ...header, myLba: header.alternateLba, alternateLba: 1, entriesLba: gpt.backupEntriesLba },
    sectorSize,
    entriesCrc,
  );
  return { entries, primaryHeader, backupHeader };
}

/** Fields both headers must agree on: a table whose copies disagree on them has no right answer. */
const MIRRORED_FIELDS = ['firstUsableLba', 'lastUsableLba', 'diskGuid', 'entryCount', 'entrySize'] as const;

/**
 * Builds the table from the copies that decoded (each already checked against the disk size by
 * `decodeHeader`). The primary wins when both are valid (a write interrupted between the two
 * copies leaves the backup newer; the next write makes them equal), but only if the headers agree
 * on the layout. A missing copy is rebuilt where sgdisk rebuilds it: the primary's entry array
 * at LBA 2, the backup's right after the last usable LBA.
 */
export function combineCopies(
  copies: { primary?: { header: GptHeader; entries: GptEntry[] }; backup?: { header: GptHeader; entries: GptEntry[] } },
  sectorSize: number,
  diskSectors: number,
): Gpt {
  const { primary, backup } = copies;
  if (primary && backup) {
    for (const field of MIRRORED_FIELDS) {
      if (primary.header[field] !== backup.header[field]) {
        throw new GptFormatError(
          `the primary and backup headers disagree on ${field} (${primary.header[field]} and ${backup.header[field]}), so neither can be trusted`,
        );
      }
    }
  }
  if (primary) {
    const backupEntriesLba = backup?.header.entriesLba ?? primary.header.lastUsableLba + 1;
    return { sectorSize, diskSectors, header: primary.header, backupEntriesLba, entries: primary.entries };
  }
  if (backup) {
    const header: GptHeader = { ...backup.header, myLba: 1, alternateLba: backup.header.myLba, entriesLba: 2 };
    return { sectorSize, diskSectors, header, backupEntriesLba: backup.header.entriesLba, entries: backup.entries };
  }
  throw new Error('combineCopies needs at least one valid copy');
}

/**
 * Why `gpt` must not be written to a disk of `diskSectors` sectors, or undefined when it may: the
 * same rules `decodeHeader` and `decodeEntries` apply when reading, checked on what is about to
 * be written, so no caller can make a write land inside the usable area.
 */
export function layoutProblem(gpt: Gpt, diskSectors: number, encoded: EncodedGpt = encodeGpt(gpt)): string | undefined {
  try {
    const primary = decodeHeader(encoded.primaryHeader, 1, diskSectors);
    decodeHeader(encoded.backupHeader, diskSectors - 1, diskSectors);
    checkEntriesLayout(gpt.entries, primary);
  } catch (err) {
    if (err instanceof GptFormatError) return err.message;
    throw err;
  }
  return undefined;
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/** A new, empty table (no partitions) covering a disk of `diskSectors` sectors, laid out like sgdisk does. */
export function newGpt(diskSectors: number, sectorSize: number, diskGuid: string): Gpt {
  const entryArraySectors = entriesSectors({ entryCount: DEFAULT_ENTRY_COUNT, entrySize: DEFAULT_ENTRY_SIZE }, sectorSize);
  const backupHeaderLba = diskSectors - 1;
  const backupEntriesLba = backupHeaderLba - entryArraySectors;
  const emptyEntry = (): GptEntry => ({
    typeGuid: ZERO_GUID,
    uniqueGuid: ZERO_GUID,
    firstLba: 0,
    lastLba: 0,
    attributes: 0n,
    name: '',
    raw: Buffer.alloc(DEFAULT_ENTRY_SIZE),
  });
  return {
    sectorSize,
    diskSectors,
    header: {
      revision: GPT_REVISION_1_0,
      headerSize: GPT_HEADER_SIZE,
      myLba: 1,
      alternateLba: backupHeaderLba,
      firstUsableLba: 2 + entryArraySectors,
      lastUsableLba: backupEntriesLba - 1,
      diskGuid,
      entriesLba: 2,
      entryCount: DEFAULT_ENTRY_COUNT,
      entrySize: DEFAULT_ENTRY_SIZE,
      raw: Buffer.alloc(sectorSize),
    },
    backupEntriesLba,
    entries: Array.from({ length: DEFAULT_ENTRY_COUNT }, emptyEntry),
  };
}
