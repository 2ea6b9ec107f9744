import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import type { Schema } from 'avsc';
import { createCodec, decode, encode, RECORD_KINDS, SCHEMA_FILES, type RecordKind, type RecordTypes } from '../../src/schemas/codec.js';
import { defaultSchemaDir } from '../../src/schemas/load.js';
import type {
  AudioChunk,
  Contributions,
  DeadLetter,
  DeadLetterCode,
  FrameFormat,
  Modalities,
  Polarity,
  Score,
  TranscriptSegment,
  VideoFrame,
  Word,
} from '../../src/schemas/records.js';

const schemaDir = defaultSchemaDir();
const schemaOf = (kind: RecordKind) => JSON.parse(readFileSync(join(schemaDir, SCHEMA_FILES[kind]), 'utf8')) as AvroRecordSchema;

interface AvroField {
  name: string;
  type: unknown;
}
interface AvroRecordSchema {
  type: 'record';
  name: string;
  fields: AvroField[];
}

/** Plain JSON-able copy: decoded records are avsc record instances, compared by content here. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

const T0 = 1_700_000_000_000;

const samples: RecordTypes = {
  audio: { sessionId: 'call-1', seq: 7, eventTime: T0, sampleRate: 16000, encoding: 'S16LE', samples: Buffer.from([1, 0, 255, 255]), endOfStream: false },
  video: {
    sessionId: 'stream-9',
    seq: 3,
    eventTime: T0 + 40,
    format: 'RGB24',
    width: 2,
    height: 1,
    data: Buffer.from([1, 2, 3, 4, 5, 6]),
    features: [],
    featureSet: null,
    facePresent: true,
    endOfStream: false,
  },
  transcript: {
    sessionId: 'call-1',
    segmentId: 'seg-1',
    eventTime: T0,
    endTime: T0 + 900,
    text: 'hello there',
    words: [
      { word: 'hello', start: T0, end: T0 + 400, confidence: 0.5 },
      { word: 'there', start: T0 + 500, end: T0 + 900, confidence: null },
    ],
    isFinal: true,
    speaker: 'A',
    channel: 0,
    language: 'en',
    endOfStream: false,
    origin: null,
  },
  score: {
    sessionId: 'call-1',
    windowStart: T0,
    windowEnd: T0 + 6000,
    score: -1.5,
    windowScore: 2.25,
    polarity: 'NEGATIVE',
    confidence: 0.75,
    contributions: { text: 0.5, audio: 0.25, video: 0 },
    modalities: { text: true, audio: true, video: false },
    modalitiesUsed: { text: true, audio: false, video: false },
    modelVersion: 'cenet-test-1',
    records: 12,
    latencyMs: 3.5,
    emittedAt: T0 + 7000,
  },
  deadLetter: {
    sourceTopic: 'audio',
    partition: 2,
    offset: '12345',
    key: Buffer.from('call-1'),
    value: Buffer.from([9, 9]),
    reason: 'sampleRate must be > 0, got 0',
    code: 'INVALID_FIELD',
    sessionId: 'call-1',
    at: T0,
  },
};

for (const kind of RECORD_KINDS) {
  test(`round trip: ${kind}`, () => {
    const bytes = encode(samples[kind], kind);
    assert.equal(bytes[0], 0, 'magic byte');
    assert.equal(bytes.readUInt32BE(1), createCodec().schemaId(kind));
    const result = decode(bytes, kind);
    assert.ok(result.ok, result.ok ? '' : result.reason);
    assert.deepEqual(plain(result.value), plain(samples[kind]));
    // Buffers come back as Buffers, not as JSON.
    if (kind === 'audio') assert.ok(Buffer.isBuffer((result.value as AudioChunk).samples));
  });
}

test('schema ids come from registry.json and can be remapped', () => {
  const registry = JSON.parse(readFileSync(join(schemaDir, 'registry.json'), 'utf8')) as { schemas: Record<string, string> };
  const codec = createCodec();
  for (const kind of RECORD_KINDS) assert.equal(registry.schemas[String(codec.schemaId(kind))], SCHEMA_FILES[kind]);

  const remapped = createCodec({ schemaIds: { audio: 100042 } });
  const bytes = remapped.encode(samples.audio, 'audio');
  assert.equal(bytes.readUInt32BE(1), 100042);
  assert.ok(remapped.decode(bytes, 'audio').ok);
  const other = codec.decode(bytes, 'audio');
  assert.equal(other.ok, false);
  assert.equal(!other.ok && other.code, 'UNKNOWN_SCHEMA_ID');
  assert.throws(() => createCodec({ schemaIds: { audio: 2 } }), /schema id 2 is given to both/);
});

test('the schema folder is found from the module, not the working directory', () => {
  const cwd = process.cwd();
  process.chdir('/');
  try {
    assert.ok(createCodec().decode(encode(samples.audio, 'audio'), 'audio').ok);
  } finally {
    process.chdir(cwd);
  }
});

// Field names of every TS interface, checked against the schema at run time. `satisfies` makes
// tsc (npm run typecheck) reject a missing or extra key, so the match holds both ways.
const tsFields = {
  AudioChunk: { sessionId: 1, seq: 1, eventTime: 1, sampleRate: 1, encoding: 1, samples: 1, endOfStream: 1 } satisfies Record<keyof AudioChunk, 1>,
  VideoFrame: {
    sessionId: 1,
    seq: 1,
    eventTime: 1,
    format: 1,
    width: 1,
    height: 1,
    data: 1,
    features: 1,
    featureSet: 1,
    facePresent: 1,
    endOfStream: 1,
  } satisfies Record<keyof VideoFrame, 1>,
  TranscriptSegment: {
    sessionId: 1,
    segmentId: 1,
    eventTime: 1,
    endTime: 1,
    text: 1,
    words: 1,
    isFinal: 1,
    speaker: 1,
    channel: 1,
    language: 1,
    endOfStream: 1,
    origin: 1,
  } satisfies Record<keyof TranscriptSegment, 1>,
  Word: { word: 1, start: 1, end: 1, confidence: 1 } satisfies Record<keyof Word, 1>,
  Score: {
    sessionId: 1,
    windowStart: 1,
    windowEnd: 1,
    score: 1,
    windowScore: 1,
    polarity: 1,
    confidence: 1,
    contributions: 1,
    modalities: 1,
    modalitiesUsed: 1,
    modelVersion: 1,
    records: 1,
    latencyMs: 1,
    emittedAt: 1,
  } satisfies Record<keyof Score, 1>,
  Contributions: { text: 1, audio: 1, video: 1 } satisfies Record<keyof Contributions, 1>,
  Modalities: { text: 1, audio: 1, video: 1 } satisfies Record<keyof Modalities, 1>,
  DeadLetter: {
    sourceTopic: 1,
    partition: 1,
    offset: 1,
    key: 1,
    value: 1,
    reason: 1,
    code: 1,
    sessionId: 1,
    at: 1,
  } satisfies Record<keyof DeadLetter, 1>,
};
const tsEnums = {
  PcmEncoding: { S16LE: 1 } satisfies Record<AudioChunk['encoding'], 1>,
  FrameFormat: { JPEG: 1, PNG: 1, RGB24: 1, FEATURES: 1 } satisfies Record<FrameFormat, 1>,
  Polarity: { NEGATIVE: 1, NEUTRAL: 1, POSITIVE: 1 } satisfies Record<Polarity, 1>,
};

/** Every named record and enum in a schema, by short name. */
function namedTypes(schema: unknown, out = new Map<string, { fields?: string[]; symbols?: string[] }>()) {
  if (Array.isArray(schema)) schema.forEach((s) => namedTypes(s, out));
  else if (schema && typeof schema === 'object') {
    const s = schema as { type: unknown; name?: string; fields?: AvroField[]; symbols?: string[]; items?: unknown };
    if (s.type === 'record' && s.name) {
      out.set(s.name, { fields: s.fields!.map((f) => f.name) });
      s.fields!.forEach((f) => namedTypes(f.type, out));
    } else if (s.type === 'enum' && s.name) out.set(s.name, { symbols: s.symbols! });
    else if (s.type === 'array') namedTypes(s.items, out);
    else namedTypes(s.type, out);
  }
  return out;
}

