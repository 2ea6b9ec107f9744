import { readFile, stat } from 'node:fs/promises';
import { parseCsv, type CsvRecord } from './csv.js';

/**
 * Labelled utterances from a CSV: `id,text,label` (MOSI's `label.csv`), or MOSEI's
 * `video_id,clip_id,text,label` where the id is `${video_id}_${clip_id}`. Extra columns are
 * ignored; `mode` names the split.
 */

export interface LabelledRow {
  id: string;
  text: string;
  label: number;
  /** Line of the CSV where the row starts. */
  line: number;
}

/** A row that was not used, and why; never dropped silently. */
export interface SkippedRow {
  line: number;
  id: string;
  reason: string;
}

export interface LabelledCsv {
  file: string;
  rows: LabelledRow[];
  skipped: SkippedRow[];
}

export interface ReadLabelledCsvOptions {
  idColumn?: string;
  textColumn?: string;
  labelColumn?: string;
  /** Keep only rows whose `splitColumn` equals this. */
  split?: string;
  splitColumn?: string;
  /** Keep the first `limit` usable rows. */
  limit?: number;
  /** Refuse bigger files (bytes). */
  maxBytes?: number;
  /** Refuse files with more data rows. */
  maxRows?: number;
}

export const DEFAULT_MAX_CSV_BYTES = 200 * 1024 * 1024;
export const DEFAULT_MAX_CSV_ROWS = 2_000_000;
/** Sentiment labels live in [-3, 3]; anything else is a broken row, not a strong opinion. */
const LABEL_RANGE = 3;

export async function readLabelledCsv(file: string, options: ReadLabelledCsvOptions = {}): Promise<LabelledCsv> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_CSV_BYTES;
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    throw new Error(`${file}: cannot read the CSV (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  if (size > maxBytes) {
    throw new Error(`${file}: ${size} bytes is over the limit of ${maxBytes} bytes for an evaluation CSV; split it or use --limit on a smaller file`);
  }
  const text = await readFile(file, 'utf8');
  return labelledRows(file, parseCsv(text, { source: file, maxRecords: (options.maxRows ?? DEFAULT_MAX_CSV_ROWS) + 1 }), options);
}

/** The rows of already parsed records (the first is the header). Exported for tests. */
export function labelledRows(file: string, records: readonly CsvRecord[], options: ReadLabelledCsvOptions = {}): LabelledCsv {
  const { idColumn = 'id', textColumn = 'text', labelColumn = 'label', split, splitColumn = 'mode', limit } = options;
  const [header, ...data] = records;
  if (header === undefined) throw new Error(`${file} is empty: expected a header row with the columns ${idColumn},${textColumn},${labelColumn}`);
  const columns = header.fields.map((name) => name.trim());
  const col = (name: string, flag: string): number => {
    const i = columns.indexOf(name);
    if (i < 0) throw new Error(`${file}: no column "${name}" in the header (columns: ${columns.join(', ')}); name the right one with ${flag}`);
    return i;
  };
  const textAt = col(textColumn, '--text-column');
  const labelAt = col(labelColumn, '--label-column');
  const idOf = idGetter(columns, idColumn, file);
  const splitAt = split === undefined ? -1 : col(splitColumn, `a "${splitColumn}" column for --split`);

  const rows: LabelledRow[] = [];
  const skipped: SkippedRow[] = [];
  const splitsSeen = new Set<string>();
  for (const record of data) {
    if (limit !== undefined && rows.length >= limit) break;
    const f = record.fields;
    if (split !== undefined) {
      const value = f[splitAt] ?? '';
      splitsSeen.add(value);
      if (value !== split) continue;
    }
    const id = idOf(f);
    if (f.length !== columns.length) {
      skipped.push({ line: record.line, id, reason: `${f.length} fields where the header has ${columns.length}` });
      continue;
    }
    const raw = f[labelAt]!;
    const label = raw.trim() === '' ? NaN : Number(raw);
    if (!Number.isFinite(label)) {
      skipped.push({ line: record.line, id, reason: `label ${JSON.stringify(raw)} is not a number` });
      continue;
    }
    if (Math.abs(label) > LABEL_RANGE) {
      skipped.push({ line: record.line, id, reason: `label ${raw} is outside [-${LABEL_RANGE}, ${LABEL_RANGE}]` });
      continue;
    }
    rows.push({ id, text: f[textAt]!, label, line: record.line });
  }
  if (split !== undefined && rows.length === 0 && skipped.length === 0) {
    throw new Error(`${file}: no row has ${splitColumn} = "${split}" (values present: ${[...splitsSeen].sort().join(', ') || 'none'})`);
  }
  return { file, rows, skipped };
}

/** `id`, else MOSEI's `video_id` + `clip_id` when the default `id` column is absent. */
function idGetter(columns: string[], idColumn: string, file: string): (fields: string[]) => string {
  const at = columns.indexOf(idColumn);
  if (at >= 0) return (f) => f[at] ?? '';
  const video = columns.indexOf('video_id');
  const clip = columns.indexOf('clip_id');
  if (idColumn === 'id' && video >= 0 && clip >= 0) return (f) => `${f[video] ?? ''}_${f[clip] ?? ''}`;
  throw new Error(
    `${file}: no column "${idColumn}" in the header (columns: ${columns.join(', ')}), nor video_id and clip_id; name the id column with --id-column`,
  );
}
