/**
 * The `asr` and `voice` sections of the configuration (config.ts): the speech stage (src/speech)
 * and the voice path (src/voice).
 */
import { z } from 'zod';
import { WHISPER_MODELS } from '../speech/whisper/install.js';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

/** Speech recognition (src/speech): Silero VAD cuts utterances, Whisper transcribes them. */
export const asrSchema = z
  .object({
    /**
     * `auto`: hear a session's audio until a transcript made elsewhere (a captioner, an outside
     * ASR: origin null) arrives for it; `always`: hear every session; `off`: no speech stage.
     */
    mode: z.enum(['auto', 'always', 'off']).default('auto'),
    /**
     * Whisper model of wideband sessions (the VAD's 16 kHz branch), installed into
     * <cacheDir>/asr/models/<model> (`msa asr install <model>`). tiny.en-voices: tiny.en adapted to
     * voices it never heard (README, Speech recognition).
     */
    model: z.enum(WHISPER_MODELS).default('tiny.en-voices'),
    /**
     * Whisper model of telephone sessions: those the VAD hears on its 8 kHz branch (`vad.rate`; auto:
     * audio arriving at 8 kHz or less, or found narrowband, `vad.detectNarrowband`). tiny.en hears
     * speech through the telephone channel better than tiny.en-voices does (README). Loaded at the
     * first such session; null = `model`.
     */
    telephoneModel: z.enum(WHISPER_MODELS).nullable().default('tiny.en'),
    /** null = the sentiment model's `model.executionProvider`. */
    executionProvider: z.enum(['cpu', 'cuda']).nullable().default(null),
    /** ONNX Runtime intra-op threads of each Whisper graph; 0 = ONNX Runtime's default (all cores). */
    threads: nonNegativeInt.default(0),
    /** Encoder input: `30s`, or `trim:MULTIPLE:MARGIN` (frames), optionally `+guardK` (repeat guard); CONTRACT.md section 6. */
    decoding: z
      .string()
      .regex(/^(30s|trim:\d+:\d+)(\+guard\d+)?$/, 'expected 30s or trim:MULTIPLE:MARGIN, optionally +guardK')
      .default('trim:100:50+guard4'),
    /** Utterances transcribed in one encoder / decoder batch. */
    maxBatch: positiveInt.max(64).default(8),
    /**
     * Hypotheses kept per utterance while decoding files (`msa transcribe`, `msa asr wer`,
     * `msa eval --media`): beam search, src/speech/whisper/beam.ts; 1 = greedy.
     */
    beamSize: positiveInt.max(16).default(5),
    /**
     * The same in the live pipeline's speech stage, where it is used only while the recogniser
     * has room (src/speech/stage.ts BEAM_BUSY_MAX). Default 1: on two CPU cores a beamed final
     * costs about 2x, which breaks the 2 s p95 transcript budget at 5 sessions (README).
     */
    liveBeamSize: positiveInt.max(16).default(1),
    /** Longest utterance accepted by the recogniser (seconds); longer ones are an error. */
    maxUtteranceS: positiveInt.max(3600).default(120),
    /** Utterances waiting for the recogniser, all sessions together; more are dropped (counted and logged). */
    maxQueued: positiveInt.max(100_000).default(256),
    /** Sessions heard at once; the audio of more is not transcribed (counted and logged). */
    maxSessions: positiveInt.max(100_000).default(64),
    /** Wall ms a session's windows wait at most for the transcript of its audio (then they close; counted). */
    holdTimeoutMs: positiveInt.default(15_000),
    /**
     * An interim hypothesis (isFinal false, the final's segmentId) of an utterance still open,
     * every this many ms of its audio, only while the recogniser is idle; 0 = finals only.
     */
    interimMs: nonNegativeInt.max(30_000).default(2000),
    /** Python with pip for the first-use install; null = <cacheDir>/venv/bin/python if present, else python3. */
    python: z.string().min(1).nullable().default(null),
    vad: z
      .object({
        /** Speech starts at a Silero probability >= threshold. */
        threshold: z.number().gt(0).lt(1).default(0.5),
        /** Speech ends after this long below threshold - 0.15. */
        minSilenceMs: positiveInt.default(500),
        /** Kept before and after each utterance. */
        speechPadMs: nonNegativeInt.default(200),
        /** An utterance is cut at this length, so a monologue yields text every few seconds. */
        maxUtteranceMs: positiveInt.max(30_000).default(8000),
        /** Shorter utterances are dropped (counted). */
        minSpeechMs: nonNegativeInt.default(250),
        /**
         * Silero's branch: 16000, 8000 (telephone-band audio, src/speech/vad.ts), or auto: 8000 for
         * sessions and files whose audio arrives at 8 kHz or less (or is found narrowband,
         * `detectNarrowband`), else 16000.
         */
        rate: z.union([z.literal('auto'), z.literal(8000), z.literal(16000)]).default('auto'),
        /**
         * With rate auto: audio that arrives above 8 kHz but has nothing above 4 kHz in its first
         * seconds (a call upsampled on its way here) is heard as telephone audio too: the 8 kHz
         * branch and `asr.telephoneModel` (src/speech/bandwidth.ts).
         */
        detectNarrowband: z.boolean().default(true),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

/** The voice path (src/voice): how each utterance sounds, read from the Whisper encoder (issue 11). */
export const voiceSchema = z
  .object({
    /** Read the voice of sessions with audio and fuse it into their scores; false = words (and the model's own inputs) only. */
    enabled: z.boolean().default(true),
    /** The voice reader (`python -m training.experiments.voice_reader`); relative to the working directory. */
    reader: z.string().min(1).default('models/voice/reader.json'),
    /** Run the voice encoder and its VAD in a worker thread each, off the event loop; false = in the event loop's thread. */
    inWorker: z.boolean().default(true),
    /** Utterances given to the encoder at once (rows of equal length share a batch). */
    maxBatch: positiveInt.max(64).default(8),
    /** Utterances waiting for the encoder, all sessions together; more are not read (counted and logged). */
    maxQueued: positiveInt.max(100_000).default(256),
    /** Sessions whose voice is read at once; the voice of more is not read (counted and logged). */
    maxSessions: positiveInt.max(100_000).default(256),
    /** Wall ms a window's score waits at most for the voice values of its utterances (then goes out with those there are; counted). */
    holdTimeoutMs: positiveInt.default(15_000),
  })
  .strict()
  .default({});
