/**
 * Avro codec for our topics in the Confluent wire format:
 *
 *   byte 0      magic byte, always 0
 *   bytes 1..4  schema id, 32-bit big-endian (from `schemas/registry.json`, or remapped)
 *   bytes 5..   Avro binary body
 *
 * `decode` never throws on bad input: it returns `{ ok: false, code, reason }` so the caller can
 * dead-letter the record and go on. Checks run cheapest first: size, header, schema id, an
 * allocation-free bounds check of the body (see guard.ts), avsc decoding, then field checks.
 *
 * Schema evolution: the schema id on the wire names the writer's schema. Older versions listed
 * in `registry.json` (files under `schemas/versions/`), and any given in `writerSchemas`, are read
 * through an avsc resolver into this process's schema, so added fields take their defaults.
 *
 * @example
 * const codec = createCodec();
 * const bytes = codec.encode(chunk, 'audio');
 * const result = codec.decode(bytes, 'audio');
 * if (result.ok) use(result.value); else deadLetter(result.code, result.reason);
 */
import avro from 'avsc';
import type { Schema, Type } from 'avsc';
import { AvroBoundsError, AvroUtf8Error, checkAvroBody } from './guard.js';
import { RECORD_KINDS, type RecordKind, type RecordTypes } from './kinds.js';
import { defaultSchemaDir, loadOlderSchemas, loadSchemaIds, loadSchemas } from './load.js';
import { DEFAULT_MAX_WORDS_PER_SEGMENT, describeValue, validateRecord } from './validate.js';

export type { RecordKind, RecordTypes } from './kinds.js';
export { RECORD_KINDS, SCHEMA_FILES } from './kinds.js';

/** Default largest encoded record accepted by `decode`, header included. */
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;

const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

export type DecodeErrorCode = 'MALFORMED_AVRO' | 'UNKNOWN_SCHEMA_ID' | 'TOO_LARGE' | 'MISSING_SESSION_ID' | 'INVALID_FIELD';

export type DecodeResult<T> =
  | { ok: true; value: T; schemaId: number }
  | {
      ok: false;
      code: DecodeErrorCode;
      reason: string;
      /** The record's session id when the body decoded far enough to have one. */
      sessionId: string | null;
    };

/** Another version of a kind's schema that may appear on the wire under its own id. */
export interface WriterSchema {
  id: number;
  kind: RecordKind;
  schema: Schema;
}

export interface CodecOptions {
  /** Folder with the `.avsc` files and `registry.json`; default: this package's `schemas/`. */
  schemaDir?: string;
  /** Schema id per kind, replacing `registry.json` (e.g. the ids a Schema Registry returned). */
  schemaIds?: Partial<Record<RecordKind, number>>;
  /** This process's schema per kind, replacing the `.avsc` file (e.g. a newer version). */
  schemas?: Partial<Record<RecordKind, Schema>>;
  /** Other schema versions that may appear on the wire, read into this process's schema. */
  writerSchemas?: WriterSchema[];
  /** Largest encoded record `decode` accepts, in bytes (header included). Default 1 MiB. */
  maxRecordBytes?: number;
  /** Most words in a transcript segment (its text and its word list); more: INVALID_FIELD. Default 4096. */
  maxWordsPerSegment?: number;
}

export interface Codec {
  /** The record in Confluent wire format. Throws when it does not fit the schema (a bug, not input). */
  encode<K extends RecordKind>(record: RecordTypes[K], kind: K): Buffer;
  /** Decodes and validates a record read from a topic that carries `expectedKind`. Never throws. */
  decode<K extends RecordKind>(bytes: Buffer | null | undefined, expectedKind: K): DecodeResult<RecordTypes[K]>;
  /** The id this codec writes for `kind`. */
  schemaId(kind: RecordKind): number;
  /** The avsc type this codec writes and reads `kind` as. */
  type(kind: RecordKind): Type;
  /** Whether records with this schema id can be decoded. */
  knows(id: number): boolean;
  /**
   * Reads another writer schema from now on (e.g. one a Schema Registry returned for an id the
   * codec did not know). Throws if the id is taken or the schema cannot be read as `kind`.
   */
  addWriter(w: WriterSchema): void;
  readonly maxRecordBytes: number;
}

