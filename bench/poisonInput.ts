/**
 * The worst event-loop block one maximal input causes: a transcript record of about 1 MiB
 * (the input limit) decoded by the codec, then the model input of its window built with the real
 * tokenizer (words -> tokens, oldest dropped to fit). Each case runs in its own turn of the
 * event loop while perf_hooks' monitorEventLoopDelay samples at 1 ms; the figure is the largest
 * delay seen (median over rounds) and the synchronous time of the work.
 *
 *   node --import tsx bench/poisonInput.ts [--rounds 5] [--max-words-per-segment 4096]
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../src/config/config.js';
import { createCodec } from '../src/schemas/codec.js';
import type { TranscriptSegment } from '../src/schemas/records.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { buildWindowInput } from '../src/model/windowInputs.js';
import type { SessionWindow } from '../src/windows/types.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    'max-words-per-segment': { type: 'string', default: String(DEFAULTS.limits.maxWordsPerSegment) },
  },
});
const rounds = Number(flags.rounds);
const maxWordsPerSegment = Number(flags['max-words-per-segment']);
const tokenizer = await loadTokenizer('models/tokenizer');
const codec = createCodec({ maxWordsPerSegment, maxRecordBytes: 2 * 1024 * 1024 });
const T0 = 1_760_000_000_000;

const segment = (text: string): TranscriptSegment => ({
  sessionId: 'bench',
  segmentId: 's',
  eventTime: T0,
  endTime: T0 + 2000,
  text,
  words: [],
  isFinal: true,
  speaker: null,
  channel: null,
  language: 'en',
  endOfStream: false,
  origin: null,
});
const words = 'the service was slow but the people on the phone were kind and helpful'.split(' ');
const prose = (bytes: number) => {
  const out: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const w = words[i % words.length]!;
    out.push(w);
    n += w.length + 1;
  }
  return out.join(' ');
};
const CASES: Record<string, string> = {
  '1 MiB of prose (about 200 000 words)': prose(1024 * 1024 - 200),
  '1 MiB of one-letter words (about 500 000)': 'a '.repeat(512 * 1024 - 100),
  '600 KB of prose (the issue)': prose(600 * 1024),
  // The longest accepted by default: maxWordsPerSegment words (at most 5000, about 1 MiB) of 200 chars.
  [`${Math.min(maxWordsPerSegment, 5000)} words of 200 chars (1 MiB at the word limit)`]: Array.from(
    { length: Math.min(maxWordsPerSegment, 5000) },
    (_, i) => `${'x'.repeat(190)}${i}`,
  ).join(' '),
};

function work(text: string): string {
  const result = codec.decode(codec.encode(segment(text), 'transcript'), 'transcript');
  if (!result.ok) return `dead-lettered ${result.code}`;
  const window: SessionWindow = {
    sessionId: 'bench',
    start: T0 - 4000,
    end: T0 + 2000,
    audio: [],
    video: [],
    transcript: [result.value],
    positions: [],
    closedAt: T0,
  };
  const built = buildWindowInput(window, { tokenizer, maxTextTokens: 96, padIndex: { acoustic: 64, visual: 64 }, maxWords: DEFAULTS.limits.maxWordsPerWindow });
  return `scored input of ${built.input.inputIds.length} tokens from ${built.words} words`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
// The monitor's first sample only sets its baseline: let it take a few before the work.
const turn = () => new Promise((r) => setTimeout(r, 10));
console.log(`maxWordsPerSegment ${maxWordsPerSegment}, maxWordsPerWindow ${DEFAULTS.limits.maxWordsPerWindow}, ${rounds} rounds`);
for (const [name, text] of Object.entries(CASES)) {
  const blocks: number[] = [];
  const sync: number[] = [];
  let outcome = '';
  for (let r = 0; r < rounds; r++) {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    await turn();
    const t0 = performance.now();
    try {
      outcome = work(text);
    } catch (err) {
      outcome = `threw ${(err as Error).name}: ${(err as Error).message.slice(0, 60)}`;
    }
    sync.push(performance.now() - t0);
    await new Promise((r2) => setTimeout(r2, 20));
    h.disable();
    blocks.push(h.max / 1e6);
  }
  console.log(`${name.padEnd(48)} worst loop delay ${median(blocks).toFixed(0).padStart(6)} ms  sync ${median(sync).toFixed(0).padStart(6)} ms  ${outcome}`);
}
