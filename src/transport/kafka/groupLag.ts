/**
 * Consumer lag of the pipeline's group, per input topic and partition: the partition's high
 * watermark (log end) less the group's committed offset, polled with the admin client every
 * `intervalMs` into `stats.groupLag` (`"topic/partition"` -> records). A partition the group never
 * committed counts from its low watermark (all that is retained is unread). This is what Kafka's
 * own consumer-groups tool shows, and what an autoscaler on lag reads (deploy/k8s/base/hpa.yaml).
 *
 * A failed poll (broker away, group rebalancing) is logged at debug and counted in
 * `stats.groupLagErrors`; the last values stay until the next poll succeeds.
 */
import type { Admin } from 'kafkajs';
import { silentLogger, type Logger } from '../../log.js';
import type { TransportStats } from './stats.js';

export interface LagMonitorOptions {
  admin: Pick<Admin, 'fetchTopicOffsets' | 'fetchOffsets'>;
  groupId: string;
  topics: readonly string[];
  /** Milliseconds between polls; > 0. */
  intervalMs: number;
  stats: TransportStats;
  logger?: Logger;
}

export interface LagMonitor {
  /** Polls once now; resolves with the lag per `topic/partition`. */
  poll(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export function startLagMonitor(options: LagMonitorOptions): LagMonitor {
  const { admin, groupId, stats } = options;
  const topics = [...options.topics];
  if (!(options.intervalMs > 0)) throw new Error(`lag intervalMs must be > 0, got ${options.intervalMs}`);
  const log = (options.logger ?? silentLogger).child({ component: 'kafka-lag' });
  let inFlight: Promise<Record<string, number>> | null = null;

  async function measure(): Promise<Record<string, number>> {
    const [ends, committed] = await Promise.all([
      Promise.all(topics.map(async (topic) => ({ topic, partitions: await admin.fetchTopicOffsets(topic) }))),
      admin.fetchOffsets({ groupId, topics }),
    ]);
    const committedAt = new Map<string, bigint>();
    for (const t of committed) for (const p of t.partitions) committedAt.set(`${t.topic}/${p.partition}`, BigInt(p.offset));
    const lag: Record<string, number> = {};
    for (const { topic, partitions } of ends) {
      for (const p of partitions) {
        const key = `${topic}/${p.partition}`;
        const high = BigInt(p.high);
        const c = committedAt.get(key) ?? -1n;
        const from = c >= 0n ? c : BigInt(p.low);
        lag[key] = Number(high > from ? high - from : 0n);
      }
    }
    return lag;
  }

  const poll = () =>
    (inFlight ??= measure()
      .then((lag) => {
        stats.groupLag = lag;
        stats.groupLagPolls++;
        return lag;
      })
      .catch((err: unknown) => {
        stats.groupLagErrors++;
        log.debug({ err }, 'consumer lag poll failed; keeping the last values');
        return stats.groupLag;
      })
      .finally(() => (inFlight = null)));

  const timer = setInterval(() => void poll(), options.intervalMs);
  timer.unref();
  void poll();
  return {
    poll,
    stop: async () => {
      clearInterval(timer);
      await inFlight;
    },
  };
}
