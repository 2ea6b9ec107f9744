/**
 * The ffmpeg adapter (this folder): the only module that spawns ffmpeg / ffprobe. It decodes any input ffmpeg
 * understands into mono PCM (whole or in fixed-length chunks) and RGB24 video frames, either one
 * modality per ffmpeg or both from one ffmpeg (`decodeAudioVideo`: one connection to a live source,
 * one read of stdin), and probes what an input holds.
 *
 * Inputs (`MediaInput`): a file path, a URL (http, rtmp, rtsp, ...), `-` for stdin (or a Buffer /
 * Readable passed as `stdin`), or `lavfi:<filtergraph>` for ffmpeg's built-in test sources, e.g.
 * `lavfi:testsrc=size=320x240:rate=10` or `lavfi:sine=frequency=220:duration=2`.
 *
 * Failures throw `MediaError` naming the input, a kind (`not-found`, `corrupt`, `unsupported-codec`,
 * `network`, `no-stream`, `limit`, `aborted`, `ffmpeg-missing`, `failed`) and the last lines of
 * ffmpeg's stderr. Work is bounded: `maxDurationS` cuts decoding at that much media time,
 * `maxInputBytes` refuses larger files or stdin streams, and the queues of `decodeAudioVideo` are
 * capped. Breaking out of an iterator kills ffmpeg (for `decodeAudioVideo`: out of both).
 */
export { MediaError, type MediaErrorKind } from './errors.js';
export { inputArgs, type MediaInput, type SourceOptions } from './process.js';
export { decodeAudio, streamAudio, streamAudioS16, type AudioChunk, type AudioOptions, type AudioStreamOptions } from './pcm.js';
export { decodeVideoFrames, PpmParser, type VideoFrame, type VideoOptions } from './ppm.js';
export { decodeAudioVideo, type AudioVideoOptions, type AudioVideoStreams } from './audioVideo.js';
export { PairedPipes, type PipeSource } from './pairedPipes.js';
export { fileAudioRate, probe, type ProbeResult } from './probe.js';
