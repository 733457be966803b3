/**
 * Property test of every signpost command against hostile GPTs. Thousands of tables, each the
 * pristine table with bit flips (raw, or with the CRCs recomputed so that they pass) or one header
 * or entry field set to an edge value (CRCs recomputed), in the primary copy, the backup or both.
 * Each command runs in-process on its own copy of a small disk image whose partitions hold random
 * bytes. For every run:
 *   - a refusal is a UserError (what the bin prints as one line, exit 1), the disk unchanged;
 *   - no command changes a byte outside the two GPT copies; read-only commands change nothing;
 *   - whenever a command accepts the table, `sgdisk -v` finds no problem in what is on the disk
 *     afterwards; a read-only command may accept a table with one damaged copy only if the
 *     changing commands repair that same table into one sgdisk finds no problem in.
 * The seed is printed; UPDOG_GPT_FUZZ_SEED=<seed> reruns the same tables (UPDOG_GPT_FUZZ_CASE=<n>
 * only table n), UPDOG_GPT_FUZZ_TABLES=<n> changes how many.
 */
import { createHash, randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateBoot } from '../../src/boot/gptprio.js';
import { UserError } from '../../src/common/errors.js';
import { PARTITION_TYPE } from '../../src/gpt/bottlerocket-layout.js';
import { newGpt, type GptEntry } from '../../src/gpt/format.js';
import { readGpt, writeGpt } from '../../src/gpt/io.js';
import { protectiveMbr } from '../../src/gpt/mbr.js';
import { encodeSetFlags } from '../../src/gpt/attribute-flags.js';
import { Signpost } from '../../src/signpost/signpost.js';
import { capturedLogger, sgdisk } from './gpt-helpers.js';

const SECTOR = 512;
const DISK_SECTORS = 200; // LBA 0 MBR, 1 header, 2-33 entries, 34-166 usable, 167-198 backup entries, 199 backup header
const LAST_LBA = DISK_SECTORS - 1;
const PART_SECTORS = 16;
const FIRST_PART_LBA = 40;
const PRIMARY_AREA = [1, 34] as const; // [first, end) LBAs a command may rewrite
const BACKUP_AREA = [167, DISK_SECTORS] as const;
const LAYOUT = [
  [PARTITION_TYPE.boot, 'BOTTLEROCKET-BOOT-A'],
  [PARTITION_TYPE.root, 'BOTTLEROCKET-ROOT-A'],
  [PARTITION_TYPE.hash, 'BOTTLEROCKET-HASH-A'],
  [PARTITION_TYPE.boot, 'BOTTLEROCKET-BOOT-B'],
  [PARTITION_TYPE.root, 'BOTTLEROCKET-ROOT-B'],
  [PARTITION_TYPE.hash, 'BOTTLEROCKET-HASH-B'],
  [PARTITION_TYPE.private, 'BOTTLEROCKET-PRIVATE'],
] as const;

const SEED = Number(process.env.UPDOG_GPT_FUZZ_SEED ?? randomInt(2 ** 31));
const TABLES = Number(process.env.UPDOG_GPT_FUZZ_TABLES ?? 600);
const ONLY = process.env.UPDOG_GPT_FUZZ_CASE === undefined ? undefined : Number(process.env.UPDOG_GPT_FUZZ_CASE);

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number): { int(n: number): number; pick<T>(list: readonly T[]): T } {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return {
    int: (n) => next() % n,
    pick: (list) => list[next() % list.length]!,
  };
}
type Rng = ReturnType<typeof prng>;

/** The pristine disk: set A booted fine, set B holds a verified image (tries 1), partitions full of random bytes. */
function pristineDisk(file: string, rng: Rng): Buffer {
  const gpt = newGpt(DISK_SECTORS, SECTOR, '0badc0de-1234-4321-8765-0123456789ab');
  LAYOUT.forEach(([type, name], i) => {
    const entry: GptEntry = {
      typeGuid: type,
      uniqueGuid: `00000000-0000-4000-8000-0000000000${(i + 1).toString(16).padStart(2, '0')}`,
      firstLba: FIRST_PART_LBA + i * PART_SECTORS,
      lastLba: FIRST_PART_LBA + (i + 1) * PART_SECTORS - 1,
      attributes: 0n,
      name,
      raw: Buffer.alloc(128),
    };
    if (name === 'BOTTLEROCKET-BOOT-A') entry.attributes = encodeSetFlags(0n, { priority: 1, triesLeft: 0, successful: true });
    if (name === 'BOTTLEROCKET-BOOT-B') entry.attributes = encodeSetFlags(0n, { priority: 0, triesLeft: 1, successful: false });
    gpt.entries[i] = entry;
  });
  const bytes = Buffer.alloc(DISK_SECTORS * SECTOR);
  for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE(rng.int(2 ** 32), i);
  protectiveMbr(DISK_SECTORS, SECTOR).copy(bytes, 0);
  fs.writeFileSync(file, bytes);
  writeGpt(file, gpt);
  return fs.readFileSync(file);
}

