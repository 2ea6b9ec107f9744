/**
 * The served model: its manifest, tokenizer and ONNX Runtime session, loaded together, with an
 * honest version string. A graph that is not a sentiment model (the test graph) says so in the
 * log and in every score's modelVersion.
 */
import type { Logger } from '../log.js';
import { loadManifest, type ModelManifest } from './manifest.js';
import { loadTokenizer, type TextTokenizer } from './tokenizer.js';
import { loadModel } from './onnxSession.js';
import { startInferencePool, type InferencePoolEvent, type ModelRunner } from './inferencePool.js';

export interface LoadedModel {
  manifest: ModelManifest;
  tokenizer: TextTokenizer;
  /** In this thread (`workers: 0`) or in a pool of worker threads (./inferencePool.ts). */
  session: ModelRunner;
  /** What every score carries in modelVersion. */
  version: string;
  isSentimentModel: boolean;
}

export async function loadServedModel(opts: {
  manifest: string;
  executionProvider: 'cpu' | 'cuda';
  /** Intra-op threads of the session in this thread (`workers: 0`); 0 = ONNX Runtime's default. */
  intraOpThreads: number;
  /** Worker threads with one session each; 0 = the session runs in this thread. */
  workers?: number;
  /** Intra-op threads of each worker's session; 0 = ONNX Runtime's default. */
  threadsPerWorker?: number;
  /** Run each window alone (no padding, no batch-neighbour dependence). */
  perRow?: boolean;
  /** Serve the manifest's dynamic int8 graph, one row per run. */
  dynamicInt8?: boolean;
  onPoolEvent?: (event: InferencePoolEvent) => void;
  logger: Logger;
}): Promise<LoadedModel> {
  const manifest = await loadManifest(opts.manifest);
  const workers = opts.workers ?? 0;
  const log = opts.logger.child({ component: 'model' });
  const modelPath = servedGraphPath(manifest, opts.dynamicInt8 === true);
  const dynamic = modelPath !== manifest.modelPath;
  if (opts.dynamicInt8 === true && !dynamic) {
    log.info({ manifest: manifest.manifestPath }, 'model.dynamicInt8 is on but the manifest names no dynamicInt8.file: serving its own graph');
  }
  const perRow = dynamic || opts.perRow === true;
  const [tokenizer, session] = await Promise.all([
    loadTokenizer(manifest.tokenizerPath),
    workers > 0
      ? startInferencePool({
          path: modelPath,
          executionProvider: opts.executionProvider,
          workers,
          threadsPerWorker: opts.threadsPerWorker ?? 0,
          padIndex: manifest.padIndex,
          perRow,
          onEvent: opts.onPoolEvent,
          logger: opts.logger,
        })
      : loadModel({
          path: modelPath,
          executionProvider: opts.executionProvider,
          intraOpThreads: opts.intraOpThreads > 0 ? opts.intraOpThreads : undefined,
          padIndex: manifest.padIndex,
          logger: opts.logger,
        }).then((s) => (perRow ? rowByRow(s) : s)),
  ]);
  const graphKind = session.kind ?? '';
  const isSentimentModel = manifest.kind === 'sentiment' && !graphKind.startsWith('test');
  const name = dynamic ? `${manifest.name}@${manifest.version}+dynamic-int8` : `${manifest.name}@${manifest.version}`;
  const version = isSentimentModel ? name : `${name} (NOT a sentiment model: ${graphKind || manifest.kind})`;
  if (!isSentimentModel) {
    log.warn({ model: manifest.modelPath, kind: graphKind || manifest.kind }, 'serving a graph that is NOT a sentiment model: scores are meaningless');
  }
  log.info(
    { model: version, file: modelPath, perRow, requested: session.requestedProvider, provider: session.provider },
    `model loaded on ${session.provider}`,
  );
  return { manifest, tokenizer, session, version, isSentimentModel };
}

/** The graph served for a manifest: its dynamic int8 graph when asked for and named, else its own. */
export function servedGraphPath(manifest: ModelManifest, dynamicInt8: boolean): string {
  return dynamicInt8 && manifest.dynamicInt8Path !== null ? manifest.dynamicInt8Path : manifest.modelPath;
}

/** A session in this thread that runs a batch's rows one at a time. */
function rowByRow(session: ModelRunner): ModelRunner {
  return {
    get path() {
      return session.path;
    },
    requestedProvider: session.requestedProvider,
    provider: session.provider,
    kind: session.kind,
    async run(inputs) {
      const out = [];
      for (const input of inputs) out.push(...(await session.run([input])));
      return out;
    },
    release: () => session.release(),
  };
}
