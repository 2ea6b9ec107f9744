/**
 * What every long-running command needs: the validated config (defaults < --config file <
 * environment < flags), a logger, and the Kafka brokers (KAFKA_BROKERS / config, else the
 * project's own local broker, started on demand).
 */
import { Option, type Command } from 'commander';
import { join } from 'node:path';
import { cacheDirOf, FACE_DETECTORS, loadConfig, type Config } from '../config/config.js';
import { createLogger, createTerminalLogger, type Logger } from '../log.js';
import { brokerOptionsFromConfig, brokersFromEnvOrStart } from '../broker/index.js';

export interface GlobalFlags {
  config?: string;
  logLevel?: string;
}

export function configFor(cmd: Command, overrides: unknown = {}): Config {
  const flags = cmd.optsWithGlobals<GlobalFlags>();
  return loadConfig({
    file: flags.config,
    env: process.env,
    overrides: { ...(flags.logLevel ? { logLevel: flags.logLevel } : {}), ...(overrides as object) },
  });
}

/** `--face-detector short-range|full-range` (see config `features.faceDetector`). */
export function faceDetectorOption(note?: string): Option {
  return new Option(
    '--face-detector <d>',
    `face detector: short-range (128 px, what the model was trained on) or full-range (256 px: smaller faces, about half the frame rate)${note ? `; ${note}` : ''}`,
  ).choices(FACE_DETECTORS);
}

export function loggerFor(config: Config, name = 'msa'): Logger {
  return createLogger(config.logLevel, name);
}

/** Where `msa start` writes its JSON log (the terminal gets only warnings and errors). */
export function startLogFile(config: Config): string {
  return join(cacheDirOf(config), 'logs', 'msa-start.log');
}

/** For `msa start`: the log to a file, warnings and errors to the terminal as short lines. */
export function terminalLoggerFor(config: Config, file: string): Logger {
  return createTerminalLogger(config.logLevel, 'msa', file);
}

export interface Brokers {
  brokers: string[];
  /** True when this process started the local broker (and so should stop it on exit). */
  startedHere: boolean;
}

export async function brokersFor(config: Config, logger: Logger): Promise<Brokers> {
  const b = await brokersFromEnvOrStart(brokerOptionsFromConfig(config), logger);
  return { brokers: b.brokers, startedHere: b.started && !b.external };
}

export function parseNumber(name: string, min = -Infinity) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
}