test('records.ts interfaces match the schema fields and enum symbols exactly', () => {
  const named = new Map<string, { fields?: string[]; symbols?: string[] }>();
  for (const kind of RECORD_KINDS) namedTypes(schemaOf(kind), named);
  for (const [name, fields] of Object.entries(tsFields)) {
    assert.deepEqual(Object.keys(fields).sort(), named.get(name)?.fields?.slice().sort(), `fields of ${name}`);
  }
  for (const [name, symbols] of Object.entries(tsEnums)) {
    assert.deepEqual(Object.keys(symbols).sort(), named.get(name)?.symbols?.slice().sort(), `symbols of ${name}`);
  }
  // Every named record of the schemas has its interface.
  assert.deepEqual(
    [...named.entries()]
      .filter(([, v]) => v.fields)
      .map(([k]) => k)
      .sort(),
    Object.keys(tsFields).sort(),
  );
});

test('the DeadLetter code doc lists only codes of DeadLetterCode', () => {
  const codes: Record<DeadLetterCode, 1> = {
    MALFORMED_AVRO: 1,
    TOO_LARGE: 1,
    UNKNOWN_SCHEMA_ID: 1,
    MISSING_SESSION_ID: 1,
    TIME_OUT_OF_RANGE: 1,
    INVALID_FIELD: 1,
    SESSION_FULL: 1,
    PROCESSING_FAILED: 1,
    LATE: 1,
  };
  const doc = schemaOf('deadLetter').fields.find((f) => f.name === 'code') as AvroField & { doc: string };
  for (const code of doc.doc.match(/[A-Z][A-Z_]{2,}/g) ?? []) assert.ok(code in codes, `${code} is not a DeadLetterCode`);
});

