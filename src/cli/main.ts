/**
 * The `msa` command line. Each subcommand lives in `commands/<name>.ts` and registers itself.
 */
import { Command, CommanderError } from 'commander';
import { register as registerKafka } from './commands/kafka.js';
import { register as registerEval } from './commands/eval.js';
import { register as registerReplay } from './commands/replay.js';
import { register as registerRun } from './commands/run.js';
import { register as registerFeatures } from './commands/features.js';
import { register as registerFeaturize } from './commands/featurize.js';
import { register as registerCodebook } from './commands/codebook.js';
import { register as registerIngest } from './commands/ingest.js';
import { register as registerTranscribe } from './commands/transcribe.js';

export function buildProgram(): Command {
  const program = new Command('msa')
    .description('Real-time multimodal sentiment pipeline: Kafka in, windows, ONNX model, scores out on Kafka and WebSocket')
    .version('0.1.0')
    .option('--config <file.json>', 'configuration file (JSON; see README "Configuration"); environment and flags override it')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (env MSA_LOG_LEVEL, default info)')
    .showHelpAfterError()
    .enablePositionalOptions();
  registerRun(program);
  registerReplay(program);
  registerIngest(program);
  registerKafka(program);
  registerEval(program);
  registerFeatures(program);
  registerFeaturize(program);
  registerCodebook(program);
  registerTranscribe(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) process.exit(e.exitCode);
    console.error(`msa: ${(e as Error).message}`);
    process.exit(1);
  }
}
