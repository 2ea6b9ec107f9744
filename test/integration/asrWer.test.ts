/**
 * `msa asr wer` end to end: espeak-ng speech through the real recogniser (VAD + Whisper, the default model),
 * the corpus WER under each normalisation (`werBy`), the one `--normalise` picks as `wer`, and
 * the rows of `--out` that they are computed from. The references are written as MOSI writes
 * (a filler, "im", a spelled number): what the normalisations disagree on.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { parseCsv } from '../../src/datasets/csv.js';
import { corpusWer, WER_NORMALISATIONS, werCount } from '../../src/speech/wer.js';
import { espeakWav, speechTmp } from '../fixtures/speech.js';
import { modelDir } from '../fixtures/whisper.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SAID: [string, string, string][] = [
  ['a', "I'm sure it was twenty minutes late.", 'um im sure it was twenty minutes late'],
  ['b', "We don't like the colour of the door.", 'uh we dont like the colour of the door'],
];

let manifest: string;
before(async () => {
  await modelDir('tiny.en-voices'); // installed at first use (tiny.en first, then its adapters merged)
  for (const [id, text] of SAID) copyFileSync(espeakWav(`wer-${id}`, text), join(speechTmp, `${id}.wav`));
  manifest = join(speechTmp, 'manifest.csv');
  writeFileSync(manifest, ['id,path,text', ...SAID.map(([id, , ref]) => `${id},${id}.wav,${ref}`)].join('\n') + '\n');
});

function wer(...args: string[]): {
  summary: Record<string, unknown> & { werBy: Record<string, number>; wer: number };
  rows: { reference: string; hypothesis: string }[];
} {
  const out = join(speechTmp, `rows-${args.join('-') || 'default'}.csv`);
  const run = spawnSync(
    process.execPath,
    [join(ROOT, 'bin', 'msa.js'), 'asr', 'wer', '--manifest', manifest, '--json', '--out', out, '--threads', '1', ...args],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.ok(existsSync(out));
  const [header, ...records] = parseCsv(readFileSync(out, 'utf8'));
  const col = (name: string) => header!.fields.indexOf(name);
  const rows = records.map((r) => ({ reference: r.fields[col('reference')]!, hypothesis: r.fields[col('hypothesis')]! }));
  return { summary: JSON.parse(run.stdout) as never, rows };
}

test('msa asr wer: the WER under each normalisation, the default whisper-noapos, --normalise basic', { timeout: 300_000 }, () => {
  const byDefault = wer();
  assert.equal(byDefault.summary.normalisation, 'whisper-noapos');
  assert.deepEqual(Object.keys(byDefault.summary.werBy).sort(), [...WER_NORMALISATIONS].sort());
  assert.equal(byDefault.rows.length, SAID.length);
  for (const how of WER_NORMALISATIONS) {
    const expected = corpusWer(byDefault.rows.map((r) => werCount(r.reference, r.hypothesis, how)));
    assert.equal(byDefault.summary.werBy[how], expected, how);
  }
  assert.equal(byDefault.summary.wer, byDefault.summary.werBy['whisper-noapos']);
  // The fillers of the references are no error with Whisper's normaliser, but are with basic.
  assert.ok(byDefault.summary.werBy['whisper-noapos']! < byDefault.summary.werBy.basic!, JSON.stringify(byDefault.summary.werBy));

  const basic = wer('--normalise', 'basic');
  assert.equal(basic.summary.normalisation, 'basic');
  assert.equal(basic.summary.wer, basic.summary.werBy.basic);
});