// ---- bad input: every code, with a reason naming the bad value ----

function expectFailure<K extends RecordKind>(bytes: Buffer | null, kind: K, code: string, reason: RegExp, codec = createCodec()) {
  const result = codec.decode(bytes, kind);
  assert.equal(result.ok, false, `expected ${code}`);
  if (!result.ok) {
    assert.equal(result.code, code, result.reason);
    assert.match(result.reason, reason);
  }
  return result;
}

/** A Confluent frame around a hand-made Avro body. */
function withHeader(id: number, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(id, 1);
  body.copy(out, 5);
  return out;
}

test('MALFORMED_AVRO: wrong magic byte, short header, empty value', () => {
  const bytes = Buffer.from(encode(samples.audio, 'audio'));
  bytes[0] = 0x7b; // '{': a JSON producer on an Avro topic
  expectFailure(bytes, 'audio', 'MALFORMED_AVRO', /magic byte must be 0.*got 0x7b/);
  expectFailure(Buffer.from([0, 0, 0]), 'audio', 'MALFORMED_AVRO', /3 bytes, shorter than the 5-byte/);
  expectFailure(null, 'audio', 'MALFORMED_AVRO', /empty/);
  expectFailure(Buffer.alloc(0), 'audio', 'MALFORMED_AVRO', /empty/);
});

test('MALFORMED_AVRO: truncated body, trailing bytes, bad enum index', () => {
  const good = encode(samples.audio, 'audio');
  expectFailure(good.subarray(0, good.length - 3), 'audio', 'MALFORMED_AVRO', /samples|endOfStream|bytes/);
  expectFailure(Buffer.concat([good, Buffer.from([1, 2])]), 'audio', 'MALFORMED_AVRO', /2 trailing bytes/);
  // sessionId "s", seq 0, eventTime 0, sampleRate 1, encoding index 5 (only S16LE exists)
  expectFailure(withHeader(1, Buffer.from([2, 0x73, 0, 0, 2, 10, 0, 0])), 'audio', 'MALFORMED_AVRO', /enum index: 5/);
});

test('MALFORMED_AVRO: a huge array count in a tiny record is refused fast, without allocating', () => {
  // VideoFrame: sessionId "s", seq 0, eventTime 0, format FEATURES(3), width 0, height 0, data "",
  // then features: a block claiming 2^27 floats, and nothing else.
  const count = 2 ** 27 * 2; // zig-zag
  const varint: number[] = [];
  for (let v = count; ; v = Math.floor(v / 128)) {
    if (v < 128) {
      varint.push(v);
      break;
    }
    varint.push((v % 128) | 0x80);
  }
  const body = Buffer.from([2, 0x73, 0, 0, 6, 0, 0, 0, ...varint, 0]);
  const started = process.hrtime.bigint();
  expectFailure(withHeader(2, body), 'video', 'MALFORMED_AVRO', /features: block claims 134217728 items but only \d+ bytes are left/);
  assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 100, 'refused in well under 100 ms');
});

