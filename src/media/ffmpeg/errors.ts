/**
 * What went wrong with a media input: a `MediaError` with a kind, the input and the last lines of
 * ffmpeg's stderr, classified from what ffmpeg said.
 */

export type MediaErrorKind = 'not-found' | 'corrupt' | 'unsupported-codec' | 'network' | 'no-stream' | 'limit' | 'aborted' | 'ffmpeg-missing' | 'failed';

export class MediaError extends Error {
  constructor(
    message: string,
    readonly kind: MediaErrorKind,
    readonly input: string,
    readonly stderrTail: string[] = [],
  ) {
    super(stderrTail.length > 0 ? `${message}\nffmpeg said:\n  ${stderrTail.join('\n  ')}` : message);
    this.name = 'MediaError';
  }
}

/** Lines of stderr kept in an error. */
export const STDERR_LINES = 8;

const PATTERNS: [RegExp, MediaErrorKind, string][] = [
  [/No such file or directory/i, 'not-found', 'no such file'],
  [
    /Decoder \(codec [^)]*\) not found|Unknown decoder|codec not currently supported|Unsupported codec|no decoder found/i,
    'unsupported-codec',
    'unsupported codec (ffmpeg has no decoder for it)',
  ],
  [
    /Connection refused|Connection timed out|Network is unreachable|Failed to resolve hostname|Server returned [45]\d\d|HTTP error|Name or service not known|I\/O error/i,
    'network',
    'could not read the URL',
  ],
  [
    /moov atom not found|Invalid data found|End of file|truncat|corrupt|error reading header|could not find codec parameters|partial file/i,
    'corrupt',
    'corrupt or truncated media',
  ],
  [/does not contain any stream|Output file #0 does not contain|matches no streams|Stream map .* matches no/i, 'no-stream', 'no such stream in the input'],
];

export function classify(input: string, what: string, code: number | null, signal: NodeJS.Signals | null, lines: string[]): MediaError {
  const text = lines.join('\n');
  const last = lines.slice(-STDERR_LINES);
  for (const [re, kind, words] of PATTERNS) {
    if (re.test(text)) return new MediaError(`cannot decode ${what} of ${input}: ${words}`, kind, input, last);
  }
  const how = code !== null ? `exit code ${code}` : `signal ${signal}`;
  return new MediaError(`cannot decode ${what} of ${input}: ffmpeg failed (${how})`, 'failed', input, last);
}

/** Keeps the last N lines of a process's stderr (bounded memory). */
export class LineTail {
  private buf: string[] = [];
  private partial = '';
  constructor(private readonly max: number) {}
  push(d: Buffer): void {
    const parts = (this.partial + d.toString('utf8')).split(/\r?\n/);
    this.partial = (parts.pop() ?? '').slice(-1000);
    for (const p of parts) if (p.trim()) this.buf.push(p.trim().slice(0, 500));
    if (this.buf.length > this.max) this.buf.splice(0, this.buf.length - this.max);
  }
  lines(): string[] {
    return this.partial.trim() ? [...this.buf, this.partial.trim()] : [...this.buf];
  }
}
