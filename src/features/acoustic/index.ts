export { ACOUSTIC_FEATURES, ACOUSTIC_FRAME_FEATURES, ACOUSTIC_DIM, ACOUSTIC_FRAME_DIM, frameIndex } from './layout.js';
export { AcousticExtractor, extractAcoustic, poolFrames, pitchSummary, type AcousticFeatures, type AcousticOptions, type AcousticTimings } from './extract.js';
export { YinTracker, decimateBy2, type PitchEstimate, type PitchOptions } from './pitch.js';
export { StreamingResampler, DEFAULT_RESAMPLER_QUALITY, type StreamingResamplerOptions } from './resample.js';