test('UNKNOWN_SCHEMA_ID: id not registered, or a different kind than the topic carries', () => {
  const bytes = Buffer.from(encode(samples.audio, 'audio'));
  bytes.writeUInt32BE(424242, 1);
  expectFailure(bytes, 'audio', 'UNKNOWN_SCHEMA_ID', /schema id 424242 is not registered/);
  expectFailure(encode(samples.video, 'video'), 'audio', 'UNKNOWN_SCHEMA_ID', /schema id 2 is msa\.v1\.VideoFrame, but this topic carries msa\.v1\.AudioChunk/);
});

test('TOO_LARGE: checked before decoding, limit configurable', () => {
  const big = encode({ ...samples.audio, samples: Buffer.alloc(1024 * 1024) }, 'audio');
  expectFailure(big, 'audio', 'TOO_LARGE', new RegExp(`record is ${big.length} bytes, over the 1048576-byte limit`));
  const small = createCodec({ maxRecordBytes: 64 });
  // Not even a valid header: size comes first.
  expectFailure(Buffer.alloc(65, 0xff), 'audio', 'TOO_LARGE', /65 bytes, over the 64-byte limit/, small);
  assert.ok(small.decode(encode(samples.audio, 'audio'), 'audio').ok);
});

test('MISSING_SESSION_ID: empty or blank', () => {
  expectFailure(encode({ ...samples.audio, sessionId: '' }, 'audio'), 'audio', 'MISSING_SESSION_ID', /sessionId must be a non-blank string, got ""/);
  expectFailure(encode({ ...samples.transcript, sessionId: '  \t' }, 'transcript'), 'transcript', 'MISSING_SESSION_ID', /got " {2}\\t"/);
  expectFailure(encode({ ...samples.score, sessionId: '' }, 'score'), 'score', 'MISSING_SESSION_ID', /sessionId/);
  // A dead letter may lack a session (the record it carries had none).
  assert.ok(decode(encode({ ...samples.deadLetter, sessionId: null }, 'deadLetter'), 'deadLetter').ok);
});

const invalid: Array<[string, RecordKind, (s: RecordTypes) => unknown, RegExp]> = [
  ['sampleRate <= 0', 'audio', (s) => ({ ...s.audio, sampleRate: -16000 }), /sampleRate must be > 0, got -16000/],
  ['sampleRate 0', 'audio', (s) => ({ ...s.audio, sampleRate: 0 }), /sampleRate must be > 0, got 0/],
  ['odd PCM byte length', 'audio', (s) => ({ ...s.audio, samples: Buffer.alloc(3) }), /even byte length\), got 3 bytes/],
  ['negative eventTime', 'audio', (s) => ({ ...s.audio, eventTime: -5 }), /eventTime must be a non-negative epoch ms integer, got -5/],
  ['negative seq', 'video', (s) => ({ ...s.video, seq: -1 }), /seq must be a non-negative integer, got -1/],
  [
    'RGB24 size mismatch',
    'video',
    (s) => ({ ...s.video, width: 640, height: 480 }),
    /RGB24 frame 640x480 needs width\*height\*3 = 921600 bytes of data, got 6/,
  ],
  ['JPEG without data', 'video', (s) => ({ ...s.video, format: 'JPEG', data: Buffer.alloc(0) }), /JPEG frame has empty data/],
  [
    'NaN feature',
    'video',
    (s) => ({ ...s.video, format: 'FEATURES', width: 0, height: 0, data: Buffer.alloc(0), features: [1, NaN] }),
    /features\[1\] must be a finite number, got NaN/,
  ],
  ['endTime < eventTime', 'transcript', (s) => ({ ...s.transcript, endTime: T0 - 1 }), new RegExp(`endTime must be >= eventTime \\(${T0}\\), got ${T0 - 1}`)],
  [
    'word end < start',
    'transcript',
    (s) => ({ ...s.transcript, words: [{ word: 'x', start: T0 + 5, end: T0, confidence: null }] }),
    /words\[0\]\.end must be >= words\[0\]\.start/,
  ],
  [
    'word confidence NaN',
    'transcript',
    (s) => ({ ...s.transcript, words: [{ word: 'x', start: T0, end: T0, confidence: NaN }] }),
    /words\[0\]\.confidence must be in \[0, 1\], got NaN/,
  ],
  ['score above 3', 'score', (s) => ({ ...s.score, score: 3.5 }), /score must be in \[-3, 3\], got 3\.5/],
  ['windowScore below -3', 'score', (s) => ({ ...s.score, windowScore: -4 }), /windowScore must be in \[-3, 3\], got -4/],
  ['empty window', 'score', (s) => ({ ...s.score, windowEnd: s.score.windowStart }), /windowEnd must be > windowStart/],
  ['session id too long', 'audio', (s) => ({ ...s.audio, sessionId: 'x'.repeat(300) }), /at most 256 characters, got "x{64}\.\.\." \(300 chars\)/],
];

