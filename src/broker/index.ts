/**
 * The project's own Apache Kafka broker: one combined broker+controller KRaft node on 127.0.0.1,
 * started from jars resolved off Maven Central, detached so it outlives the command that started
 * it, and reused when it already runs. With an external cluster configured (KAFKA_BROKERS) nothing
 * is started: `brokersFromEnvOrStart` returns that list.
 *
 * @example
 * const { brokers } = await brokersFromEnvOrStart(brokerOptionsFromConfig(config), logger);
 * const kafka = new Kafka({ clientId: 'msa', brokers });
 */
import type { Logger } from '../log.js';
import { fileTail } from './exec.js';
import { withLock } from './lock.js';
import { BROKER_HOST, resolveBrokerOptions, type BrokerEnvOptions, type BrokerOptions } from './options.js';
import { isBrokerProcess, readPidFile, removePidFile, spawnBroker, terminate, writePidFile } from './process.js';
import { kafkaAnswers } from '../transport/kafka/index.js';
import { portIsFree, waitUntilReady } from './readiness.js';
import { resolveKafkaJars } from './resolve.js';
import { ensureTlsFiles, probeAuthOf, tlsFiles } from './security.js';
import { brokerPaths, checkSameSecurity, clearStorage, formatStorageOnce, readFormatRecord, writeServerProperties } from './storage.js';

export { brokerOptionsFromConfig, resolveBrokerOptions, DEFAULT_CONTROLLER_PORT, DEFAULT_PORT } from './options.js';
export type { BrokerEnvOptions, BrokerOptions } from './options.js';
export { resolveKafkaJars, type ResolvedJars } from './resolve.js';
export { tlsFiles, type BrokerSecurity, type ScramUser } from './security.js';

export interface StartedBroker {
  /** Bootstrap list for clients, e.g. ['127.0.0.1:9092']. */
  brokers: string[];
  /** True if this call launched the JVM; false if it reused a running broker (or an external cluster). */
  started: boolean;
  /** Pid of the local broker; null for a broker msa did not start. */
  pid: number | null;
  version: string | null;
  dataDir: string | null;
  /** `sasl_ssl`: the CA certificate clients trust (`kafka.ssl.ca`); null for plaintext or a broker msa did not start. */
  caFile?: string | null;
}

export interface BrokerStatus {
  state: 'running' | 'stopped';
  pid: number | null;
  port: number;
  controllerPort: number;
  brokers: string[];
  version: string;
  dataDir: string;
  serverLog: string;
  startedAt: string | null;
  /** Whether a metadata request succeeded; null when not probed or stopped. */
  answering: boolean | null;
}

const brokerList = (port: number) => [`${BROKER_HOST}:${port}`];
const caFileOf = (opts: BrokerOptions): string | null => (opts.security.protocol === 'sasl_ssl' ? tlsFiles(opts.dataDir).caCert : null);

function logTails(dataDir: string): string {
  const { serverLog, stdoutLog } = brokerPaths(dataDir);
  const parts = [
    [serverLog, fileTail(serverLog, 25)],
    [stdoutLog, fileTail(stdoutLog, 15)],
  ].filter(([, text]) => text !== '');
  return parts.length === 0 ? ' (the broker wrote no log)' : parts.map(([f, t]) => `\n--- last lines of ${f} ---\n${t}`).join('');
}

/**
 * Start the local broker, or reuse the one already running from the same data dir. Resolves the
 * jars (once), formats storage (once), launches `kafka.Kafka` detached and waits until a metadata
 * request succeeds. Rejects with the tail of the broker's logs if it exits or times out.
 *
 * With `fresh`, the data dir's topics are deleted first and the broker starts empty (the test
 * runner and the benchmarks: thousands of topics left by earlier runs make a broker slow to start
 * and to answer). Refused while a broker runs from the data dir.
 */
