/**
 * A generated session: what a short call sounds like to the pipeline, without media.
 * Transcript segments with word timings (from a script of utterances), 16 kHz PCM audio chunks
 * and small raw video frames, all stamped in event time from `startTime`. Deterministic for a
 * given seed, so tests can compute which windows the pipeline must score.
 */
import type { AudioChunk, InputRecord, TranscriptSegment, VideoFrame } from '../schemas/records.js';

/** The default script: a support call that starts angry and ends satisfied (written for this project). */
export const SAMPLE_SCRIPT: readonly string[] = [
  'hello I have been waiting for forty minutes and nobody answers',
  'this is the third time the order arrived broken and I am really upset',
  'honestly this is terrible service and I want my money back',
  'okay I see you can send a replacement today',
  'thank you that is actually very helpful',
  'great I really appreciate it you have been wonderful',
];

export interface SampleSessionOptions {
  sessionId: string;
  startTime: number;
  script?: readonly string[];
  /** Seconds per word. */
  wordSeconds?: number;
  /** Silence between utterances, seconds. */
  gapSeconds?: number;
  audioChunkMs?: number;
  sampleRate?: number;
  videoFps?: number;
  /** Emit an interim version of each segment before the final one. */
  interim?: boolean;
  /** Mark the last record of each modality with endOfStream. */
  endOfStream?: boolean;
  seed?: number;
}

/** Records of one generated session, sorted by event time (ties: audio, video, transcript). */
export function generateSession(opts: SampleSessionOptions): InputRecord[] {
  const script = opts.script ?? SAMPLE_SCRIPT;
  const wordMs = Math.round((opts.wordSeconds ?? 0.35) * 1000);
  const gapMs = Math.round((opts.gapSeconds ?? 0.8) * 1000);
  const chunkMs = opts.audioChunkMs ?? 100;
  const rate = opts.sampleRate ?? 16000;
  const fps = opts.videoFps ?? 2;
  const t0 = opts.startTime;
  let rng = (opts.seed ?? 1) >>> 0;
  const random = () => {
    rng = (rng * 1664525 + 1013904223) >>> 0;
    return rng / 2 ** 32;
  };

  const transcript: TranscriptSegment[] = [];
  const speech: Array<[number, number]> = [];
  let t = t0 + 200;
  script.forEach((line, i) => {
    const words = line.split(/\s+/).filter((w) => w.length > 0);
    const start = t;
    const timed = words.map((word, j) => ({
      word,
      start: start + j * wordMs,
      end: start + (j + 1) * wordMs - 40,
      confidence: 0.9,
    }));
    const end = start + words.length * wordMs;
    speech.push([start, end]);
    const base = {
      sessionId: opts.sessionId,
      segmentId: `${opts.sessionId}-seg-${i}`,
      eventTime: start,
      endTime: end,
      speaker: 'customer',
      channel: 0,
      language: 'en',
      endOfStream: false,
    };
    if (opts.interim) {
      const half = Math.max(1, Math.floor(words.length / 2));
      transcript.push({
        ...base,
        endTime: timed[half - 1]!.end,
        text: words.slice(0, half).join(' '),
        words: timed.slice(0, half),
        isFinal: false,
      });
    }
    transcript.push({ ...base, text: line, words: timed, isFinal: true });
    t = end + gapMs;
  });
  const endTime = t;

  const audio: AudioChunk[] = [];
  const samplesPerChunk = Math.round((rate * chunkMs) / 1000);
  for (let at = t0, seq = 0; at < endTime; at += chunkMs, seq++) {
    const pcm = Buffer.alloc(samplesPerChunk * 2);
    const talking = speech.some(([s, e]) => at < e && at + chunkMs > s);
    const f0 = 120 + 40 * random();
    for (let n = 0; n < samplesPerChunk; n++) {
      const time = (at - t0) / 1000 + n / rate;
      const voice = talking ? 0.3 * Math.sin(2 * Math.PI * f0 * time) : 0;
      const noise = 0.01 * (random() * 2 - 1);
      pcm.writeInt16LE(Math.round((voice + noise) * 32767 * 0.9), n * 2);
    }
    audio.push({ sessionId: opts.sessionId, seq, eventTime: at, sampleRate: rate, encoding: 'S16LE', samples: pcm, endOfStream: false });
  }

  const video: VideoFrame[] = [];
  if (fps > 0) {
    const frameMs = Math.round(1000 / fps);
    const w = 8;
    const h = 8;
    for (let at = t0, seq = 0; at < endTime; at += frameMs, seq++) {
      const data = Buffer.alloc(w * h * 3, Math.floor(random() * 255));
      video.push({
        sessionId: opts.sessionId,
        seq,
        eventTime: at,
        format: 'RGB24',
        width: w,
        height: h,
        data,
        features: [],
        featureSet: null,
        facePresent: null,
        endOfStream: false,
      });
    }
  }

  if (opts.endOfStream) {
    if (audio.length > 0) audio[audio.length - 1]!.endOfStream = true;
    if (video.length > 0) video[video.length - 1]!.endOfStream = true;
    if (transcript.length > 0) transcript[transcript.length - 1]!.endOfStream = true;
  }

  const order = { audio: 0, video: 1, transcript: 2 } as const;
  const records: InputRecord[] = [
    ...audio.map((value) => ({ kind: 'audio' as const, value })),
    ...video.map((value) => ({ kind: 'video' as const, value })),
    ...transcript.map((value) => ({ kind: 'transcript' as const, value })),
  ];
  return records.sort((a, b) => a.value.eventTime - b.value.eventTime || order[a.kind] - order[b.kind]);
}