for (const [name, kind, make, reason] of invalid) {
  test(`INVALID_FIELD: ${name}`, () => {
    const result = expectFailure(encode(make(samples) as never, kind), kind, 'INVALID_FIELD', reason);
    // The session id is reported when it could be read, for the dead-letter record.
    if (!result.ok && name !== 'session id too long') assert.equal(result.sessionId, (samples[kind] as { sessionId: string }).sessionId);
  });
}

test('an end-of-stream marker needs no payload', () => {
  assert.ok(decode(encode({ ...samples.video, format: 'JPEG', data: Buffer.alloc(0), endOfStream: true }, 'video'), 'video').ok);
  assert.ok(decode(encode({ ...samples.audio, samples: Buffer.alloc(0), endOfStream: true }, 'audio'), 'audio').ok);
});

test('encode names the field that does not fit the schema', () => {
  assert.throws(() => encode({ ...samples.audio, sampleRate: 1.5 }, 'audio'), /sampleRate = 1\.5 is not a valid int/);
  assert.throws(() => encode({ ...samples.video, format: 'GIF' as never }, 'video'), /format = "GIF" is not a valid enum/);
});

// ---- schema evolution ----

function withAddedField(schema: AvroRecordSchema, field: AvroField & { default: unknown }): Schema {
  return { ...schema, fields: [...schema.fields, field] } as unknown as Schema;
}

test('evolution: avsc resolver reads an old record with a newer reader schema (added field takes its default)', () => {
  const oldType = avro.Type.forSchema(schemaOf('audio') as unknown as Schema);
  const newType = avro.Type.forSchema(withAddedField(schemaOf('audio'), { name: 'channels', type: 'int', default: 1 }));
  const value = newType.fromBuffer(oldType.toBuffer(samples.audio), newType.createResolver(oldType)) as AudioChunk & { channels: number };
  assert.equal(value.channels, 1);
  assert.equal(value.sampleRate, 16000);
});

test('evolution: the codec reads records written with an older schema id into its newer schema', () => {
  const oldWriter = createCodec(); // writes AudioChunk as id 1
  const newer = withAddedField(schemaOf('audio'), { name: 'channels', type: 'int', default: 1 });
  const reader = createCodec({
    schemas: { audio: newer },
    schemaIds: { audio: 11 },
    writerSchemas: [{ id: 1, kind: 'audio', schema: schemaOf('audio') as unknown as Schema }],
  });
  const result = reader.decode(oldWriter.encode(samples.audio, 'audio'), 'audio');
  assert.ok(result.ok, result.ok ? '' : result.reason);
  assert.equal(result.schemaId, 1);
  assert.equal((result.value as AudioChunk & { channels: number }).channels, 1);

  // And the new writer's records, with its own id, read back too.
  const own = reader.decode(reader.encode({ ...samples.audio, channels: 2 } as AudioChunk, 'audio'), 'audio');
  assert.ok(own.ok);
  assert.equal((own.value as AudioChunk & { channels: number }).channels, 2);

  // An old reader does not know id 11 and says so instead of misreading it.
  const oldReads = oldWriter.decode(reader.encode(samples.audio, 'audio'), 'audio');
  assert.equal(!oldReads.ok && oldReads.code, 'UNKNOWN_SCHEMA_ID');
});

