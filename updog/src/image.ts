/**
 * OS image formats: the LZ4 frames updog installs, and the stand-in images that the boot model
 * recognises (tests, the demo and tuf-repo-tools' fake releases). Public surface of @updog-ts/updog.
 */
export { decodeLz4Blocks, decodeLz4Frames, LZ4_FRAME_MAGIC, LZ4_UNCOMPRESSED_BIT, type Lz4Block, type Lz4FrameInfo } from './install/lz4-frame.js';
export * from './boot/fake-image.js';
export * from './block-index/format.js';
export { PieceHasher } from './block-index/piece-hash.js';