// ---------------------------------------------------------------------------------------------
// Mutations

type Copy = 'primary' | 'backup';
const HEADER_LBA: Record<Copy, number> = { primary: 1, backup: LAST_LBA };

/** Recomputes the entry array CRC (where the header's fields allow reading the array) and the header CRC. */
function fixCrcs(disk: Buffer, copy: Copy, entries = true, header = true): void {
  const h = HEADER_LBA[copy] * SECTOR;
  if (entries) {
    const lba = disk.readBigUInt64LE(h + 72);
    const length = disk.readUInt32LE(h + 80) * disk.readUInt32LE(h + 84);
    const start = Number(lba) * SECTOR;
    if (lba < BigInt(DISK_SECTORS) && length <= 4 * 1024 * 1024 && start + length <= disk.length) {
      disk.writeUInt32LE(crc32(disk.subarray(start, start + length)), h + 88);
    }
  }
  if (header) {
    const size = disk.readUInt32LE(h + 12);
    const crcSize = size >= 92 && size <= SECTOR ? size : 92;
    disk.writeUInt32LE(0, h + 16);
    disk.writeUInt32LE(crc32(disk.subarray(h, h + crcSize)), h + 16);
  }
}

const HEADER_FIELDS = [
  ['signature', 0, 8],
  ['revision', 8, 4],
  ['header_size', 12, 4],
  ['header_crc32', 16, 4],
  ['reserved', 20, 4],
  ['my_lba', 24, 8],
  ['alternate_lba', 32, 8],
  ['first_usable_lba', 40, 8],
  ['last_usable_lba', 48, 8],
  ['disk_guid', 56, 16],
  ['partition_entries_lba', 72, 8],
  ['num_partition_entries', 80, 4],
  ['partition_entry_size', 84, 4],
  ['partition_entries_crc32', 88, 4],
] as const;
const ENTRY_FIELDS = [
  ['type_guid', 0, 16],
  ['unique_guid', 16, 16],
  ['first_lba', 32, 8],
  ['last_lba', 40, 8],
  ['attributes', 48, 8],
  ['name', 56, 72],
] as const;

/** Interesting LBAs on this disk: GPT structures, partition edges, the disk end and beyond. */
const LBA_EDGES = [
  0, 1, 2, 3, 33, 34, 35, 39, 40, 41, 55, 56, 100, 151, 152, 166, 167, 168, 197, 198, 199, 200, 201, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1,
].map(BigInt).concat([2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]);
const U32_EDGES = [0, 1, 2, 4, 91, 92, 93, 127, 128, 129, 136, 256, 511, 512, 513, 4096, 2 ** 31, 2 ** 32 - 1];

function edgeBytes(rng: Rng, size: number, current: Buffer, others: Buffer[]): Buffer {
  const out = Buffer.alloc(size);
  const choice = rng.int(5);
  if (choice === 0) return out; // zeros
  if (choice === 1) return out.fill(0xff);
  if (choice === 2 && others.length > 0) return Buffer.from(rng.pick(others)); // the value of the same field elsewhere
  if (size === 8 && choice === 3) {
    out.writeBigUInt64LE(rng.pick(LBA_EDGES));
    return out;
  }
  if (size === 8) {
    out.writeBigUInt64LE(BigInt.asUintN(64, current.readBigUInt64LE() + BigInt(rng.pick([-1, 1, -32, 32, 33]))));
    return out;
  }
  if (size === 4 && choice === 3) {
    out.writeUInt32LE(rng.pick(U32_EDGES));
    return out;
  }
  if (size === 4) {
    out.writeUInt32LE((current.readUInt32LE() + rng.pick([-1, 1, 2 ** 31])) >>> 0);
    return out;
  }
  for (let i = 0; i < size; i++) out[i] = rng.int(256);
  return out;
}

