import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeGuid, encodeGuid } from '../../src/gpt/guid.js';
import { combineCopies, decodeEntries, decodeHeader, encodeGpt, GptFormatError, newGpt, type Gpt } from '../../src/gpt/format.js';
import { protectiveMbr } from '../../src/gpt/mbr.js';
import { decodeDevT } from '../../src/gpt/block-device.js';

const BOOT = '6b636168-7420-6568-2070-6c616e657421';

function sampleGpt(): Gpt {
  const gpt = newGpt(8192, 512, '11223344-5566-7788-99aa-bbccddeeff00');
  gpt.entries[0] = {
    typeGuid: BOOT,
    uniqueGuid: '01020304-0506-0708-090a-0b0c0d0e0f10',
    firstLba: 2048,
    lastLba: 4095,
    attributes: (1n << 63n) | (3n << 48n) | 1n,
    name: 'BOTTLEROCKET-BOOT-A',
    raw: Buffer.alloc(128),
  };
  return gpt;
}

function decodeBoth(gpt: Gpt) {
  const enc = encodeGpt(gpt);
  const primary = decodeHeader(enc.primaryHeader, 1, gpt.diskSectors);
  const backup = decodeHeader(enc.backupHeader, gpt.header.alternateLba, gpt.diskSectors);
  return { enc, primary, backup, entries: decodeEntries(enc.entries, primary) };
}

describe('GUIDs', () => {
  it('are stored mixed-endian (first three fields little-endian)', () => {
    expect(encodeGuid(BOOT).toString('hex')).toBe('6861636b2074686520706c616e657421');
    expect(decodeGuid(Buffer.from('6861636b2074686520706c616e657421', 'hex'))).toBe(BOOT);
    expect(decodeGuid(encodeGuid('5526016A-1A97-4EA4-B39A-B7C8C6CA4502'))).toBe('5526016a-1a97-4ea4-b39a-b7c8c6ca4502');
  });
  it('rejects malformed text', () => {
    expect(() => encodeGuid('not-a-guid')).toThrow('not a GUID: not-a-guid');
  });
});

