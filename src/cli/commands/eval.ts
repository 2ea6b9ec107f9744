/**
 * `msa eval --csv FILE`: scores a labelled CSV with the exported model and prints the standard
 * metrics (a table, or with --json one JSON object on stdout), optionally writing every row's
 * score. Skipped rows are listed on stderr with the reason and counted, never dropped silently.
 * With --media, rows with empty text are scored with the speech recognised from their media file.
 */
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { createLogger } from '../../log.js';
import { evaluateCsv, type EvaluationReport, type ScoredRow } from '../../eval/evaluate.js';
import { METRIC_KEYS, type Metrics } from '../../eval/metrics.js';
import { DEFAULT_MAX_CSV_BYTES } from '../../datasets/labelledCsv.js';
import { DEFAULT_MAX_MEDIA_IDS } from '../../eval/media.js';
import type { FaceDetector } from '../../features/visual/index.js';
import { configFor, faceDetectorOption } from '../context.js';
import { loadSpeechModels } from '../../speech/transcribe.js';
import { loadVoice } from '../../voice/index.js';
import { DEFAULT_MODEL_TEXT_CLEANUP, MODEL_TEXT_CLEANUPS, type ModelTextCleanup } from '../../speech/modelText.js';

interface EvalFlags {
  csv: string;
  json?: boolean;
  out?: string;
  model: string;
  batch: number;
  limit?: number;
  split?: string;
  textColumn: string;
  idColumn: string;
  labelColumn: string;
  splitColumn: string;
  provider: 'cpu' | 'cuda';
  threads?: number;
  maxBytes: number;
  logLevel: string;
  media?: string;
  maxMediaIds: number;
  faceDetector: FaceDetector;
  asr: boolean;
  asrThreads?: number;
  voice: boolean;
  asrText: ModelTextCleanup;
  textIsRecognised?: boolean;
}

