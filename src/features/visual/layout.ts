/**
 * Names of the visual feature vector (one per sampled video frame with a face; a frame without a
 * face is `null`, never zeros, so absence stays distinguishable from a neutral face).
 */
export const EXPRESSIONS = ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'] as const;
export type Expression = (typeof EXPRESSIONS)[number];

export const VISUAL_FEATURES = [
  // expression probabilities (sum to about 1)
  ...EXPRESSIONS.map((e) => `expr_${e}` as const),
  // detector confidence of the chosen face
  'face_score',
  // landmark geometry: distances divided by the inter-ocular distance (outer eye corners), so
  // they do not depend on face size; eye openness is lid gap / eye width
  'mouth_open',
  'mouth_width',
  'eye_open_left',
  'eye_open_right',
  'brow_raise_left',
  'brow_raise_right',
  // head rotation from the mesh, radians
  'head_yaw',
  'head_pitch',
  'head_roll',
  // face box: width as a fraction of the frame width, centre in [0, 1] frame coordinates
  'face_size',
  'face_x',
  'face_y',
] as const;

export const VISUAL_DIM = VISUAL_FEATURES.length;
