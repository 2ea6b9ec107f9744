/**
 * Pure helpers on face-mesh results: pick the main speaker among several faces and turn a face into
 * the visual feature vector (see layout.ts). Landmark indices are MediaPipe FaceMesh's 468 points.
 */
import { EXPRESSIONS, VISUAL_DIM } from './layout.js';

/** [x, y, (z)] in pixels */
export type Point = readonly number[] | readonly [number, number, number?];

/** The subset of a detector result these helpers read (Human's FaceResult fits it). */
export interface FaceLike {
  score: number;
  /** [x, y, width, height] in 0..1 of the frame */
  boxRaw: readonly number[];
  mesh: readonly Point[];
  emotion?: readonly { score: number; emotion: string }[];
  rotation?: { angle: { roll: number; yaw: number; pitch: number } } | null;
}

const LM = {
  lipUpperInner: 13,
  lipLowerInner: 14,
  mouthRight: 61,
  mouthLeft: 291,
  rightEyeOuter: 33,
  rightEyeInner: 133,
  rightEyeUpper: 159,
  rightEyeLower: 145,
  leftEyeOuter: 263,
  leftEyeInner: 362,
  leftEyeUpper: 386,
  leftEyeLower: 374,
  rightBrow: 105,
  leftBrow: 334,
} as const;

/**
 * The main speaker: the face with the largest box, discounted by its distance from the frame
 * centre (a face at a corner counts half), so a large face at the edge does not win over a
 * slightly smaller one in the middle.
 */
export function mainFace<T extends FaceLike>(faces: readonly T[]): T | null {
  let best: T | null = null;
  let bestScore = -Infinity;
  for (const f of faces) {
    const [x = 0, y = 0, w = 0, h = 0] = f.boxRaw;
    const dx = x + w / 2 - 0.5;
    const dy = y + h / 2 - 0.5;
    const off = Math.min(1, Math.hypot(dx, dy) / Math.SQRT1_2);
    const s = w * h * (1 - 0.5 * off);
    if (s > bestScore) {
      bestScore = s;
      best = f;
    }
  }
  return best;
}

/** Expression probabilities in EXPRESSIONS order (labels the model did not report count 0). */
export function expressionVector(emotion: FaceLike['emotion']): number[] {
  const out = new Array<number>(EXPRESSIONS.length).fill(0);
  for (const e of emotion ?? []) {
    const i = (EXPRESSIONS as readonly string[]).indexOf(e.emotion);
    if (i >= 0) out[i] = e.score;
  }
  return out;
}

function dist(mesh: readonly Point[], a: number, b: number): number {
  const p = mesh[a];
  const q = mesh[b];
  if (!p || !q) return NaN;
  return Math.hypot((p[0] ?? 0) - (q[0] ?? 0), (p[1] ?? 0) - (q[1] ?? 0));
}

/** The visual feature vector of one face (VISUAL_FEATURES order). */
export function faceVector(face: FaceLike): number[] {
  const m = face.mesh;
  const iod = dist(m, LM.rightEyeOuter, LM.leftEyeOuter);
  const rel = (a: number, b: number) => (iod > 0 ? dist(m, a, b) / iod : 0);
  const eye = (up: number, lo: number, outer: number, inner: number) => {
    const w = dist(m, outer, inner);
    return w > 0 ? dist(m, up, lo) / w : 0;
  };
  const [x = 0, y = 0, w = 0, h = 0] = face.boxRaw;
  const angle = face.rotation?.angle ?? { yaw: 0, pitch: 0, roll: 0 };
  const v = [
    ...expressionVector(face.emotion),
    face.score,
    rel(LM.lipUpperInner, LM.lipLowerInner),
    rel(LM.mouthRight, LM.mouthLeft),
    eye(LM.leftEyeUpper, LM.leftEyeLower, LM.leftEyeOuter, LM.leftEyeInner),
    eye(LM.rightEyeUpper, LM.rightEyeLower, LM.rightEyeOuter, LM.rightEyeInner),
    rel(LM.leftBrow, LM.leftEyeUpper),
    rel(LM.rightBrow, LM.rightEyeUpper),
    angle.yaw,
    angle.pitch,
    angle.roll,
    w,
    x + w / 2,
    y + h / 2,
  ];
  if (v.length !== VISUAL_DIM) throw new Error(`visual vector has ${v.length} values, layout says ${VISUAL_DIM}`);
  return v.map((n) => (Number.isFinite(n) ? n : 0));
}
