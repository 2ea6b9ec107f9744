/**
 * The face adapter: the only module that loads @vladmandic/human. It runs a BlazeFace face
 * detector (the project's `models/face/blazeface-front.json` by default), Human's face mesh and emotion models on tfjs's WASM backend in Node (no tfjs-node), models
 * read from disk through a file:// load handler; body, hand, iris, description and the rest are off.
 *
 * Why the dist file by path: the package's `node` export is the tfjs-node build; the WASM build
 * (`dist/human.node-wasm.js`) is not exported under a usable name. It requires tfjs-core,
 * tfjs-converter and tfjs-backend-wasm from node_modules (all 4.22.0).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve as resolvePath } from 'node:path';
import type { Config, FaceResult, Human } from '@vladmandic/human';
import { packageRoot } from '../../paths.js';
import { faceVector, mainFace } from './geometry.js';
import type { FaceDetector } from '../../config/config.js';
import type { RgbImage } from '../../media/image.js';

/** A decoded frame as the face model takes it (RGB24). */
export type RgbFrame = RgbImage;

export interface FaceAnalyzerOptions {
  /** Folder of Human's model JSON + weights (default: the package's models/). */
  modelDir?: string;
  /** Folder of the tfjs WASM binaries (default: @tensorflow/tfjs-backend-wasm/dist/). */
  wasmDir?: string;
  /** Faces looked for per frame (default 3); the main speaker is kept. */
  maxFaces?: number;
  /**
   * The face detector's graph model JSON. Default: `models/face/blazeface-front.json`, BlazeFace
   * short-range at 128 px (models/face/README.md says why); Human's own `blazeface.json` is the
   * 256 px long-range one, for wide shots with small faces.
   */
  detectorModel?: string;
}

export interface FaceObservation {
  vector: number[];
  /** How many faces were detected in the frame. */
  faces: number;
}

const require = createRequire(import.meta.url);

/** Paths to Human's WASM build and models, with a clear error when a required package is missing. */
export function humanPaths(): { dist: string; models: string; wasm: string } {
  const resolve = (id: string, why: string) => {
    try {
      return require.resolve(id);
    } catch {
      throw new Error(
        `cannot load the face models: package ${id.split('/').slice(0, 2).join('/')} is not installed (${why}); add it at 4.22.0 / the version in package.json and run npm install`,
      );
    }
  };
  const human = resolve('@vladmandic/human', 'face detector');
  resolve('@tensorflow/tfjs-converter', 'required by @vladmandic/human/dist/human.node-wasm.js');
  const wasmEntry = resolve('@tensorflow/tfjs-backend-wasm', 'tfjs WASM backend');
  return { dist: join(dirname(human), 'human.node-wasm.js'), models: join(dirname(human), '..', 'models'), wasm: join(dirname(wasmEntry), '/') };
}

let processDetector: string | undefined;

/** The shipped face detector: BlazeFace short-range, 128 px (models/face/README.md). */
export function defaultDetectorModel(): string {
  return join(packageRoot(), 'models', 'face', 'blazeface-front.json');
}

/** Finds the main face in RGB frames and describes it as a VISUAL_FEATURES vector. */
export class FaceAnalyzer {
  private constructor(
    private readonly human: Human,
    private readonly tf: TfLike,
  ) {}

  static async create(options: FaceAnalyzerOptions = {}): Promise<FaceAnalyzer> {
    const paths = humanPaths();
    const modelDir = options.modelDir ?? paths.models;
    const wasmDir = options.wasmDir ?? paths.wasm;
    const detectorModel = resolvePath(options.detectorModel ?? defaultDetectorModel());
    if (!existsSync(detectorModel)) throw new Error(`face detector model ${detectorModel} not found (the default ships in models/face/ of the msa package)`);
    // Human keeps each model in a module variable: the first detector loaded serves every
    // analyzer of the process, so asking for another one would silently get the first.
    if (processDetector !== undefined && processDetector !== detectorModel) {
      throw new Error(`face detector ${detectorModel} requested, but this process already loaded ${processDetector}; Human holds one detector per process`);
    }
    processDetector = detectorModel;
    const mod = require(paths.dist) as { Human: new (config?: Partial<Config>) => Human };
    const config: Partial<Config> = {
      backend: 'wasm',
      wasmPath: wasmDir.endsWith('/') ? wasmDir : `${wasmDir}/`,
      modelBasePath: `file://${modelDir.endsWith('/') ? modelDir : `${modelDir}/`}`,
      debug: false,
      async: false,
      // every frame is analysed on its own; Human's frame cache would reuse stale results
      cacheSensitivity: 0,
      filter: { enabled: false } as Config['filter'],
      gesture: { enabled: false },
      body: { enabled: false } as Config['body'],
      hand: { enabled: false } as Config['hand'],
      object: { enabled: false } as Config['object'],
      segmentation: { enabled: false } as Config['segmentation'],
      face: {
        enabled: true,
        detector: {
          modelPath: `file://${detectorModel}`,
          rotation: false,
          maxDetected: options.maxFaces ?? 3,
          skipFrames: 0,
          minConfidence: 0.3,
          return: false,
        },
        mesh: { enabled: true },
        attention: { enabled: false },
        iris: { enabled: false },
        // minConfidence 0 so that all seven probabilities come back, not only the top ones
        emotion: { enabled: true, minConfidence: 0, skipFrames: 0 },
        description: { enabled: false },
        antispoof: { enabled: false },
        liveness: { enabled: false },
      } as Config['face'],
    };
    const human = new mod.Human(config);
    const tf = human.tf as TfLike;
    tf.io.registerLoadRouter((url: string | string[]) => {
      const u = Array.isArray(url) ? url[0] : url;
      return typeof u === 'string' && u.startsWith('file://') ? fileModelHandler(u.slice('file://'.length)) : null;
    });
    await human.init();
    if (tf.getBackend() !== 'wasm') throw new Error(`face analyzer: tfjs backend is ${tf.getBackend()}, expected wasm (wasm binaries in ${wasmDir}?)`);
    await human.load();
    return new FaceAnalyzer(human, tf);
  }

