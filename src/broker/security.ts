/**
 * The local broker's SASL_SSL mode (`broker.security.protocol = "sasl_ssl"`): a self-signed CA and a
 * broker certificate generated with openssl into `<dataDir>/tls/` once (PEM files, which Kafka 4
 * reads as `ssl.keystore.type=PEM`), SCRAM-SHA-256 and SCRAM-SHA-512 credentials for each configured
 * user written into the KRaft metadata at format time (`StorageTool format --add-scram`), and the
 * server.properties lines that turn the client listener into SASL_SSL.
 *
 * The broker talks to itself over the same listener as its own user `msa-broker`, whose password is
 * generated once and kept in `<dataDir>/tls/broker-user.json` (mode 0600); the readiness probe logs in
 * with it too. Clients trust `<dataDir>/tls/ca.pem` (`kafka.ssl = { "ca": ".../ca.pem" }`).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec, tailLines } from './exec.js';
import type { ProbeAuth } from '../transport/kafka/index.js';
import { BROKER_HOST } from './options.js';

export type BrokerSecurityProtocol = 'plaintext' | 'sasl_ssl';
export const SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

export interface ScramUser {
  username: string;
  password: string;
}

export interface BrokerSecurity {
  protocol: BrokerSecurityProtocol;
  /** SCRAM users created at format time (with both mechanisms); fixed once the data dir is formatted. */
  users: ScramUser[];
  /** Days the generated broker certificate is valid. */
  certDays: number;
}

export const DEFAULT_SECURITY: BrokerSecurity = { protocol: 'plaintext', users: [], certDays: 825 };

/** The user the broker logs in as on its own SASL_SSL listener (inter-broker and readiness probe). */
export const BROKER_USER = 'msa-broker';

/** User names and passwords go into `--add-scram 'SCRAM-SHA-512=[name=...,password=...]'` and a JAAS line. */
export const USERNAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const PASSWORD_PATTERN = /^[!#-+\--<>-Z^-~]{8,128}$/; // printable ASCII less space " , [ \ ]

export interface TlsFiles {
  dir: string;
  /** The CA certificate clients trust. */
  caCert: string;
  caKey: string;
  brokerKey: string;
  brokerCert: string;
  /** Broker key (PKCS#8) followed by its certificate and the CA's: Kafka's PEM keystore. */
  keystore: string;
  brokerUser: string;
}

export function tlsFiles(dataDir: string): TlsFiles {
  const dir = join(dataDir, 'tls');
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    brokerKey: join(dir, 'broker.key'),
    brokerCert: join(dir, 'broker.pem'),
    keystore: join(dir, 'keystore.pem'),
    brokerUser: join(dir, 'broker-user.json'),
  };
}

/** Checks a security setting; throws naming the bad value (passwords are never echoed). */
export function checkSecurity(security: BrokerSecurity): BrokerSecurity {
  if (security.protocol !== 'plaintext' && security.protocol !== 'sasl_ssl') {
    throw new Error(`broker.security.protocol must be "plaintext" or "sasl_ssl", got ${JSON.stringify(security.protocol)}`);
  }
  const seen = new Set<string>();
  for (const [i, u] of security.users.entries()) {
    if (!USERNAME_PATTERN.test(u.username)) {
      throw new Error(`broker.security.users.${i}.username must be 1-64 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(u.username)}`);
    }
    if (u.username === BROKER_USER) throw new Error(`broker.security.users.${i}.username: ${BROKER_USER} is the broker's own user; choose another name`);
    if (seen.has(u.username)) throw new Error(`broker.security.users.${i}.username: ${JSON.stringify(u.username)} is listed twice`);
    seen.add(u.username);
    if (!PASSWORD_PATTERN.test(u.password)) {
      throw new Error(
        `broker.security.users.${i}.password must be 8-128 printable ASCII characters without space, quotes, comma, equals sign, brackets or backslash`,
      );
    }
  }
  if (security.protocol === 'sasl_ssl' && security.users.length === 0) {
    throw new Error('broker.security.users must list at least one SCRAM user when broker.security.protocol is "sasl_ssl"');
  }
  if (!Number.isInteger(security.certDays) || security.certDays < 1 || security.certDays > 3650) {
    throw new Error(`broker.security.certDays must be an integer in 1..3650, got ${JSON.stringify(security.certDays)}`);
  }
  return security;
}

async function openssl(args: string[], what: string): Promise<void> {
  const { code, output } = await exec('openssl', args);
  if (code !== 0) throw new Error(`openssl failed ${what} (exit ${code}):\n${tailLines(output, 15)}`);
}

/**
 * Generates the CA, the broker key and certificate (SAN IP:127.0.0.1 and DNS:localhost) and the
 * PEM keystore, once: into a scratch folder renamed into place when complete. Returns the files.
 */
