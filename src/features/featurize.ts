/**
 * `featurize`: runs the extractors over labelled media and writes training data in one format,
 * `<out>/features.jsonl` (documented in src/features/README.md), plus `<out>/featurize-summary.json`
 * listing missing and failed rows. Rows are never skipped silently.
 */
import { createWriteStream } from 'node:fs';
import { access, mkdir, readdir, writeFile } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { readLabelledCsv } from '../datasets/labelledCsv.js';
import { ACOUSTIC_FEATURES } from './acoustic/index.js';
import { extractMediaFeatures, type MediaFeatureOptions } from './media.js';
import { VISUAL_FEATURES } from './visual/index.js';
import type { VoiceParts } from '../voice/index.js';
import { recordingVoice, type RecordingVoice } from '../voice/offline.js';

export const FEATURES_FORMAT_VERSION = 1;
export const AUDIO_EXTENSIONS = ['wav', 'flac', 'mp3'] as const;
export const VIDEO_EXTENSIONS = ['mp4', 'webm', 'mkv'] as const;
export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png'] as const;
const ALL_EXTENSIONS: readonly string[] = [...VIDEO_EXTENSIONS, ...AUDIO_EXTENSIONS, ...IMAGE_EXTENSIONS];

/** One line of features.jsonl. */
export interface FeatureRecord {
  format: number;
  id: string;
  text: string;
  label: number | null;
  media: string;
  duration_s: number | null;
  /** Pooled acoustic vectors, one per 250 ms (ACOUSTIC_FEATURES order); [] without audio. */
  acoustic: number[][];
  acoustic_start_s: number[];
  /** One entry per sampled frame at `visual_fps`: VISUAL_FEATURES vector or null (no face); [] without video. */
  visual: (number[] | null)[];
  visual_fps: number;
  acousticNames: readonly string[];
  visualNames: readonly string[];
  /** With the voice path (config voice.enabled): the recording's voice value in [-3, 3] (null: no speech or no audio). */
  voice?: number | null;
  /** Its utterances (seconds) and their values, in order (src/voice/offline.ts). */
  voice_utterances?: RecordingVoice['utterances'];
}

export interface FeaturizeRow {
  id: string;
  text: string;
  label: number | null;
}

export interface FeaturizeOptions extends MediaFeatureOptions {
  csv?: string;
  mediaDir: string;
  outDir: string;
  limit?: number;
  /** The voice path's parts: each row's voice value (`FeatureRecord.voice`). */
  voice?: Pick<VoiceParts, 'served' | 'pool' | 'newCutter'>;
  onProgress?: (done: number, total: number, id: string) => void;
}

export interface FeaturizeSummary {
  rows: number;
  written: number;
  missing: string[];
  failed: { id: string; media: string; error: string }[];
  out: string;
}

/** Finds `<dir>/<id>.<ext>` for the known extensions (video first, then audio, then image). */
export async function findMedia(dir: string, id: string): Promise<string | null> {
  for (const ext of ALL_EXTENSIONS) {
    const p = join(dir, `${id}.${ext}`);
    try {
      await access(p);
      return p;
    } catch {
      // try the next extension
    }
  }
  return null;
}

/** Without a CSV: every media file under dir is a row (id = path without extension, no label). */
async function rowsFromDir(dir: string): Promise<FeaturizeRow[]> {
  const rows: FeaturizeRow[] = [];
  const walk = async (d: string) => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (ALL_EXTENSIONS.includes(extname(e.name).slice(1).toLowerCase()))
        rows.push({ id: relative(dir, p).slice(0, -extname(p).length), text: '', label: null });
    }
  };
  await walk(dir);
  return rows;
}

const r5 = (x: number) => +x.toPrecision(5);

export async function featurize(options: FeaturizeOptions): Promise<FeaturizeSummary> {
  let rows: FeaturizeRow[] = options.csv ? (await readLabelledCsv(options.csv)).rows : await rowsFromDir(options.mediaDir);
  if (options.limit !== undefined) rows = rows.slice(0, options.limit);
  await mkdir(options.outDir, { recursive: true });
  const outPath = join(options.outDir, 'features.jsonl');
  const out = createWriteStream(outPath);
  const summary: FeaturizeSummary = { rows: rows.length, written: 0, missing: [], failed: [], out: outPath };
  try {
    for (const [i, row] of rows.entries()) {
      options.onProgress?.(i, rows.length, row.id);
      const media = await findMedia(options.mediaDir, row.id);
      if (!media) {
        summary.missing.push(row.id);
        continue;
      }
      try {
        const f = await extractMediaFeatures(media, { ...options, keepPcm: options.voice !== undefined });
        const voice = options.voice && f.pcm ? await recordingVoice(options.voice, f.pcm, f.probe.audio?.sampleRate ?? null) : null;
        const record: FeatureRecord = {
          format: FEATURES_FORMAT_VERSION,
          id: row.id,
          text: row.text,
          label: row.label,
          media: relative(options.mediaDir, media),
          duration_s: f.probe.durationS,
          acoustic: (f.acoustic?.pooled ?? []).map((v) => v.map(r5)),
          acoustic_start_s: f.acoustic?.pooledStartS ?? [],
          visual: f.visual.map((v) => (v ? v.map(r5) : null)),
          visual_fps: f.fps,
          acousticNames: ACOUSTIC_FEATURES,
          visualNames: VISUAL_FEATURES,
          ...(options.voice ? { voice: voice?.value ?? null, voice_utterances: voice?.utterances ?? [] } : {}),
        };
        if (!out.write(`${JSON.stringify(record)}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
        summary.written++;
      } catch (e) {
        summary.failed.push({ id: row.id, media, error: (e as Error).message });
      }
    }
    options.onProgress?.(rows.length, rows.length, '');
  } finally {
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
  await writeFile(join(options.outDir, 'featurize-summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}
