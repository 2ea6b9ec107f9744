// Loads the Whisper graphs with onnxruntime-node from a model directory (graphs beside model.bin)
// and greedy-decodes a log-mel given as raw float32 [80, T], following CONTRACT.md; prints JSON
// {tokens, first_step_top5_masked, hidden_0_0_first8} for training/tests/test_whisper_node.py.
//   node training/whisper/node_check.mjs ORT_NODE_DIR MODEL_DIR MEL_F32 T
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [ortDir, modelDir, melPath, tArg] = process.argv.slice(2);
const ort = createRequire(import.meta.url)(ortDir);
const info = JSON.parse(readFileSync(join(modelDir, 'whisper.json'), 'utf8'));
const { tokens: tc, dims } = info;
const T = Number(tArg);
const mel = new Float32Array(readFileSync(melPath).buffer.slice(0));
if (mel.length !== dims.n_mels * T) throw new Error(`mel has ${mel.length} values, want ${dims.n_mels} x ${T}`);

const opts = { intraOpNumThreads: 1, executionProviders: ['cpu'] };
const encoder = await ort.InferenceSession.create(join(modelDir, 'encoder.onnx'), opts);
const decoder = await ort.InferenceSession.create(join(modelDir, 'decoder.onnx'), opts);
const enc = await encoder.run({ mel: new ort.Tensor('float32', mel, [1, dims.n_mels, T]) });

const suppress = new Set(tc.suppress);
const suppressBegin = new Set([...tc.suppress, ...tc.suppress_begin]);
let selfK = new ort.Tensor('float32', new Float32Array(0), [dims.n_text_layer, 1, 0, dims.d_model]);
let selfV = selfK;
let input = new ort.Tensor('int64', BigInt64Array.from(tc.prompt.map(BigInt)), [1, tc.prompt.length]);
const out = [];
let top5 = null;
for (let step = 0; step < tc.max_new_tokens; step++) {
  const r = await decoder.run({ tokens: input, self_k: selfK, self_v: selfV, cross_k: enc.cross_k, cross_v: enc.cross_v });
  selfK = r.self_k_out;
  selfV = r.self_v_out;
  const masked = Array.from(r.logits.data, (v, i) => ((step === 0 ? suppressBegin : suppress).has(i) ? -Infinity : v));
  if (step === 0) top5 = masked.map((v, i) => [i, v]).sort((a, b) => b[1] - a[1]).slice(0, 5);
  let best = 0;
  for (let i = 1; i < masked.length; i++) if (masked[i] > masked[best]) best = i;
  if (best === tc.eot) break;
  out.push(best);
  input = new ort.Tensor('int64', BigInt64Array.from([BigInt(best)]), [1, 1]);
}
console.log(JSON.stringify({ tokens: out, first_step_top5_masked: top5, hidden_0_0_first8: Array.from(enc.hidden.data.slice(0, 8)) }));
