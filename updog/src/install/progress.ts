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

export function progressFigures(s: ProgressSnapshot): ProgressFigures {
  const rate = s.elapsedMs > 0 ? (s.downloaded * 1000) / s.elapsedMs : 0;
  return {
    percent: s.total > 0 ? Math.min(100, (100 * s.downloaded) / s.total) : 100,
    rate,
    etaSeconds: rate > 0 ? Math.max(0, s.total - s.downloaded) / rate : undefined,
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

/** `root  45.0% 450.0 MiB/1000.0 MiB  120.3 MiB/s  ETA 5s` */
export function formatProgressLine(s: ProgressSnapshot): string {
  const f = progressFigures(s);
  const eta = f.etaSeconds === undefined ? '--' : `${Math.ceil(f.etaSeconds)}s`;
  return `${s.image.padEnd(4)} ${f.percent.toFixed(1).padStart(5)}% ${formatBytes(s.downloaded)}/${formatBytes(s.total)}  ${formatBytes(f.rate)}/s  ETA ${eta}`;
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
    const finished = s.downloaded >= s.total;
    if (tty) {
      if (imageChanged && lineOpen) options.stream.write('\n');
      options.stream.write(`\r${formatProgressLine(s)}\x1b[K`);
      lineOpen = true;
    } else if (imageChanged || finished || s.elapsedMs - lastLogAt >= interval) {
      const f = progressFigures(s);
      options.logger.info(
        { image: s.image, downloaded: s.downloaded, total: s.total, bytesPerSecond: Math.round(f.rate), etaSeconds: f.etaSeconds === undefined ? null : Math.ceil(f.etaSeconds) },
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
