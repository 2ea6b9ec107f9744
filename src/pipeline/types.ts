/** What `startPipeline` takes and gives: its options, its counters and the running pipeline. */
import type { Observable } from 'rxjs';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Modalities, Score } from '../schemas/records.js';
import type { TopicNames } from '../transport/topics.js';
import type { TransportStats } from '../transport/kafka/index.js';
import type { WindowStats } from '../windows/windowStats.js';
import type { LoadedModel } from '../model/servedModel.js';
import type { FeatureStats } from '../features/stage.js';
import type { SpeechParts } from '../speech/index.js';
import type { SpeechStats } from '../speech/stage.js';
import type { VoiceParts } from '../voice/index.js';
import type { VoiceStats } from '../voice/stage.js';
import type { SessionSummary } from '../scores/sessionLedger.js';
import type { Registry } from '../metrics/registry.js';
import type { TransportHealth, TransportProblem } from '../transport/health.js';
import type { WorkerPoolStats } from '../workers/pool.js';
import type { VadStats } from '../speech/vad.js';

export interface PipelineOptions {
  config: Config;
  brokers: string[];
  model: LoadedModel;
  logger: Logger;
  /**
   * Called with every score once Kafka has acknowledged it (e.g. the WebSocket server's publish),
   * and the event time its window's records reach (`ScoredWindow.reached`, for alert rules).
   */
  onScore?: (score: Score, reached: number) => void;
  /**
   * A session ended or went idle and its last score went out before this call (free per-session
   * state); with what became of it (scores, or why none).
   */
  onSessionEnded?: (sessionId: string, summary: SessionSummary) => void;
  /** Where the transport reports broker trouble (default: its own); the service reads it for /healthz. */
  health?: TransportHealth;
  /** The recogniser and voice activity detector (default: loaded per `config.asr`; null: no speech stage). */
  speech?: SpeechParts | null;
  /** The voice reader's parts (default: loaded per `config.voice`; null: no voice path). */
  voice?: VoiceParts | null;
  /** Where the pipeline registers its Prometheus metrics (pipeline/metrics.ts); none when absent. */
  registry?: Registry;
}

export interface PipelineStats {
  transport: TransportStats;
  windows: WindowStats;
  scores: number;
  unscoredWindows: Record<string, number>;
  batches: number;
  batchedWindows: number;
  modalitiesUsed: Modalities & { windows: number };
  /** Windows scored after their partition was revoked: not written (the new owner scores them). */
  revokedWindows: number;
  /** Audio and video records whose payload was not copied (a view of the Kafka buffer): the served model and stages read none (pipeline/reads.ts). */
  payloadsNotCopied: { audio: number; video: number };
  /** Acoustic frames and face vectors computed, skipped, unsupported, not used. */
  features: FeatureStats;
  /** The speech stage (null when `asr.mode` is off). */
  speech: SpeechStats | null;
  /** The voice stage (null when `voice.enabled` is false); `shedWindows`: scored without waiting for their voice. */
  voice: (VoiceStats & { shedWindows: number }) | null;
  pending: number;
  /** Worker pools now, by name (`model`, `face`, `voice-dsp`, `voice-encoder`, `voice-vad`): threads, busy, queued, crashes, retried, failed; a pool run in this thread is absent. */
  workers: Record<string, WorkerPoolStats>;
  /** The voice activity detectors' batching (graph calls and the chunks they ran) of the speech and voice stages; null when the stage is off. */
  vad: { speech: VadStats | null; voice: VadStats | null };
}

export interface Pipeline {
  readonly topics: TopicNames;
  /** Scores as they are written (after Kafka acknowledged them). */
  readonly scores$: Observable<Score>;
  stats(): PipelineStats;
  /** Open broker problems: empty while Kafka is reached; while not, the pipeline waits and retries. */
  problems(): TransportProblem[];
  /** Resolves when the pipeline failed or stopped; rejects with the failure. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}
