export { EXPRESSIONS, FACE_DETECTORS, VISUAL_FEATURES, VISUAL_DIM, type Expression, type FaceDetector } from './layout.js';
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