export async function ensureTlsFiles(dataDir: string, certDays: number): Promise<{ files: TlsFiles; generated: boolean }> {
  const files = tlsFiles(dataDir);
  if (existsSync(files.keystore) && existsSync(files.caCert) && existsSync(files.brokerUser)) return { files, generated: false };
  const scratch = `${files.dir}.partial-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true, mode: 0o700 });
  const at = (f: string) => join(scratch, f.slice(files.dir.length + 1));
  try {
    await openssl(
      [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', String(certDays),
        '-subj', '/CN=msa local Kafka CA', '-keyout', at(files.caKey), '-out', at(files.caCert),
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ], // prettier-ignore
      'creating the CA',
    );
    const csr = join(scratch, 'broker.csr');
    await openssl(
      ['req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-subj', `/CN=${BROKER_HOST}`, '-keyout', at(files.brokerKey), '-out', csr],
      'creating the broker key',
    );
    const ext = join(scratch, 'broker.ext');
    writeFileSync(
      ext,
      [
        `subjectAltName=IP:${BROKER_HOST},DNS:localhost`,
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth,clientAuth',
        '',
      ].join('\n'),
    );
    await openssl(
      [
        'x509', '-req', '-in', csr, '-CA', at(files.caCert), '-CAkey', at(files.caKey), '-CAcreateserial',
        '-sha256', '-days', String(certDays), '-extfile', ext, '-out', at(files.brokerCert),
      ], // prettier-ignore
      'signing the broker certificate',
    );
    const keystore = [at(files.brokerKey), at(files.brokerCert), at(files.caCert)].map((f) => readFileSync(f, 'utf8').trim()).join('\n');
    if (!keystore.startsWith('-----BEGIN PRIVATE KEY-----')) throw new Error(`openssl wrote ${files.brokerKey} in a form other than PKCS#8 PEM`);
    writeFileSync(at(files.keystore), `${keystore}\n`, { mode: 0o600 });
    writeFileSync(at(files.brokerUser), `${JSON.stringify({ username: BROKER_USER, password: randomBytes(24).toString('hex') })}\n`, { mode: 0o600 });
    for (const f of [files.caKey, files.brokerKey]) chmodSync(at(f), 0o600);
    rmSync(files.dir, { recursive: true, force: true });
    renameSync(scratch, files.dir);
  } catch (e) {
    rmSync(scratch, { recursive: true, force: true });
    throw e;
  }
  return { files, generated: true };
}

/** The broker's own SCRAM user (after `ensureTlsFiles`). */
export function readBrokerUser(dataDir: string): ScramUser {
  const path = tlsFiles(dataDir).brokerUser;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ScramUser;
  } catch (e) {
    throw new Error(`cannot read the broker's own SCRAM user from ${path}: ${(e as Error).message}`);
  }
}

/** `--add-scram` arguments of `StorageTool format`: every user (and the broker's) with both mechanisms. */
export function addScramArgs(users: ScramUser[], brokerUser: ScramUser): string[] {
  return [brokerUser, ...users].flatMap((u) => SCRAM_MECHANISMS.flatMap((m) => ['--add-scram', `${m}=[name=${u.username},password=${u.password}]`]));
}

/**
 * server.properties lines appended after the template's (a later key wins in a Java properties file):
 * the client listener becomes SASL_SSL, and the broker reaches itself through it as `msa-broker`.
 */
export function saslSslProperties(opts: { port: number; controllerPort: number; dataDir: string }, brokerUser: ScramUser): string {
  const f = tlsFiles(opts.dataDir);
  const jaas = `org.apache.kafka.common.security.scram.ScramLoginModule required username="${brokerUser.username}" password="${brokerUser.password}";`;
  return [
    '',
    '# broker.security.protocol = sasl_ssl (src/broker/security.ts): these override the lines above.',
    `listeners=SASL_SSL://${BROKER_HOST}:${opts.port},CONTROLLER://${BROKER_HOST}:${opts.controllerPort}`,
    `advertised.listeners=SASL_SSL://${BROKER_HOST}:${opts.port},CONTROLLER://${BROKER_HOST}:${opts.controllerPort}`,
    'inter.broker.listener.name=SASL_SSL',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL',
    `sasl.enabled.mechanisms=${SCRAM_MECHANISMS.join(',')}`,
    'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
    ...SCRAM_MECHANISMS.map((m) => `listener.name.sasl_ssl.${m.toLowerCase()}.sasl.jaas.config=${jaas}`),
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${f.keystore}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${f.caCert}`,
    'ssl.endpoint.identification.algorithm=https',
    '',
  ].join('\n');
}

/** How the readiness probe logs in: none for plaintext, or before the TLS files exist. */
export function probeAuthOf(opts: { dataDir: string; security: BrokerSecurity }): ProbeAuth | undefined {
  const f = tlsFiles(opts.dataDir);
  if (opts.security.protocol !== 'sasl_ssl' || !existsSync(f.caCert) || !existsSync(f.brokerUser)) return undefined;
  const user = readBrokerUser(opts.dataDir);
  return { ca: readFileSync(f.caCert, 'utf8'), sasl: { mechanism: 'scram-sha-512', username: user.username, password: user.password } };
}
