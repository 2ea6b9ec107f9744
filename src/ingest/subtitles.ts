/**
 * Subtitles as a transcript source for recorded media: parses SubRip (`.srt`) and WebVTT
 * (`.vtt`) into cues, and cues into TranscriptSegment records with word timings spread evenly
 * over each cue. Pure: no I/O, no clock.
 *
 * Example:
 *   const cues = parseSubtitles(readFileSync('talk.srt', 'utf8'), { name: 'talk.srt' });
 *   const segments = cuesToSegments(cues, { sessionId: 'call-1', startTime: Date.now() });
 *
 * Styling is dropped (`<i>`, `<b>`, `<font ...>`, `<c.class>`, `{\an8}`, inline VTT timestamps);
 * a WebVTT voice tag (`<v Alice>`) becomes the segment's speaker. Errors name the file, the line
 * and the offending value (`SubtitleError`).
 */
import type { TranscriptSegment, Word } from '../schemas/records.js';

export type SubtitleFormat = 'srt' | 'vtt';

export interface Cue {
  /** 1-based position of the cue in the file (SRT numbers are not trusted to be unique). */
  index: number;
  /** Media time, milliseconds from the start of the media. */
  startMs: number;
  endMs: number;
  /** Text without styling, lines joined with a space. */
  text: string;
  /** WebVTT voice (`<v Name>`), if any. */
  speaker: string | null;
  /** Line of the cue's timing line in the file, for messages. */
  line: number;
}

export class SubtitleError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly line: number,
  ) {
    super(`${file}:${line}: ${message}`);
    this.name = 'SubtitleError';
  }
}

export interface ParseOptions {
  /** Name used in error messages (default `subtitles`). */
  name?: string;
  /** Format; by default WebVTT when the text starts with `WEBVTT`, else SubRip. */
  format?: SubtitleFormat;
}

/** The format of a subtitle file, from its name, else from its first line. */
export function detectFormat(text: string, name = ''): SubtitleFormat {
  if (/\.vtt$/i.test(name)) return 'vtt';
  if (/\.srt$/i.test(name)) return 'srt';
  return /^\uFEFF?WEBVTT/.test(text) ? 'vtt' : 'srt';
}

/** Parses SubRip or WebVTT text into cues, in file order. */
export function parseSubtitles(text: string, opts: ParseOptions = {}): Cue[] {
  const name = opts.name ?? 'subtitles';
  const format = opts.format ?? detectFormat(text, name);
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  if (format === 'vtt' && !/^WEBVTT(?:[ \t].*)?$/.test(lines[0] ?? '')) {
    throw new SubtitleError(`a WebVTT file must start with "WEBVTT", got ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`, name, 1);
  }
  const cues: Cue[] = [];
  for (const block of blocks(lines, format === 'vtt' ? 1 : 0)) {
    const cue = format === 'vtt' ? vttCue(block, name) : srtCue(block, name);
    if (cue && cue.text !== '') cues.push({ ...cue, index: cues.length + 1 });
  }
  return cues;
}

interface Block {
  /** 1-based line number of the block's first line. */
  first: number;
  lines: string[];
}

/** Groups lines into blank-line separated blocks. */
function blocks(lines: string[], from: number): Block[] {
  const out: Block[] = [];
  let current: Block | null = null;
  for (let i = from; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') {
      current = null;
      continue;
    }
    if (!current) out.push((current = { first: i + 1, lines: [] }));
    current.lines.push(line);
  }
  return out;
}

type RawCue = Omit<Cue, 'index'>;

function srtCue(block: Block, name: string): RawCue | null {
  // An optional cue number, then the timing line, then text.
  let at = 0;
  if (!block.lines[0]!.includes('-->')) {
    if (!/^\s*\d+\s*$/.test(block.lines[0]!)) {
      throw new SubtitleError(`expected a cue number or a timing line "HH:MM:SS,mmm --> HH:MM:SS,mmm", got ${quote(block.lines[0]!)}`, name, block.first);
    }
    at = 1;
  }
  const timing = block.lines[at];
  const line = block.first + at;
  if (timing === undefined || !timing.includes('-->')) {
    throw new SubtitleError(
      `expected a timing line "HH:MM:SS,mmm --> HH:MM:SS,mmm" after cue number ${block.lines[0]!.trim()}, got ${quote(timing ?? '(end of cue)')}`,
      name,
      line,
    );
  }
  return timedCue(timing, block.lines.slice(at + 1), 'srt', name, line);
}

function vttCue(block: Block, name: string): RawCue | null {
  const head = block.lines[0]!;
  // NOTE, STYLE and REGION blocks carry no cues.
  if (/^(NOTE|STYLE|REGION)(\s|$)/.test(head)) return null;
  const at = head.includes('-->') ? 0 : 1; // an optional cue identifier first
  const timing = block.lines[at];
  const line = block.first + at;
  if (timing === undefined || !timing.includes('-->')) {
    throw new SubtitleError(
      `expected a timing line "HH:MM:SS.mmm --> HH:MM:SS.mmm" after cue identifier ${quote(head)}, got ${quote(timing ?? '(end of cue)')}`,
      name,
      line,
    );
  }
  return timedCue(timing, block.lines.slice(at + 1), 'vtt', name, line);
}