test('evolution: an incompatible writer schema is refused when the codec is built', () => {
  const incompatible = withAddedField(schemaOf('audio'), { name: 'x', type: 'int', default: 0 }) as unknown as AvroRecordSchema;
  incompatible.fields = incompatible.fields.filter((f) => f.name !== 'x').map((f) => (f.name === 'sampleRate' ? { ...f, type: 'string' } : f));
  assert.throws(
    () => createCodec({ writerSchemas: [{ id: 9, kind: 'audio', schema: incompatible as unknown as Schema }] }),
    /writer schema id 9 cannot be read as msa\.v1\.AudioChunk/,
  );
});

test('evolution: TranscriptSegment v1 (id 3, no origin), still on old topics, reads as the current version with origin null', () => {
  const v1 = JSON.parse(readFileSync(join(schemaDir, 'versions', 'TranscriptSegment.v1.avsc'), 'utf8')) as Schema;
  const { origin: _origin, ...v1Record } = samples.transcript;
  const header = Buffer.from([0, 0, 0, 0, 3]);
  const bytes = Buffer.concat([header, avro.Type.forSchema(v1).toBuffer(v1Record)]);
  const codec = createCodec();
  const result = codec.decode(bytes, 'transcript');
  assert.ok(result.ok, result.ok ? '' : result.reason);
  assert.equal(result.schemaId, 3);
  assert.equal(result.value.origin, null);
  assert.equal(result.value.text, samples.transcript.text);
  // The current version is written under its own id, and a machine transcript keeps its origin.
  assert.equal(codec.schemaId('transcript'), 6);
  const machine = codec.decode(codec.encode({ ...samples.transcript, origin: 'asr:whisper-tiny.en' }, 'transcript'), 'transcript');
  assert.ok(machine.ok);
  assert.equal(machine.value.origin, 'asr:whisper-tiny.en');
});

// ---- invalid UTF-8 and word limits ----

/** `bytes` with the first occurrence of ASCII `marker` replaced by `replacement` (same length). */
function patch(bytes: Buffer, marker: string, replacement: number[]): Buffer {
  const at = bytes.indexOf(Buffer.from(marker, 'latin1'));
  assert.ok(at > 0 && replacement.length === marker.length, `marker ${marker} in the record`);
  const out = Buffer.from(bytes);
  Buffer.from(replacement).copy(out, at);
  return out;
}

test('invalid UTF-8 in any string field is INVALID_FIELD naming the field, not silently U+FFFD', () => {
  const codec = createCodec();
  const t = samples.transcript;
  // 0xC3 0x28: a lead byte with a bad continuation; 0xED 0xA0 0x80: a surrogate; 0xFF: never valid.
  const cases: [TranscriptSegment, string, number[], RegExp][] = [
    [{ ...t, text: 'good QQQQ text' }, 'QQQQ', [0x41, 0xc3, 0x28, 0x41], /^text is not valid UTF-8/],
    [{ ...t, sessionId: 'sess-QQQ' }, 'QQQ', [0xed, 0xa0, 0x80], /^sessionId is not valid UTF-8/],
    [{ ...t, words: [{ ...t.words[0]!, word: 'QQ' }] }, 'QQ', [0xff, 0x41], /^words\[0\]\.word is not valid UTF-8/],
    [{ ...t, speaker: 'QQ' }, 'QQ', [0x80, 0x41], /^speaker is not valid UTF-8/],
  ];
  for (const [record, marker, bad, reason] of cases) {
    const result = expectFailure(patch(codec.encode(record, 'transcript'), marker, bad), 'transcript', 'INVALID_FIELD', reason, codec);
    assert.ok(!result.ok && /strings must be UTF-8/.test(result.reason));
  }
  // Valid multi-byte text (and a literal U+FFFD) still decodes.
  const fine = { ...t, text: 'héllo \u{1F600} \uFFFD' };
  assert.equal((codec.decode(codec.encode(fine, 'transcript'), 'transcript') as { value: TranscriptSegment }).value.text, fine.text);
  // Audio's session id too.
  const a = samples.audio;
  expectFailure(
    patch(codec.encode({ ...a, sessionId: 'call-QQ' }, 'audio'), 'QQ', [0xc0, 0xaf]),
    'audio',
    'INVALID_FIELD',
    /^sessionId is not valid UTF-8/,
    codec,
  );
});

