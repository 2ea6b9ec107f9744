// @needs python (scripts/test.mjs prepares the training venv for this file)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { AudioChunk, TranscriptSegment, VideoFrame, Word } from '../../src/schemas/records.js';
import type { SessionWindow } from '../../src/windows/types.js';
import type { TextTokenizer } from '../../src/model/tokenizer.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { buildWindowInput, windowWords } from '../../src/model/windowInputs.js';
import { minilmPackageDir } from '../fixtures/env.js';
import { silentChunk, transcriptSegment } from '../fixtures/records.js';

const T0 = 1_700_000_000_000;
const padIndex = { acoustic: 32, visual: 16 };

/** One id per whitespace word (its length), between 101 and 102: enough to test the logic. */
const wordTokenizer: TextTokenizer = {
  folder: '(test)',
  encode(texts, maxTokens) {
    const inputIds = texts.map((t) => {
      const content = t
        .split(/\s+/)
        .filter(Boolean)
        .map((w) => w.length);
      return [101, ...content.slice(0, maxTokens - 2), 102];
    });
    return { inputIds, attentionMask: inputIds.map((ids) => ids.map(() => 1)) };
  },
  countTokens: (t) => t.split(/\s+/).filter(Boolean).length + 2,
};

function words(spec: [string, number, number][]): Word[] {
  return spec.map(([word, s, e]) => ({ word, start: T0 + s, end: T0 + e, confidence: null }));
}

function segment(id: string, start: number, end: number, ws: Word[], extra: Partial<TranscriptSegment> = {}): TranscriptSegment {
  return transcriptSegment({
    sessionId: 's1',
    segmentId: id,
    eventTime: T0 + start,
    endTime: T0 + end,
    text: ws.map((w) => w.word).join(' '),
    words: ws,
    ...extra,
  });
}

function audio(samples: number, endOfStream = false): AudioChunk {
  return silentChunk({ sessionId: 's1', eventTime: T0, endOfStream }, samples);
}

function frame(bytes: number, endOfStream = false): VideoFrame {
  return {
    sessionId: 's1',
    seq: 0,
    eventTime: T0,
    format: 'JPEG',
    width: 4,
    height: 4,
    data: Buffer.alloc(bytes),
    features: [],
    featureSet: null,
    facePresent: null,
    endOfStream,
  };
}

function win(transcript: TranscriptSegment[], extra: Partial<SessionWindow> = {}): SessionWindow {
  return { sessionId: 's1', start: T0 + 1000, end: T0 + 7000, audio: [], video: [], transcript, positions: [], closedAt: T0 + 7500, ...extra };
}

test('takes the words overlapping [start, end), in time order across segments', () => {
  const a = segment(
    'a',
    0,
    4000,
    words([
      ['before', 0, 900],
      ['straddles', 800, 1200],
      ['inside', 2000, 2500],
      ['later', 5000, 5400],
    ]),
  );
  const b = segment(
    'b',
    3000,
    8000,
    words([
      ['middle', 3000, 3500],
      ['atend', 6900, 7100],
      ['after', 7000, 7300],
    ]),
  );
  assert.deepEqual(windowWords(win([b, a])), ['straddles', 'inside', 'middle', 'later', 'atend']);
});

test('a word starting exactly at start is in, one starting exactly at end is out; zero-length words count', () => {
  const s = segment(
    'a',
    0,
    8000,
    words([
      ['endsAtStart', 500, 1000],
      ['zeroAtStart', 1000, 1000],
      ['atEnd', 7000, 7200],
    ]),
  );
  assert.deepEqual(windowWords(win([s])), ['zeroAtStart']);
});

test('a segment without word timings gives its whole text when it overlaps the window', () => {
  const timed = segment('a', 2000, 3000, words([['timed', 2500, 2800]]));
  const untimed = segment('b', 500, 1500, [], { text: 'no  timings here' });
  const outside = segment('c', 7000, 9000, [], { text: 'too late' });
  assert.deepEqual(windowWords(win([timed, untimed, outside])), ['no', 'timings', 'here', 'timed']);
});

