/**
 * Decoding input records with and without copying their payload (codec `decode(..., { payload: false })`):
 * a 100 ms chunk of 16 kHz audio (3.2 KB) and a 320x240 RGB24 frame (230 KB).
 *
 *   node --import tsx bench/decode.ts [--rounds 5] [--n 20000]
 *
 * Prints the median µs per record of `rounds` timed loops of `n` decodes each.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createCodec, type RecordKind } from '../src/schemas/codec.js';

const { values: flags } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, n: { type: 'string', default: '20000' } } });
const rounds = Number(flags.rounds);
const n = Number(flags.n);
if (!Number.isSafeInteger(rounds) || rounds < 1 || !Number.isSafeInteger(n) || n < 1) throw new RangeError('--rounds and --n must be positive integers');
const codec = createCodec();
const t0 = 1_760_000_000_000;
const cases: { label: string; kind: RecordKind; bytes: Buffer; n: number }[] = [
  {
    label: 'audio chunk, 100 ms at 16 kHz (3.2 KB)',
    kind: 'audio',
    bytes: codec.encode(
      { sessionId: 'load-0001', seq: 1, eventTime: t0, sampleRate: 16000, encoding: 'S16LE', samples: Buffer.alloc(3200, 3), endOfStream: false },
      'audio',
    ),
    n,
  },
  {
    label: 'video frame, 320x240 RGB24 (230 KB)',
    kind: 'video',
    bytes: codec.encode(
      {
        sessionId: 'load-0001',
        seq: 1,
        eventTime: t0,
        format: 'RGB24',
        width: 320,
        height: 240,
        data: Buffer.alloc(320 * 240 * 3, 3),
        features: [],
        featureSet: null,
        facePresent: null,
        endOfStream: false,
      },
      'video',
    ),
    n: Math.max(1, Math.floor(n / 20)),
  },
];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = loadavg()[0]!;
console.log('| record | copied (µs) | view (µs) | ratio |\n| --- | --- | --- | --- |');
for (const c of cases) {
  const time = (payload: boolean) => {
    const runs: number[] = [];
    for (let r = 0; r <= rounds; r++) {
      const s = performance.now();
      for (let i = 0; i < c.n; i++) codec.decode(c.bytes, c.kind, { payload });
      if (r > 0) runs.push(((performance.now() - s) * 1000) / c.n); // round 0 warms up
    }
    return median(runs);
  };
  const copied = time(true);
  const view = time(false);
  console.log(`| ${c.label} | ${copied.toFixed(1)} | ${view.toFixed(1)} | ${(copied / view).toFixed(1)}x |`);
}
console.log(`\nmedians of ${rounds} rounds, load average ${load.toFixed(1)} -> ${loadavg()[0]!.toFixed(1)}`);
