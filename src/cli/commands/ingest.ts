/**
 * `msa ingest <source> --session ID`: decodes live or recorded media with ffmpeg and sends it to
 * the input topics as audio chunks and video frames (plus subtitles as transcript segments).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { brokersFor, configFor, loggerFor, parseNumber } from '../context.js';
import { autoSampleRate, ingest, sourceKind, type IngestSummary } from '../../ingest/ingest.js';
import { openRecordSender } from '../../ingest/kafkaSender.js';
import type { IngestFrameFormat } from '../../ingest/frameEncoder.js';

interface IngestFlags {
  session: string;
  subtitles?: string;
  fast?: boolean;
  startTime?: number;
  chunkMs: number;
  sampleRate: number | 'auto';
  audio: boolean;
  video: boolean;
  videoFps: number;
  videoWidth: number;
  videoFormat: IngestFrameFormat;
  maxRetries?: number;
  maxDuration?: number;
  speaker?: string;
  language?: string;
}

function parseRetries(raw: string): number {
  if (/^(unlimited|inf|infinity)$/i.test(raw)) return Infinity;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`--max-retries must be a whole number >= 0 or "unlimited", got ${JSON.stringify(raw)}`);
  return n;
}

function parseInteger(name: string, min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be a whole number in [${min}, ${max}], got ${JSON.stringify(raw)}`);
    return n;
  };
}

const HELP = `
Sources:
  talk.mp4, talk.wav, ...           a file (paced to real time; --fast to send it at once)
  http(s)://.../stream.m3u8         HTTP / HLS          rtmp://host/app/key    RTMP
  rtsp://camera/stream              RTSP                -                      stdin
  lavfi:sine=frequency=220:duration=5                   an ffmpeg test source

Records (keyed by session id, event time = start time + media time):
  audio       mono S16LE chunks of --chunk-ms at --sample-rate (16 kHz; 8 kHz files keep 8 kHz), seq from 0
  video       frames at --video-fps, --video-width px wide, JPEG or RGB24
  transcript  one final segment per subtitle cue, words spread evenly over the cue,
              sent when the media reaches the cue's end (as an ASR would)
  When the source ends, each modality gets an empty record with endOfStream = true.

Transcripts from live speech come from an upstream ASR: it writes TranscriptSegment records
(Avro, schemas/TranscriptSegment.avsc, key = session id) to the transcript topic itself;
ingest only carries subtitles for recorded media.

URLs that drop or refuse are reconnected with exponential backoff (1 s doubling to 30 s, with
jitter; --max-retries, unlimited by default); event time then continues from the wall clock.
An RTMP / RTSP / SRT / UDP stream that ends is waited for the same way (Ctrl-C stops ingest and
closes the session). Files, stdin and lavfi are not retried: a corrupt or unsupported input
fails with a clear error.

Examples:
  msa ingest talk.mp4 --session talk-1 --subtitles talk.srt
  msa ingest rtmp://127.0.0.1/live/cam1 --session cam1 --no-video --max-retries 10
  ffmpeg -i call.wav -f wav - | msa ingest - --session call-7 --fast
`;

export function register(program: Command): void {
  program
    .command('ingest')
    .description('decode live or recorded media (file, HTTP/HLS, RTMP, RTSP, stdin, lavfi) into audio and video records on the input topics')
    .argument('<source>', 'file path, URL, - for stdin, or lavfi:<filtergraph>')
    .requiredOption('--session <id>', 'session id: the Kafka key and sessionId of every record')
    .option('--subtitles <file>', 'subtitles of recorded media (.srt or .vtt), sent as transcript segments')
    .option('--fast', 'do not pace to real time: send as fast as the broker takes it (still in event-time order)')
    .option('--start-time <epochMs>', 'event time of media time 0, epoch ms (default: now)', parseNumber('--start-time', 0))
    .option('--chunk-ms <ms>', 'audio chunk length, ms', parseInteger('--chunk-ms', 20, 200), 100)
    .option(
      '--sample-rate <hz>',
      'audio rate of the records: auto (a file at 8 kHz or less, telephone audio, keeps 8000, so the VAD hears it with its 8 kHz branch; else 16000) or 8000-48000',
      (raw: string) => (raw === 'auto' ? 'auto' : parseInteger('--sample-rate', 8000, 48000)(raw)),
      'auto',
    )
    .option('--no-audio', 'send no audio')
    .option('--no-video', 'send no video')
    .option('--video-fps <n>', 'video frames per second', parseNumber('--video-fps', 0.01), 2)
    .option('--video-width <px>', 'video frame width (aspect kept)', parseInteger('--video-width', 16, 4096), 320)
    .addOption(new Option('--video-format <format>', 'video frame encoding').choices(['JPEG', 'RGB24']).default('JPEG'))
    .option('--max-retries <n>', 'reconnect attempts in a row for a URL before giving up ("unlimited" = default for URLs; files: 0)', parseRetries)
    .option('--max-duration <s>', 'stop after this much media time, seconds', parseNumber('--max-duration', 0.001))
    .option('--speaker <label>', 'speaker of subtitle segments (a WebVTT <v Name> tag wins)')
    .option('--language <tag>', 'BCP-47 language of subtitle segments, e.g. en')
    .addHelpText('after', HELP)
    .action(async (source: string, flags: IngestFlags, cmd: Command) => {
      if (flags.videoFps > 30) throw new InvalidArgumentError(`--video-fps must be at most 30, got ${flags.videoFps}`);
      const config = configFor(cmd);
      const logger = loggerFor(config, 'msa-ingest');
      const { brokers } = await brokersFor(config, logger);
      const sender = await openRecordSender({ config, brokers, logger });
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const summary = await ingest(source, {
          sessionId: flags.session,
          sender,
          subtitles: flags.subtitles,
          realtime: !flags.fast,
          startTime: flags.startTime,
          chunkMs: flags.chunkMs,
          sampleRate: flags.sampleRate === 'auto' ? await autoSampleRate(source) : flags.sampleRate,
          audio: flags.audio,
          video: flags.video,
          videoFps: flags.videoFps,
          videoWidth: flags.videoWidth,
          videoFormat: flags.videoFormat,
          reconnect: flags.maxRetries !== undefined ? { maxRetries: flags.maxRetries } : undefined,
          maxDurationS: flags.maxDuration,
          speaker: flags.speaker ?? null,
          language: flags.language ?? null,
          signal: stop.signal,
          logger,
        });
        const write = cmd.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
        write(formatSummary(summary, sender.topics));
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await sender.close();
      }
    });
}

/** The lines printed when ingest ends. */
export function formatSummary(s: IngestSummary, topics: { audio: string; video: string; transcript: string }): string {
  const kind = sourceKind(s.source);
  return [
    `ingested ${s.source} (${kind}) as session ${s.sessionId}: ${(s.mediaMs / 1000).toFixed(2)} s of media in ${(s.wallMs / 1000).toFixed(2)} s${s.ended === 'aborted' ? ' (stopped early)' : ''}`,
    `  ${topics.audio.padEnd(24)} ${s.records.audio} audio chunks${s.records.audio > 0 ? ` at ${s.sampleRate} Hz` : ''}`,
    `  ${topics.video.padEnd(24)} ${s.records.video} video frames`,
    `  ${topics.transcript.padEnd(24)} ${s.records.transcript} transcript segments${s.droppedCues > 0 ? ` (${s.droppedCues} cues after the end of the media not sent)` : ''}`,
    ...(s.records.transcript === 0 && s.records.audio > 0
      ? ['  no transcript sent: a service with asr.mode auto (the default) transcribes the audio; with asr.mode off the session gets no words']
      : []),
    ...(s.live ? [`  reconnects: ${s.reconnects}`] : []),
    '',
  ].join('\n');
}
