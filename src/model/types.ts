/**
 * The contract between the pipeline and the ONNX model (see models/manifest.json).
 *
 * ONNX inputs (all int64, dynamic batch B and sequence axes):
 *   input_ids [B, T], attention_mask [B, T]        text tokens from the model's tokenizer
 *   acoustic_ids [B, La], acoustic_mask [B, La]    acoustic codebook indices; pad index = K_a
 *   visual_ids [B, Lv], visual_mask [B, Lv]        visual codebook indices; pad index = K_v
 * An absent modality is a sequence of length 1 holding the pad index with mask 0.
 * ONNX outputs (float32):
 *   score [B]              sentiment in [-3, 3]
 *   contributions [B, 3]   text, audio, video contributions to the score
 */
export interface ModelInput {
  inputIds: number[];
  attentionMask: number[];
  acousticIds: number[];
  acousticMask: number[];
  visualIds: number[];
  visualMask: number[];
}

export interface ModelOutput {
  score: number;
  contributions: { text: number; audio: number; video: number };
}

export const MODEL_INPUT_NAMES = ['input_ids', 'attention_mask', 'acoustic_ids', 'acoustic_mask', 'visual_ids', 'visual_mask'] as const;

export const MODEL_OUTPUT_NAMES = ['score', 'contributions'] as const;
