/**
 * The codec of one process with or without a Schema Registry (`schemaRegistry.url`).
 *
 * - Without (the default, offline): the hand-mapped ids of `schemas/registry.json`.
 * - With: at start, each topic's value schema is checked for compatibility and registered under the
 *   subject `<topic>-value` (TopicNameStrategy); the codec writes the ids the registry returned. A
 *   record whose id the codec does not know is resolved through the registry (the writer's schema
 *   fetched by id, cached) and read into this process's schema; `resolveWriter` does that.
 *
 * @example
 * const { codec, resolveWriter } = await codecFor({ registry: config.schemaRegistry, topics, limits: config.limits });
 * let r = codec.decode(bytes, 'audio');
 * if (!r.ok && r.code === 'UNKNOWN_SCHEMA_ID' && resolveWriter) { await resolveWriter(idOf(bytes), 'audio'); r = codec.decode(bytes, 'audio'); }
 */
import type { Config } from '../../config/config.js';
import { silentLogger, type Logger } from '../../log.js';
import { createCodec, type Codec, type RecordKind } from '../../schemas/codec.js';
import { defaultSchemaDir, loadSchemas } from '../../schemas/load.js';
import { retryUntilDone, RetryAbortedError, type Backoff } from '../retry.js';
import { TOPIC_RECORD_KIND, type TopicNames, type TopicRole } from '../topics.js';
import { createSchemaRegistryClient, SchemaRegistryError, type SchemaRegistryClient } from './client.js';

export interface RegistryCodec {
  codec: Codec;
  /** null when offline. Fetches the writer schema of `id` and adds it to the codec; resolves to a reason when it cannot be read as `kind`. */
  resolveWriter: ((id: number, kind: RecordKind) => Promise<string | null>) | null;
  /** The registry's ids per kind (null when offline). */
  registeredIds: Record<RecordKind, number> | null;
}

export interface CodecForOptions {
  registry: Config['schemaRegistry'];
  topics: TopicNames;
  limits: Pick<Config['limits'], 'maxRecordBytes' | 'maxWordsPerSegment'>;
  logger?: Logger;
  /** A client to use instead of one built from `registry` (tests). */
  client?: SchemaRegistryClient;
  /** Waits between tries while the registry is unreachable; default 300 ms doubling to 5 s. */
  backoff?: Backoff;
  /** Ends those waits (the caller stops): the record is then dead-lettered with the last error. */
  signal?: AbortSignal;
}

/** The Confluent wire format's schema id (bytes 1..4) of a record, or null if it has no header. */
export function wireSchemaId(bytes: Buffer | null | undefined): number | null {
  return bytes && bytes.length >= 5 && bytes[0] === 0 ? bytes.readUInt32BE(1) : null;
}

/** The subject of a topic's record values (TopicNameStrategy). */
export const valueSubject = (topic: string): string => `${topic}-value`;

/**
 * Checks and registers this process's schema of every topic; returns the id per kind. Refuses a
 * schema the registry calls incompatible, naming the subject and what the registry said.
 */
export async function registerTopicSchemas(
  client: SchemaRegistryClient,
  topics: TopicNames,
  logger: Logger = silentLogger,
): Promise<Record<RecordKind, number>> {
  const schemas = loadSchemas(defaultSchemaDir());
  const ids = {} as Record<RecordKind, number>;
  for (const role of Object.keys(topics) as TopicRole[]) {
    const kind = TOPIC_RECORD_KIND[role];
    const subject = valueSubject(topics[role]);
    const compat = await client.checkCompatibility(subject, schemas[kind]);
    if (!compat.compatible) {
      throw new Error(
        `schema registry ${client.url}: this version's ${kind} schema is not compatible with the latest under subject ${subject}` +
          `${compat.messages.length ? `: ${compat.messages.join('; ')}` : ''}; evolve the schema compatibly or change the subject's compatibility rule`,
      );
    }
    const id = await client.register(subject, schemas[kind]);
    if (ids[kind] !== undefined && ids[kind] !== id) {
      throw new Error(`schema registry ${client.url} gave the ${kind} schema two ids (${ids[kind]} and ${id} under ${subject})`);
    }
    ids[kind] = id;
  }
  logger.info({ registry: client.url, ids }, 'schemas registered with the schema registry');
  return ids;
}

/** Failures kept per (kind, id), so a bad id is not fetched for every record; bounded. */
const MAX_FAILED_IDS = 1000;

export async function codecFor(options: CodecForOptions): Promise<RegistryCodec> {
  const limits = { maxRecordBytes: options.limits.maxRecordBytes, maxWordsPerSegment: options.limits.maxWordsPerSegment };
  const url = options.registry.url;
  if (url === null && !options.client) return { codec: createCodec(limits), resolveWriter: null, registeredIds: null };
  const client =
    options.client ??
    createSchemaRegistryClient({
      url: url!,
      timeoutMs: options.registry.timeoutMs,
      maxCachedSchemas: options.registry.maxCachedSchemas,
      auth: options.registry.auth,
    });
  const log = (options.logger ?? silentLogger).child({ component: 'schema-registry' });
  const registeredIds = await registerTopicSchemas(client, options.topics, log);
  const codec = createCodec({ ...limits, schemaIds: registeredIds });
  const failed = new Map<string, string>();
  const inFlight = new Map<string, Promise<string | null>>();

  const resolveWriter = (id: number, kind: RecordKind): Promise<string | null> => {
    if (codec.knows(id)) return Promise.resolve(null);
    const key = `${kind}:${id}`;
    const known = failed.get(key);
    if (known !== undefined) return Promise.resolve(known);
    const pending = inFlight.get(key);
    if (pending) return pending;
    // An unreachable registry (no answer, 5xx) is waited out like a broker outage: the record and
    // those after it wait, the source pauses on its buffer limits. Only stopping ends the wait.
    const unreachable = (err: unknown) => !(err instanceof SchemaRegistryError && err.status !== null && err.status < 500);
    const p = retryUntilDone(() => client.schemaById(id), {
      what: `fetching schema id ${id} from the schema registry`,
      backoff: options.backoff ?? { initialMs: 300, maxMs: 5000 },
      retriable: unreachable,
      signal: options.signal,
      onRetry: (err, attempt, waitMs) => log.warn({ id, kind, attempt, waitMs, err: (err as Error).message }, 'schema registry unreachable; retrying'),
    })
      .then(
        (schema) => {
          if (codec.knows(id)) return null; // another kind's lookup added it meanwhile
          codec.addWriter({ id, kind, schema });
          log.info({ id, kind }, 'writer schema fetched from the schema registry');
          return null;
        },
        (err: unknown) =>
          // Stopping: the record is neither read nor dead-lettered; it stays uncommitted and is read again on restart.
          err instanceof RetryAbortedError
            ? new Promise<never>(() => undefined)
            : `schema id ${id} could not be fetched from the schema registry: ${(err as Error).message}`,
      )
      .catch((err: unknown) => `schema id ${id} from the schema registry: ${(err as Error).message}`)
      .then((reason) => {
        inFlight.delete(key);
        if (reason !== null) {
          if (failed.size >= MAX_FAILED_IDS) failed.clear();
          failed.set(key, reason);
          log.warn({ id, kind, reason }, 'a record names a schema id that cannot be read; such records go to the dead-letter topic');
        }
        return reason;
      });
    inFlight.set(key, p);
    return p;
  };
  return { codec, resolveWriter, registeredIds };
}
