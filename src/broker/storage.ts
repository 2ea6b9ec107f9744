/**
 * The broker's data dir: its layout, the server.properties written from deploy/kafka's template,
 * and the one-time KRaft format. Formatting with `--standalone` records the controller endpoint in
 * the metadata log, so the controller port is fixed per data dir and checked on every start.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { exec, tailLines } from './exec.js';
import { BROKER_HOST, type BrokerOptions } from './options.js';

export interface BrokerPaths {
  dataDir: string;
  serverProperties: string;
  /** Kafka's log.dirs: topic partitions and the KRaft metadata log. */
  kraftDir: string;
  logsDir: string;
  /** log4j output (deploy/kafka/log4j2.xml). */
  serverLog: string;
  /** The JVM's own stdout and stderr. */
  stdoutLog: string;
  /** JSON: pid, ports, version, start time of the running broker. */
  pidFile: string;
  /** JSON: cluster id and controller port the storage was formatted with. */
  formatFile: string;
  lockFile: string;
}

export function brokerPaths(dataDir: string): BrokerPaths {
  const logsDir = join(dataDir, 'logs');
  return {
    dataDir,
    serverProperties: join(dataDir, 'server.properties'),
    kraftDir: join(dataDir, 'kraft'),
    logsDir,
    serverLog: join(logsDir, 'server.log'),
    stdoutLog: join(logsDir, 'stdout.log'),
    pidFile: join(dataDir, 'broker-pid.json'),
    formatFile: join(dataDir, 'format.json'),
    lockFile: join(dataDir, 'start.lock'),
  };
}

/** Write `<dataDir>/server.properties` from the template with this start's ports and folders. */
export function writeServerProperties(opts: Pick<BrokerOptions, 'deployDir' | 'dataDir' | 'port' | 'controllerPort'>): string {
  const paths = brokerPaths(opts.dataDir);
  const template = readFileSync(join(opts.deployDir, 'server.properties'), 'utf8');
  const values: Record<string, string> = {
    PORT: String(opts.port),
    CONTROLLER_PORT: String(opts.controllerPort),
    LOG_DIR: paths.kraftDir,
    HOST: BROKER_HOST,
  };
  const text = template.replace(/\{\{([A-Z_]+)\}\}/g, (whole, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`unknown placeholder ${whole} in ${join(opts.deployDir, 'server.properties')}`);
    return v;
  });
  mkdirSync(opts.dataDir, { recursive: true });
  writeFileSync(paths.serverProperties, text);
  return paths.serverProperties;
}

interface FormatRecord {
  clusterId: string;
  controllerPort: number;
  version: string;
  formattedAt: string;
}

/** A Kafka cluster id: 16 random bytes, base64url without padding, not starting with '-' (as Uuid.randomUuid). */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export function readFormatRecord(dataDir: string): FormatRecord | null {
  const { formatFile, kraftDir } = brokerPaths(dataDir);
  if (!existsSync(join(kraftDir, 'meta.properties')) || !existsSync(formatFile)) return null;
  return JSON.parse(readFileSync(formatFile, 'utf8')) as FormatRecord;
}

/**
 * Format the KRaft storage once. Returns true if it formatted now. Throws if the data dir was
 * formatted for another controller port, since the single-node quorum would not find its voter.
 */
export async function formatStorageOnce(
  opts: Pick<BrokerOptions, 'dataDir' | 'controllerPort' | 'version' | 'javaBin'>,
  libDir: string,
  logger: Logger,
): Promise<boolean> {
  const paths = brokerPaths(opts.dataDir);
  const existing = readFormatRecord(opts.dataDir);
  if (existing) {
    if (existing.controllerPort !== opts.controllerPort) {
      throw new Error(
        `Kafka data dir ${opts.dataDir} was formatted for controller port ${existing.controllerPort}, ` +
          `not ${opts.controllerPort}: use --controller-port ${existing.controllerPort}, another --data-dir, or delete it`,
      );
    }
    return false;
  }
  if (existsSync(join(paths.kraftDir, 'meta.properties'))) {
    throw new Error(
      `${paths.kraftDir} holds Kafka storage that msa did not format (no ${paths.formatFile}); ` + `delete ${opts.dataDir} or choose another --data-dir`,
    );
  }
  const clusterId = newClusterId();
  const started = Date.now();
  const { code, output } = await exec(opts.javaBin, [
    '-cp',
    join(libDir, '*'),
    'kafka.tools.StorageTool',
    'format',
    '--config',
    paths.serverProperties,
    '--cluster-id',
    clusterId,
    '--standalone',
  ]);
  if (code !== 0) {
    throw new Error(`formatting Kafka storage in ${paths.kraftDir} failed (exit ${code}):\n${tailLines(output, 30)}`);
  }
  const record: FormatRecord = {
    clusterId,
    controllerPort: opts.controllerPort,
    version: opts.version,
    formattedAt: new Date().toISOString(),
  };
  writeFileSync(paths.formatFile, `${JSON.stringify(record, null, 2)}\n`);
  logger.info({ clusterId, ms: Date.now() - started }, 'Kafka storage formatted');
  return true;
}
