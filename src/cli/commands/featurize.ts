/**
 * `msa featurize --csv FILE --media DIR --out DIR`: acoustic and visual features of every row's
 * media (`DIR/<id>.<ext>`) into `<out>/features.jsonl` for training; missing and failed media are
 * counted, listed in `<out>/featurize-summary.json` and reported on stderr.
 */
import { Command, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { featurize, type FeaturizeSummary } from '../../features/featurize.js';
import { sharedFaceAnalyzer, type FaceDetector } from '../../features/visual/index.js';
import { configFor, faceDetectorOption } from '../context.js';
import { createLogger } from '../../log.js';
import { loadVoice, type VoiceParts } from '../../voice/index.js';

interface FeaturizeFlags {
  csv?: string;
  media: string;
  out: string;
  fps: number;
  limit?: number;
  video: boolean;
  audio: boolean;
  maxDuration: number;
  progress: boolean;
  faceDetector?: FaceDetector;
  /** false with --no-voice; otherwise config voice.enabled decides. */
  voice: boolean;
}

const positive = (what: string) => (raw: string) => {
  const n = Number(raw);
  if (!(n > 0)) throw new InvalidArgumentError(`expected a positive ${what}, got "${raw}"`);
  return n;
};

export async function runFeaturize(flags: FeaturizeFlags, cmd?: Command): Promise<FeaturizeSummary> {
  const config = configFor(cmd ?? new Command(), { voice: flags.voice === false ? { enabled: false } : {} });
  const voice = flags.audio ? await loadVoice(config, createLogger('warn', 'msa-featurize')) : null;
  try {
    return await featurizeWith(flags, voice ?? undefined);
  } finally {
    await voice?.release();
  }
}

async function featurizeWith(flags: FeaturizeFlags, voice: VoiceParts | undefined): Promise<FeaturizeSummary> {
  const bar = flags.progress
    ? new cliProgress.SingleBar({ format: 'featurize [{bar}] {value}/{total} {id}', stream: process.stderr }, cliProgress.Presets.shades_classic)
    : null;
  let started = false;
  const summary = await featurize({
    csv: flags.csv,
    mediaDir: flags.media,
    outDir: flags.out,
    limit: flags.limit,
    fps: flags.fps,
    audio: flags.audio,
    video: flags.video,
    maxDurationS: flags.maxDuration,
    voice,
    faces: flags.video ? await sharedFaceAnalyzer(flags.faceDetector) : undefined,
    onProgress: (done, total, id) => {
      if (!bar) return;
      if (!started) bar.start(total, 0, { id });
      started = true;
      bar.update(done, { id });
    },
  });
  bar?.stop();
  return summary;
}

export function register(program: Command): void {
  program
    .command('featurize')
    .description('Extract acoustic and visual features (and voice values, config voice.enabled) of labelled media into <out>/features.jsonl (training data)')
    .option('--csv <file>', 'labelled CSV: id (or video_id + clip_id), text, label; without it every media file under --media is a row')
    .requiredOption('--media <dir>', 'folder holding <id>.<ext> (mp4, webm, mkv, wav, flac, mp3, jpg, png)')
    .requiredOption('--out <dir>', 'output folder for features.jsonl and featurize-summary.json')
    .option('--fps <n>', 'video frames sampled per second', positive('frame rate'), 4)
    .option('--limit <n>', 'only the first N rows', positive('row count'))
    .option('--no-video', 'skip video (acoustic features only)')
    .option('--no-audio', 'skip audio (visual features only)')
    .option('--max-duration <s>', 'decode at most this many seconds of each file', positive('duration'), 120)
    .option('--no-progress', 'no progress bar')
    .option('--no-voice', 'no voice values (config voice.enabled decides otherwise)')
    .addOption(faceDetectorOption().default('short-range'))
    .action(async (flags: FeaturizeFlags, cmd: Command) => {
      const s = await runFeaturize(flags, cmd);
      process.stderr.write(`featurize: ${s.written} of ${s.rows} rows written to ${s.out}; ${s.missing.length} without media, ${s.failed.length} failed\n`);
      for (const id of s.missing.slice(0, 20)) process.stderr.write(`  missing media: ${id}\n`);
      for (const f of s.failed.slice(0, 20)) process.stderr.write(`  failed: ${f.id} (${f.media}): ${f.error.split('\n')[0]}\n`);
      if (s.missing.length + s.failed.length > 40) process.stderr.write('  (full lists in featurize-summary.json)\n');
      if (s.written === 0 && s.rows > 0) process.exitCode = 1;
    });
}