describe('GPT codec', () => {
  it('round-trips headers and entries with valid CRCs in both copies', () => {
    const gpt = sampleGpt();
    const { enc, primary, backup, entries } = decodeBoth(gpt);
    expect(enc.primaryHeader.toString('latin1', 0, 8)).toBe('EFI PART');
    expect(enc.primaryHeader.readUInt32LE(88)).toBe(crc32(enc.entries));
    expect(primary).toMatchObject({ myLba: 1, alternateLba: 8191, entriesLba: 2, firstUsableLba: 34, lastUsableLba: 8158, entryCount: 128, entrySize: 128 });
    expect(backup).toMatchObject({ myLba: 8191, alternateLba: 1, entriesLba: 8159, firstUsableLba: 34, lastUsableLba: 8158 });
    expect(primary.diskGuid).toBe('11223344-5566-7788-99aa-bbccddeeff00');
    expect(entries[0]).toMatchObject({ typeGuid: BOOT, firstLba: 2048, lastLba: 4095, attributes: (1n << 63n) | (3n << 48n) | 1n, name: 'BOTTLEROCKET-BOOT-A' });
    expect(entries[1]!.typeGuid).toBe('00000000-0000-0000-0000-000000000000');
  });

  it('preserves bytes it does not own: header tail, reserved bytes, name padding', () => {
    const gpt = sampleGpt();
    const { enc } = decodeBoth(gpt);
    // Vendor bytes after the 92-byte header and garbage after the name terminator.
    enc.primaryHeader.write('vendor', 200, 'latin1');
    enc.primaryHeader.writeUInt32LE(0, 16);
    enc.primaryHeader.writeUInt32LE(crc32(enc.primaryHeader.subarray(0, 92)), 16);
    enc.entries.write('zz', 56 + 2 * 30, 'latin1');
    enc.primaryHeader.writeUInt32LE(crc32(enc.entries), 88);
    enc.primaryHeader.writeUInt32LE(0, 16);
    enc.primaryHeader.writeUInt32LE(crc32(enc.primaryHeader.subarray(0, 92)), 16);
    const header = decodeHeader(enc.primaryHeader, 1, gpt.diskSectors);
    const entries = decodeEntries(enc.entries, header);
    entries[0]!.attributes |= 1n << 56n;
    const again = encodeGpt({ ...gpt, header, entries });
    expect(again.primaryHeader.toString('latin1', 200, 206)).toBe('vendor');
    expect(again.entries.toString('latin1', 116, 118)).toBe('zz');
    expect(again.entries.readBigUInt64LE(48)).toBe((1n << 63n) | (1n << 56n) | (3n << 48n) | 1n);
    expect(again.entries.subarray(128)).toEqual(enc.entries.subarray(128));
  });

  it('reports header CRC, signature, location and entry CRC problems', () => {
    const gpt = sampleGpt();
    const { enc } = decodeBoth(gpt);
    const badCrc = Buffer.from(enc.primaryHeader);
    badCrc.writeUInt32LE(0x12345678, 16);
    expect(() => decodeHeader(badCrc, 1, 8192)).toThrow(/^header CRC mismatch at LBA 1 \(stored 0x12345678, computed 0x[0-9a-f]{8}\)$/);
    expect(() => decodeHeader(Buffer.alloc(512), 1, 8192)).toThrow(new GptFormatError('no GPT signature at LBA 1'));
    expect(() => decodeHeader(enc.primaryHeader, 8191, 8192)).toThrow('header at LBA 8191 claims to be at LBA 1');
    expect(() => decodeHeader(enc.primaryHeader, 1, 4096)).toThrow('has invalid usable range 34-8158 on a disk of 4096 sectors');
    const header = decodeHeader(enc.primaryHeader, 1, 8192);
    const entries = Buffer.from(enc.entries);
    entries[40] = 0x99;
    expect(() => decodeEntries(entries, header)).toThrow(/^entry array CRC mismatch at LBA 2/);
  });

  it('rejects partitions outside the usable range or overlapping', () => {
    const gpt = sampleGpt();
    gpt.entries[1] = { ...gpt.entries[0]!, firstLba: 4000, lastLba: 5000, raw: Buffer.alloc(128) };
    const enc = encodeGpt(gpt);
    const header = decodeHeader(enc.primaryHeader, 1, gpt.diskSectors);
    expect(() => decodeEntries(enc.entries, header)).toThrow('partitions 1 and 2 overlap');
    gpt.entries[1] = { ...gpt.entries[0]!, firstLba: 8000, lastLba: 8190, raw: Buffer.alloc(128) };
    const enc2 = encodeGpt(gpt);
    expect(() => decodeEntries(enc2.entries, decodeHeader(enc2.primaryHeader, 1, gpt.diskSectors))).toThrow(
      'partition 2 spans LBA 8000-8190, outside the usable range 34-8158',
    );
  });

  it('rebuilds the primary form from a backup copy alone', () => {
    const gpt = sampleGpt();
    const { backup, entries } = decodeBoth(gpt);
    const combined = combineCopies({ backup: { header: backup, entries } }, 512, gpt.diskSectors);
    expect(combined.header).toMatchObject({ myLba: 1, alternateLba: 8191, entriesLba: 2 });
    expect(combined.backupEntriesLba).toBe(8159);
    expect(encodeGpt(combined).primaryHeader).toEqual(encodeGpt(gpt).primaryHeader);
  });

  it('rebuilds a missing backup where sgdisk does (array right after the last usable LBA) and refuses copies that disagree', () => {
    const gpt = sampleGpt();
    gpt.header.lastUsableLba = 8000; // a gap before the backup array
    const { primary, backup, entries } = decodeBoth({ ...gpt, backupEntriesLba: 8100 });
    expect(combineCopies({ primary: { header: primary, entries } }, 512, 8192).backupEntriesLba).toBe(8001);
    expect(combineCopies({ primary: { header: primary, entries }, backup: { header: backup, entries } }, 512, 8192).backupEntriesLba).toBe(8100);
    const otherGuid = { ...backup, diskGuid: '11223344-5566-7788-99aa-bbccddeeff01' };
    expect(() => combineCopies({ primary: { header: primary, entries }, backup: { header: otherGuid, entries } }, 512, 8192)).toThrow(
      new GptFormatError('the primary and backup headers disagree on diskGuid (11223344-5566-7788-99aa-bbccddeeff00 and 11223344-5566-7788-99aa-bbccddeeff01), so neither can be trusted'),
    );
  });

  it('trusts a header only if the LBAs it names fit the disk and the standard layout', () => {
    const { enc } = decodeBoth(sampleGpt());
    const withField = (header: Buffer, offset: number, value: bigint | number, width: 4 | 8 = 8): Buffer => {
      const h = Buffer.from(header);
      if (width === 8) h.writeBigUInt64LE(BigInt(value), offset);
      else h.writeUInt32LE(Number(value), offset);
      h.writeUInt32LE(0, 16);
      h.writeUInt32LE(crc32(h.subarray(0, 92)), 16);
      return h;
    };
    expect(() => decodeHeader(withField(enc.primaryHeader, 32, 40), 1, 8192)).toThrow("header at LBA 1 names LBA 40 as the backup header's, not LBA 8191 (the last LBA of the disk)");
    expect(() => decodeHeader(withField(enc.backupHeader, 32, 2), 8191, 8192)).toThrow("header at LBA 8191 names LBA 2 as the primary header's, not LBA 1");
    expect(() => decodeHeader(withField(enc.primaryHeader, 72, 8159), 1, 8192)).toThrow('header at LBA 1 has an entry array at LBA 8159 outside LBA 2-33');
    expect(() => decodeHeader(withField(enc.backupHeader, 72, 2), 8191, 8192)).toThrow('header at LBA 8191 has an entry array at LBA 2 outside LBA 8159-8190');
    expect(() => decodeHeader(withField(enc.primaryHeader, 40, 20), 1, 8192)).toThrow('has a usable range 20-8158 that leaves no room for 32-sector entry arrays');
    expect(() => decodeHeader(withField(enc.primaryHeader, 8, 0x10200, 4), 1, 8192)).toThrow('header at LBA 1 has unsupported revision 0x00010200');
    expect(() => decodeHeader(enc.primaryHeader.subarray(0, 50), 1, 8192)).toThrow('no GPT signature at LBA 1');
  });

  it('handles LBAs above 4 GiB as exact numbers', () => {
    const diskSectors = 2 ** 33; // 4 TiB of 512-byte sectors
    const gpt = newGpt(diskSectors, 512, '11223344-5566-7788-99aa-bbccddeeff00');
    gpt.entries[0] = { ...sampleGpt().entries[0]!, firstLba: 2 ** 32 + 7, lastLba: 2 ** 33 - 100 };
    const { backup, entries } = decodeBoth(gpt);
    expect(backup.myLba).toBe(2 ** 33 - 1);
    expect(entries[0]).toMatchObject({ firstLba: 2 ** 32 + 7, lastLba: 2 ** 33 - 100 });
  });
});

describe('protective MBR', () => {
  it('has one 0xEE partition from LBA 1 and the boot signature', () => {
    const mbr = protectiveMbr(26624, 512);
    expect(mbr[446 + 4]).toBe(0xee);
    expect(mbr.readUInt32LE(446 + 8)).toBe(1);
    expect(mbr.readUInt32LE(446 + 12)).toBe(26623);
    expect(mbr.readUInt16LE(510)).toBe(0xaa55);
    expect(protectiveMbr(2 ** 34, 512).readUInt32LE(446 + 12)).toBe(0xffffffff);
  });
});

describe('dev_t decoding', () => {
  it('splits glibc-encoded device numbers, including large majors and minors', () => {
    expect(decodeDevT(0x803n)).toEqual({ major: 8, minor: 3 }); // sda3
    expect(decodeDevT(0xfe00n)).toEqual({ major: 254, minor: 0 }); // dm-0
    expect(decodeDevT(0x10300n)).toEqual({ major: 259, minor: 0 }); // nvme0n1: 259:0
    // makedev(4096, 256): major bits 12+ live at bit 44, minor bits 8+ at bit 20
    expect(decodeDevT((0x1n << 44n) | (0x1n << 20n))).toEqual({ major: 4096, minor: 256 });
  });
});
