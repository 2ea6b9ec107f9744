/**
 * bench/load.ts's processes: the pipeline under test (`msa run` as a child, its WebSocket URL read
 * from its output, its last lines kept for errors) and the health probe (bench/healthProbe.ts, a
 * process of its own timing /healthz and /metrics as Kubernetes or Prometheus would).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface PipelineChild {
  child: ChildProcess;
  base: string;
  wsUrl: string;
  exit: Promise<number | null>;
  stderrTail: string[];
}

/** How bench/load.ts starts `msa run`: which checkout, config file, asr and voice settings, log level and log file. */
export interface ChildOptions {
  msa: string;
  config?: string;
  asr: string;
  voice: string;
  logLevel?: string;
  msaLog?: string;
}

export async function startPipeline(o: ChildOptions, brokers: string[], prefix: string): Promise<PipelineChild> {
  const args = [o.msa, ...(o.config ? ['--config', o.config] : []), 'run', '--ws-port', '0', '--ws-host', '127.0.0.1'];
  const child = spawn(process.execPath, args, {
    cwd: dirname(dirname(o.msa)),
    env: {
      ...process.env,
      KAFKA_BROKERS: brokers.join(','),
      MSA_TOPIC_PREFIX: prefix,
      MSA_GROUP_ID: `${prefix}pipeline`,
      MSA_ASR: o.asr,
      MSA_VOICE: o.voice,
      MSA_LOG_LEVEL: o.logLevel,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Its last lines, stdout and stderr together (a fatal error may go to either).
  const stderrTail: string[] = [];
  const keep = (l: string) => {
    stderrTail.push(l);
    if (stderrTail.length > 40) stderrTail.shift();
  };
  if (o.msaLog) {
    const file = createWriteStream(resolve(o.msaLog), { flags: 'a' });
    child.stderr!.pipe(file);
    child.stdout!.pipe(file);
  }
  createInterface({ input: child.stderr! }).on('line', keep);
  // 'close', not 'exit': the child's last lines are read by then.
  const exit = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  const wsUrl = await new Promise<string>((res, rej) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', keep);
    const timer = setTimeout(() => rej(new Error(`msa run did not print its WebSocket URL in 180 s:\n${stderrTail.join('\n')}`)), 180_000);
    lines.on('line', (l) => {
      const m = /websocket\s+(ws:\/\/\S+)/.exec(l);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    });
    void exit.then((code) => rej(new Error(`msa run exited with ${code} before it was ready:\n${stderrTail.join('\n')}`)));
  });
  const base = wsUrl.replace(/^ws:/, 'http:').replace(/\/[^/]*$/, '');
  return { child, base, wsUrl, exit, stderrTail };
}

export interface Probed {
  healthz_ms: number[];
  metrics_ms: number[];
  loop_max_ms: number[];
  failed: number;
}

/** Starts bench/healthProbe.ts against the pipeline; stop() ends it and returns what it timed. */
export function startProbe(base: string, everyMs: number, say: (line: string) => void): { stop: () => Promise<Probed> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(dirname(fileURLToPath(import.meta.url)), 'healthProbe.ts'), base, String(everyMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const closed = new Promise<void>((res) => child.on('close', () => res()));
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await closed;
      try {
        return JSON.parse(out.trim().split('\n').at(-1) ?? '') as Probed;
      } catch {
        say(`health probe printed no result: ${JSON.stringify(out.slice(-200))}`);
        return { healthz_ms: [], metrics_ms: [], loop_max_ms: [], failed: 0 };
      }
    },
  };
}
