/**
 * `msa eval --media` with the voice path (config voice.enabled): each row's media file read as one
 * session (src/voice/offline.ts), its voice term W * clamp(v, -1, 1) added to the row's score, as
 * the live pipeline adds it to a window's. A row without speech in its file gets no term (0).
 */
import type { LabelledRow } from '../datasets/labelledCsv.js';
import { extractMediaFeatures } from '../features/media.js';
import type { Logger } from '../log.js';
import { voiceTerm, type VoiceParts } from '../voice/index.js';
import { recordingVoice } from '../voice/offline.js';

/** What the voice path gave, over the rows scored. */
export interface VoiceSummary {
  /** Fusion weight W (reader.json `fusion.weight`), and whether it was the default (no `fusion` there). */
  weight: number;
  weightDefaulted: boolean;
  /** Rows whose file had speech (a voice term went in). */
  rows: number;
  /** Rows with a media file but no speech heard (term 0). */
  noSpeech: number;
  /** Mean of the voice terms over the rows with speech, and of their absolute values (NaN for none). */
  meanContribution: number;
  meanAbsContribution: number;
}

/** Each row's voice value from its file; a file that fails is logged and the row gets no term. */
export async function voiceOfRows(
  rows: readonly LabelledRow[],
  files: ReadonlyMap<LabelledRow, string>,
  parts: VoiceParts,
  logger: Logger,
): Promise<Map<LabelledRow, number | null>> {
  const out = new Map<LabelledRow, number | null>();
  for (const row of rows) {
    const file = files.get(row);
    if (file === undefined) continue;
    try {
      const f = await extractMediaFeatures(file, { audio: false, video: false, keepPcm: true });
      out.set(row, f.pcm ? (await recordingVoice(parts, f.pcm, f.probe.audio?.sampleRate ?? null)).value : null);
    } catch (e) {
      logger.warn({ id: row.id, err: (e as Error).message }, 'voice reading failed; the row is scored without its voice');
      out.set(row, null);
    }
  }
  return out;
}

/** The voice terms of the rows (null: no file or no speech) and their summary. */
export function voiceSummary(values: readonly (number | null | undefined)[], parts: VoiceParts): { terms: number[]; summary: VoiceSummary } {
  const { weight, weightDefaulted } = parts.served;
  const terms = values.map((v) => (v === null || v === undefined ? 0 : voiceTerm(v, weight)));
  const heard = values.flatMap((v, i) => (v === null || v === undefined ? [] : [terms[i]!]));
  const mean = (xs: number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
  return {
    terms,
    summary: {
      weight,
      weightDefaulted,
      rows: heard.length,
      noSpeech: values.filter((v) => v === null).length,
      meanContribution: mean(heard),
      meanAbsContribution: mean(heard.map(Math.abs)),
    },
  };
}
