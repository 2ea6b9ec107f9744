/**
 * Sends a session's records to the input topics, paced by event time (real time by default,
 * faster with `speed`, as fast as possible with speed 0). Event times are shifted so the session
 * starts at `startTime` (default: now), as a live source would stamp them.
 */
import { readFileSync } from 'node:fs';
import type { InputRecord } from '../schemas/records.js';

export interface RecordSender {
  /** Sends records of one kind; resolves when the broker acknowledged them. */
  send(kind: InputRecord['kind'], values: InputRecord['value'][]): Promise<void>;
}

export interface ReplayOptions {
  /** 1 = real time, 10 = ten times faster, 0 = no pacing. */
  speed: number;
  /** Shift event times so the first record is at this epoch ms; null keeps the recorded times. */
  startTime: number | null;
  signal?: AbortSignal;
  onProgress?: (sent: number, total: number) => void;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Shifts every timestamp of a record (event time, segment end, word timings) by `delta` ms. */
export function shiftRecord(r: InputRecord, delta: number): InputRecord {
  if (r.kind === 'transcript') {
    const v = r.value;
    return {
      kind: 'transcript',
      value: {
        ...v,
        eventTime: v.eventTime + delta,
        endTime: v.endTime + delta,
        words: v.words.map((w) => ({ ...w, start: w.start + delta, end: w.end + delta })),
      },
    };
  }
  return { ...r, value: { ...r.value, eventTime: r.value.eventTime + delta } } as InputRecord;
}

/** Replays records (sorted by event time here) through `sender`; returns how many were sent. */
export async function replay(records: readonly InputRecord[], sender: RecordSender, opts: ReplayOptions): Promise<number> {
  if (!(opts.speed >= 0)) throw new RangeError(`speed must be >= 0, got ${opts.speed}`);
  const sorted = [...records].sort((a, b) => a.value.eventTime - b.value.eventTime);
  if (sorted.length === 0) return 0;
  const first = sorted[0]!.value.eventTime;
  const delta = opts.startTime === null ? 0 : opts.startTime - first;
  const wallStart = Date.now();
  let sent = 0;
  for (let i = 0; i < sorted.length && !opts.signal?.aborted;) {
    // Send everything due at the same event time together, grouped by kind.
    const t = sorted[i]!.value.eventTime;
    const due: InputRecord[] = [];
    while (i < sorted.length && sorted[i]!.value.eventTime === t) due.push(shiftRecord(sorted[i++]!, delta));
    if (opts.speed > 0) await sleep(wallStart + (t - first) / opts.speed - Date.now(), opts.signal);
    for (const kind of ['audio', 'video', 'transcript'] as const) {
      const values = due.filter((r) => r.kind === kind).map((r) => r.value);
      if (values.length > 0) await sender.send(kind, values);
    }
    sent += due.length;
    opts.onProgress?.(sent, sorted.length);
  }
  return sent;
}

const BYTES_FIELDS = ['samples', 'data'] as const;

/**
 * Reads a recorded session: JSON Lines, one `{"kind":"audio"|"video"|"transcript","value":{...}}`
 * per line, with the fields of the Avro record; byte fields (`samples`, `data`) in base64.
 * Errors name the file and line.
 */
export function readRecording(path: string, maxBytes = 512 * 1024 * 1024): InputRecord[] {
  const text = readFileSync(path, 'utf8');
  if (text.length > maxBytes) throw new Error(`${path}: recording is over ${maxBytes} bytes`);
  const out: InputRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let parsed: { kind?: unknown; value?: Record<string, unknown> };
    try {
      parsed = JSON.parse(line);
    } catch (e) {
      throw new Error(`${path}:${i + 1}: not JSON: ${(e as Error).message}`);
    }
    if (parsed.kind !== 'audio' && parsed.kind !== 'video' && parsed.kind !== 'transcript') {
      throw new Error(`${path}:${i + 1}: kind must be audio, video or transcript, got ${JSON.stringify(parsed.kind)}`);
    }
    const value = { ...(parsed.value ?? {}) };
    for (const f of BYTES_FIELDS) if (typeof value[f] === 'string') value[f] = Buffer.from(value[f] as string, 'base64');
    out.push({ kind: parsed.kind, value } as unknown as InputRecord);
  });
  return out;
}