test('a final segment replaces the interim versions with the same segmentId', () => {
  const interim = segment(
    'a',
    1000,
    3000,
    words([
      ['i', 1000, 1200],
      ['thinc', 1200, 1500],
    ]),
    { isFinal: false },
  );
  const final = segment(
    'a',
    1000,
    3000,
    words([
      ['i', 1000, 1200],
      ['think', 1200, 1500],
      ['so', 1500, 1800],
    ]),
  );
  const lateInterim = segment('a', 1000, 3000, words([['eye', 1000, 1200]]), { isFinal: false });
  assert.deepEqual(windowWords(win([interim, final, lateInterim])), ['i', 'think', 'so']);
  const interim2 = segment('b', 4000, 5000, words([['maybe', 4000, 4500]]), { isFinal: false });
  assert.deepEqual(windowWords(win([interim, interim2])), ['i', 'thinc', 'maybe']);
});

test('builds a text-only input: non-verbal absent as one pad index with mask 0', () => {
  const s = segment(
    'a',
    1000,
    3000,
    words([
      ['really', 1000, 1400],
      ['good', 1400, 1800],
    ]),
  );
  const out = buildWindowInput(win([s], { audio: [audio(320)], video: [frame(100)] }), { tokenizer: wordTokenizer, maxTextTokens: 64, padIndex });
  assert.deepEqual(out.input, {
    inputIds: [101, 6, 4, 102],
    attentionMask: [1, 1, 1, 1],
    acousticIds: [32],
    acousticMask: [0],
    visualIds: [16],
    visualMask: [0],
  });
  assert.equal(out.text, 'really good');
  assert.deepEqual(out.present, { text: true, audio: true, video: true });
  assert.deepEqual(out.used, { text: true, audio: false, video: false });
});

test('an empty window is still an input ([CLS] [SEP], mask 0: text absent) with nothing present or used', () => {
  const out = buildWindowInput(win([], { audio: [audio(0, true)], video: [frame(0, true)] }), { tokenizer: wordTokenizer, maxTextTokens: 64, padIndex });
  assert.deepEqual(out.input.inputIds, [101, 102]);
  assert.deepEqual(out.input.attentionMask, [0, 0], 'no words: the model must see the text as absent');
  assert.deepEqual(out.present, { text: false, audio: false, video: false });
  assert.deepEqual(out.used, { text: false, audio: false, video: false });
});

test('when the words do not fit, the oldest are dropped whole', () => {
  const spec: [string, number, number][] = Array.from({ length: 20 }, (_, i) => [`w${i}`, 1000 + i * 100, 1050 + i * 100]);
  const out = buildWindowInput(win([segment('a', 1000, 3000, words(spec))]), { tokenizer: wordTokenizer, maxTextTokens: 7, padIndex });
  assert.equal(out.text, 'w15 w16 w17 w18 w19');
  assert.equal(out.words, 20);
  assert.equal(out.droppedWords, 15);
  assert.equal(out.input.inputIds.length, 7);
});

test('the nonVerbal hook fills acoustic and visual ids and marks them used; bad indices are refused', () => {
  const s = segment('a', 1000, 3000, words([['ok', 1000, 1400]]));
  const out = buildWindowInput(win([s]), {
    tokenizer: wordTokenizer,
    maxTextTokens: 64,
    padIndex,
    nonVerbal: { acousticIds: [0, 31, 5], visualIds: [] },
  });
  assert.deepEqual(out.input.acousticIds, [0, 31, 5]);
  assert.deepEqual(out.input.acousticMask, [1, 1, 1]);
  assert.deepEqual(out.input.visualIds, [16]);
  assert.deepEqual(out.used, { text: true, audio: true, video: false });
  assert.throws(
    () => buildWindowInput(win([s]), { tokenizer: wordTokenizer, maxTextTokens: 64, padIndex, nonVerbal: { acousticIds: [], visualIds: [16] } }),
    /visual codebook index 16 is outside 0..15/,
  );
});

const folder = [path.resolve('models/tokenizer'), minilmPackageDir].find((dir) => existsSync(path.join(dir, 'tokenizer.json')));

