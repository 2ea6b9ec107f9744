export { EXPRESSIONS, VISUAL_FEATURES, VISUAL_DIM, type Expression } from './layout.js';
export { mainFace, faceVector, expressionVector, type FaceLike, type Point } from './geometry.js';
export {
  defaultDetectorModel,
  detectorModelFor,
  FACE_DETECTORS,
  FaceAnalyzer,
  sharedFaceAnalyzer,
  humanPaths,
  type FaceAnalyzerOptions,
  type FaceDetector,
  type FaceObservation,
  type RgbFrame,
} from './face.js';
