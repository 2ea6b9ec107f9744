/** What a media input holds (ffprobe): format, duration, audio and video streams. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { inputArgs, runProcess, type MediaInput, type SourceOptions } from './process.js';

export interface ProbeResult {
  input: string;
  formatName: string;
  /** Seconds; null for endless sources (live streams, lavfi without duration). */
  durationS: number | null;
  hasAudio: boolean;
  hasVideo: boolean;
  audio?: { codec: string; sampleRate: number; channels: number };
  video?: { codec: string; width: number; height: number; fps: number | null };
}

/** What the input holds: duration, audio and video streams. */
export async function probe(input: MediaInput, options: SourceOptions = {}): Promise<ProbeResult> {
  const chunks: Buffer[] = [];
  const ffprobe = (options.ffmpegPath ?? 'ffmpeg').replace(/ffmpeg(\.exe)?$/, 'ffprobe$1');
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams'];
  const fullArgs = [...args, ...inputArgs(input, options).filter((a) => a !== '-re')];
  for await (const data of runProcess(ffprobe, fullArgs, input, options, 'probe')) chunks.push(data);
  interface RawStream {
    codec_type?: string;
    codec_name?: string;
    sample_rate?: string;
    channels?: number;
    width?: number;
    height?: number;
    avg_frame_rate?: string;
    duration?: string;
  }
  const raw = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { streams?: RawStream[]; format?: { format_name?: string; duration?: string } };
  const streams = raw.streams ?? [];
  const a = streams.find((s) => s.codec_type === 'audio');
  const v = streams.find((s) => s.codec_type === 'video');
  const durations = [raw.format?.duration, ...streams.map((s) => s.duration)].map((d) => Number(d)).filter((d) => Number.isFinite(d) && d > 0);
  const result: ProbeResult = {
    input,
    formatName: raw.format?.format_name ?? 'unknown',
    durationS: durations.length > 0 ? Math.max(...durations) : null,
    hasAudio: a !== undefined,
    hasVideo: v !== undefined,
  };
  if (a) result.audio = { codec: a.codec_name ?? 'unknown', sampleRate: Number(a.sample_rate ?? 0), channels: a.channels ?? 0 };
  if (v) result.video = { codec: v.codec_name ?? 'unknown', width: v.width ?? 0, height: v.height ?? 0, fps: parseRate(v.avg_frame_rate) };
  return result;
}

/**
 * The audio sample rate of a local file (a path or a `file:` URL); null for what is not one
 * (stdin, network URLs, `lavfi:`: probing would read them twice), for a file without audio, and
 * when the probe fails (decoding then says why).
 */
export async function fileAudioRate(input: MediaInput, options: SourceOptions = {}): Promise<number | null> {
  const path = /^file:/i.test(input) ? fileURLToPath(input) : input;
  if (input === '-' || !existsSync(path)) return null;
  try {
    return (await probe(input, options)).audio?.sampleRate || null;
  } catch {
    return null;
  }
}

function parseRate(rate: string | undefined): number | null {
  if (!rate) return null;
  const [n, d] = rate.split('/').map(Number);
  if (n === undefined || !Number.isFinite(n) || n <= 0) return null;
  const r = d === undefined ? n : n / d;
  return Number.isFinite(r) && r > 0 ? r : null;
}