test('a transcript segment over maxWordsPerSegment (text or word list) is INVALID_FIELD naming the limit', () => {
  const codec = createCodec({ maxWordsPerSegment: 3 });
  const t = samples.transcript;
  assert.equal(codec.decode(codec.encode({ ...t, text: 'one two  three' }, 'transcript'), 'transcript').ok, true);
  expectFailure(
    codec.encode({ ...t, text: 'one two three four' }, 'transcript'),
    'transcript',
    'INVALID_FIELD',
    /text has more than 3 words \(limits\.maxWordsPerSegment/,
    codec,
  );
  const words = Array.from({ length: 4 }, (_, i) => ({ word: 'w', start: T0 + i, end: T0 + i, confidence: null }));
  expectFailure(
    codec.encode({ ...t, text: 'w', words }, 'transcript'),
    'transcript',
    'INVALID_FIELD',
    /words has 4 entries, over limits\.maxWordsPerSegment=3/,
    codec,
  );
  assert.throws(() => createCodec({ maxWordsPerSegment: 0 }), /maxWordsPerSegment must be an integer >= 1, got 0/);
});

test('decode with { payload: false }: the same record, its bytes fields views of the input (no copy); bad records still refused', async () => {
  const { payloadsRead, readsPayload } = await import('../../src/pipeline/reads.js');
  const codec = createCodec();
  const chunk: RecordTypes['audio'] = {
    sessionId: 's1',
    seq: 3,
    eventTime: 1_760_000_000_000,
    sampleRate: 16000,
    encoding: 'S16LE',
    samples: Buffer.from(Array.from({ length: 3200 }, (_, i) => i % 251)),
    endOfStream: false,
  };
  const bytes = codec.encode(chunk, 'audio');
  const full = codec.decode(bytes, 'audio');
  const view = codec.decode(bytes, 'audio', { payload: false });
  assert.ok(full.ok && view.ok);
  assert.deepEqual({ ...view.value }, { ...full.value });
  assert.equal(view.value.samples.buffer, bytes.buffer, 'samples are a view of the record bytes');
  assert.notEqual(full.value.samples.buffer, bytes.buffer, 'the default decode copies');
  const frame: RecordTypes['video'] = {
    sessionId: 's1',
    seq: 0,
    eventTime: 1_760_000_000_000,
    format: 'RGB24',
    width: 4,
    height: 2,
    data: Buffer.alloc(24, 9),
    features: [],
    featureSet: null,
    facePresent: null,
    endOfStream: false,
  };
  const frameBytes = codec.encode(frame, 'video');
  const frameView = codec.decode(frameBytes, 'video', { payload: false });
  assert.ok(frameView.ok);
  assert.deepEqual({ ...frameView.value }, frame);
  // Validation still sees the payload: an RGB24 frame of the wrong size is refused either way.
  const bad = codec.encode({ ...frame, data: Buffer.alloc(23) }, 'video');
  const refused = codec.decode(bad, 'video', { payload: false });
  assert.ok(!refused.ok && refused.code === 'INVALID_FIELD', JSON.stringify(refused));
  // Truncated: a bytes field running past the end is refused, not returned short.
  const cut = codec.decode(bytes.subarray(0, bytes.length - 10), 'audio', { payload: false });
  assert.ok(!cut.ok && cut.code === 'MALFORMED_AVRO');

  // Which payloads a served model and its stages read.
  const words = { manifest: { codebookFiles: { acoustic: null, visual: null } }, speechStage: false, voicePath: false };
  const wordsOnly = payloadsRead(words);
  assert.deepEqual(wordsOnly, { audio: false, speech: false, video: false });
  assert.equal(
    readsPayload(wordsOnly, 'audio', () => true),
    false,
  );
  assert.equal(
    readsPayload(wordsOnly, 'transcript', () => false),
    true,
  );
  const heard = payloadsRead({ ...words, speechStage: true });
  assert.equal(
    readsPayload(heard, 'audio', () => true),
    true,
    'the speech stage hears this session',
  );
  assert.equal(
    readsPayload(heard, 'audio', () => false),
    false,
    'a session left to another transcript source',
  );
  assert.equal(
    readsPayload(payloadsRead({ ...words, voicePath: true }), 'audio', () => false),
    true,
  );
  const multimodal = payloadsRead({ ...words, manifest: { codebookFiles: { acoustic: 'a.json', visual: 'v.json' } } });
  assert.deepEqual(multimodal, { audio: true, speech: false, video: true });
});
