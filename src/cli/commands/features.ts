/**
 * `msa features --input FILE [--json]`: what the extractors see in one input: duration, audio
 * frames, voiced fraction, median F0, video frames, face fraction, mean expression probabilities.
 */
import { Command, InvalidArgumentError } from 'commander';
import { extractMediaFeatures } from '../../features/media.js';
import { summarise, type FeatureSummary } from '../../features/summary.js';
import { sharedFaceAnalyzer, type FaceDetector } from '../../features/visual/index.js';
import { faceDetectorOption } from '../context.js';
import { probe } from '../../media/ffmpeg/index.js';

interface FeaturesFlags {
  input: string;
  faceDetector: FaceDetector;
  json?: boolean;
  fps: number;
  maxDuration: number;
}

export async function featureSummary(
  input: string,
  options: { fps?: number; maxDurationS?: number; faceDetector?: FaceDetector } = {},
): Promise<FeatureSummary> {
  const info = await probe(input);
  const faces = info.hasVideo ? await sharedFaceAnalyzer(options.faceDetector) : undefined;
  return summarise(await extractMediaFeatures(input, { fps: options.fps ?? 4, maxDurationS: options.maxDurationS, faces }));
}

export function formatSummary(s: FeatureSummary): string {
  const lines = [
    `duration        ${s.duration_s === null ? 'unknown' : `${s.duration_s.toFixed(2)} s`}`,
    `audio frames    ${s.audio_frames} (25 ms, 10 ms hop)`,
    `voiced          ${(100 * s.voiced_fraction).toFixed(1)} %`,
    `median F0       ${s.f0_median_hz === null ? '-' : `${s.f0_median_hz.toFixed(1)} Hz`}`,
    `video frames    ${s.video_frames}`,
    `face found      ${(100 * s.face_fraction).toFixed(1)} %`,
  ];
  if (s.expressions)
    lines.push(
      `expressions     ${Object.entries(s.expressions)
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ')}`,
    );
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('features')
    .description('Summarise the acoustic and visual features of one media input (file, URL, - for stdin, lavfi:<graph>)')
    .requiredOption('--input <media>', 'file path, URL, "-" for stdin, or lavfi:<filtergraph>')
    .option('--json', 'print exactly one JSON object: duration_s, audio_frames, voiced_fraction, f0_median_hz, video_frames, face_fraction, expressions')
    .option(
      '--fps <n>',
      'video frames sampled per second',
      (raw) => {
        const n = Number(raw);
        if (!(n > 0)) throw new InvalidArgumentError(`expected a positive frame rate, got "${raw}"`);
        return n;
      },
      4,
    )
    .option('--max-duration <s>', 'analyse at most this many seconds', Number, 600)
    .addOption(faceDetectorOption().default('short-range'))
    .action(async (flags: FeaturesFlags) => {
      const s = await featureSummary(flags.input, { fps: flags.fps, maxDurationS: flags.maxDuration, faceDetector: flags.faceDetector });
      process.stdout.write(flags.json ? `${JSON.stringify(s)}\n` : `${formatSummary(s)}\n`);
    });
}