  /**
   * Where a frame's time goes (for bench/): median milliseconds of one run of each loaded model
   * (detector, mesh, emotion) on a zero input of its own size, outputs read back.
   */
  timeModels(runs = 10): Record<string, { inputShape: number[]; medianMs: number }> {
    const out: Record<string, { inputShape: number[]; medianMs: number }> = {};
    const models = (this.human.models as unknown as { models: Record<string, GraphModelLike | null> }).models;
    for (const [name, model] of Object.entries(models)) {
      if (!model) continue;
      const shape = (model.inputs[0]?.shape ?? [1, 64, 64, 3]).map((d, i) => (d > 0 ? d : i === 0 ? 1 : 64));
      const input = this.tf.zeros(shape, model.inputs[0]?.dtype ?? 'float32');
      const times: number[] = [];
      for (let r = 0; r < runs + 2; r++) {
        const t0 = performance.now();
        const result = model.execute(input);
        for (const t of Array.isArray(result) ? result : [result]) (t as { dataSync(): unknown }).dataSync();
        if (r >= 2) times.push(performance.now() - t0);
        this.tf.dispose(result);
      }
      input.dispose();
      times.sort((a, b) => a - b);
      out[name] = { inputShape: shape, medianMs: +times[times.length >> 1]!.toFixed(2) };
    }
    return out;
  }

  /** The main face of the frame as a vector, or null when no face is found. */
  async analyze(frame: RgbFrame): Promise<FaceObservation | null> {
    const { width, height, data } = frame;
    if (data.length !== width * height * 3) throw new RangeError(`frame data has ${data.length} bytes, expected ${width}x${height}x3`);
    const pixels = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) pixels[i] = data[i]!;
    const input = this.tf.tensor4d(pixels, [1, height, width, 3], 'float32');
    try {
      const result = await this.human.detect(input);
      const faces = result.face.filter((f: FaceResult) => f.mesh.length > 0);
      const face = mainFace(faces);
      return face ? { vector: faceVector(face), faces: faces.length } : null;
    } finally {
      input.dispose();
    }
  }
}

interface GraphModelLike {
  inputs: { shape?: number[]; dtype?: string }[];
  execute(input: unknown): unknown;
}

interface TfLike {
  tensor4d(values: Float32Array, shape: [number, number, number, number], dtype: 'float32'): { dispose(): void };
  zeros(shape: number[], dtype?: string): { dispose(): void };
  dispose(t: unknown): void;
  getBackend(): string;
  io: { registerLoadRouter(router: (url: string | string[]) => unknown): void };
}

/** A tfjs IOHandler that reads a graph model's JSON and weight shards from disk. */
function fileModelHandler(path: string) {
  return {
    load: async () => {
      const json = JSON.parse(await readFile(path, 'utf8')) as {
        modelTopology: unknown;
        weightsManifest: { paths: string[]; weights: unknown[] }[];
        format?: string;
        generatedBy?: string;
        convertedBy?: string;
        signature?: unknown;
        userDefinedMetadata?: unknown;
      };
      const dir = dirname(path);
      const specs: unknown[] = [];
      const shards: Buffer[] = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) shards.push(await readFile(join(dir, p)));
      }
      const all = Buffer.concat(shards);
      return {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
        userDefinedMetadata: json.userDefinedMetadata,
      };
    },
  };
}

/** The graph model JSON of a detector. */
export function detectorModelFor(detector: FaceDetector): string {
  return detector === 'short-range' ? defaultDetectorModel() : join(humanPaths().models, 'blazeface.json');
}

let shared: { detector: FaceDetector; analyzer: Promise<FaceAnalyzer> } | undefined;

/**
 * One analyzer per process (the tfjs engine and Human's detector are global); created on first
 * use. Asking for another detector than the first one is refused with an error.
 */
export function sharedFaceAnalyzer(detector: FaceDetector = 'short-range'): Promise<FaceAnalyzer> {
  if (shared && shared.detector !== detector) {
    return Promise.reject(
      new Error(`face detector ${detector} requested, but this process already uses ${shared.detector}; Human holds one detector per process`),
    );
  }
  if (!shared) {
    const analyzer = FaceAnalyzer.create({ detectorModel: detectorModelFor(detector) }).catch((e: unknown) => {
      shared = undefined;
      throw e;
    });
    shared = { detector, analyzer };
  }
  return shared.analyzer;
}