function timedCue(timing: string, textLines: string[], format: SubtitleFormat, name: string, line: number): RawCue {
  const [rawStart, rest] = timing.split('-->', 2) as [string, string];
  // WebVTT cue settings (align:start ...) and SubRip coordinates (X1:...) follow the end time.
  const rawEnd = rest.trim().split(/\s+/)[0] ?? '';
  const startMs = parseTimestamp(rawStart.trim(), format);
  if (startMs === null) throw new SubtitleError(`bad start time ${quote(rawStart.trim())} (expected ${expected(format)})`, name, line);
  const endMs = parseTimestamp(rawEnd, format);
  if (endMs === null) throw new SubtitleError(`bad end time ${quote(rawEnd)} (expected ${expected(format)})`, name, line);
  if (endMs < startMs) throw new SubtitleError(`cue ends (${rawEnd}) before it starts (${rawStart.trim()})`, name, line);
  const { text, speaker } = cleanText(textLines);
  return { startMs, endMs, text, speaker, line };
}

const expected = (format: SubtitleFormat) => (format === 'srt' ? 'HH:MM:SS,mmm' : 'HH:MM:SS.mmm or MM:SS.mmm');
const quote = (s: string) => JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}...` : s);

/**
 * A subtitle timestamp in milliseconds, or null when malformed. SubRip: `HH:MM:SS,mmm` (a `.`
 * is tolerated); WebVTT: `HH:MM:SS.mmm` or `MM:SS.mmm`. Minutes and seconds must be < 60.
 */
export function parseTimestamp(raw: string, format: SubtitleFormat): number | null {
  const m = format === 'srt' ? /^(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})$/.exec(raw) : /^(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})$/.exec(raw);
  if (!m) return null;
  const [h, min, s] = [Number(m[1] ?? 0), Number(m[2]), Number(m[3])];
  if (min >= 60 || s >= 60) return null;
  const ms = Number(m[4]!.padEnd(3, '0'));
  return ((h * 60 + min) * 60 + s) * 1000 + ms;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', lrm: '', rlm: '' };

/** Joins a cue's lines and strips styling; a leading `<v Name>` gives the speaker. */
export function cleanText(lines: readonly string[]): { text: string; speaker: string | null } {
  const joined = lines.join('\n');
  const voice = /<v(?:\.[^\s>]*)?\s+([^>]+)>/.exec(joined);
  const text = joined
    .replace(/<[^>]*>/g, '') // HTML-like tags, VTT classes, voices and inline timestamps
    .replace(/\{\\[^}]*\}/g, '') // ASS override tags some SRT files carry, e.g. {\an8}
    .replace(/&(amp|lt|gt|quot|apos|nbsp|lrm|rlm);/g, (_, e: string) => ENTITIES[e]!)
    .replace(/\s+/g, ' ')
    .trim();
  return { text, speaker: voice ? voice[1]!.trim() : null };
}

/** The cue's words with times spread evenly over the cue (media ms). */
export function cueWords(cue: Pick<Cue, 'startMs' | 'endMs' | 'text'>): { word: string; startMs: number; endMs: number }[] {
  const words = cue.text.split(' ').filter((w) => w.length > 0);
  const span = cue.endMs - cue.startMs;
  return words.map((word, i) => ({
    word,
    startMs: cue.startMs + Math.round((i * span) / words.length),
    endMs: cue.startMs + Math.round(((i + 1) * span) / words.length),
  }));
}

export interface SegmentOptions {
  sessionId: string;
  /** Epoch ms of media time 0. */
  startTime: number;
  /** Speaker for cues without a voice tag (default null). */
  speaker?: string | null;
  language?: string | null;
}

/** One final TranscriptSegment for a cue, with word timings (no endOfStream). */
export function cueToSegment(cue: Cue, opts: SegmentOptions): TranscriptSegment {
  const words: Word[] = cueWords(cue).map((w) => ({ word: w.word, start: opts.startTime + w.startMs, end: opts.startTime + w.endMs, confidence: null }));
  return {
    sessionId: opts.sessionId,
    segmentId: `${opts.sessionId}-sub-${cue.index}`,
    eventTime: opts.startTime + cue.startMs,
    endTime: opts.startTime + cue.endMs,
    text: cue.text,
    words,
    isFinal: true,
    speaker: cue.speaker ?? opts.speaker ?? null,
    channel: null,
    language: opts.language ?? null,
    endOfStream: false,
  };
}

/**
 * The segments of all cues, in the order an ASR would produce them (by cue end time), the last
 * one marked endOfStream.
 */
export function cuesToSegments(cues: readonly Cue[], opts: SegmentOptions): TranscriptSegment[] {
  const segments = byEndTime(cues).map((c) => cueToSegment(c, opts));
  if (segments.length > 0) segments[segments.length - 1]!.endOfStream = true;
  return segments;
}

/** Cues sorted by end time, then start time, then file order. */
export function byEndTime(cues: readonly Cue[]): Cue[] {
  return [...cues].sort((a, b) => a.endMs - b.endMs || a.startMs - b.startMs || a.index - b.index);
}
