/** Run a short-lived command to completion, and cut outputs and log files to their last lines for error messages. */
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { stripVTControlCharacters } from 'node:util';

export interface ExecResult {
  code: number;
  output: string;
}

/** Resolves with the exit code and the combined stdout+stderr; rejects only if it cannot start. */
export function exec(command: string, args: readonly string[], opts: { cwd?: string } = {}): Promise<ExecResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', (e) => reject(new Error(`cannot run ${command}: ${e.message}; is it installed and on PATH?`)));
    child.on('close', (code) =>
      // Maven colours its output even with -B; colour codes only clutter an error message.
      resolvePromise({ code: code ?? -1, output: stripVTControlCharacters(Buffer.concat(chunks).toString('utf8')) }),
    );
  });
}

/** The last `lines` lines of a text. */
export function tailLines(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** The last `lines` lines of a file (reading at most its last 64 KiB); '' if it cannot be read. */
export function fileTail(path: string, lines: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    return tailLines(buf.toString('utf8'), lines);
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
