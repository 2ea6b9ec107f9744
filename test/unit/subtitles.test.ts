import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cleanText, cueWords, cuesToSegments, detectFormat, parseSubtitles, parseTimestamp, SubtitleError } from '../../src/ingest/subtitles.js';

const SRT = [
  '1',
  '00:00:01,000 --> 00:00:03,500',
  '<i>Hello</i> there,',
  '<font color="#ffffff">general</font> Kenobi',
  '',
  '2',
  '00:00:04,000 --> 00:00:05,000 X1:100 X2:200 Y1:10 Y2:20',
  '{\\an8}Tom &amp; Jerry',
  '',
  '',
  '3',
  '00:00:06,000 --> 00:00:07,000',
  '<b></b>',
  '',
].join('\r\n');

const VTT = `\uFEFFWEBVTT - a talk

STYLE
::cue { color: yellow }

NOTE this is a comment
that spans two lines

intro
00:01.000 --> 00:02.500 align:start position:10%
<v Alice>I <c.loud>really</c> love it</v>

01:00:00.000 --> 01:00:01.000
<00:00:00.200>multi
line &lt;cue&gt;
`;

describe('subtitles', () => {
  it('parses SubRip: multi-line cues, styling and entities stripped, empty cues skipped', () => {
    const cues = parseSubtitles(SRT, { name: 'talk.srt' });
    assert.equal(cues.length, 2);
    assert.deepEqual(cues[0], { index: 1, startMs: 1000, endMs: 3500, text: 'Hello there, general Kenobi', speaker: null, line: 2 });
    assert.deepEqual({ ...cues[1] }, { index: 2, startMs: 4000, endMs: 5000, text: 'Tom & Jerry', speaker: null, line: 7 });
  });

  it('parses WebVTT: header, STYLE and NOTE blocks, identifiers, settings, voices, short timestamps', () => {
    const cues = parseSubtitles(VTT, { name: 'talk.vtt' });
    assert.equal(cues.length, 2);
    assert.deepEqual(cues[0], { index: 1, startMs: 1000, endMs: 2500, text: 'I really love it', speaker: 'Alice', line: 10 });
    assert.deepEqual(cues[1], { index: 2, startMs: 3_600_000, endMs: 3_601_000, text: 'multi line <cue>', speaker: null, line: 13 });
  });

  it('accepts SubRip cues without numbers and a dot before the milliseconds', () => {
    const cues = parseSubtitles('00:00:01.5 --> 00:00:02,250\nhi\n', { format: 'srt' });
    assert.deepEqual(
      cues.map((c) => [c.startMs, c.endMs, c.text]),
      [[1500, 2250, 'hi']],
    );
  });

  it('detects the format from the name, else from the header', () => {
    assert.equal(detectFormat('', 'a.VTT'), 'vtt');
    assert.equal(detectFormat('WEBVTT\n', 'a.srt'), 'srt');
    assert.equal(detectFormat('WEBVTT\n'), 'vtt');
    assert.equal(detectFormat('1\n00:00:01,000 --> 00:00:02,000\nx'), 'srt');
  });

  it('names the line and the value of a bad timestamp', () => {
    const text = '1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:0x,000 --> 00:00:04,000\nbad\n';
    assert.throws(
      () => parseSubtitles(text, { name: 'bad.srt' }),
      (e: unknown) => e instanceof SubtitleError && e.line === 6 && e.message === 'bad.srt:6: bad start time "00:00:0x,000" (expected HH:MM:SS,mmm)',
    );
    assert.throws(
      () => parseSubtitles('WEBVTT\n\n00:01.000 --> 00:61.000\nx\n', { name: 'b.vtt' }),
      /^SubtitleError: b\.vtt:3: bad end time "00:61\.000" \(expected HH:MM:SS\.mmm or MM:SS\.mmm\)$/,
    );
    assert.throws(
      () => parseSubtitles('1\n00:00:05,000 --> 00:00:04,000\nx\n', { name: 'c.srt' }),
      /c\.srt:2: cue ends \(00:00:04,000\) before it starts \(00:00:05,000\)/,
    );
  });

  it('rejects structure it cannot read, naming the line', () => {
    assert.throws(() => parseSubtitles('1\nhello\n', { name: 'a.srt' }), /a\.srt:2: expected a timing line .* after cue number 1, got "hello"/);
    assert.throws(() => parseSubtitles('hello\nworld\n', { name: 'a.srt' }), /a\.srt:1: expected a cue number or a timing line/);
    assert.throws(() => parseSubtitles('00:01.000 --> 00:02.000\nx\n', { name: 'a.vtt' }), /a\.vtt:1: a WebVTT file must start with "WEBVTT"/);
  });

  it('parses timestamps strictly', () => {
    assert.equal(parseTimestamp('01:02:03,456', 'srt'), 3_723_456);
    assert.equal(parseTimestamp('00:00:00,5', 'srt'), 500);
    assert.equal(parseTimestamp('02:03.456', 'vtt'), 123_456);
    assert.equal(parseTimestamp('02:03,456', 'vtt'), null);
    assert.equal(parseTimestamp('00:60:00,000', 'srt'), null);
    assert.equal(parseTimestamp('', 'srt'), null);
  });

  it('strips tags and keeps the first voice as speaker', () => {
    assert.deepEqual(cleanText(['<v.loud Bob Smith>Hi', '<i>you</i>&nbsp;there']), { text: 'Hi you there', speaker: 'Bob Smith' });
  });

  it('spreads word timings evenly over the cue', () => {
    assert.deepEqual(cueWords({ startMs: 1000, endMs: 2000, text: 'one two three' }), [
      { word: 'one', startMs: 1000, endMs: 1333 },
      { word: 'two', startMs: 1333, endMs: 1667 },
      { word: 'three', startMs: 1667, endMs: 2000 },
    ]);
  });

  it('makes final segments in cue end order, the last one ending the stream', () => {
    const cues = parseSubtitles('1\n00:00:01,000 --> 00:00:09,000\nlong one\n\n2\n00:00:02,000 --> 00:00:03,000\nshort\n');
    const segments = cuesToSegments(cues, { sessionId: 's', startTime: 1_000_000, language: 'en' });
    assert.deepEqual(
      segments.map((s) => [s.segmentId, s.eventTime, s.endTime, s.endOfStream]),
      [
        ['s-sub-2', 1_002_000, 1_003_000, false],
        ['s-sub-1', 1_001_000, 1_009_000, true],
      ],
    );
    assert.deepEqual(segments[1]!.words, [
      { word: 'long', start: 1_001_000, end: 1_005_000, confidence: null },
      { word: 'one', start: 1_005_000, end: 1_009_000, confidence: null },
    ]);
    assert.equal(segments[0]!.isFinal, true);
    assert.equal(segments[0]!.language, 'en');
    assert.deepEqual(cuesToSegments([], { sessionId: 's', startTime: 0 }), []);
  });
});
