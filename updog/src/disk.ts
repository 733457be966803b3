/**
 * Bottlerocket disks: the GPT layout, its A/B partition sets and signpost. Public surface of
 * @updog-ts/updog.
 */
export { createBottlerocketDiskImage } from './gpt/bottlerocket-layout.js';
export { readGpt } from './gpt/io.js';
export { findPartitionSets, type SetName } from './partitions/partition-sets.js';
export { Signpost } from './signpost/signpost.js';
