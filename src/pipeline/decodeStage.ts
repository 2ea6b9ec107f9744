/**
 * The pipeline's first stage: raw Kafka records in, decoded input records out (`decoded$`), in
 * order. A bad record goes to the dead-letter topic with topic, partition, offset and reason; with
 * a Schema Registry, a record naming a writer schema the codec does not know yet waits for it
 * (writerWait.ts) and is dead-lettered as UNKNOWN_SCHEMA_ID if it cannot be had. Payloads no
 * stage reads are not copied out of the Kafka buffers (reads.ts). The speech and voice stages see
 * each audio record (and the speech stage each transcript) before the windows take it.
 */
import { isUtf8 } from 'node:buffer';
import { Subject, type Observable } from 'rxjs';
import type { InputKind, InputRecord } from '../schemas/records.js';
import { inputKindOf } from '../transport/topics.js';
import { wireSchemaId } from '../transport/schemaRegistry/codec.js';
import type { PipelineTransport } from '../transport/kafka/index.js';
import type { RawRecord, SourcePosition } from '../transport/types.js';
import type { Positioned } from '../windows/types.js';
import type { SpeechStage } from '../speech/stage.js';
import type { VoiceStage } from '../voice/stage.js';
import type { Logger } from '../log.js';
import { writerWait } from './writerWait.js';
import { readsPayload, type PayloadsRead } from './reads.js';

export interface DecodeStageOptions {
  bus: Pick<PipelineTransport, 'topics' | 'codec' | 'resolveWriter' | 'source' | 'sink'>;
  /** Writes a diverted record; its offset becomes committable once written (pipeline.ts). */
  divert: (write: (settled: () => void) => Promise<unknown>, position: SourcePosition | undefined) => void;
  reads: PayloadsRead;
  speech: SpeechStage | null;
  voice: VoiceStage | null;
  /** How old each record is when read (the record-age histogram), when metrics are on. */
  recordAge?: (kind: InputKind, ms: number) => void;
  /** Counts the audio / video payloads left in the Kafka buffers. */
  payloadsNotCopied: Record<'audio' | 'video', number>;
  log: Logger;
}

export interface DecodeStage {
  decoded$: Observable<Positioned<InputRecord>>;
  next(raw: RawRecord): void;
  complete(): void;
}

const positionOf = (raw: RawRecord): SourcePosition => ({ topic: raw.topic, partition: raw.partition, offset: raw.offset });

/** A Kafka key is the session id as the producer wrote it; one that is not UTF-8 is not repeated. */
const keyText = (key: Buffer | null): string | null => (key && isUtf8(key) ? key.toString('utf8') : null);

const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

export function createDecodeStage(options: DecodeStageOptions): DecodeStage {
  const { bus, divert, reads, speech, voice, log } = options;
  const { topics, codec, resolveWriter, source, sink } = bus;
  const decoded$ = new Subject<Positioned<InputRecord>>();

  const decodeOne = (raw: RawRecord) => {
    const kind = inputKindOf(topics, raw.topic);
    if (!kind) return; // not subscribed; cannot happen
    options.recordAge?.(kind, Date.now() - raw.timestamp);
    // The speech stage hears no session left to another transcript source (the key is the session id).
    const skip = !readsPayload(reads, kind, () => speech !== null && !speech.leftToOther(keyText(raw.key) ?? ''));
    const result = codec.decode(raw.value, kind, { payload: !skip });
    if (!result.ok) {
      source.release(raw);
      divert((settled) => sink.deadLetter(raw, result.code, result.reason, result.sessionId ?? keyText(raw.key), settled), raw);
      return;
    }
    const record = { kind, value: result.value } as InputRecord;
    if (skip) options.payloadsNotCopied[kind as 'audio' | 'video']++;
    if (voice && record.kind === 'audio') voice.audio(record.value);
    if (speech) {
      if (record.kind === 'audio') speech.audio(record.value);
      else if (record.kind === 'transcript') speech.transcript(record.value); // before the windows take it
    }
    decoded$.next({ value: record, position: positionOf(raw) });
  };
  const decode = (raw: RawRecord) => {
    try {
      decodeOne(raw);
    } catch (err) {
      // Not a bad record the codec knows (it never throws on input): a bug or something unforeseen.
      // The record goes to the dead-letter topic with the error; the other records go on.
      log.warn({ err, topic: raw.topic, partition: raw.partition, offset: raw.offset }, 'decoding a record failed; it goes to the dead-letter topic');
      source.release(raw);
      divert((settled) => sink.deadLetter(raw, 'PROCESSING_FAILED', `decoding failed: ${errorText(err)}`, keyText(raw.key), settled), raw);
    }
  };
  // With a Schema Registry, a record naming an id the codec does not know waits for its schema.
  const inOrder = writerWait<RawRecord>({
    lookup: (raw) => {
      const kind = inputKindOf(topics, raw.topic);
      const id = wireSchemaId(raw.value);
      return resolveWriter && kind && id !== null && !codec.knows(id) ? resolveWriter(id, kind) : null;
    },
    ready: (raw) => decode(raw),
    unreadable: (raw, reason) => {
      source.release(raw);
      divert((settled) => sink.deadLetter(raw, 'UNKNOWN_SCHEMA_ID', reason, keyText(raw.key), settled), raw);
    },
    completed: () => decoded$.complete(),
  });
  return { decoded$, next: inOrder.next, complete: inOrder.complete };
}
