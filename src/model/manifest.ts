import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Modalities } from '../schemas/records.js';
import type { PadIndex } from './batchTensors.js';
import { MODEL_INPUT_NAMES, MODEL_OUTPUT_NAMES } from './types.js';

/**
 * `models/manifest.json`: what the exported model is and what serving needs to feed it (the
 * ONNX file, the tokenizer folder, the text length, each codebook's pad index), written by
 * `training/` next to the graph. Unknown fields are kept: the manifest also records how the
 * model was built, which serving does not need to understand.
 */

const nonEmpty = z.string().trim().min(1);
const index = z.number().int().nonnegative();

/** An input or output of the graph, by name or described. */
const tensorSpec = z.union([nonEmpty, z.object({ name: nonEmpty }).passthrough()]);

const codebookSpec = z
  .object({
    size: z.number().int().positive().optional(),
    k: z.number().int().positive().optional(),
    // The codebook JSON written by `msa codebook fit`, relative to the manifest's folder. Only a
    // codebook named by a file makes serving fill that modality's ids (features/codebook.ts loadManifestCodebooks).
    file: nonEmpty.optional(),
  })
  .passthrough();

export const manifestSchema = z
  .object({
    name: nonEmpty,
    version: nonEmpty,
    kind: z.enum(['sentiment', 'test']),
    /** The ONNX graph, relative to the manifest's folder. */
    file: nonEmpty,
    inputs: z.array(tensorSpec).optional(),
    outputs: z.array(tensorSpec).optional(),
    maxTextTokens: z.number().int().min(2),
    /** The tokenizer folder, relative to the manifest's folder. */
    tokenizer: nonEmpty,
    /** Pad index K of each codebook (a codebook of K entries uses 0..K-1). */
    acousticPad: index.optional(),
    visualPad: index.optional(),
    codebooks: z.object({ acoustic: codebookSpec.nullable().optional(), visual: codebookSpec.nullable().optional() }).passthrough().nullable().optional(),
    metrics: z.record(z.string(), z.unknown()).optional(),
    /**
     * The same model quantised with ONNX Runtime's dynamic int8 (activation scales computed per run),
     * relative to the manifest's folder; served with `model.dynamicInt8`, one row per run.
     */
    dynamicInt8: z.object({ file: nonEmpty }).passthrough().optional(),
    licences: z.unknown().optional(),
  })
  .passthrough();

export type ManifestFile = z.infer<typeof manifestSchema>;

/** A validated manifest with its paths resolved against the manifest's folder. */
export interface ModelManifest {
  /** The manifest file itself (absolute). */
  manifestPath: string;
  name: string;
  version: string;
  kind: 'sentiment' | 'test';
  /** The ONNX graph (absolute). */
  modelPath: string;
  /** The tokenizer folder (absolute). */
  tokenizerPath: string;
  maxTextTokens: number;
  padIndex: PadIndex;
  /** The dynamic int8 graph (absolute) named in `dynamicInt8.file`; null when not named. */
  dynamicInt8Path: string | null;
  /** Codebook files (absolute) named in `codebooks.<modality>.file`; null when not named. */
  codebookFiles: { acoustic: string | null; visual: string | null };
  /** Everything the file holds, validated fields and the rest. */
  raw: ManifestFile;
}

/**
 * The modalities the served model reads: text always (every manifest has a tokenizer), voice
 * and face only when the manifest names their codebook file, since serving fills a modality's
 * ids only then. A modality it reads may still be left out of a window (a codebook gate).
 */
export function modalitiesRead(manifest: Pick<ModelManifest, 'codebookFiles'>): Modalities {
  return { text: true, audio: manifest.codebookFiles.acoustic !== null, video: manifest.codebookFiles.visual !== null };
}

/** Reads and checks a manifest; errors name the file and the offending field. */
export async function loadManifest(file: string): Promise<ModelManifest> {
  const manifestPath = path.resolve(file);
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`model manifest ${manifestPath} cannot be read (${code ?? String(err)}); export a model first (training/) or pass --model`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`model manifest ${manifestPath} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseManifest(json, manifestPath);
}

/** Validates parsed JSON; `manifestPath` anchors the relative paths and names the file in errors. */
export function parseManifest(json: unknown, manifestPath: string): ModelManifest {
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${fieldName(issue.path)}: ${issue.message}`);
    throw new Error(`model manifest ${manifestPath} is invalid: ${problems.join('; ')}`);
  }
  const m = parsed.data;
  const dir = path.dirname(manifestPath);
  checkNames(m.inputs, MODEL_INPUT_NAMES, 'inputs', manifestPath);
  checkNames(m.outputs, MODEL_OUTPUT_NAMES, 'outputs', manifestPath);
  return {
    manifestPath,
    name: m.name,
    version: m.version,
    kind: m.kind,
    modelPath: path.resolve(dir, m.file),
    tokenizerPath: path.resolve(dir, m.tokenizer),
    maxTextTokens: m.maxTextTokens,
    padIndex: {
      acoustic: padOf(m, 'acoustic', manifestPath),
      visual: padOf(m, 'visual', manifestPath),
    },
    dynamicInt8Path: m.dynamicInt8 ? path.resolve(dir, m.dynamicInt8.file) : null,
    codebookFiles: {
      acoustic: m.codebooks?.acoustic?.file === undefined ? null : path.resolve(dir, m.codebooks.acoustic.file),
      visual: m.codebooks?.visual?.file === undefined ? null : path.resolve(dir, m.codebooks.visual.file),
    },
    raw: m,
  };
}

/** `acousticPad` / `visualPad`, else the codebook's size (the pad index is K). */
function padOf(m: ManifestFile, modality: 'acoustic' | 'visual', manifestPath: string): number {
  const explicit = modality === 'acoustic' ? m.acousticPad : m.visualPad;
  const codebook = m.codebooks?.[modality];
  const size = codebook?.size ?? codebook?.k;
  if (explicit !== undefined && size !== undefined && explicit !== size) {
    throw new Error(
      `model manifest ${manifestPath} is invalid: ${modality}Pad ${explicit} differs from codebooks.${modality} size ${size}; the pad index is the codebook size`,
    );
  }
  const pad = explicit ?? size;
  if (pad === undefined) {
    throw new Error(`model manifest ${manifestPath} is invalid: ${modality}Pad: required (or codebooks.${modality}.size)`);
  }
  return pad;
}

function checkNames(specs: ManifestFile['inputs'], expected: readonly string[], field: string, manifestPath: string): void {
  if (specs === undefined) return;
  const names = specs.map((s) => (typeof s === 'string' ? s : s.name));
  const missing = expected.filter((n) => !names.includes(n));
  if (missing.length > 0) {
    throw new Error(
      `model manifest ${manifestPath} is invalid: ${field}: [${names.join(', ')}] lacks ${missing.join(', ')} of the model contract (src/model/types.ts)`,
    );
  }
}

function fieldName(p: readonly (string | number)[]): string {
  return p.length === 0
    ? '(root)'
    : p
        .map((k) => (typeof k === 'number' ? `[${k}]` : k))
        .join('.')
        .replace(/\.\[/g, '[');
}
