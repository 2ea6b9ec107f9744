/**
 * Checks on decoded records that Avro types cannot express: a session id is present, times are
 * non-negative epoch ms in order, sizes agree with formats, scores are in range.
 * Every reason names the field and the offending value.
 */
import type { RecordKind, RecordTypes } from './kinds.js';
import type { AudioChunk, DeadLetter, Score, TranscriptSegment, VideoFrame } from './records.js';

export type ValidationCode = 'MISSING_SESSION_ID' | 'INVALID_FIELD';

export interface ValidationError {
  code: ValidationCode;
  reason: string;
}

/** Longest session id accepted: ids are map keys, Kafka keys and URL parts. */
export const MAX_SESSION_ID_LENGTH = 256;

/** Highest sample rate accepted (Hz); anything above is a corrupt or hostile record. */
export const MAX_SAMPLE_RATE = 384_000;

/** Largest width or height of a raw frame (pixels). */
export const MAX_FRAME_SIDE = 16_384;

/** Default of `ValidationLimits.maxWordsPerSegment` (config `limits.maxWordsPerSegment`). */
export const DEFAULT_MAX_WORDS_PER_SEGMENT = 4096;

/** Limits on decoded records that depend on the configuration. */
export interface ValidationLimits {
  /** Most words in a transcript segment's `text` and in its `words` list. */
  maxWordsPerSegment: number;
}

/** Number of whitespace-separated words in `text`, counting stops past `atMost` (so it is linear and short). */
export function countWords(text: string, atMost = Infinity): number {
  const word = /\S+/gu;
  let n = 0;
  while (n <= atMost && word.exec(text) !== null) n++;
  return n;
}

/** A short printable form of a value for error messages (long strings are cut). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    const cut = value.length > 64 ? `${value.slice(0, 64)}...` : value;
    return `${JSON.stringify(cut)}${value.length > 64 ? ` (${value.length} chars)` : ''}`;
  }
  if (Buffer.isBuffer(value)) return `${value.length} bytes`;
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === null) return String(value);
  try {
    const json = JSON.stringify(value);
    return json.length > 64 ? `${json.slice(0, 64)}...` : json;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Collects the first problem; each check returns whether the value was fine. */
class Checker {
  error: ValidationError | null = null;

  fail(reason: string, code: ValidationCode = 'INVALID_FIELD'): false {
    this.error ??= { code, reason };
    return false;
  }

  sessionId(value: unknown, name = 'sessionId'): boolean {
    if (typeof value !== 'string' || value.trim() === '') {
      return this.fail(`${name} must be a non-blank string, got ${describeValue(value)}`, 'MISSING_SESSION_ID');
    }
    if (value.length > MAX_SESSION_ID_LENGTH) {
      return this.fail(`${name} must be at most ${MAX_SESSION_ID_LENGTH} characters, got ${describeValue(value)}`);
    }
    return true;
  }

  /** An epoch-ms timestamp: a non-negative integer. */
  time(name: string, value: number): boolean {
    if (!Number.isSafeInteger(value) || value < 0) return this.fail(`${name} must be a non-negative epoch ms integer, got ${describeValue(value)}`);
    return true;
  }

  nonNegativeInt(name: string, value: number): boolean {
    if (!Number.isSafeInteger(value) || value < 0) return this.fail(`${name} must be a non-negative integer, got ${describeValue(value)}`);
    return true;
  }

  inRange(name: string, value: number, min: number, max: number): boolean {
    if (!Number.isFinite(value) || value < min || value > max) return this.fail(`${name} must be in [${min}, ${max}], got ${describeValue(value)}`);
    return true;
  }

  finite(name: string, value: number): boolean {
    if (!Number.isFinite(value)) return this.fail(`${name} must be a finite number, got ${describeValue(value)}`);
    return true;
  }

  notBefore(name: string, value: number, otherName: string, other: number): boolean {
    if (value < other) return this.fail(`${name} must be >= ${otherName} (${other}), got ${value}`);
    return true;
  }
}

function checkAudio(c: Checker, r: AudioChunk): void {
  if (!c.sessionId(r.sessionId)) return;
  c.nonNegativeInt('seq', r.seq);
  c.time('eventTime', r.eventTime);
  if (!(r.sampleRate > 0)) c.fail(`sampleRate must be > 0, got ${describeValue(r.sampleRate)}`);
  else if (r.sampleRate > MAX_SAMPLE_RATE) c.fail(`sampleRate must be <= ${MAX_SAMPLE_RATE}, got ${r.sampleRate}`);
  if (r.samples.length % 2 !== 0) c.fail(`samples must hold whole 16-bit samples (an even byte length), got ${r.samples.length} bytes`);
}

