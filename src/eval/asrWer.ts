/**
 * `msa asr wer`: corpus word error rate of the speech recogniser (./recognise.ts: VAD + Whisper,
 * as `msa transcribe` and `msa eval --media` hear a file) over a manifest CSV (id,path,text) or
 * over RAVDESS, whose file names say which of its two sentences is spoken. WER = all word
 * errors / all reference words, both sides normalised (src/speech/wer.ts): the rows and `wer` by
 * the chosen normalisation (default `whisper-noapos`: Whisper's English normaliser after
 * apostrophes are dropped, as MOSI writes its transcripts), `werBy` under each.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseCsv } from '../datasets/csv.js';
import type { SpeechModels } from '../speech/transcribe.js';
import { corpusWer, WER_NORMALISATIONS, werCount, type WerNormalisation } from '../speech/wer.js';
import { recogniseFiles } from './recognise.js';

export interface WerItem {
  id: string;
  /** The media file. */
  path: string;
  /** What is said. */
  reference: string;
}

/** A manifest's rows: columns id, path (relative paths from the CSV's folder) and text; other columns are ignored. */
export async function manifestItems(csv: string): Promise<WerItem[]> {
  let text: string;
  try {
    text = await readFile(csv, 'utf8');
  } catch (err) {
    throw new Error(`${csv}: cannot read the manifest (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  const [header, ...rows] = parseCsv(text, { source: csv });
  if (header === undefined) throw new Error(`${csv} is empty: expected a header id,path,text`);
  const columns = header.fields.map((f) => f.trim());
  const at = (name: string): number => {
    const i = columns.indexOf(name);
    if (i < 0) throw new Error(`${csv}: no column "${name}" in the header (columns: ${columns.join(', ')}); a manifest needs id, path and text`);
    return i;
  };
  const [id, path, ref] = [at('id'), at('path'), at('text')];
  return rows.map((r) => {
    if (r.fields.length !== columns.length) throw new Error(`${csv} line ${r.line}: ${r.fields.length} fields where the header has ${columns.length}`);
    return { id: r.fields[id]!, path: resolve(dirname(csv), r.fields[path]!), reference: r.fields[ref]! };
  });
}

/** RAVDESS statement (5th field of `03-01-EE-II-SS-RR-AA`) to its sentence. */
export const RAVDESS_STATEMENTS: Readonly<Record<string, string>> = { '01': 'Kids are talking by the door', '02': 'Dogs are sitting by the door' };
const RAVDESS_NAME = /^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.(flac|wav)$/;

/**
 * The RAVDESS files under `dir`, sorted by name, the reference from the statement field. With
 * `perActor`, a stratified subset: that many files of each actor, evenly spaced over the actor's
 * sorted files (so emotions, intensities and both statements are all represented).
 */
export async function ravdessItems(dir: string, perActor?: number): Promise<WerItem[]> {
  const names = (await readdir(dir)).filter((f) => RAVDESS_NAME.test(f)).sort();
  if (names.length === 0) throw new Error(`${dir}: no RAVDESS files (03-01-EE-II-SS-RR-AA.flac|wav)`);
  const items = names.map((name) => {
    const m = RAVDESS_NAME.exec(name)!;
    const reference = RAVDESS_STATEMENTS[m[5]!];
    if (reference === undefined) throw new Error(`${join(dir, name)}: statement ${m[5]} is neither 01 nor 02`);
    return { id: name.replace(/\.(flac|wav)$/, ''), path: join(dir, name), reference, actor: m[7]! };
  });
  const strip = ({ id, path, reference }: WerItem): WerItem => ({ id, path, reference });
  if (perActor === undefined) return items.map(strip);
  if (!Number.isInteger(perActor) || perActor < 1) throw new RangeError(`files per actor must be a positive integer, got ${perActor}`);
  const byActor = new Map<string, typeof items>();
  for (const item of items) byActor.set(item.actor, [...(byActor.get(item.actor) ?? []), item]);
  return [...byActor.values()].flatMap((files) => {
    const n = Math.min(perActor, files.length);
    return Array.from({ length: n }, (_, k) => strip(files[Math.floor((k * files.length) / n)]!));
  });
}

export interface WerRow extends WerItem {
  /** The recognised text (empty when the file could not be decoded: every reference word an error). */
  hypothesis: string;
  errors: number;
  words: number;
  error?: string;
}

export interface WerReport {
  files: number;
  /** Reference words, all files. */
  words: number;
  errors: number;
  /** errors / words. */
  wer: number;
  /** The normalisation of `wer`, `errors`, `words`, `exact` and the rows. */
  normalisation: WerNormalisation;
  /** The corpus WER under each normalisation. */
  werBy: Record<WerNormalisation, number>;
  /** Files whose hypothesis equals the reference after normalisation. */
  exact: number;
  /** Files that could not be decoded (counted with an empty hypothesis). */
  failed: number;
  /** Seconds of audio and of wall clock spent recognising. */
  audioS: number;
  wallS: number;
  rows: WerRow[];
}

export async function measureWer(
  items: readonly WerItem[],
  models: Pick<SpeechModels, 'recognizers' | 'vad' | 'vadOptions'>,
  options: { onProgress?: (done: number, total: number) => void; normalisation?: WerNormalisation } = {},
): Promise<WerReport> {
  const normalisation = options.normalisation ?? 'whisper-noapos';
  if (items.length === 0) throw new Error('no files to measure the WER on');
  const t0 = performance.now();
  const results = await recogniseFiles(
    items.map((i) => i.path),
    models,
    { onProgress: options.onProgress },
  );
  const wallS = (performance.now() - t0) / 1000;
  const rows: WerRow[] = items.map((item, i) => {
    const r = results[i]!;
    const hypothesis = r.transcript?.text ?? '';
    return { ...item, hypothesis, ...werCount(item.reference, hypothesis, normalisation), ...(r.error !== undefined ? { error: r.error } : {}) };
  });
  const werBy = Object.fromEntries(
    WER_NORMALISATIONS.map((how) => [how, how === normalisation ? corpusWer(rows) : corpusWer(rows.map((r) => werCount(r.reference, r.hypothesis, how)))]),
  ) as Record<WerNormalisation, number>;
  const audioS = results.reduce((s, r) => s + (r.audioS ?? 0), 0);
  return {
    files: rows.length,
    words: rows.reduce((s, r) => s + r.words, 0),
    errors: rows.reduce((s, r) => s + r.errors, 0),
    wer: corpusWer(rows),
    normalisation,
    werBy,
    exact: rows.filter((r) => r.errors === 0 && r.error === undefined).length,
    failed: rows.filter((r) => r.error !== undefined).length,
    audioS,
    wallS,
    rows,
  };
}
