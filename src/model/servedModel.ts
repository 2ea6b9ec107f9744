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
  onPoolEvent?: (event: InferencePoolEvent) => void;
  logger: Logger;
}): Promise<LoadedModel> {
  const manifest = await loadManifest(opts.manifest);
  const workers = opts.workers ?? 0;
  const [tokenizer, session] = await Promise.all([
    loadTokenizer(manifest.tokenizerPath),
    workers > 0
      ? startInferencePool({
          path: manifest.modelPath,
          executionProvider: opts.executionProvider,
          workers,
          threadsPerWorker: opts.threadsPerWorker ?? 0,
          padIndex: manifest.padIndex,
          onEvent: opts.onPoolEvent,
          logger: opts.logger,
        })
      : loadModel({
          path: manifest.modelPath,
          executionProvider: opts.executionProvider,
          intraOpThreads: opts.intraOpThreads > 0 ? opts.intraOpThreads : undefined,
          padIndex: manifest.padIndex,
          logger: opts.logger,
        }),
  ]);
  const graphKind = session.kind ?? '';
  const isSentimentModel = manifest.kind === 'sentiment' && !graphKind.startsWith('test');
  const version = isSentimentModel
    ? `${manifest.name}@${manifest.version}`
    : `${manifest.name}@${manifest.version} (NOT a sentiment model: ${graphKind || manifest.kind})`;
  const log = opts.logger.child({ component: 'model' });
  if (!isSentimentModel) {
    log.warn({ model: manifest.modelPath, kind: graphKind || manifest.kind }, 'serving a graph that is NOT a sentiment model: scores are meaningless');
  }
  log.info(
    { model: version, file: manifest.modelPath, requested: session.requestedProvider, provider: session.provider },
    `model loaded on ${session.provider}`,
  );
  return { manifest, tokenizer, session, version, isSentimentModel };
}
