/**
 * One typed, validated configuration object, built once from defaults, an optional JSON file,
 * the environment and command-line overrides (in that order, later wins), then passed in.
 * Only the CLI hands `process.env` in (cli/context.ts); no other module reads it.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { windowShapeProblem } from './windowShape.js';
import { brokerSecuritySchema, kafkaSslSchema, schemaRegistrySchema } from './security.js';
import { configFromEnv } from './env.js';
import { ConfigError } from './errors.js';
import { authTokensSchema } from './tokens.js';
import { asrSchema, voiceSchema } from './speech.js';

export { configFromEnv, ConfigError };

/**
 * Which face detector: `short-range`, the shipped BlazeFace at 128 px (the default; the model's
 * face path was trained on its crops), or `full-range`, Human's own BlazeFace at 256 px, which
 * finds smaller faces in wide shots at about half the frame rate.
 */
export const FACE_DETECTORS = ['short-range', 'full-range'] as const;
export type FaceDetector = (typeof FACE_DETECTORS)[number];

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

export const configSchema = z
  .object({
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Root of the project's caches (Kafka jars, the local broker's data, the Python venv); null = ~/.cache/msa. */
    cacheDir: z.string().min(1).nullable().default(null),
    /** The project's own local Kafka broker, started when `kafka.brokers` is null. */
    broker: z
      .object({
        /** KRaft storage, server.properties, pid file and logs; null = <cacheDir>/kafka-data. */
        dataDir: z.string().min(1).nullable().default(null),
        port: positiveInt.max(65535).default(9092),
        /** Fixed once the data dir is formatted. */
        controllerPort: positiveInt.max(65535).default(9093),
        /** org.apache.kafka:kafka_2.13 version; null = `kafka.version` of deploy/kafka/pom.xml. */
        version: z.string().min(1).nullable().default(null),
        /** JVM heap (-Xmx), MiB. */
        heapMb: positiveInt.default(512),
        /** Java installation; null = `java` on PATH. */
        javaHome: z.string().min(1).nullable().default(null),
        /** `{ protocol: 'plaintext' | 'sasl_ssl', users, certDays }` (config/security.ts, README "Secured Kafka"). */
        security: brokerSecuritySchema,
      })
      .strict()
      .default({}),
    kafka: z
      .object({
        /** Broker list; null means: start (or reuse) the project's own local broker. */
        brokers: z.array(z.string().min(1)).nullable().default(null),
        clientId: z.string().default('msa'),
        groupId: z.string().default('msa-pipeline'),
        topicPrefix: z.string().default(''),
        partitions: positiveInt.default(4),
        /** false, true (system CAs) or `{ ca: 'path/to/ca.pem', rejectUnauthorized: true }` (config/security.ts). */
        ssl: kafkaSslSchema,
        sasl: z
          .object({
            mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
            username: z.string(),
            password: z.string(),
          })
          .strict()
          .nullable()
          .default(null),
        /** Commit processed offsets this often (ms); with delivery at-least-once. */
        commitIntervalMs: positiveInt.default(1000),
        /**
         * exactly-once: scores, dead letters, late records and the changelog are written in Kafka
         * transactions together with the input offsets (read `scores` with read_committed);
         * at-least-once: plain acknowledged writes, offsets committed after them (a crash may repeat scores).
         */
        delivery: z.enum(['exactly-once', 'at-least-once']).default('exactly-once'),
        /** exactly-once: one transaction (writes + offsets) this often (ms). */
        transactionIntervalMs: positiveInt.max(60_000).default(100),
        /** exactly-once: the broker aborts a transaction left open this long (an instance killed mid-transaction), ms. */
        transactionTimeoutMs: positiveInt.min(1000).max(900_000).default(10_000),
        /**
         * exactly-once: the producer's transactional id; null = `<groupId>-<random>` per process. Give each
         * instance a stable one of its own (never two running instances the same) so a restarted
         * instance fences its killed predecessor and aborts its open transaction at once.
         */
        transactionalId: z.string().min(1).max(200).nullable().default(null),
        /**
         * The consumer group's session timeout (ms): a member that stops heartbeating (kill -9) loses
         * its partitions after this long. Within the broker's group.min/max.session.timeout.ms (6 s..30 min by default).
         */
        sessionTimeoutMs: positiveInt.min(6000).default(8000),
        /** Heartbeat period (ms); must be well under sessionTimeoutMs (at most a third of it). */
        heartbeatIntervalMs: positiveInt.default(1000),
        /** Measure consumer lag (end offsets minus what was consumed) this often (ms); in /metrics.json as transport.lag (this instance) and on /metrics as msa_kafka_consumer_lag (the group, per partition, groupLag.ts). */
        lagIntervalMs: positiveInt.default(2000),
        /**
         * Riding out broker outages: kafkajs tries each request `retries` more times; what it gives
         * up on (connect, send, a consumer it does not restart) is tried again by us, for as long
         * as it takes, with waits from `initialMs` doubling up to `maxMs`.
         */
        retry: z
          .object({
            retries: positiveInt.max(100).default(3),
            initialMs: positiveInt.max(60_000).default(300),
            maxMs: positiveInt.max(600_000).default(5000),
          })
          .strict()
          .refine((r) => r.maxMs >= r.initialMs, { message: 'kafka.retry.maxMs must be >= kafka.retry.initialMs' })
          .default({}),
      })
      .strict()
      .superRefine((k, ctx) => {
        if (k.heartbeatIntervalMs * 3 > k.sessionTimeoutMs) {
          ctx.addIssue({
            code: 'custom',
            path: ['heartbeatIntervalMs'],
            message: `must be at most a third of kafka.sessionTimeoutMs (${k.sessionTimeoutMs}), got ${k.heartbeatIntervalMs}`,
          });
        }
      })
      .default({}),
    /** Confluent Schema Registry of the topics' Avro schemas; url null = the ids of schemas/registry.json (README "Schema Registry"). */
    schemaRegistry: schemaRegistrySchema,
    limits: z
      .object({
        /** Largest accepted input record (bytes); larger ones go to the dead-letter topic. */
        maxRecordBytes: positiveInt.default(1024 * 1024),
        /** Most words in one transcript segment (its text, its word list); more: dead-lettered INVALID_FIELD. */
        maxWordsPerSegment: positiveInt.max(1_000_000).default(4096),
        /** Most words of one window the model input is built from; the oldest beyond it are dropped (counted). */
        maxWordsPerWindow: positiveInt.max(10_000_000).default(10_000),
        /** Records held in memory between the Kafka fetcher and the windows before fetching pauses. */
        maxBufferedRecords: positiveInt.default(2000),
        maxBufferedBytes: positiveInt.default(64 * 1024 * 1024),
      })
      .strict()
      .default({}),
    windows: z
      .object({
        sizeMs: positiveInt.default(6000),
        hopMs: positiveInt.default(1000),
        allowedLatenessMs: nonNegativeInt.default(1000),
        idleTimeoutMs: positiveInt.default(30000),
        maxEventTimeSkewMs: positiveInt.default(3600 * 1000),
        /** A record more than this ahead of processing time is dead-lettered TIME_OUT_OF_RANGE; null = no bound (replays of future-dated recordings). */
        maxEventTimeAheadMs: positiveInt.nullable().default(10 * 60 * 1000),
        /**
         * Outlier guard: an event time more than this past what the session's records agree on moves
         * the watermark only once a later record reaches within this of it; null = off.
         */
        maxWatermarkJumpMs: nonNegativeInt.nullable().default(1000),
        maxRecordsPerSession: positiveInt.default(20000),
        /** Modality alignment: a modality silent this long (ms, processing time) stops holding the watermark; 0 = off. */
        modalityIdleMs: nonNegativeInt.default(2000),
      })
      .strict()
      .default({}),
    model: z
      .object({
        /** Path of the model manifest (models/manifest.json); the model file is named in it. */
        manifest: z.string().default('models/manifest.json'),
        executionProvider: z.enum(['cpu', 'cuda']).default('cpu'),
        /** Intra-op threads of the session when it runs in the event loop's thread (`workers: 0`); 0 = ONNX Runtime's default. */
        intraOpThreads: nonNegativeInt.default(0),
        /**
         * Worker threads running the model, one ONNX Runtime session each, so inference never blocks
         * the event loop; 0 = in the event loop's thread (as before). Default from bench/workers.ts on 2 cores.
         */
        workers: nonNegativeInt.max(32).default(2),
        /** Intra-op threads of each worker's session; 0 = ONNX Runtime's default (all cores). */
        threadsPerWorker: nonNegativeInt.max(64).default(1),
        /**
         * Run each window alone (batch 1) inside the micro-batch: no padding, and no score can depend
         * on its batch neighbours. For the shipped graph batch 1 and 32 measured alike on 2 cores (bench/workers.ts).
         */
        perRow: z.boolean().default(false),
        /**
         * Serve the manifest's dynamic int8 graph (`dynamicInt8.file`), one row per run (its activation
         * scales are per run, so batching rows would make a score depend on its neighbours). About 2x
         * the windows/s of the shipped graph, MOSEI test Acc-2 within 0.2 (README Model); a manifest
         * without one serves its own graph.
         */
        dynamicInt8: z.boolean().default(true),
      })
      .strict()
      .default({}),
    features: z
      .object({
        /**
         * Face detector of the video features: `short-range` (128 px, what the model was trained
         * on) or `full-range` (Human's 256 px one: smaller faces in wide shots, about half the
         * frame rate, crops the model was not trained on).
         */
        faceDetector: z.enum(FACE_DETECTORS).default('short-range'),
        /**
         * Worker threads analysing faces, each with its own face model (src/features/visual/facePool.ts),
         * so the face model never blocks the event loop; 0 = in the event loop's thread (as before).
         * Only loaded when the served model reads faces. Default from bench/load.ts on 2 cores (README Load).
         */
        faceWorkers: nonNegativeInt.max(16).default(1),
        /**
         * A live video frame that waited longer than this (ms) for a face worker, behind other
         * sessions' frames, passes without a face vector (counted in `features.video.stale`): the
         * windows wait for their frames, so this bounds what face analysis adds to a score's delay
         * under overload. Live: it reached the stage within 5 s of its event time; a backlog's frames
         * (after a restart, a replay) are all analysed. 0: no bound (frames wait while fewer than 64
         * do). Default from bench/load.ts --faces (README Load).
         */
        faceMaxWaitMs: nonNegativeInt.max(60_000).default(200),
        /**
         * Worker threads computing the voice features (acoustic frames, resampling) when the served
         * model reads audio (src/features/acoustic/framePool.ts); each session's stream lives in one
         * of them. 0 = in the event loop's thread.
         */
        voiceWorkers: nonNegativeInt.max(16).default(0),
      })
      .strict()
      .default({}),
    asr: asrSchema,
    voice: voiceSchema,
    batching: z
      .object({
        /**
         * Windows per model batch, and batches running at once (at least `model.workers`). Small
         * batches, several in flight: the served graph runs one row at a time on CPU, so a big batch
         * only makes its first rows wait for its last (README Load: 200 sessions p99 367-482 ms
         * with 8 / 4 against 527-729 ms with 32 / 1). On a GPU with a batched graph, raise both.
         */
        maxBatchSize: positiveInt.default(8),
        maxQueueDelayMs: nonNegativeInt.default(20),
        maxInFlight: positiveInt.default(4),
        /**
         * Windows waiting for the model at which the Kafka source pauses (backpressure); it resumes
         * at half. Scores waiting to be written pause it at 4x this.
         */
        pauseAt: positiveInt.default(256),
      })
      .strict()
      .default({}),
    scores: z
      .object({
        smoothing: z
          .discriminatedUnion('method', [
            z.object({ method: z.literal('ema'), alpha: z.number().gt(0).lte(1) }).strict(),
            z.object({ method: z.literal('mean'), windows: positiveInt }).strict(),
          ])
          .default({ method: 'ema', alpha: 0.3 }),
        neutralBand: z.number().nonnegative().default(0.5),
      })
      .strict()
      .default({}),
    ws: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: nonNegativeInt.max(65535).default(8080),
        path: z.string().default('/ws'),
        /**
         * Bearer tokens accepted from WebSocket clients (and for /metrics); empty = no
         * authentication (loopback only). A bare string sees every session; an object
         * `{token, name?, sessionPrefixes: [...] | '*', maxConnections?, maxSubscribeAll?}` sees
         * the sessions whose id starts with one of its prefixes (src/outputs/ws/auth.ts).
         */
        authTokens: authTokensSchema.default([]),
        /** Connections at once per token (a token entry's maxConnections overrides it); more are closed with 4429. */
        maxConnectionsPerToken: positiveInt.default(1000),
        /** `all` and filter subscriptions at once per token, over its connections; more are refused (too_many_subscribe_all). */
        maxSubscribeAllPerToken: positiveInt.default(100),
        /** History is sent in slices of about this many bytes, the event loop free between slices. */
        historySliceBytes: positiveInt.default(64 * 1024),
        historySize: positiveInt.default(60),
        maxBufferedMessages: positiveInt.default(1000),
        maxBufferedBytes: positiveInt.default(4 * 1024 * 1024),
        maxSubscriptions: positiveInt.default(100),
        /** Sessions whose history is kept (least recently updated dropped first). */
        maxHistorySessions: positiveInt.default(10_000),
        /** Sessions whose history one `all` or filter subscription sends (the most recent). */
        historySessionsPerSubscribe: positiveInt.default(100),
        /** Client messages above this get an error reply; above 4 times this the connection closes (1009). */
        maxMessageBytes: positiveInt.default(64 * 1024),
        /** Connections at once; more are closed with 1013. */
        maxClients: positiveInt.default(10_000),
        /** Time a client without a bearer header has to send its auth message. */
        authTimeoutMs: positiveInt.default(10_000),
        /** Ping period; a client that has not answered the previous ping is terminated. */
        pingIntervalMs: positiveInt.default(30_000),
        /** Time a closing client has to complete the close handshake before it is cut off. */
        closeTimeoutMs: positiveInt.default(5_000),
      })
      .strict()
      .default({}),
    // The HTTP server on ws.host:ws.port that also carries the WebSocket (src/outputs/http).
    http: z
      .object({
        /** Serve the dashboard page at / (healthz, metrics and the WebSocket are served either way). */
        dashboard: z.boolean().default(true),
        /** Folder of the dashboard's static files; null = the project's `dashboard/`. */
        dashboardDir: z.string().nullable().default(null),
        /** Time a client has to send a whole request (headers included). */
        requestTimeoutMs: positiveInt.default(10_000),
      })
      .strict()
      .default({}),
    // Alert rules over rolling scores (src/scores/alerts.ts, docs/dashboard.md).
    alerts: z
      .object({
        rules: z
          .array(
            z
              .object({
                name: z.string().min(1).max(64),
                when: z.enum(['below', 'above']).default('below'),
                threshold: z.number().min(-3).max(3),
                /** Event time (ms) the condition must hold before the rule fires. */
                forMs: nonNegativeInt,
                hysteresis: z.number().nonnegative().default(0),
              })
              .strict(),
          )
          .max(32)
          .refine((rules) => new Set(rules.map((r) => r.name)).size === rules.length, { message: 'alert rule names must be unique' })
          .default([{ name: 'sustained-negative', when: 'below', threshold: -1, forMs: 10_000, hysteresis: 0 }]),
        /** Sessions whose alert state is kept (least recently scored dropped first). */
        maxSessions: positiveInt.default(10_000),
        /** A session with no score for this long (wall clock) is forgotten; its firing alerts resolve. */
        idleTimeoutMs: positiveInt.default(60_000),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;

/** The project's cache folder: `cacheDir`, else ~/.cache/msa. */
export function cacheDirOf(config: Pick<Config, 'cacheDir'>): string {
  return config.cacheDir ?? join(homedir(), '.cache', 'msa');
}

/** Every default, in one place: the modules that take parts of the config default to these. */
export const DEFAULTS: Config = configSchema.parse({});
export type ConfigInput = z.input<typeof configSchema>;

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> | T[K] : T[K] };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge where later sources win; arrays are replaced, not merged. */
export function mergeConfig(...sources: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const src of sources) {
    if (!isPlainObject(src)) continue;
    for (const [k, v] of Object.entries(src)) {
      if (v === undefined) continue;
      const prev = out[k];
      out[k] = isPlainObject(v) && isPlainObject(prev) ? mergeConfig(prev, v) : v;
    }
  }
  return out;
}

