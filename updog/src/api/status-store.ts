/**
 * Persistence of the update API's status document: one JSON file, replaced atomically (write a
 * temp file in the same directory, fsync it, rename over the old one, fsync the directory) so a
 * crash or power loss leaves either the old or the new status, never a torn one.
 */
import { promises as fs } from 'node:fs';
import { writeFileAtomic } from '../common/durable-file.js';
import { UserError } from '../common/errors.js';
import { UPDATE_STATES, type UpdateStatus } from './protocol.js';
import { emptyStatus } from './state-rules.js';

/** Reads the status file; a missing file is a fresh host (Idle, nothing known). */
export async function loadStatus(file: string): Promise<UpdateStatus> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyStatus();
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UserError(`status file ${file} is not valid JSON (${(err as Error).message}); delete it to start from Idle`);
  }
  if (!isUpdateStatus(parsed)) {
    throw new UserError(`status file ${file} does not hold an update status document; delete it to start from Idle`);
  }
  // Files written before rebootRequestedInBoot existed record no reboot request.
  return { ...parsed, rebootRequestedInBoot: parsed.rebootRequestedInBoot ?? null };
}

function isUpdateStatus(v: unknown): v is Omit<UpdateStatus, 'rebootRequestedInBoot'> & { rebootRequestedInBoot?: string | null } {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    UPDATE_STATES.includes(s.updateState as UpdateStatus['updateState']) &&
    Array.isArray(s.availableUpdates) &&
    s.availableUpdates.every((x) => typeof x === 'string') &&
    'chosenUpdate' in s &&
    'activePartition' in s &&
    'stagingPartition' in s &&
    'mostRecentCommand' in s &&
    (s.rebootRequestedInBoot === undefined || s.rebootRequestedInBoot === null || typeof s.rebootRequestedInBoot === 'string')
  );
}

export async function saveStatus(file: string, status: UpdateStatus): Promise<void> {
  writeFileAtomic(file, `${JSON.stringify(status, null, 2)}\n`);
}
