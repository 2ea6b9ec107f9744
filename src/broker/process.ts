/**
 * The broker's JVM as an operating-system process: started detached so it outlives the command that
 * started it, found again through its pid file, stopped with SIGTERM (Kafka's controlled shutdown)
 * and SIGKILL only after a timeout.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerOptions } from './options.js';
import { brokerPaths } from './storage.js';

export interface PidRecord {
  pid: number;
  port: number;
  controllerPort: number;
  version: string;
  startedAt: string;
}

export function readPidFile(dataDir: string): PidRecord | null {
  const { pidFile } = brokerPaths(dataDir);
  if (!existsSync(pidFile)) return null;
  try {
    const rec = JSON.parse(readFileSync(pidFile, 'utf8')) as Partial<PidRecord>;
    return typeof rec.pid === 'number' ? (rec as PidRecord) : null;
  } catch {
    return null; // torn or hand-edited: treated as no broker
  }
}

export function writePidFile(dataDir: string, rec: PidRecord): void {
  writeFileSync(brokerPaths(dataDir).pidFile, `${JSON.stringify(rec, null, 2)}\n`);
}

export function removePidFile(dataDir: string): void {
  rmSync(brokerPaths(dataDir).pidFile, { force: true });
}

/** Whether a process exists and is not a zombie; where /proc exists, also that it runs kafka.Kafka. */
export function isBrokerProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false; // ESRCH: gone; EPERM: someone else's process, so not a broker we started
  }
  const proc = `/proc/${pid}`;
  if (!existsSync(proc)) return true;
  try {
    const stat = readFileSync(join(proc, 'stat'), 'utf8');
    if (/\) Z /.test(stat)) return false;
    // A recycled pid must not be taken for the broker (and must not be killed).
    return readFileSync(join(proc, 'cmdline'), 'utf8').split('\0').includes('kafka.Kafka');
  } catch {
    return false; // it exited while we looked
  }
}

export interface SpawnedBroker {
  pid: number;
  /** Resolves with the exit code if the JVM exits while this process still watches it. */
  exited: Promise<number | null>;
}

/** Start `kafka.Kafka <server.properties>` detached, its output appended to logs/stdout.log. */
export function spawnBroker(opts: Pick<BrokerOptions, 'dataDir' | 'deployDir' | 'javaBin' | 'heapMb'>, libDir: string): SpawnedBroker {
  const paths = brokerPaths(opts.dataDir);
  mkdirSync(paths.logsDir, { recursive: true });
  const out = openSync(paths.stdoutLog, 'a');
  const args = [
    `-Xmx${opts.heapMb}m`,
    `-Xms${Math.min(256, opts.heapMb)}m`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(opts.deployDir, 'log4j2.xml')}`,
    `-Dkafka.logs.dir=${paths.logsDir}`,
    '-cp',
    join(libDir, '*'),
    'kafka.Kafka',
    paths.serverProperties,
  ];
  try {
    const child = spawn(opts.javaBin, args, { cwd: opts.dataDir, detached: true, stdio: ['ignore', out, out] });
    const exited = new Promise<number | null>((resolveExit) => {
      child.once('exit', (code) => resolveExit(code));
      child.once('error', () => resolveExit(null));
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`cannot start ${opts.javaBin}; is Java 17+ installed and on PATH?`);
    return { pid: child.pid, exited };
  } finally {
    closeSync(out);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until `pid` is gone; false on timeout. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isBrokerProcess(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e; // exited in between: fine
  }
}

/** SIGTERM, wait up to timeoutMs, then SIGKILL. Returns how it ended. */
export async function terminate(pid: number, timeoutMs: number): Promise<'terminated' | 'killed' | 'not-running'> {
  if (!isBrokerProcess(pid)) return 'not-running';
  signal(pid, 'SIGTERM');
  if (await waitForExit(pid, timeoutMs)) return 'terminated';
  signal(pid, 'SIGKILL');
  await waitForExit(pid, 5000);
  return 'killed';
}
