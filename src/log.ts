import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** One JSON logger for the process; modules take a child of it, never make their own. */
export type { Logger };

/** JSON lines on stderr: for services run by a process manager, and for scripts. */
export function createLogger(level: string = 'info', name = 'msa'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}

/**
 * For a person at a terminal (`msa start`): the JSON log goes to `file` at `level`, and only
 * warnings and errors reach stderr, each as one short line (`12:04:05 WARN  [features] ...`), so
 * they do not drown the scores printed on stdout.
 */
export function createTerminalLogger(level: string, name: string, file: string): Logger {
  mkdirSync(dirname(file), { recursive: true });
  const streams = [
    { level: level as pino.Level, stream: pino.destination({ dest: file, sync: false }) },
    { level: 'warn' as pino.Level, stream: humanLines(process.stderr) },
  ];
  return pino({ name, level, base: { pid: process.pid } }, pino.multistream(streams));
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Turns pino's JSON lines into `time LEVEL [component] message (error)` lines. */
function humanLines(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        try {
          const e = JSON.parse(line) as { time?: number; level?: number; msg?: string; component?: string; err?: { message?: string } };
          const time = new Date(e.time ?? Date.now()).toTimeString().slice(0, 8);
          const where = e.component ? `[${e.component}] ` : '';
          const why = e.err?.message ? ` (${e.err.message.split('\n')[0]})` : '';
          out.write(`${time} ${(LEVEL_NAMES[e.level ?? 30] ?? 'LOG').padEnd(5)} ${where}${e.msg ?? ''}${why}\n`);
        } catch {
          out.write(`${line}\n`);
        }
      }
      done();
    },
  });
}

/** A logger that drops everything: for tests and for library use without logging. */
export const silentLogger: Logger = pino({ level: 'silent' });
