import { pino, type Logger } from 'pino';

export type { Logger };
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Structured logs go to stderr (fd 2) synchronously, so that stdout carries only results and a
 * crash never loses the last log line.
 */
export function createLogger(name: string, level: LogLevel = 'info'): Logger {
  return pino({ name, level, base: { name } }, pino.destination({ fd: 2, sync: true }));
}
