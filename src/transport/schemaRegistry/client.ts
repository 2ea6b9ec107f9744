/**
 * A client of the Confluent Schema Registry REST API (also spoken by Karapace and Apicurio's
 * `ccompat` API): register a subject's schema, look a schema up by id, check compatibility. The one
 * place that talks to a registry; Node's fetch, every request with a timeout and a size limit on
 * what comes back, schemas by id cached (bounded).
 *
 * @example
 * const registry = createSchemaRegistryClient({ url: 'http://127.0.0.1:8081' });
 * const id = await registry.register('scores-value', scoreSchema);
 * const writer = await registry.schemaById(id);
 */
import type { Schema } from 'avsc';

export interface SchemaRegistryOptions {
  /** Base URL, e.g. http://127.0.0.1:8081 (a path prefix such as /apis/ccompat/v7 is kept). */
  url: string;
  /** Per request; default 5000 ms. */
  timeoutMs?: number;
  /** Schemas by id kept in memory at most (oldest dropped first); default 1000. */
  maxCachedSchemas?: number;
  /** HTTP basic auth. */
  auth?: { username: string; password: string } | null;
}

export interface Compatibility {
  compatible: boolean;
  /** What the registry said is incompatible (when it says). */
  messages: string[];
}

export interface SchemaRegistryClient {
  readonly url: string;
  /** Registers `schema` under `subject` (or finds it there already); the registry's global id. */
  register(subject: string, schema: Schema): Promise<number>;
  /** The schema of a global id (cached). Throws SchemaRegistryError with status 404 for an unknown id. */
  schemaById(id: number): Promise<Schema>;
  /** Whether `schema` may be registered under `subject` by its compatibility rule; a new subject is compatible. */
  checkCompatibility(subject: string, schema: Schema): Promise<Compatibility>;
}

/** A registry answer other than success: HTTP status and the registry's error code and message. */
export class SchemaRegistryError extends Error {
  override name = 'SchemaRegistryError';
  constructor(
    message: string,
    readonly status: number | null,
    readonly errorCode: number | null,
  ) {
    super(message);
  }
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
/** Largest answer read: one Avro schema of ours is a few KiB. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Subjects are `<topic>-value`: topic names are at most 249 characters. */
const MAX_SUBJECT = 255;

function checkSubject(subject: string): string {
  if (subject.length === 0 || subject.length > MAX_SUBJECT || [...subject].some((c) => c.charCodeAt(0) < 0x20)) {
    throw new Error(`schema registry subject must be 1-${MAX_SUBJECT} printable characters, got ${JSON.stringify(subject.slice(0, 300))}`);
  }
  return encodeURIComponent(subject);
}

async function readLimited(res: Response, what: string): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_RESPONSE_BYTES)
    throw new SchemaRegistryError(`${what}: the answer is ${declared} bytes, over the ${MAX_RESPONSE_BYTES}-byte limit`, res.status, null);
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > MAX_RESPONSE_BYTES)
    throw new SchemaRegistryError(`${what}: the answer is ${body.length} bytes, over the ${MAX_RESPONSE_BYTES}-byte limit`, res.status, null);
  return body.toString('utf8');
}

export function createSchemaRegistryClient(options: SchemaRegistryOptions): SchemaRegistryClient {
  let base: URL;
  try {
    base = new URL(options.url);
  } catch {
    throw new Error(`schemaRegistry.url is not a URL: ${JSON.stringify(options.url)}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new Error(`schemaRegistry.url must be http:// or https://, got ${JSON.stringify(options.url)}`);
  const root = options.url.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxCached = options.maxCachedSchemas ?? 1000;
  const headers: Record<string, string> = { accept: CONTENT_TYPE };
  if (options.auth) headers.authorization = `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')}`;
  const byId = new Map<number, Schema>();

  async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const what = `schema registry ${method} ${root}${path}`;
    let res: Response;
    try {
      res = await fetch(`${root}${path}`, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': CONTENT_TYPE },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: Error };
      const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `${e.message}${e.cause ? ` (${e.cause.message})` : ''}`;
      throw new SchemaRegistryError(`${what}: ${why}`, null, null);
    }
    const text = await readLimited(res, what);
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new SchemaRegistryError(`${what}: HTTP ${res.status} with a body that is not JSON: ${JSON.stringify(text.slice(0, 200))}`, res.status, null);
    }
    if (!res.ok) {
      const { error_code: code, message } = json as { error_code?: number; message?: string };
      throw new SchemaRegistryError(`${what}: HTTP ${res.status}${code ? ` error ${code}` : ''}: ${message ?? text.slice(0, 200)}`, res.status, code ?? null);
    }
    return json as T;
  }

  return {
    url: root,
    async register(subject, schema) {
      const { id } = await call<{ id?: unknown }>('POST', `/subjects/${checkSubject(subject)}/versions`, {
        schema: JSON.stringify(schema),
        schemaType: 'AVRO',
      });
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
        throw new SchemaRegistryError(`schema registry ${root} answered a register of ${subject} without a valid id: ${JSON.stringify(id)}`, null, null);
      }
      return id;
    },
    async schemaById(id) {
      if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) throw new Error(`schema id must be an integer in 0..2147483647, got ${id}`);
      const cached = byId.get(id);
      if (cached) return cached;
      const { schema, schemaType } = await call<{ schema?: unknown; schemaType?: unknown }>('GET', `/schemas/ids/${id}`);
      if (schemaType !== undefined && schemaType !== 'AVRO') {
        throw new SchemaRegistryError(`schema id ${id} in ${root} is a ${String(schemaType)} schema, not AVRO`, null, null);
      }
      if (typeof schema !== 'string') throw new SchemaRegistryError(`schema registry ${root} answered id ${id} without a schema`, null, null);
      let parsed: Schema;
      try {
        parsed = JSON.parse(schema) as Schema;
      } catch {
        // A primitive type may come back as its bare name.
        parsed = schema as Schema;
      }
      if (byId.size >= maxCached) byId.delete(byId.keys().next().value!);
      byId.set(id, parsed);
      return parsed;
    },
    async checkCompatibility(subject, schema) {
      try {
        const r = await call<{ is_compatible?: unknown; messages?: unknown }>(
          'POST',
          `/compatibility/subjects/${checkSubject(subject)}/versions/latest?verbose=true`,
          { schema: JSON.stringify(schema), schemaType: 'AVRO' },
        );
        return { compatible: r.is_compatible === true, messages: Array.isArray(r.messages) ? r.messages.map(String) : [] };
      } catch (err) {
        // 40401 subject not found / 40402 version not found: nothing to be compatible with yet.
        if (err instanceof SchemaRegistryError && err.status === 404) return { compatible: true, messages: [] };
        throw err;
      }
    },
  };
}
