/**
 * Install progress: bytes, rate and ETA. On a terminal, one line on stderr rewritten in place;
 * otherwise (journald, CI, the update API) a structured log line every few seconds.
 */
import type { Logger } from '../common/log.js';

export interface ProgressSnapshot {
  /** Which image, e.g. `root`. */
  image: string;
  /** Compressed bytes downloaded so far and in total (the signed length). */
  downloaded: number;
  total: number;
  /** Block installs only: decoded bytes taken from the host (resumed or copied) instead of fetched. */
  reused?: number;
  /** Block installs only: decoded bytes in place so far, and the image's decoded length. */
  written?: number;
  decodedTotal?: number;
  /** Milliseconds since this image's download started. */
  elapsedMs: number;
}

export type ProgressListener = (snapshot: ProgressSnapshot) => void;

export interface ProgressFigures {
  percent: number;
  /** Bytes per second, 0 before any time has passed. */
  rate: number;
  /** Seconds left at the current rate, undefined while the rate is unknown. */
  etaSeconds: number | undefined;
}

/** What is done of what: decoded bytes in place for a block install, else compressed bytes downloaded. */
function doneOfWhole(s: ProgressSnapshot): [done: number, whole: number] {
  return s.written !== undefined && s.decodedTotal !== undefined ? [s.written, s.decodedTotal] : [s.downloaded, s.total];
}

export function progressFigures(s: ProgressSnapshot): ProgressFigures {
  const [done, whole] = doneOfWhole(s);
  const fraction = whole > 0 ? Math.min(1, done / whole) : 1;
  return {
    percent: 100 * fraction,
    rate: s.elapsedMs > 0 ? (s.downloaded * 1000) / s.elapsedMs : 0,
    // the time so far scaled to what is left (for a stream install: the bytes left at the current rate)
    etaSeconds: fraction > 0 && s.elapsedMs > 0 ? ((s.elapsedMs / 1000) * (1 - fraction)) / fraction : undefined,
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/**
 * `root  45.0% 450.0 MiB/1000.0 MiB  120.3 MiB/s  ETA 5s`; a block install shows decoded bytes in
 * place and where they came from: `root  45.0% 450.0 MiB/1000.0 MiB (fetched 12.0 MiB, reused 430.0 MiB)  1.2 MiB/s  ETA 5s`
 * (the rate is always the download's).
 */
export function formatProgressLine(s: ProgressSnapshot): string {
  const f = progressFigures(s);
  const [done, whole] = doneOfWhole(s);
  const eta = f.etaSeconds === undefined ? '--' : `${Math.ceil(f.etaSeconds)}s`;
  const sources = s.reused === undefined ? '' : ` (fetched ${formatBytes(s.downloaded)}, reused ${formatBytes(s.reused)})`;
  return `${s.image.padEnd(4)} ${f.percent.toFixed(1).padStart(5)}% ${formatBytes(done)}/${formatBytes(whole)}${sources}  ${formatBytes(f.rate)}/s  ETA ${eta}`;
}

export interface ProgressReporterOptions {
  /** Where the terminal line goes. */
  stream: NodeJS.WriteStream;
  logger: Logger;
  /** Minimum time between log lines when not on a terminal. */
  logIntervalMs?: number;
}

/** A `ProgressListener` writing to a terminal or to the log; `end()` finishes the terminal line. */
export function progressReporter(options: ProgressReporterOptions): { listener: ProgressListener; end: () => void } {
  const interval = options.logIntervalMs ?? 5000;
  const tty = options.stream.isTTY === true;
  let lastImage: string | undefined;
  let lastLogAt = -Infinity;
  let lineOpen = false;
  const listener: ProgressListener = (s) => {
    const imageChanged = s.image !== lastImage;
    const finished = progressFigures(s).percent >= 100;
    if (tty) {
      if (imageChanged && lineOpen) options.stream.write('\n');
      options.stream.write(`\r${formatProgressLine(s)}\x1b[K`);
      lineOpen = true;
    } else if (imageChanged || finished || s.elapsedMs - lastLogAt >= interval) {
      const f = progressFigures(s);
      options.logger.info(
        {
          image: s.image,
          downloaded: s.downloaded,
          total: s.total,
          ...(s.reused === undefined ? {} : { reused: s.reused }),
          ...(s.written === undefined ? {} : { written: s.written }),
          ...(s.decodedTotal === undefined ? {} : { decodedTotal: s.decodedTotal }),
          bytesPerSecond: Math.round(f.rate),
          etaSeconds: f.etaSeconds === undefined ? null : Math.ceil(f.etaSeconds),
        },
        'install progress',
      );
      lastLogAt = s.elapsedMs;
    }
    if (imageChanged) lastImage = s.image;
  };
  return {
    listener,
    end: () => {
      if (lineOpen) options.stream.write('\n');
      lineOpen = false;
    },
  };
}
