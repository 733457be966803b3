/**
 * The byte counts the update API reports for a prepare (`prepareProgress` in the status), folded
 * from the installer's progress snapshots. Pure: the server keeps the current value.
 */
import type { ProgressSnapshot } from '../install/progress.js';
import type { ImageProgress, PrepareProgress } from './protocol.js';

export function startPrepareProgress(version: string): PrepareProgress {
  return { version, state: 'running', fetched: 0, reused: 0, total: 0, images: [] };
}

/** The progress with `snapshot`'s image updated (or added, after the images before it). */
export function withSnapshot(progress: PrepareProgress, snapshot: ProgressSnapshot): PrepareProgress {
  const image: ImageProgress = { image: snapshot.image, fetched: snapshot.downloaded, reused: snapshot.reused ?? 0, total: snapshot.total };
  const images = progress.images.some((i) => i.image === image.image)
    ? progress.images.map((i) => (i.image === image.image ? image : i))
    : [...progress.images, image];
  const sum = (field: 'fetched' | 'reused' | 'total'): number => images.reduce((n, i) => n + i[field], 0);
  return { ...progress, fetched: sum('fetched'), reused: sum('reused'), total: sum('total'), images };
}

export function finishedPrepareProgress(progress: PrepareProgress, state: Exclude<PrepareProgress['state'], 'running'>): PrepareProgress {
  return { ...progress, state };
}
