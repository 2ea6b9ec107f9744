/**
 * `msa run`: the pipeline service (broker if none is configured, pipeline, WebSocket server).
 * `msa start`: the same, fed by a generated sample session so scores appear at once (npm start).
 */
import { Command } from 'commander';
import { configFor, brokersFor, faceDetectorOption, loggerFor, parseNumber, startLogFile, terminalLoggerFor } from '../context.js';
import type { FaceDetector } from '../../features/visual/index.js';
import { startService } from '../../pipeline/service.js';

interface RunFlags {
  wsPort?: number;
  wsHost?: string;
  model?: string;
  provider?: 'cpu' | 'cuda';
  faceDetector?: FaceDetector;
  sample?: boolean;
  sampleLoop?: boolean;
  speed?: number;
  keepBroker?: boolean;
}

function withRunOptions(cmd: Command): Command {
  return cmd
    .option('--ws-port <port>', 'WebSocket port (env MSA_WS_PORT, default 8080; 0 = any free port)', parseNumber('--ws-port', 0))
    .option('--ws-host <host>', 'WebSocket host (env MSA_WS_HOST, default 127.0.0.1)')
    .option('--model <manifest>', 'model manifest (env MSA_MODEL, default models/manifest.json)')
    .option('--provider <name>', 'ONNX Runtime execution provider: cpu or cuda (env MSA_EXECUTION_PROVIDER); cuda falls back to cpu when it cannot load')
    .addOption(faceDetectorOption('env MSA_FACE_DETECTOR, default short-range'))
    .option('--keep-broker', 'leave a local broker this command started running on exit');
}

async function run(cmd: Command, flags: RunFlags, sample: boolean, terminal: boolean): Promise<void> {
  const config = configFor(cmd, {
    ws: { ...(flags.wsPort !== undefined ? { port: flags.wsPort } : {}), ...(flags.wsHost ? { host: flags.wsHost } : {}) },
    model: { ...(flags.model ? { manifest: flags.model } : {}), ...(flags.provider ? { executionProvider: flags.provider } : {}) },
    ...(flags.faceDetector ? { features: { faceDetector: flags.faceDetector } } : {}),
  });
  // `msa start` is for a person at a terminal: scores on stdout, the log in a file. `msa run` is
  // for process managers: JSON log lines on stderr.
  const logFile = terminal ? startLogFile(config) : null;
  const logger = logFile ? terminalLoggerFor(config, logFile) : loggerFor(config);
  const brokers = await brokersFor(config, logger);
  const service = await startService({
    config,
    brokers: brokers.brokers,
    logger,
    sample: sample ? { loop: flags.sampleLoop ?? false, speed: flags.speed ?? 1 } : null,
    out: process.stdout,
    logFile,
  });
  let exiting = false;
  const shutdown = async (signal: string) => {
    if (exiting) return;
    exiting = true;
    logger.info({ signal }, 'shutting down');
    await service.stop();
    if (brokers.startedHere && !flags.keepBroker) {
      const { stopBroker, brokerOptionsFromConfig } = await import('../../broker/index.js');
      const { brokers: _b, ...local } = brokerOptionsFromConfig(config);
      await stopBroker(local, logger);
    }
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  try {
    await service.done;
  } catch (err) {
    logger.error({ err }, 'pipeline failed');
    await service.stop().catch(() => undefined);
    process.exit(1);
  }
}

export function register(program: Command): void {
  withRunOptions(
    program.command('run').description('run the pipeline service: consume the input topics, score every session, serve scores on Kafka and WebSocket'),
  ).action(async (flags: RunFlags, cmd: Command) => run(cmd, flags, false, false));

  withRunOptions(
    program
      .command('start')
      .description('the main job (npm start): broker if none is configured, pipeline, WebSocket server, and a sample session so scores appear at once'),
  )
    .option('--no-sample', 'do not feed the sample session')
    .option('--sample-loop', 'replay the sample session again (as a new session) each time it ends')
    .option('--speed <x>', 'sample pacing: 1 = real time, 0 = as fast as possible', parseNumber('--speed', 0), 1)
    .action(async (flags: RunFlags, cmd: Command) => run(cmd, flags, flags.sample !== false, true));
}
