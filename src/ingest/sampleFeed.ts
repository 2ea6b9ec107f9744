/**
 * The sample feed of `msa start`: the generated sample session (a support call that starts angry
 * and ends satisfied), replayed in real time to the input topics, once or in a loop (a new
 * session each round).
 */
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import { openRecordSender } from './kafkaSender.js';
import { replay } from './replay.js';
import { generateSession } from './sampleSession.js';

export interface SampleFeedOptions {
  config: Config;
  brokers: string[];
  logger: Logger;
  /** Again as a new session each time one ends. */
  loop: boolean;
  /** Replay speed (1 = real time). */
  speed: number;
  /** Session ids are `${prefix}-${round}`. */
  prefix: string;
  /** Called when a round's session starts. */
  onSession?: (sessionId: string) => void;
  signal: AbortSignal;
}

/** Feeds sample sessions until done (or aborted); failures are logged, never thrown. */
export async function feedSampleSessions(opts: SampleFeedOptions): Promise<void> {
  try {
    const sender = await openRecordSender({ config: opts.config, brokers: opts.brokers, logger: opts.logger });
    try {
      for (let round = 1; !opts.signal.aborted; round++) {
        const sessionId = `${opts.prefix}-${round}`;
        opts.onSession?.(sessionId);
        const records = generateSession({ sessionId, startTime: Date.now(), endOfStream: true, seed: round });
        await replay(records, sender, { speed: opts.speed, startTime: Date.now(), signal: opts.signal });
        if (!opts.loop) break;
      }
    } finally {
      await sender.close();
    }
  } catch (err) {
    opts.logger.child({ component: 'sample-feed' }).error({ err }, 'sample feed failed');
  }
}
