/**
 * `msa eval --media DIR`: the non-verbal ids of a labelled row from its media file, computed the
 * way the training data were: `DIR/<id>.<ext>` (findMedia: video mp4/webm/mkv, audio wav/flac/mp3,
 * still image jpg/jpeg/png as a one-frame video) through the project's extractors
 * (`extractMediaFeatures`, as `msa featurize`), the vectors rounded to 5 significant digits (as
 * featurize writes them to features.jsonl), quantised with the model's codebooks (`Quantiser`), a
 * frame without a face giving no id (as the pipeline, src/features/nonVerbal.ts), each sequence
 * evenly subsampled to at most `maxIds` (`subsample`, as training/msa_model/data.py). So Node's
 * scores of a row equal Python's on the featurize output of the same file
 * (training/msa_model/nonverbal_data.py `featurized_ids`).
 */
import { findMedia } from '../features/featurize.js';
import { extractMediaFeatures } from '../features/media.js';
import { Quantiser, type Codebook } from '../features/codebook.js';
import type { FaceAnalyzer } from '../features/visual/index.js';
import { subsample } from '../arrays.js';

export interface MediaIds {
  /** The media file used. */
  media: string;
  acousticIds: number[];
  visualIds: number[];
}

export interface MediaIdsOptions {
  mediaDir: string;
  codebooks: { acoustic: Codebook | null; visual: Codebook | null };
  /** Most ids per modality (the training cap, ModelConfig.max_nonverbal_len = 64). */
  maxIds?: number;
  /** Video frames per second (featurize's default, 4). */
  fps?: number;
  /** Needed when a visual codebook is given and the media holds video. */
  faces?: () => Promise<FaceAnalyzer>;
}

export const DEFAULT_MAX_MEDIA_IDS = 64;

const r5 = (x: number) => +x.toPrecision(5);

/** Ids of `id`'s media; null when `DIR/<id>.<ext>` does not exist. */
export async function mediaIds(id: string, options: MediaIdsOptions): Promise<MediaIds | null> {
  const media = await findMedia(options.mediaDir, id);
  if (media === null) return null;
  return mediaFileIds(media, options);
}

export async function mediaFileIds(media: string, options: Omit<MediaIdsOptions, 'mediaDir'>): Promise<MediaIds> {
  const { acoustic, visual } = options.codebooks;
  const maxIds = options.maxIds ?? DEFAULT_MAX_MEDIA_IDS;
  const f = await extractMediaFeatures(media, {
    fps: options.fps ?? 4,
    audio: acoustic !== null,
    video: visual !== null,
    faces: visual !== null && options.faces ? await options.faces() : undefined,
  });
  const qa = acoustic ? quantiserOf(acoustic) : null;
  const qv = visual ? quantiserOf(visual) : null;
  // As the pipeline and training: gated sequences (unlike the codebook's training data) give no ids.
  const acousticIds = qa && f.acoustic ? qa.quantiseGated(f.acoustic.pooled.map((v) => v.map(r5))).ids : [];
  const visualIds = qv ? qv.quantiseGated(f.visual.flatMap((v) => (v ? [v.map(r5)] : []))).ids : [];
  return { media, acousticIds: subsample(acousticIds, maxIds), visualIds: subsample(visualIds, maxIds) };
}

const quantisers = new WeakMap<Codebook, Quantiser>();
function quantiserOf(codebook: Codebook): Quantiser {
  let q = quantisers.get(codebook);
  if (!q) quantisers.set(codebook, (q = new Quantiser(codebook)));
  return q;
}
