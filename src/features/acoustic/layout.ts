/**
 * Names of the acoustic feature vectors, in order. Frame vectors are per 25 ms frame (10 ms hop);
 * pooled vectors summarise the frames whose centres fall in each pooling interval (250 ms) and
 * are what the codebook quantises and `featurize` writes.
 */
const MFCC = Array.from({ length: 13 }, (_, i) => `mfcc_${i}`);

/** Per-frame vector (21). f0_hz is 0 in unvoiced frames; voiced is 0 or 1. */
export const ACOUSTIC_FRAME_FEATURES = [
  ...MFCC,
  'log_energy_db',
  'f0_hz',
  'voicing',
  'voiced',
  'spectral_centroid_hz',
  'spectral_flatness',
  'spectral_rolloff_hz',
  'zcr',
] as const;

/**
 * Pooled vector (36). f0_hz_mean/std are over the voiced frames of the interval (0 when none are
 * voiced; voiced_fraction says which).
 */
export const ACOUSTIC_FEATURES = [
  ...MFCC.map((n) => `${n}_mean`),
  ...MFCC.map((n) => `${n}_std`),
  'log_energy_db_mean',
  'log_energy_db_std',
  'f0_hz_mean',
  'f0_hz_std',
  'voiced_fraction',
  'voicing_mean',
  'spectral_centroid_hz_mean',
  'spectral_flatness_mean',
  'spectral_rolloff_hz_mean',
  'zcr_mean',
] as const;

export const ACOUSTIC_FRAME_DIM = ACOUSTIC_FRAME_FEATURES.length;
export const ACOUSTIC_DIM = ACOUSTIC_FEATURES.length;

/** Index of a frame feature by name. */
export const frameIndex = (name: (typeof ACOUSTIC_FRAME_FEATURES)[number]): number => ACOUSTIC_FRAME_FEATURES.indexOf(name);