function checkVideo(c: Checker, r: VideoFrame): void {
  if (!c.sessionId(r.sessionId)) return;
  c.nonNegativeInt('seq', r.seq);
  c.time('eventTime', r.eventTime);
  c.inRange('width', r.width, 0, MAX_FRAME_SIDE);
  c.inRange('height', r.height, 0, MAX_FRAME_SIDE);
  if (c.error) return;
  const empty = r.data.length === 0 && r.features.length === 0;
  if (r.endOfStream && empty) return; // an end marker needs no payload
  switch (r.format) {
    case 'RGB24': {
      const expected = r.width * r.height * 3;
      if (r.width === 0 || r.height === 0 || r.data.length !== expected) {
        c.fail(`RGB24 frame ${r.width}x${r.height} needs width*height*3 = ${expected} bytes of data, got ${r.data.length}`);
      }
      break;
    }
    case 'JPEG':
    case 'PNG':
      if (r.data.length === 0) c.fail(`${r.format} frame has empty data`);
      break;
    case 'FEATURES':
      if (r.features.length === 0) c.fail('FEATURES frame has an empty features vector');
      r.features.every((v, i) => c.finite(`features[${i}]`, v));
      break;
  }
}

function checkTranscript(c: Checker, r: TranscriptSegment, limits: ValidationLimits): void {
  if (!c.sessionId(r.sessionId)) return;
  const max = limits.maxWordsPerSegment;
  if (r.words.length > max) c.fail(`words has ${r.words.length} entries, over limits.maxWordsPerSegment=${max}`);
  const textWords = countWords(r.text, max);
  if (textWords > max) c.fail(`text has more than ${max} words (limits.maxWordsPerSegment; ${r.text.length} chars)`);
  if (r.segmentId.trim() === '') c.fail(`segmentId must be a non-blank string, got ${describeValue(r.segmentId)}`);
  if (c.time('eventTime', r.eventTime) && c.time('endTime', r.endTime)) c.notBefore('endTime', r.endTime, 'eventTime', r.eventTime);
  if (r.channel !== null) c.nonNegativeInt('channel', r.channel);
  r.words.every((w, i) => {
    const at = `words[${i}]`;
    return (
      c.time(`${at}.start`, w.start) &&
      c.time(`${at}.end`, w.end) &&
      c.notBefore(`${at}.end`, w.end, `${at}.start`, w.start) &&
      (w.confidence === null || c.inRange(`${at}.confidence`, w.confidence, 0, 1))
    );
  });
}

function checkScore(c: Checker, r: Score): void {
  if (!c.sessionId(r.sessionId)) return;
  if (c.time('windowStart', r.windowStart) && c.time('windowEnd', r.windowEnd)) {
    if (r.windowEnd <= r.windowStart) c.fail(`windowEnd must be > windowStart (${r.windowStart}), got ${r.windowEnd}`);
  }
  c.inRange('score', r.score, -3, 3);
  c.inRange('windowScore', r.windowScore, -3, 3);
  c.inRange('confidence', r.confidence, 0, 1);
  c.finite('contributions.text', r.contributions.text);
  c.finite('contributions.audio', r.contributions.audio);
  c.finite('contributions.video', r.contributions.video);
  c.nonNegativeInt('records', r.records);
  if (c.finite('latencyMs', r.latencyMs) && r.latencyMs < 0) c.fail(`latencyMs must be >= 0, got ${r.latencyMs}`);
  c.time('emittedAt', r.emittedAt);
}

function checkDeadLetter(c: Checker, r: DeadLetter): void {
  if (r.sourceTopic === '') c.fail('sourceTopic is empty');
  c.nonNegativeInt('partition', r.partition);
  if (!/^\d+$/.test(r.offset)) c.fail(`offset must be a decimal string, got ${describeValue(r.offset)}`);
  c.time('at', r.at);
}

const CHECKS: { [K in RecordKind]: (c: Checker, r: RecordTypes[K], limits: ValidationLimits) => void } = {
  audio: checkAudio,
  video: checkVideo,
  transcript: checkTranscript,
  score: checkScore,
  deadLetter: checkDeadLetter,
};

/** The first problem with a decoded record of `kind`, or null when it is fine. */
export function validateRecord<K extends RecordKind>(
  kind: K,
  record: RecordTypes[K],
  limits: ValidationLimits = { maxWordsPerSegment: DEFAULT_MAX_WORDS_PER_SEGMENT },
): ValidationError | null {
  const c = new Checker();
  CHECKS[kind](c, record, limits);
  return c.error;
}
