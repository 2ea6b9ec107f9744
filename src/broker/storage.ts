/**
 * The broker's data dir: its layout, the server.properties written from deploy/kafka's template,
 * and the one-time KRaft format. Formatting with `--standalone` records the controller endpoint in
 * the metadata log, so the controller port is fixed per data dir and checked on every start.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { exec, tailLines } from './exec.js';
import { BROKER_HOST, type BrokerOptions } from './options.js';
import { addScramArgs, readBrokerUser, saslSslProperties, type BrokerSecurityProtocol } from './security.js';

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

/**
 * Delete the data dir's topics and KRaft metadata (and the record of its format), so that the next
 * start formats it anew: an empty broker. The caller holds the start lock and has checked that no
 * broker runs from it. Logs and TLS files stay.
 */
export function clearStorage(dataDir: string): void {
  const { kraftDir, formatFile } = brokerPaths(dataDir);
  rmSync(kraftDir, { recursive: true, force: true });
  rmSync(formatFile, { force: true });
}

/** Write `<dataDir>/server.properties` from the template with this start's ports and folders. */
export function writeServerProperties(opts: Pick<BrokerOptions, 'deployDir' | 'dataDir' | 'port' | 'controllerPort' | 'security'>): string {
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
  // With sasl_ssl it names the broker's own password: readable by its owner only.
  const secured = opts.security.protocol === 'sasl_ssl' ? saslSslProperties(opts, readBrokerUser(opts.dataDir)) : '';
  writeFileSync(paths.serverProperties, text + secured, { mode: 0o600 });
  return paths.serverProperties;
}

interface FormatRecord {
  clusterId: string;
  controllerPort: number;
  version: string;
  formattedAt: string;
  /** Absent in records written before broker.security existed: plaintext, no users. */
  security?: BrokerSecurityProtocol;
  scramUsers?: string[];
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
  opts: Pick<BrokerOptions, 'dataDir' | 'controllerPort' | 'version' | 'javaBin' | 'security'>,
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
    checkSameSecurity(existing, opts);
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
    ...(opts.security.protocol === 'sasl_ssl' ? addScramArgs(opts.security.users, readBrokerUser(opts.dataDir)) : []),
  ]);
  if (code !== 0) {
    throw new Error(`formatting Kafka storage in ${paths.kraftDir} failed (exit ${code}):\n${tailLines(output, 30)}`);
  }
  const record: FormatRecord = {
    clusterId,
    controllerPort: opts.controllerPort,
    version: opts.version,
    formattedAt: new Date().toISOString(),
    security: opts.security.protocol,
    scramUsers: opts.security.users.map((u) => u.username).sort(),
  };
  writeFileSync(paths.formatFile, `${JSON.stringify(record, null, 2)}\n`);
  logger.info({ clusterId, ms: Date.now() - started, security: record.security, scramUsers: record.scramUsers }, 'Kafka storage formatted');
  return true;
}

/**
 * SCRAM users live in the KRaft metadata written at format time, and a plaintext data dir has no
 * user for the broker itself: the security mode and the user names are fixed per data dir.
 */
export function checkSameSecurity(existing: FormatRecord, opts: Pick<BrokerOptions, 'dataDir' | 'security'>): void {
  const had = existing.security ?? 'plaintext';
  const users = (existing.scramUsers ?? []).join(',');
  const want = opts.security.users
    .map((u) => u.username)
    .sort()
    .join(',');
  if (had !== opts.security.protocol || (had === 'sasl_ssl' && users !== want)) {
    throw new Error(
      `Kafka data dir ${opts.dataDir} was formatted with broker.security.protocol ${had}` +
        `${had === 'sasl_ssl' ? ` and SCRAM users [${users}]` : ''}, not ${opts.security.protocol}` +
        `${opts.security.protocol === 'sasl_ssl' ? ` with [${want}]` : ''}: the users are written when the storage is formatted; ` +
        'use another --data-dir, or delete this one',
    );
  }
}
