/**
 * The broker's jars: resolved from Maven Central with deploy/kafka/pom.xml into
 * `<cacheDir>/kafka/<version>/lib`, once. Maven copies into a scratch folder that is renamed into
 * place only when complete, so an interrupted or concurrent resolve never leaves a half lib folder.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { exec, tailLines } from './exec.js';
import type { BrokerOptions } from './options.js';

const MARKER = '.resolved';

export interface ResolvedJars {
  version: string;
  /** Folder holding the jars; the classpath is `<libDir>/*`. */
  libDir: string;
  /** True when this call downloaded them. */
  downloaded: boolean;
}

export function kafkaLibDir(opts: Pick<BrokerOptions, 'cacheDir' | 'version'>): string {
  return join(opts.cacheDir, 'kafka', opts.version, 'lib');
}

export async function resolveKafkaJars(opts: Pick<BrokerOptions, 'cacheDir' | 'version' | 'deployDir' | 'mvnBin'>, logger: Logger): Promise<ResolvedJars> {
  const libDir = kafkaLibDir(opts);
  if (existsSync(join(libDir, MARKER))) return { version: opts.version, libDir, downloaded: false };

  const scratch = `${libDir}.partial-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const started = Date.now();
  logger.info({ version: opts.version, libDir }, 'resolving Kafka jars from Maven Central (once per version)');
  const pom = join(opts.deployDir, 'pom.xml');
  const { code, output } = await exec(opts.mvnBin, [
    '-q',
    '-B',
    '-Dstyle.color=never',
    '-f',
    pom,
    'dependency:copy-dependencies',
    `-Dkafka.version=${opts.version}`,
    '-DincludeScope=runtime',
    `-DoutputDirectory=${scratch}`,
  ]);
  if (code !== 0) {
    rmSync(scratch, { recursive: true, force: true });
    throw new Error(
      `resolving org.apache.kafka:kafka_2.13:${opts.version} with ${pom} failed (mvn exit ${code}); ` +
        `check the version exists on Maven Central and that Maven is installed. mvn said:\n${tailLines(output, 30)}`,
    );
  }
  writeFileSync(join(scratch, MARKER), `${new Date().toISOString()}\n`);
  // A lib folder without the marker is left from a resolve of an older layout or by hand.
  if (existsSync(libDir) && !existsSync(join(libDir, MARKER))) rmSync(libDir, { recursive: true, force: true });
  try {
    renameSync(scratch, libDir);
  } catch (e) {
    // Another process finished first: theirs is as good as ours.
    rmSync(scratch, { recursive: true, force: true });
    if (!existsSync(join(libDir, MARKER))) throw e;
  }
  logger.info({ version: opts.version, ms: Date.now() - started }, 'Kafka jars resolved');
  return { version: opts.version, libDir, downloaded: true };
}
