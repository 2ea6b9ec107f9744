export { EXPRESSIONS, VISUAL_FEATURES, VISUAL_DIM, type Expression } from './layout.js';
export type { FaceDetector } from '../../config/config.js';
export { mainFace, faceVector, expressionVector, type FaceLike, type Point } from './geometry.js';
export {
  defaultDetectorModel,
  detectorModelFor,
  FaceAnalyzer,
  sharedFaceAnalyzer,
  humanPaths,
  type FaceAnalyzerOptions,
  type FaceObservation,
  type RgbFrame,
} from './face.js';
