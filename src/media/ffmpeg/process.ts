/**
 * Running ffmpeg / ffprobe: arguments for an input and its outputs, spawning with output pipes
 * (stdout, then fd 3, 4, ...), feeding stdin with a byte limit, abort, and a classified
 * `MediaError` when it fails. The only place that spawns them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { classify, LineTail, MediaError, STDERR_LINES } from './errors.js';

export type MediaInput = string;

export interface SourceOptions {
  /** Data for input `-` (default: process.stdin). */
  stdin?: Buffer | Readable;
  /** Decode at most this much media time (seconds); the rest is not read. */
  maxDurationS?: number;
  /** Refuse a file or stdin stream larger than this many bytes. */
  maxInputBytes?: number;
  /** Read the input at its native rate (ffmpeg -re), for replaying files as live sources. */
  realtime?: boolean;
  /** Aborting kills ffmpeg and the iterator throws a MediaError of kind `aborted`. */
  signal?: AbortSignal;
  /** Binary to run (default `ffmpeg`; `ffprobe` is looked up beside it). */
  ffmpegPath?: string;
}

/** ffmpeg's input arguments for a MediaInput. */
export function inputArgs(input: MediaInput, options: SourceOptions = {}): string[] {
  const pre = options.realtime ? ['-re'] : [];
  if (input.startsWith('lavfi:')) return [...pre, '-f', 'lavfi', '-i', input.slice('lavfi:'.length)];
  if (input === '-') return [...pre, '-i', 'pipe:0'];
  return [...pre, '-i', input];
}

function isLocalFile(input: MediaInput): boolean {
  return input !== '-' && !input.startsWith('lavfi:') && !/^[a-z][a-z0-9+.-]*:\/\//i.test(input);
}

async function checkLocalFile(input: MediaInput, options: SourceOptions): Promise<void> {
  if (!isLocalFile(input)) return;
  const path = input.startsWith('file:') ? input.slice('file:'.length) : input;
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new MediaError(`media input ${input}: not a regular file`, 'not-found', input);
    size = s.size;
  } catch (e) {
    if (e instanceof MediaError) throw e;
    throw new MediaError(
      `media input ${input}: no such file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path`,
      'not-found',
      input,
    );
  }
  if (options.maxInputBytes !== undefined && size > options.maxInputBytes) {
    throw new MediaError(`media input ${input}: ${size} bytes exceeds the limit of ${options.maxInputBytes} bytes (maxInputBytes)`, 'limit', input);
  }
  if (size === 0) throw new MediaError(`media input ${input}: file is empty`, 'corrupt', input);
}

export function runFfmpeg(input: MediaInput, outputs: string[][], options: SourceOptions, what: string): AsyncGenerator<Buffer> {
  return runProcess(options.ffmpegPath ?? 'ffmpeg', ffmpegArgs(input, outputs, options), input, options, what);
}

/** ffmpeg's arguments: the input, then each output (cut at maxDurationS) to stdout, fd 3, fd 4, ... */
export function ffmpegArgs(input: MediaInput, outputs: string[][], options: SourceOptions): string[] {
  // -nostdin would stop ffmpeg reading pipe:0, so leave it out when stdin is the input.
  const args = [...(input === '-' ? [] : ['-nostdin']), '-hide_banner', '-loglevel', 'error', ...inputArgs(input, options)];
  outputs.forEach((out, i) => {
    if (options.maxDurationS !== undefined) args.push('-t', String(options.maxDurationS));
    args.push(...out, `pipe:${i === 0 ? 1 : i + 2}`);
  });
  return args;
}

/** Spawns ffmpeg/ffprobe, yields its stdout, and throws a classified MediaError on failure. */
export async function* runProcess(cmd: string, args: string[], input: MediaInput, options: SourceOptions, what: string): AsyncGenerator<Buffer> {
  const child = await startProcess(cmd, args, input, options, what);
  try {
    for await (const data of child.outputs[0]! as AsyncIterable<Buffer>) yield data;
    await child.finish();
  } finally {
    child.stop();
  }
}

/** A started ffmpeg / ffprobe. */
export interface Running {
  /** Its output pipes: stdout, then fd 3, 4, ... */
  outputs: Readable[];
  /** Waits for the exit; throws a classified MediaError unless the child succeeded. */
  finish: () => Promise<void>;
  /** Kills the child if it still runs and stops listening for abort; safe to call again. */
  stop: () => void;
}

/**
 * Checks a local input, spawns `cmd` with `outputs` output pipes and feeds it stdin for input `-`
 * (`stdin`, else options.stdin or process.stdin). Abort kills it.
 */
export async function startProcess(
  cmd: string,
  args: string[],
  input: MediaInput,
  options: SourceOptions,
  what: string,
  outputs = 1,
  stdin?: Readable,
): Promise<Running> {
  await checkLocalFile(input, options);
  const extra = Array.from({ length: outputs - 1 }, () => 'pipe' as const);
  const child: ChildProcess = spawn(cmd, args, { stdio: [input === '-' ? 'pipe' : 'ignore', 'pipe', 'pipe', ...extra] });
  const tail = new LineTail(STDERR_LINES * 4);
  child.stderr!.on('data', (d: Buffer) => tail.push(d));
  let spawnError: NodeJS.ErrnoException | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (e) => {
      spawnError = e;
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  let limitHit = false;
  const onAbort = () => child.kill('SIGKILL');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  if (input === '-') {
    const src = stdin ?? (Buffer.isBuffer(options.stdin) ? Readable.from([options.stdin]) : (options.stdin ?? process.stdin));
    pipeStdin(child, src, options.maxInputBytes, () => {
      limitHit = true;
      child.kill('SIGKILL');
    });
  }
  return {
    outputs: [child.stdout!, ...(child.stdio.slice(3, 2 + outputs) as Readable[])],
    finish: async () => {
      const { code, signal } = await exited;
      if (spawnError) {
        throw new MediaError(
          spawnError.code === 'ENOENT'
            ? `${cmd} not found on PATH; install ffmpeg (Debian: apt-get install ffmpeg)`
            : `could not start ${cmd}: ${spawnError.message}`,
          'ffmpeg-missing',
          input,
        );
      }
      if (options.signal?.aborted) throw new MediaError(`decoding ${what} of ${input} was aborted`, 'aborted', input);
      if (limitHit) throw new MediaError(`media input ${input}: stdin exceeds the limit of ${options.maxInputBytes} bytes (maxInputBytes)`, 'limit', input);
      if (code !== 0) throw classify(input, what, code, signal, tail.lines());
    },
    stop: () => {
      options.signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

function pipeStdin(child: ChildProcess, src: Readable, maxInputBytes: number | undefined, onLimit: () => void): void {
  const sink = child.stdin!;
  sink.on('error', () => {}); // EPIPE when ffmpeg stops reading early; its exit status tells the story
  let bytes = 0;
  src.on('data', (d: Buffer) => {
    bytes += d.length;
    if (maxInputBytes !== undefined && bytes > maxInputBytes) {
      src.unpipe(sink);
      onLimit();
    }
  });
  src.pipe(sink);
}
