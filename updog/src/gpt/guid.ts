/**
 * GUIDs as GPT stores them: 16 bytes, "mixed-endian" (the first three fields little-endian, the
 * last two big-endian), so `6b636168-7420-6568-...` is stored as `68 61 63 6b 20 74 68 65 ...`.
 */
const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

export function encodeGuid(guid: string): Buffer {
  const text = guid.toLowerCase();
  if (!GUID_PATTERN.test(text)) throw new Error(`not a GUID: ${guid}`);
  const hex = text.replaceAll('-', '');
  const bytes = Buffer.from(hex, 'hex');
  // swap the first three fields to little-endian
  bytes.subarray(0, 4).reverse();
  bytes.subarray(4, 6).reverse();
  bytes.subarray(6, 8).reverse();
  return bytes;
}

export function decodeGuid(bytes: Buffer): string {
  if (bytes.length !== 16) throw new Error(`a GUID is 16 bytes, got ${bytes.length}`);
  const b = Buffer.from(bytes);
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