interface Writer {
  kind: RecordKind;
  type: Type;
  /** Reads bytes written with `type` into the local type; absent when they are the same. */
  resolver?: ReturnType<Type['createResolver']>;
}

/** Fresh options per type: avsc keeps its name registry in the options object it is given. */
const typeOptions = () => ({ omitRecordMethods: true });

function typeLabel(type: Type): string {
  return type.name ?? type.typeName;
}

export function createCodec(options: CodecOptions = {}): Codec {
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const limits = { maxWordsPerSegment: options.maxWordsPerSegment ?? DEFAULT_MAX_WORDS_PER_SEGMENT };
  if (!Number.isInteger(limits.maxWordsPerSegment) || limits.maxWordsPerSegment < 1) {
    throw new Error(`maxWordsPerSegment must be an integer >= 1, got ${limits.maxWordsPerSegment}`);
  }
  if (!Number.isInteger(maxRecordBytes) || maxRecordBytes < HEADER_BYTES) {
    throw new Error(`maxRecordBytes must be an integer >= ${HEADER_BYTES}, got ${maxRecordBytes}`);
  }
  const needFiles = RECORD_KINDS.some((k) => !options.schemas?.[k] || options.schemaIds?.[k] === undefined);
  const dir = needFiles ? (options.schemaDir ?? defaultSchemaDir()) : undefined;
  const fileSchemas = dir ? loadSchemas(dir) : undefined;
  const fileIds = dir ? loadSchemaIds(dir) : undefined;

  const types = {} as Record<RecordKind, Type>;
  const ids = {} as Record<RecordKind, number>;
  const writers = new Map<number, Writer>();

  for (const kind of RECORD_KINDS) {
    types[kind] = avro.Type.forSchema(options.schemas?.[kind] ?? fileSchemas![kind], typeOptions());
    const id = options.schemaIds?.[kind] ?? fileIds![kind];
    if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) throw new Error(`schema id for ${kind} must be an integer in 0..2147483647, got ${id}`);
    const clash = writers.get(id);
    if (clash) throw new Error(`schema id ${id} is given to both ${clash.kind} and ${kind}; ids must be unique`);
    ids[kind] = id;
    writers.set(id, { kind, type: types[kind] });
  }
  // Older versions named by registry.json, unless the caller replaced the schemas or the ids.
  const older = dir && !options.schemas && !options.schemaIds ? loadOlderSchemas(dir) : [];
  function addWriter(w: WriterSchema): void {
    const clash = writers.get(w.id);
    if (clash) throw new Error(`writer schema id ${w.id} (${w.kind}) is already used by ${clash.kind}; ids must be unique`);
    let type: Type;
    let resolver;
    try {
      type = avro.Type.forSchema(w.schema, typeOptions());
      resolver = types[w.kind].createResolver(type);
    } catch (err) {
      throw new Error(`writer schema id ${w.id} cannot be read as ${typeLabel(types[w.kind])}: ${(err as Error).message}`);
    }
    writers.set(w.id, { kind: w.kind, type, resolver });
  }
  for (const w of [...older, ...(options.writerSchemas ?? [])]) addWriter(w);

  const known = (): string => [...writers.entries()].map(([id, w]) => `${id}=${typeLabel(w.type)}`).join(', ');

  function encode<K extends RecordKind>(record: RecordTypes[K], kind: K): Buffer {
    const type = types[kind];
    let body: Buffer;
    try {
      body = type.toBuffer(record);
    } catch (err) {
      const problems: string[] = [];
      type.isValid(record, {
        errorHook: (path: string[], value: unknown, t: Type) =>
          problems.push(`${path.join('.') || '(record)'} = ${describeValue(value)} is not a valid ${t.typeName}`),
      });
      throw new Error(`cannot encode ${kind} record as ${typeLabel(type)}: ${problems.join('; ') || (err as Error).message}`);
    }
    const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
    out.writeUInt8(MAGIC_BYTE, 0);
    out.writeUInt32BE(ids[kind], 1);
    body.copy(out, HEADER_BYTES);
    return out;
  }

  function decode<K extends RecordKind>(bytes: Buffer | null | undefined, expectedKind: K): DecodeResult<RecordTypes[K]> {
    const fail = (code: DecodeErrorCode, reason: string, sessionId: string | null = null) => ({ ok: false, code, reason, sessionId }) as const;

    if (!bytes || bytes.length === 0) return fail('MALFORMED_AVRO', 'record value is empty (null or 0 bytes)');
    if (bytes.length > maxRecordBytes) {
      return fail('TOO_LARGE', `record is ${bytes.length} bytes, over the ${maxRecordBytes}-byte limit`);
    }
    if (bytes.length < HEADER_BYTES) {
      return fail('MALFORMED_AVRO', `record is ${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte Confluent header`);
    }
    const magic = bytes.readUInt8(0);
    if (magic !== MAGIC_BYTE) {
      return fail('MALFORMED_AVRO', `magic byte must be 0 (Confluent wire format), got 0x${magic.toString(16).padStart(2, '0')}`);
    }
    const id = bytes.readUInt32BE(1);
    const writer = writers.get(id);
    const expected = types[expectedKind];
    if (!writer) {
      return fail('UNKNOWN_SCHEMA_ID', `schema id ${id} is not registered (known: ${known()}); register the writer's schema or remap the ids`);
    }
    if (writer.kind !== expectedKind) {
      return fail('UNKNOWN_SCHEMA_ID', `schema id ${id} is ${typeLabel(writer.type)}, but this topic carries ${typeLabel(expected)}`);
    }

    let value: RecordTypes[K];
    try {
      checkAvroBody(writer.type, bytes, HEADER_BYTES);
      const body = bytes.subarray(HEADER_BYTES);
      value = (writer.resolver ? expected.fromBuffer(body, writer.resolver) : expected.fromBuffer(body)) as RecordTypes[K];
    } catch (err) {
      if (err instanceof AvroUtf8Error) {
        return fail('INVALID_FIELD', `${err.message} (schema id ${id}, ${typeLabel(writer.type)}); strings must be UTF-8`);
      }
      const detail = err instanceof AvroBoundsError ? err.message : `avsc: ${(err as Error).message}`;
      return fail('MALFORMED_AVRO', `Avro body (schema id ${id}, ${typeLabel(writer.type)}) is malformed: ${detail}`);
    }

    const problem = validateRecord(expectedKind, value, limits);
    const sessionId = (value as { sessionId?: unknown }).sessionId;
    if (problem) return fail(problem.code, problem.reason, typeof sessionId === 'string' && sessionId.trim() !== '' ? sessionId : null);
    return { ok: true, value, schemaId: id };
  }

  return {
    encode,
    decode,
    schemaId: (kind) => ids[kind],
    type: (kind) => types[kind],
    knows: (id) => writers.has(id),
    addWriter,
    maxRecordBytes,
  };
}

let defaultCodec: Codec | undefined;

function shared(): Codec {
  defaultCodec ??= createCodec();
  return defaultCodec;
}

/** `createCodec().encode` with the default options (schemas and ids from `schemas/`). */
export function encode<K extends RecordKind>(record: RecordTypes[K], kind: K): Buffer {
  return shared().encode(record, kind);
}

/** `createCodec().decode` with the default options (schemas and ids from `schemas/`, 1 MiB limit). */
export function decode<K extends RecordKind>(bytes: Buffer | null | undefined, expectedKind: K): DecodeResult<RecordTypes[K]> {
  return shared().decode(bytes, expectedKind);
}
