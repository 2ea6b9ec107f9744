/**
 * `msa replay`: sends a recorded (JSON Lines) or generated session to the input topics,
 * paced in event time.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { configFor, brokersFor, loggerFor, parseNumber } from '../context.js';
import { generateSession, SAMPLE_SCRIPT } from '../../ingest/sampleSession.js';
import { readRecording, replay } from '../../ingest/replay.js';
import { openRecordSender } from '../../ingest/kafkaSender.js';
import type { InputRecord } from '../../schemas/records.js';

interface ReplayFlags {
  file?: string;
  script?: string;
  session?: string;
  sessions: number;
  speed: number;
  keepTime?: boolean;
  video: boolean;
  interim?: boolean;
  endOfStream: boolean;
}

export function register(program: Command): void {
  program
    .command('replay')
    .description('send a recorded or generated session to the input topics (audio, video, transcript), paced in event time')
    .option('--file <recording.jsonl>', 'a recorded session: JSON Lines of {"kind":"audio|video|transcript","value":{...}} (bytes in base64)')
    .option('--script <lines.txt>', 'generate the session from these utterances, one per line (default: a built-in support call)')
    .option('--session <id>', 'session id of the generated session (default: replay-<time>)')
    .option('--sessions <n>', 'generate this many sessions at once (ids <session>-1..n)', parseNumber('--sessions', 1), 1)
    .option('--speed <x>', '1 = real time, 10 = ten times faster, 0 = as fast as possible', parseNumber('--speed', 0), 1)
    .option('--keep-time', 'keep the recorded event times instead of starting the session now')
    .option('--no-video', 'generate no video frames')
    .option('--interim', 'send an interim transcript version before each final segment')
    .option('--no-end-of-stream', 'do not mark the last records with endOfStream')
    .action(async (flags: ReplayFlags, cmd: Command) => {
      const config = configFor(cmd);
      const logger = loggerFor(config, 'msa-replay');
      const now = Date.now();
      let records: InputRecord[];
      if (flags.file) {
        records = readRecording(flags.file);
      } else {
        const script = flags.script
          ? readFileSync(flags.script, 'utf8')
              .split('\n')
              .map((l) => l.trim())
              .filter((l) => l.length > 0)
          : SAMPLE_SCRIPT;
        const base = flags.session ?? `replay-${now}`;
        records = [];
        for (let i = 1; i <= flags.sessions; i++) {
          records.push(
            ...generateSession({
              sessionId: flags.sessions === 1 ? base : `${base}-${i}`,
              startTime: now,
              script,
              videoFps: flags.video ? 2 : 0,
              interim: flags.interim ?? false,
              endOfStream: flags.endOfStream,
              seed: i,
            }),
          );
        }
      }
      const { brokers } = await brokersFor(config, logger);
      const sender = await openRecordSender({ config, brokers, logger });
      try {
        const sent = await replay(records, sender, { speed: flags.speed, startTime: flags.keepTime ? null : now });
        process.stdout.write(`sent ${sent} records to ${Object.values(sender.topics).join(', ')}\n`);
      } finally {
        await sender.close();
      }
    });
}