export async function startBroker(options: Partial<BrokerOptions>, logger: Logger, { fresh = false } = {}): Promise<StartedBroker> {
  const opts = resolveBrokerOptions(options);
  const paths = brokerPaths(opts.dataDir);
  const brokers = brokerList(opts.port);
  const log = logger.child({ component: 'kafka-broker', dataDir: opts.dataDir });

  return withLock(paths.lockFile, opts.startTimeoutMs + 60_000, async () => {
    // Running or not, a data dir keeps the security mode and SCRAM users it was formatted with.
    const running = readPidFile(opts.dataDir);
    if (fresh) {
      if (running && isBrokerProcess(running.pid)) {
        throw new Error(`cannot start the broker of ${opts.dataDir} fresh: it runs (pid ${running.pid}); stop it first (msa kafka stop)`);
      }
      clearStorage(opts.dataDir);
      log.info('deleted the topics of the data dir; the broker starts empty');
    }
    const formatted = readFormatRecord(opts.dataDir);
    if (formatted) checkSameSecurity(formatted, opts);
    if (running && isBrokerProcess(running.pid)) {
      if (running.port !== opts.port) {
        throw new Error(
          `the Kafka broker of ${opts.dataDir} already runs on port ${running.port} (pid ${running.pid}), ` +
            `not ${opts.port}: use --port ${running.port}, or stop it first (msa kafka stop)`,
        );
      }
      await waitUntilReady({
        brokers,
        timeoutMs: opts.startTimeoutMs,
        auth: probeAuthOf(opts),
        failed: () => (isBrokerProcess(running.pid) ? null : `Kafka (pid ${running.pid}) exited while starting${logTails(opts.dataDir)}`),
      });
      log.info({ brokerPid: running.pid, brokers }, 'reusing running Kafka broker');
      return { brokers, started: false, pid: running.pid, version: running.version, dataDir: opts.dataDir, caFile: caFileOf(opts) };
    }
    if (running) removePidFile(opts.dataDir); // stale: its process is gone

    if (!(await portIsFree(BROKER_HOST, opts.port))) {
      if (await kafkaAnswers(brokers, 2000, probeAuthOf(opts))) {
        log.warn({ brokers }, 'a Kafka broker that msa did not start answers on this port; using it');
        return { brokers, started: false, pid: null, version: null, dataDir: null };
      }
      throw new Error(`${BROKER_HOST}:${opts.port} is in use by a program that is not Kafka: choose another --port`);
    }
    if (!(await portIsFree(BROKER_HOST, opts.controllerPort))) {
      throw new Error(`controller port ${BROKER_HOST}:${opts.controllerPort} is in use: choose another --controller-port`);
    }

    const jars = await resolveKafkaJars(opts, log);
    if (opts.security.protocol === 'sasl_ssl') {
      const { files, generated } = await ensureTlsFiles(opts.dataDir, opts.security.certDays);
      if (generated) log.info({ ca: files.caCert }, 'generated a self-signed CA and the broker certificate for SASL_SSL');
    }
    writeServerProperties(opts);
    await formatStorageOnce(opts, jars.libDir, log);

    const t0 = Date.now();
    const child = spawnBroker(opts, jars.libDir);
    writePidFile(opts.dataDir, {
      pid: child.pid,
      port: opts.port,
      controllerPort: opts.controllerPort,
      version: opts.version,
      startedAt: new Date().toISOString(),
    });
    let exitCode: number | null | undefined;
    void child.exited.then((code) => (exitCode = code));
    log.info({ brokerPid: child.pid, version: opts.version, brokers }, 'Kafka broker launched; waiting until it answers');
    try {
      await waitUntilReady({
        brokers,
        timeoutMs: opts.startTimeoutMs,
        auth: probeAuthOf(opts),
        failed: () =>
          exitCode !== undefined || !isBrokerProcess(child.pid) ? `Kafka (pid ${child.pid}) exited during start (exit code ${exitCode ?? 'unknown'})` : null,
      });
    } catch (e) {
      await terminate(child.pid, 5000);
      removePidFile(opts.dataDir);
      throw new Error(`${(e as Error).message}${logTails(opts.dataDir)}`);
    }
    log.info({ brokerPid: child.pid, brokers, ms: Date.now() - t0, security: opts.security.protocol }, 'Kafka broker ready');
    return { brokers, started: true, pid: child.pid, version: opts.version, dataDir: opts.dataDir, caFile: caFileOf(opts) };
  });
}

/** Stop the local broker of the data dir: SIGTERM, wait, SIGKILL after stopTimeoutMs; remove the pid file. */
export async function stopBroker(
  options: Partial<BrokerOptions>,
  logger: Logger,
): Promise<{ wasRunning: boolean; pid: number | null; how: 'terminated' | 'killed' | 'not-running' }> {
  const opts = resolveBrokerOptions(options);
  const log = logger.child({ component: 'kafka-broker', dataDir: opts.dataDir });
  return withLock(brokerPaths(opts.dataDir).lockFile, opts.startTimeoutMs + 60_000, async () => {
    const rec = readPidFile(opts.dataDir);
    if (!rec || !isBrokerProcess(rec.pid)) {
      removePidFile(opts.dataDir);
      return { wasRunning: false, pid: rec?.pid ?? null, how: 'not-running' as const };
    }
    const t0 = Date.now();
    const how = await terminate(rec.pid, opts.stopTimeoutMs);
    removePidFile(opts.dataDir);
    if (how === 'killed') log.warn({ brokerPid: rec.pid, timeoutMs: opts.stopTimeoutMs }, 'Kafka broker did not stop on SIGTERM; killed');
    else log.info({ brokerPid: rec.pid, ms: Date.now() - t0 }, 'Kafka broker stopped');
    return { wasRunning: true, pid: rec.pid, how };
  });
}

/** Running or stopped, from the pid file; with `probe`, also whether it answers a metadata request. */
export async function brokerStatus(options: Partial<BrokerOptions>, { probe = true } = {}): Promise<BrokerStatus> {
  const opts = resolveBrokerOptions(options);
  const rec = readPidFile(opts.dataDir);
  const running = rec !== null && isBrokerProcess(rec.pid);
  const port = running ? rec.port : opts.port;
  const brokers = brokerList(port);
  return {
    state: running ? 'running' : 'stopped',
    pid: running ? rec.pid : null,
    port,
    controllerPort: running ? rec.controllerPort : opts.controllerPort,
    brokers,
    version: running ? rec.version : (readFormatRecord(opts.dataDir)?.version ?? opts.version),
    dataDir: opts.dataDir,
    serverLog: brokerPaths(opts.dataDir).serverLog,
    startedAt: running ? rec.startedAt : null,
    answering: running && probe ? await kafkaAnswers(brokers, 2000, probeAuthOf(opts)) : null,
  };
}

/**
 * The brokers to use: the configured external cluster (`brokers`, from KAFKA_BROKERS or config) if
 * given, without starting anything; otherwise the local broker, started or reused.
 */
export async function brokersFromEnvOrStart(
  options: BrokerEnvOptions & { brokers?: string[] | null },
  logger: Logger,
): Promise<StartedBroker & { external: boolean }> {
  const { brokers, ...local } = options;
  if (brokers && brokers.length > 0) {
    logger.info({ brokers }, 'using the configured Kafka cluster; no local broker started');
    return { brokers, started: false, pid: null, version: null, dataDir: null, external: true };
  }
  return { ...(await startBroker(local, logger)), external: false };
}
