import { pino, type Logger } from 'pino';

/** One JSON logger for the process; modules take a child of it, never make their own. */
export type { Logger };

export function createLogger(level: string = 'info', name = 'msa'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}

/** A logger that drops everything: for tests and for library use without logging. */
export const silentLogger: Logger = pino({ level: 'silent' });