/** Applies one random mutation to `disk`; returns what it did, for failure messages. */
function mutate(disk: Buffer, rng: Rng): string {
  const copies: Copy[] = rng.pick([['primary'], ['backup'], ['primary', 'backup']] as Copy[][]);
  const entriesLba = (copy: Copy) => (copy === 'primary' ? 2 : 167);
  const kind = rng.int(3);
  if (kind < 2) {
    const recrc = kind === 1;
    const flips: string[] = [];
    for (const copy of copies) {
      const count = 1 + rng.int(4);
      for (let f = 0; f < count; f++) {
        // the header's 92 bytes, or the entries in use (7 x 128 bytes), or anywhere in the array
        const area = rng.int(3);
        const offset =
          area === 0 ? HEADER_LBA[copy] * SECTOR + rng.int(92) : entriesLba(copy) * SECTOR + rng.int(area === 1 ? 7 * 128 : 32 * SECTOR);
        const bit = rng.int(8);
        disk[offset] ^= 1 << bit;
        flips.push(`${copy}@${offset}.${bit}`);
      }
      if (recrc) fixCrcs(disk, copy);
    }
    return `bit flips${recrc ? ' (CRCs recomputed)' : ''}: ${flips.join(' ')}`;
  }
  const inHeader = rng.int(2) === 0;
  const [name, offset, size] = inHeader ? rng.pick(HEADER_FIELDS) : rng.pick(ENTRY_FIELDS);
  const entry = rng.int(LAYOUT.length + 1); // the last one is an unused entry
  const at = (copy: Copy) => (inHeader ? HEADER_LBA[copy] * SECTOR : entriesLba(copy) * SECTOR + entry * 128) + offset;
  const current = disk.subarray(at(copies[0]!), at(copies[0]!) + size);
  const others = inHeader ? [] : LAYOUT.map((_, i) => disk.subarray(entriesLba('primary') * SECTOR + i * 128 + offset, entriesLba('primary') * SECTOR + i * 128 + offset + size)).filter((_, i) => i !== entry);
  const value = edgeBytes(rng, size, current, others);
  for (const copy of copies) {
    value.copy(disk, at(copy));
    fixCrcs(disk, copy, name !== 'partition_entries_crc32', name !== 'header_crc32');
  }
  return `${copies.join('+')} ${inHeader ? 'header' : `entry ${entry + 1}`} ${name} = 0x${value.toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Commands

type TestLogger = ReturnType<typeof capturedLogger>['logger'];
interface Command {
  name: string;
  changesTable: boolean;
  run(disk: string, logger: TestLogger): Promise<unknown>;
}
const open = (disk: string, logger: TestLogger) => Signpost.open({ disk, activeSet: { set: 'A' }, logger });
const COMMANDS: Command[] = [
  { name: 'status', changesTable: false, run: async (d, l) => (await open(d, l)).status() },
  { name: 'has-boot-ever-succeeded', changesTable: false, run: async (d, l) => (await open(d, l)).hasBootEverSucceeded() },
  { name: 'clear-inactive', changesTable: true, run: async (d, l) => (await open(d, l)).clearInactive() },
  { name: 'mark-inactive-valid', changesTable: true, run: async (d, l) => (await open(d, l)).markInactiveValid() },
  { name: 'upgrade-to-inactive', changesTable: true, run: async (d, l) => (await open(d, l)).upgradeToInactive() },
  { name: 'cancel-upgrade', changesTable: true, run: async (d, l) => (await open(d, l)).cancelUpgrade() },
  { name: 'rollback-to-inactive', changesTable: true, run: async (d, l) => (await open(d, l)).rollbackToInactive() },
  { name: 'mark-successful-boot', changesTable: true, run: async (d, l) => (await open(d, l)).markSuccessfulBoot() },
  { name: 'simulate-boot', changesTable: true, run: (d) => simulateBoot(d) },
];

/**
 * Bytes outside the two GPT copies (MBR, partitions, free space): no command may change them. The
 * backup copy may be rebuilt anywhere after the usable range the table declares (as sgdisk
 * rebuilds it right after lastUsableLba), so its area starts at `backupStart`.
 */
function outsideGpt(disk: Buffer, backupStart: number): Buffer {
  return Buffer.concat([disk.subarray(0, PRIMARY_AREA[0] * SECTOR), disk.subarray(PRIMARY_AREA[1] * SECTOR, backupStart * SECTOR)]);
}

// ---------------------------------------------------------------------------------------------

let work: string;
beforeAll(() => {
  // tmpfs when there is one: thousands of fsyncs
  work = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'updog-gpt-fuzz-'));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('signpost against fuzzed GPTs', () => {
  it(`never crashes, never writes outside the GPT, and accepts only tables sgdisk accepts (seed ${SEED})`, async () => {
    const img = path.join(work, 'disk.img');
    const pristine = pristineDisk(img, prng(SEED));
    const sgdiskClean = new Map<string, string>();
    /** `sgdisk -v` on `disk`, cached by the bytes sgdisk reads (MBR and both GPT copies). */
    const sgdiskProblems = (disk: Buffer): string | undefined => {
      const key = createHash('sha256').update(disk.subarray(0, PRIMARY_AREA[1] * SECTOR)).update(disk.subarray(BACKUP_AREA[0] * SECTOR)).digest('hex');
      let out = sgdiskClean.get(key);
      if (out === undefined) {
        fs.writeFileSync(img, disk);
        try {
          out = sgdisk('-v', img);
        } catch (err) {
          out = `sgdisk failed: ${(err as { stdout?: string }).stdout ?? (err as Error).message}`;
        }
        sgdiskClean.set(key, out);
      }
      return out.includes('No problems found.') ? undefined : out;
    };
    const counts = { refused: 0, repaired: 0, accepted: 0, acceptedDamaged: 0, runs: 0 };
    const first = ONLY ?? 0;
    const last = ONLY ?? TABLES - 1;
    for (let n = first; n <= last; n++) {
      const rng = prng((SEED + Math.imul(n + 1, 0x9e3779b9)) >>> 0);
      const table = Buffer.from(pristine);
      const mutation = mutate(table, rng);
      const where = `seed ${SEED}, table ${n} (${mutation})`;
      fs.writeFileSync(img, table);
      let backupStart: number = BACKUP_AREA[0];
      const damaged = (() => {
        try {
          const read = readGpt(img);
          backupStart = Math.min(backupStart, Number(read.gpt.header.lastUsableLba) + 1);
          return read.primaryProblem !== undefined || read.backupProblem !== undefined;
        } catch {
          return undefined; // refused
        }
      })();
      const accepted = new Map<string, boolean>();
      for (const command of COMMANDS) {
        const what = `${command.name} on ${where}`;
        fs.writeFileSync(img, table);
        const logs = capturedLogger();
        let error: unknown;
        try {
          await command.run(img, logs.logger);
        } catch (err) {
          error = err;
        }
        const after = fs.readFileSync(img);
        counts.runs++;
        if (error !== undefined) {
          if (!(error instanceof UserError)) throw new Error(`uncaught ${(error as Error).stack} in ${what}`);
          expect(error.message, what).not.toContain('\n');
          expect(after.equals(table), `refusal changed the disk: ${what}`).toBe(true);
          counts.refused++;
          accepted.set(command.name, false);
          continue;
        }
        accepted.set(command.name, true);
        expect(damaged, `accepted a table readGpt refuses: ${what}`).not.toBeUndefined();
        if (!command.changesTable) expect(after.equals(table), `read-only command changed the disk: ${what}`).toBe(true);
        expect(outsideGpt(after, backupStart).equals(outsideGpt(table, backupStart)), `wrote outside the GPT copies: ${what}`).toBe(true);
        const changed = !after.equals(table);
        const messages = logs.records.map((r) => r.msg);
        if (damaged && command.name !== 'simulate-boot') {
          expect(messages, what).toContain(command.changesTable ? 'repairing damaged GPT copy' : 'damaged GPT copy; not repaired by a read-only command (the next flag change rewrites both copies)');
        }
        if (damaged && !changed) {
          counts.acceptedDamaged++; // checked below, against what the changing commands made of it
          counts.accepted++;
          continue;
        }
        expect(sgdiskProblems(after), `sgdisk -v after ${what}`).toBeUndefined();
        if (changed) {
          const reread = readGpt(img);
          expect([reread.primaryProblem, reread.backupProblem], what).toEqual([undefined, undefined]);
        }
        if (damaged && changed) counts.repaired++;
        else counts.accepted++;
      }
      // Commands agree on which tables are usable: those with no precondition on the flags
      // accept exactly the tables the read-only ones accept.
      const expected = accepted.get('status');
      for (const name of ['has-boot-ever-succeeded', 'clear-inactive', 'mark-inactive-valid', 'cancel-upgrade', 'mark-successful-boot']) {
        expect(accepted.get(name), `${name} and status disagree on ${where}`).toBe(expected);
      }
    }
    console.log(
      `GPT property test (seed ${SEED}): ${last - first + 1} tables, ${counts.runs} command runs: refused ${counts.refused}, repaired ${counts.repaired}, accepted ${counts.accepted} (${counts.acceptedDamaged} of them read-only on a table with one damaged copy); ${sgdiskClean.size} sgdisk -v runs`,
    );
    expect(counts.refused).toBeGreaterThan(0);
    expect(counts.repaired).toBeGreaterThan(0);
    expect(counts.accepted).toBeGreaterThan(0);
  }, 600_000); // ~1 min on a busy 2-core machine; the bound is for a much busier one
});