export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** `kafka.broker: unknown key; did you mean kafka.brokers? (known: ...)`. */
function unknownKey(path: readonly (string | number)[], key: string): string {
  const section = path.reduce<unknown>((o, k) => (isPlainObject(o) ? o[k as string] : undefined), DEFAULTS);
  const known = isPlainObject(section) ? Object.keys(section) : [];
  const where = [...path, key].join('.');
  const near = known.map((k) => ({ k, d: editDistance(k.toLowerCase(), key.toLowerCase()) })).sort((a, b) => a.d - b.d)[0];
  const hint = near && near.d <= Math.max(1, Math.floor(key.length / 3)) ? `; did you mean ${[...path, near.k].join('.')}?` : '';
  return `${where}: unknown key${hint} (known here: ${known.join(', ')})`;
}

/** Optimal string alignment distance: edits, with a swap of neighbours counted as one. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** Build the config: defaults < file < environment < overrides. Throws ConfigError naming each bad value. */
export function loadConfig(opts: { file?: string; env?: Record<string, string | undefined>; overrides?: unknown } = {}): Config {
  const fromFile = opts.file ? readConfigFile(opts.file) : {};
  const merged = mergeConfig(fromFile, configFromEnv(opts.env ?? {}), opts.overrides ?? {});
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((i) => {
      const path = i.path.join('.');
      if (i.code === 'unrecognized_keys') return i.keys.map((key) => unknownKey(i.path, key));
      // Secrets are named by their path, never echoed.
      const last = i.path.at(-1);
      const secret =
        i.path.includes('password') ||
        i.path.includes('users') ||
        i.path.includes('auth') ||
        (i.path.includes('authTokens') && (last === 'token' || last === 'authTokens' || typeof last === 'number'));
      const got = secret ? undefined : i.path.reduce<unknown>((o, k) => (isPlainObject(o) ? o[k as string] : undefined), merged);
      return [`${path || '(root)'}: ${i.message}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`];
    });
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const cfg = parsed.data;
  const shape = windowShapeProblem(cfg.windows.sizeMs, cfg.windows.hopMs);
  if (shape !== null) throw new ConfigError(`invalid configuration:\n  windows: ${shape}`);
  return cfg;
}