function positiveInt(what: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer ${what}, got "${raw}"`);
    return n;
  };
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('Score a labelled CSV (id,text,label) with the model and print Acc-2, F1, Acc-5, Acc-7, MAE and Corr')
    .requiredOption('--csv <file>', 'labelled CSV: id (or video_id + clip_id), text, label; other columns are ignored')
    .option('--json', 'print one JSON object with the metrics on stdout instead of a table')
    .option('--out <file>', 'write id,label,score of every scored row to this CSV')
    .option('--model <manifest>', 'model manifest', 'models/manifest.json')
    .option('--batch <n>', 'rows per model run', positiveInt('batch size'), 32)
    .option('--limit <n>', 'score only the first N usable rows', positiveInt('row limit'))
    .option('--split <name>', 'score only rows whose split column (--split-column) has this value, e.g. dev')
    .option('--text-column <name>', 'column holding the text', 'text')
    .option('--id-column <name>', 'column holding the row id (default id, else video_id_clip_id)', 'id')
    .option('--label-column <name>', 'column holding the label in [-3, 3]', 'label')
    .option('--split-column <name>', 'column naming the split', 'mode')
    .addOption(new Option('--provider <name>', 'ONNX Runtime execution provider').choices(['cpu', 'cuda']).default('cpu'))
    .option('--threads <n>', 'ONNX Runtime threads per operator (default: all cores)', positiveInt('thread count'))
    .option('--max-bytes <n>', 'refuse CSVs bigger than this', positiveInt('byte limit'), DEFAULT_MAX_CSV_BYTES)
    .option('--log-level <level>', 'log level of the JSON log on stderr', 'warn')
    .option(
      '--media <dir>',
      "folder of the rows' media <id>.<ext> (audio wav/flac/mp3, video mp4/webm/mkv, image jpg/png as one frame): " +
        "acoustic / visual ids through the extractors and the model's codebooks (rows without a file are skipped, when the model has codebooks); " +
        'a row with empty text is scored with the words recognised from its file (Silero VAD + Whisper, config asr; skipped when it has no file)',
    )
    .option('--no-asr', 'with --media: score rows with empty text without words instead of recognising their speech')
    .option('--no-voice', 'with --media: no voice term in the scores (otherwise config voice.enabled decides)')
    .option('--asr-threads <n>', 'ONNX Runtime threads of each Whisper graph (config asr.threads)', positiveInt('thread count'))
    .addOption(
      new Option('--asr-text <cleanup>', 'how recognised text is cleaned for the model (src/speech/modelText.ts; serving uses the default)')
        .choices(MODEL_TEXT_CLEANUPS)
        .default(DEFAULT_MODEL_TEXT_CLEANUP),
    )
    .option('--text-is-recognised', "the CSV's texts are recognised text (e.g. msa asr wer --out hypotheses): cleaned as --asr-text says")
    .option('--max-media-ids <n>', 'most ids per modality from a media file (the training cap)', positiveInt('id count'), DEFAULT_MAX_MEDIA_IDS)
    .addOption(faceDetectorOption().default('short-range'))
    .action(async (flags: EvalFlags, cmd: Command) => {
      const logger = createLogger(flags.logLevel, 'msa-eval');
      const config = configFor(cmd, {
        ...(flags.asrThreads ? { asr: { threads: flags.asrThreads } } : {}),
        ...(flags.voice ? {} : { voice: { enabled: false } }),
      });
      const bar = new cliProgress.SingleBar(
        { format: 'eval [{bar}] {value}/{total} rows', stream: process.stderr, hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      const asrBar = new cliProgress.SingleBar(
        { format: 'speech recognition [{bar}] {value}/{total} files', stream: process.stderr, hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      let started = false;
      let asrStarted = false;
      let report: EvaluationReport;
      try {
        report = await evaluateCsv({
          csv: flags.csv,
          manifest: flags.model,
          batchSize: flags.batch,
          limit: flags.limit,
          split: flags.split,
          textColumn: flags.textColumn,
          idColumn: flags.idColumn,
          labelColumn: flags.labelColumn,
          splitColumn: flags.splitColumn,
          executionProvider: flags.provider,
          intraOpThreads: flags.threads,
          maxBytes: flags.maxBytes,
          logger,
          media: flags.media,
          maxMediaIds: flags.maxMediaIds,
          faceDetector: flags.faceDetector,
          speech: flags.asr ? () => loadSpeechModels(config, logger) : undefined,
          voice: () => loadVoice(config, logger),
          asrText: flags.asrText,
          textIsRecognised: flags.textIsRecognised ?? false,
          onRecognise: (done, total) => {
            if (!asrStarted) {
              asrBar.start(total, 0);
              asrStarted = true;
            }
            asrBar.update(done);
            if (done === total) asrBar.stop();
          },
          onProgress: (done, total) => {
            if (!started) {
              bar.start(total, 0);
              started = true;
            }
            bar.update(done);
          },
        });
      } finally {
        if (started) bar.stop();
      }

      for (const s of report.skipped) console.error(`msa eval: ${flags.csv} line ${s.line} (id ${s.id}) skipped: ${s.reason}`);
      if (report.skipped.length > 0) console.error(`msa eval: ${report.skipped.length} row(s) skipped, ${report.scored.length} scored`);
      if (report.recognition && report.recognition.noWords > 0) {
        console.error(`msa eval: no words were heard in ${report.recognition.noWords} recognised row(s); they were scored without words`);
      }
      if (report.voice?.weightDefaulted) console.error(`msa eval: the voice reader has no fusion.weight; W = ${report.voice.weight} (the default)`);
      if (flags.out !== undefined) await writeFile(flags.out, scoresCsv(report.scored, report.recognition !== undefined, report.voice !== undefined));
      process.stdout.write(flags.json ? `${JSON.stringify(reportJson(report))}\n` : metricsTable(report));
    });
}

/** The metrics (metricsJson), and with speech recognition `recognition`: {rows, meanWords, noWords}. */
export function reportJson(report: EvaluationReport): Record<string, unknown> {
  const r = report.recognition;
  const v = report.voice;
  const nanNull = (x: number) => (Number.isNaN(x) ? null : x);
  return {
    ...metricsJson(report.metrics),
    ...(r ? { recognition: { rows: r.rows, meanWords: Number.isNaN(r.meanWords) ? null : r.meanWords, noWords: r.noWords } } : {}),
    ...(v ? { voice: { ...v, meanContribution: nanNull(v.meanContribution), meanAbsContribution: nanNull(v.meanAbsContribution) } } : {}),
  };
}

/** The metrics with undefined values (NaN) as null, keys in METRIC_KEYS order. */
export function metricsJson(metrics: Metrics): Record<string, number | null> {
  return Object.fromEntries(METRIC_KEYS.map((k) => [k, Number.isNaN(metrics[k]) ? null : metrics[k]]));
}

export function metricsTable(report: EvaluationReport): string {
  const { metrics: m, model } = report;
  const pct = (v: number) => (Number.isNaN(v) ? 'n/a' : v.toFixed(2));
  const num = (v: number) => (Number.isNaN(v) ? 'n/a' : v.toFixed(4));
  const rows: [string, string][] = [
    ['model', `${model.name} ${model.version} (${model.kind}, ${model.provider})`],
    ['rows', `${m.n} scored, ${report.skipped.length} skipped`],
    ...(report.recognition
      ? ([
          [
            'recognised',
            `${report.recognition.rows} rows, ${Number.isNaN(report.recognition.meanWords) ? 'n/a' : report.recognition.meanWords.toFixed(1)} words a row, ${report.recognition.noWords} without words`,
          ],
        ] as [string, string][])
      : []),
    ...(report.voice
      ? ([
          [
            'voice',
            `${report.voice.rows} rows with speech (${report.voice.noSpeech} without), contribution mean ${num(report.voice.meanContribution)}, ` +
              `mean |.| ${num(report.voice.meanAbsContribution)} (W = ${report.voice.weight}${report.voice.weightDefaulted ? ', default' : ''})`,
          ],
        ] as [string, string][])
      : []),
    ['Acc-2 has0 / non0', `${pct(m.acc2_has0)} / ${pct(m.acc2_non0)}`],
    ['F1 has0 / non0', `${pct(m.f1_has0)} / ${pct(m.f1_non0)}`],
    ['Acc-5', pct(m.acc5)],
    ['Acc-7', pct(m.acc7)],
    ['MAE', num(m.mae)],
    ['Corr', num(m.corr)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join('');
}

/**
 * `id,label,score`, with `voice` a `voice` column (the voice term in the score), and with `transcripts` a `transcript` column (the recognised text scored;
 * empty for rows that kept their CSV text); fields quoted when they need it (RFC 4180).
 */
export function scoresCsv(scored: readonly ScoredRow[], transcripts = false, voice = false): string {
  const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const header = 'id,label,score' + (voice ? ',voice' : '') + (transcripts ? ',transcript' : '');
  const line = (r: ScoredRow) =>
    `${quote(r.id)},${r.label},${r.score}` + (voice ? `,${r.voice ?? 0}` : '') + (transcripts ? `,${quote(r.transcript ?? '')}` : '');
  return [header, ...scored.map(line)].join('\n') + '\n';
}