test('with the real tokenizer: most recent words kept, row within maxTextTokens, ends in [SEP]', { skip: folder ? false : 'no tokenizer folder' }, async () => {
  const tokenizer = await loadTokenizer(folder!);
  const text = 'anyhow it was really good but the unbelievably antidisestablishmentarian ending ruined everything';
  const spec = text.split(' ').map((w, i): [string, number, number] => [w, 1000 + i * 300, 1250 + i * 300]);
  const out = buildWindowInput(win([segment('a', 1000, 5000, words(spec))]), { tokenizer, maxTextTokens: 12, padIndex });
  assert.ok(out.input.inputIds.length <= 12);
  assert.equal(out.input.inputIds[0], 101);
  assert.equal(out.input.inputIds.at(-1), 102);
  assert.ok(out.text.endsWith('ending ruined everything'));
  assert.ok(out.droppedWords > 0);
  // One more word would not have fitted.
  const oneMore = spec
    .slice(spec.length - out.words + out.droppedWords - 1)
    .map((w) => w[0])
    .join(' ');
  assert.ok(tokenizer.countTokens(oneMore) > 12);
  assert.deepEqual(out.input.inputIds, tokenizer.encode([out.text], 12).inputIds[0]);
});

test('a 280 KB segment without word timings builds (no stack overflow) and keeps the most recent words', () => {
  // One-letter words, as in the record that crashed main: 140 000 of them in 280 KB.
  const many = `${'a '.repeat(140_000)}the end of it all`;
  const s = segment('huge', 1000, 3000, [], { text: many });
  assert.ok(many.length > 280_000);
  const out = buildWindowInput(win([s]), { tokenizer: wordTokenizer, maxTextTokens: 7, padIndex, maxWords: 1_000_000 });
  assert.equal(out.text, 'the end of it all');
  assert.equal(out.words, 140_005);
  assert.equal(out.droppedWords, 140_000);
});

test('maxWords bounds the words looked at: the oldest beyond it are dropped and counted', () => {
  const spec: [string, number, number][] = Array.from({ length: 20 }, (_, i) => [`w${i}`, 1000 + i * 100, 1050 + i * 100]);
  const out = buildWindowInput(win([segment('a', 1000, 3000, words(spec))]), { tokenizer: wordTokenizer, maxTextTokens: 64, padIndex, maxWords: 4 });
  assert.equal(out.text, 'w16 w17 w18 w19');
  assert.equal(out.words, 20);
  assert.equal(out.droppedWords, 16);
});

test('tokenising is linear: each word of the kept tail is counted once, not the whole window again and again', () => {
  let counted = 0;
  const counting: TextTokenizer = { ...wordTokenizer, countTokens: (t) => ((counted += t.length), wordTokenizer.countTokens(t)) };
  const text = Array.from({ length: 50_000 }, (_, i) => `w${i}`).join(' ');
  buildWindowInput(win([segment('huge', 1000, 3000, [], { text })]), { tokenizer: counting, maxTextTokens: 64, padIndex });
  // A binary search re-tokenising the window would count about log2(50 000) x 390 KB.
  assert.ok(counted < 10_000, `characters tokenised: ${counted}`);
});

test("the recogniser's text (origin asr:...) is cleaned as the model reads it; other transcripts are not", () => {
  const said = "Well, I'm sure it's great... right?";
  const heard = segment('h', 2000, 3000, [], { text: said, origin: 'asr:whisper-tiny.en' });
  const typed = segment('t', 4000, 5000, [], { text: said, origin: null });
  const options = { tokenizer: wordTokenizer, maxTextTokens: 64, padIndex };
  assert.equal(buildWindowInput(win([heard, typed]), { ...options, recognisedText: 'mosi' }).text, `well im sure its great right ${said}`);
  assert.equal(buildWindowInput(win([heard, typed]), { ...options, recognisedText: 'raw' }).text, `${said} ${said}`);
  // Punctuation alone is no word for the model.
  const dots = segment('d', 2000, 3000, [], { text: '...', origin: 'asr:whisper-tiny.en' });
  assert.equal(buildWindowInput(win([dots]), { ...options, recognisedText: 'mosi' }).words, 0);
});
