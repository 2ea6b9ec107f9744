/**
 * The configuration's environment variables (`MSA_*`, `KAFKA_BROKERS`): each read, checked and
 * turned into a partial config that `loadConfig` merges over the file's. Only the CLI hands
 * `process.env` in (cli/context.ts).
 */
import type { Config, ConfigInput, DeepPartial } from './config.js';
import { ConfigError } from './errors.js';

const intFromEnv = (env: Record<string, string | undefined>, name: string): number | undefined => {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new ConfigError(`${name} must be a number, got ${JSON.stringify(raw)}`);
  return n;
};

const nonEmpty = (raw: string | undefined): string | undefined => (raw === undefined || raw.trim() === '' ? undefined : raw.trim());

const listFromEnv = (raw: string | undefined): string[] | undefined =>
  raw === undefined || raw.trim() === ''
    ? undefined
    : raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);

type KafkaSaslInput = NonNullable<NonNullable<ConfigInput['kafka']>['sasl']>;

const boolFromEnv = (env: Record<string, string | undefined>, name: string): boolean | undefined => {
  const raw = nonEmpty(env[name])?.toLowerCase();
  if (raw === undefined) return undefined;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(env[name])}`);
};

/**
 * MSA_KAFKA_SASL_MECHANISM / _USERNAME / _PASSWORD (e.g. from a Kubernetes Secret): kafka.sasl,
 * over what the config file gives; all empty = the file's. The password is taken as it is.
 */
function saslFromEnv(env: Record<string, string | undefined>): KafkaSaslInput | undefined {
  const password = env.MSA_KAFKA_SASL_PASSWORD === '' ? undefined : env.MSA_KAFKA_SASL_PASSWORD;
  const sasl = { mechanism: nonEmpty(env.MSA_KAFKA_SASL_MECHANISM)?.toLowerCase(), username: nonEmpty(env.MSA_KAFKA_SASL_USERNAME), password };
  // A part missing here comes from the config file when it has one, else the schema names it.
  return Object.values(sasl).some((v) => v !== undefined) ? (sasl as KafkaSaslInput) : undefined;
}

/**
 * MSA_WS_TOKENS: a comma list of tokens that see every session, or a JSON array as ws.authTokens
 * takes it (strings and `{token, sessionPrefixes, ...}` objects) when it starts with '['.
 */
function tokensFromEnv(raw: string | undefined): unknown[] | undefined {
  if (raw === undefined || !raw.trim().startsWith('[')) return listFromEnv(raw);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    // The message of JSON.parse quotes no more than a few characters around the fault.
    throw new ConfigError(`invalid configuration:\n  MSA_WS_TOKENS starts with '[' but is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new ConfigError('invalid configuration:\n  MSA_WS_TOKENS must be a JSON array of tokens');
  return parsed;
}

/** The settings the environment can give (documented in the README). */
export function configFromEnv(env: Record<string, string | undefined>): DeepPartial<ConfigInput> {
  return {
    logLevel: env.MSA_LOG_LEVEL as Config['logLevel'] | undefined,
    cacheDir: nonEmpty(env.MSA_CACHE_DIR),
    broker: {
      dataDir: nonEmpty(env.MSA_KAFKA_DATA_DIR),
      port: intFromEnv(env, 'MSA_KAFKA_PORT'),
      controllerPort: intFromEnv(env, 'MSA_KAFKA_CONTROLLER_PORT'),
      version: nonEmpty(env.MSA_KAFKA_VERSION),
      javaHome: nonEmpty(env.JAVA_HOME),
    },
    schemaRegistry: { url: nonEmpty(env.MSA_SCHEMA_REGISTRY_URL) },
    kafka: {
      brokers: listFromEnv(env.KAFKA_BROKERS),
      topicPrefix: env.MSA_TOPIC_PREFIX,
      groupId: env.MSA_GROUP_ID,
      delivery: env.MSA_DELIVERY as Config['kafka']['delivery'] | undefined,
      transactionalId: nonEmpty(env.MSA_TRANSACTIONAL_ID),
      ssl: boolFromEnv(env, 'MSA_KAFKA_SSL'),
      sasl: saslFromEnv(env),
    },
    model: {
      manifest: env.MSA_MODEL,
      executionProvider: env.MSA_EXECUTION_PROVIDER as 'cpu' | 'cuda' | undefined,
      workers: intFromEnv(env, 'MSA_MODEL_WORKERS'),
      threadsPerWorker: intFromEnv(env, 'MSA_MODEL_THREADS'),
    },
    asr: {
      mode: env.MSA_ASR as Config['asr']['mode'] | undefined,
      model: env.MSA_ASR_MODEL as Config['asr']['model'] | undefined,
      telephoneModel: env.MSA_ASR_TELEPHONE_MODEL as Config['asr']['model'] | undefined,
      python: nonEmpty(env.MSA_PYTHON),
    },
    voice: { enabled: boolFromEnv(env, 'MSA_VOICE'), reader: nonEmpty(env.MSA_VOICE_READER) },
    features: {
      faceDetector: env.MSA_FACE_DETECTOR as Config['features']['faceDetector'] | undefined,
      faceWorkers: intFromEnv(env, 'MSA_FACE_WORKERS'),
      faceMaxWaitMs: intFromEnv(env, 'MSA_FACE_MAX_WAIT_MS'),
      voiceWorkers: intFromEnv(env, 'MSA_VOICE_WORKERS'),
    },
    ws: {
      host: env.MSA_WS_HOST,
      port: intFromEnv(env, 'MSA_WS_PORT'),
      authTokens: tokensFromEnv(env.MSA_WS_TOKENS),
    },
  };
}
