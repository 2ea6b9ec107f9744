/**
 * `msa kafka start | stop | status`: the project's own local Kafka broker (src/broker). `start`
 * leaves the broker running in the background and returns; KAFKA_BROKERS does not apply here,
 * since these commands manage the local broker only.
 */
import { Command, InvalidArgumentError } from 'commander';
import {
  brokerOptionsFromConfig,
  brokerStatus,
  startBroker,
  stopBroker,
  DEFAULT_CONTROLLER_PORT,
  DEFAULT_PORT,
  type BrokerOptions,
  type BrokerStatus,
} from '../../broker/index.js';
import { configFor } from '../context.js';
import { createLogger } from '../../log.js';

interface KafkaFlags {
  port?: number;
  controllerPort?: number;
  dataDir?: string;
  timeout?: number;
  fresh?: boolean;
  json?: boolean;
  logLevel?: string;
}

function parsePort(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError(`expected a port in 1..65535, got "${raw}"`);
  return n;
}

function parseSeconds(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number of seconds, got "${raw}"`);
  return n;
}

/** The config (defaults < --config file < environment), then the flags given on the command line. */
function optionsFrom(cmd: Command, flags: KafkaFlags): Partial<BrokerOptions> {
  const config = configFor(cmd, { broker: { port: flags.port, controllerPort: flags.controllerPort, dataDir: flags.dataDir } });
  const { brokers: _external, ...local } = brokerOptionsFromConfig(config);
  const timeoutMs = flags.timeout === undefined ? {} : { startTimeoutMs: flags.timeout * 1000, stopTimeoutMs: flags.timeout * 1000 };
  return { ...local, ...timeoutMs };
}

function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('--port <port>', `client port on 127.0.0.1 (env MSA_KAFKA_PORT, default ${DEFAULT_PORT})`, parsePort)
    .option(
      '--controller-port <port>',
      `KRaft controller port on 127.0.0.1, fixed once the data dir is formatted (env MSA_KAFKA_CONTROLLER_PORT, default ${DEFAULT_CONTROLLER_PORT})`,
      parsePort,
    )
    .option(
      '--data-dir <dir>',
      'storage, logs and pid file (env MSA_KAFKA_DATA_DIR, default $MSA_CACHE_DIR/kafka-data, MSA_CACHE_DIR defaulting to ~/.cache/msa)',
    )
    .option('--timeout <seconds>', 'how long to wait for the broker to start or stop', parseSeconds)
    .option('--json', 'print the result as JSON');
}

function loggerFor(cmd: Command) {
  const level = cmd.optsWithGlobals<KafkaFlags>().logLevel ?? 'info';
  return createLogger(level, 'msa-kafka');
}

function print(flags: KafkaFlags, value: unknown, line: string): void {
  process.stdout.write(flags.json ? `${JSON.stringify(value, null, 2)}\n` : `${line}\n`);
}

function describe(s: BrokerStatus): string {
  return s.state === 'running'
    ? `Kafka ${s.version} running on ${s.brokers.join(',')} (pid ${s.pid}, since ${s.startedAt}, ` +
        `${s.answering === false ? 'NOT answering, ' : ''}data ${s.dataDir}, log ${s.serverLog})`
    : `Kafka stopped (data ${s.dataDir})`;
}

export function register(program: Command): void {
  const kafka = program
    .command('kafka')
    .description('run the local Apache Kafka broker (one KRaft node on 127.0.0.1) that msa uses when KAFKA_BROKERS is not set');

  withCommonOptions(kafka.command('start'))
    .description(
      'start the local broker in the background and wait until it answers; reuses it if already running. ' +
        'The first start downloads the Kafka jars with Maven (Java 17 and mvn needed).',
    )
    .option('--fresh', 'delete every topic of the data dir first and start an empty broker (refused while it runs)')
    .action(async (flags: KafkaFlags, cmd: Command) => {
      const logger = loggerFor(cmd);
      const external = configFor(cmd).kafka.brokers;
      if (external) logger.warn({ brokers: external }, 'kafka.brokers (KAFKA_BROKERS) is set; msa will use that cluster, not this local broker');
      const r = await startBroker(optionsFrom(cmd, flags), logger, { fresh: flags.fresh === true });
      print(
        flags,
        r,
        `Kafka ${r.version ?? '(not started by msa)'} ${r.started ? 'started' : 'already running'} on ${r.brokers.join(',')}${r.pid ? ` (pid ${r.pid})` : ''}` +
          (r.caFile ? `; SASL_SSL: clients set kafka.ssl = {"ca": "${r.caFile}"} and kafka.sasl (SCRAM-SHA-256 or -512)` : ''),
      );
    });

  withCommonOptions(kafka.command('stop'))
    .description('stop the local broker (SIGTERM, then SIGKILL after the timeout, default 30 s)')
    .action(async (flags: KafkaFlags, cmd: Command) => {
      const r = await stopBroker(optionsFrom(cmd, flags), loggerFor(cmd));
      print(flags, r, r.wasRunning ? `Kafka stopped (pid ${r.pid}, ${r.how})` : 'Kafka was not running');
    });

  withCommonOptions(kafka.command('status'))
    .description('say whether the local broker runs, with pid, port, version and data dir; exit code 3 when stopped')
    .action(async (flags: KafkaFlags, cmd: Command) => {
      const s = await brokerStatus(optionsFrom(cmd, flags));
      print(flags, s, describe(s));
      if (s.state !== 'running') process.exitCode = 3;
    });
}
