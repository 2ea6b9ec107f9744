/**
 * Consumer lag of the pipeline's input: for every partition assigned to this consumer, the end
 * offset (what producers have written) minus the offset after the last record handed downstream
 * (or, before the first one, the group's committed offset, else the partition's start), summed.
 * Measured every `intervalMs` into `stats.lag` / `stats.maxLag`; a failed measurement is logged
 * once and leaves the last value. When the source pauses because a stage is behind, this is
 * where the overload shows. The end offsets measured are handed to the source
 * (`noteEndOffsets`), which tells the windows which partitions are behind.
 *
 * @example
 * const probe = createLagProbe({ admin, groupId, source, stats, intervalMs: 2000 });
 * probe.start(); ...; await probe.stop();
 */
import type { Admin } from 'kafkajs';
import { silentLogger, type Logger } from '../../log.js';
import { partitionKey } from '../types.js';
import type { KafkaSource } from './source.js';
import type { TransportStats } from './stats.js';

export interface LagProbeOptions {
  /** A connected admin; the probe disconnects it on stop. */
  admin: Pick<Admin, 'fetchTopicOffsets' | 'fetchOffsets' | 'disconnect'>;
  groupId: string;
  source: Pick<KafkaSource, 'assignment' | 'nextOffsets'> & Partial<Pick<KafkaSource, 'noteEndOffsets'>>;
  stats: TransportStats;
  intervalMs: number;
  logger?: Logger;
}

export interface LagProbe {
  start(): void;
  /** Measures once now (also what the timer runs); resolves with the lag, or null with nothing assigned. */
  measure(): Promise<number | null>;
  stop(): Promise<void>;
}

export function createLagProbe(options: LagProbeOptions): LagProbe {
  const { admin, groupId, source, stats, intervalMs } = options;
  if (!Number.isInteger(intervalMs) || intervalMs < 1) throw new Error(`lag intervalMs must be a positive integer, got ${intervalMs}`);
  const log = (options.logger ?? silentLogger).child({ component: 'kafka-lag' });
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<number | null> | null = null;
  let warned = false;

  const measureOnce = async (): Promise<number | null> => {
    const assigned = source.assignment();
    if (assigned.length === 0) return null;
    const sentAt = Date.now();
    const next = source.nextOffsets();
    const learnt: Array<{ topic: string; partition: number; end: bigint; from: bigint }> = [];
    let lag = 0;
    for (const topic of new Set(assigned.map((tp) => tp.topic))) {
      const ends = await admin.fetchTopicOffsets(topic);
      const mine = new Set(assigned.filter((tp) => tp.topic === topic).map((tp) => tp.partition));
      let committed: Map<number, bigint> | null = null;
      for (const end of ends) {
        if (!mine.has(end.partition)) continue;
        let from = next.get(partitionKey({ topic, partition: end.partition }));
        if (from === undefined) {
          committed ??= new Map(
            (await admin.fetchOffsets({ groupId, topics: [topic] }))
              .flatMap((t) => t.partitions)
              .filter((p) => Number(p.offset) >= 0)
              .map((p) => [p.partition, BigInt(p.offset)]),
          );
          from = committed.get(end.partition) ?? BigInt(end.low);
        }
        learnt.push({ topic, partition: end.partition, end: BigInt(end.high), from });
        const behind = BigInt(end.high) - from;
        if (behind > 0n) lag += Number(behind);
      }
    }
    source.noteEndOffsets?.(sentAt, learnt);
    stats.lag = lag;
    stats.maxLag = Math.max(stats.maxLag, lag);
    return lag;
  };

  const measure = (): Promise<number | null> =>
    (running ??= measureOnce()
      .catch((err: unknown) => {
        if (!warned) log.warn({ err }, 'could not measure consumer lag; stats.lag keeps its last value');
        warned = true;
        return stats.lag;
      })
      .finally(() => (running = null)));

  return {
    start() {
      if (timer) return;
      timer = setInterval(() => void measure(), intervalMs);
      timer.unref();
    },
    measure,
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await running;
      await admin.disconnect();
    },
  };
}
