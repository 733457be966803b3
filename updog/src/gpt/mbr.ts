/** The protective MBR a GPT disk carries in LBA 0: one partition of type 0xEE covering the disk. */
export function protectiveMbr(diskSectors: number, sectorSize: number): Buffer {
  const mbr = Buffer.alloc(sectorSize);
  const entry = 446;
  mbr.writeUInt8(0x00, entry); // not bootable
  mbr.writeUIntLE(0x000200, entry + 1, 3); // CHS of LBA 1
  mbr.writeUInt8(0xee, entry + 4); // GPT protective
  mbr.writeUIntLE(0xffffff, entry + 5, 3); // CHS end: unrepresentable
  mbr.writeUInt32LE(1, entry + 8);
  mbr.writeUInt32LE(Math.min(diskSectors - 1, 0xffff_ffff), entry + 12);
  mbr.writeUInt16LE(0xaa55, 510);
  return mbr;
}
