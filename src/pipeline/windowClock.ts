/**
 * What the pipeline's windows are told about input that may still come.
 *
 * - The clock they run on stands still while the broker is away (`/healthz` degraded), so no
 *   session goes idle for want of input.
 * - Each input partition's end offset: after the broker comes back, and after every rebalance
 *   (the consumer rejoining its group after an outage or a crash), the source forgets what it
 *   knew of them and they are measured again at once. Until then, and while a partition's end is
 *   past what was handed downstream, the windows do not count its modality idle
 *   (`SessionWindowOptions.inputBehind`). Otherwise the first topic handed over after a stall
 *   (kafkajs brings the partitions back one by one, seconds apart on a loaded machine) finds the
 *   session's other modalities idle and moves the watermark past their records, still in Kafka,
 *   which then go to `late`.
 * - Records between the source and the windows: the feature stage keeps each session's order, so
 *   a record can wait there behind a video frame in the face model, past `modalityIdleMs` on a busy
 *   machine. A partition with records of a modality still in that stage counts as behind for it
 *   too (`inFlight`), so the windows do not close without them.
 */
import { identity, tap, type MonoTypeOperatorFunction, type Observable } from 'rxjs';
import type { InputKind, InputRecord } from '../schemas/records.js';
import type { Positioned } from '../windows/types.js';
import { PausableScheduler } from '../operators/pausableScheduler.js';
import type { Logger } from '../log.js';
import type { TransportHealth } from '../transport/health.js';
import type { KafkaSource } from '../transport/kafka/source.js';

export interface WindowClock {
  readonly clock: PausableScheduler;
  /** Stops watching (the pipeline stopped). */
  close(): void;
}

export function createWindowClock(options: {
  health: TransportHealth;
  source: Pick<KafkaSource, 'stalled'> & { readonly assignments$: Observable<unknown> };
  /** Measures the input partitions' end offsets now (the lag probe). */
  measureEnds: () => void;
  logger: Logger;
}): WindowClock {
  const { health, source, measureEnds, logger: log } = options;
  const clock = new PausableScheduler();
  const removeHealth = health.onChange((degraded) => {
    source.stalled();
    if (degraded) {
      clock.pause();
      log.warn({ problems: health.problems() }, 'Kafka unreachable: waiting and retrying; session idle timers stopped');
    } else {
      clock.resume();
      measureEnds();
      log.info({ outages: health.outages, degradedMs: health.degradedMs }, 'Kafka reached again: resumed');
    }
  });
  const rebalanced = source.assignments$.subscribe(() => measureEnds());
  return {
    clock,
    close() {
      rebalanced.unsubscribe();
      removeHealth();
    },
  };
}

/** Counts records per modality and partition between `enter` and `leave` (a stage in between). */
export interface InFlight {
  readonly enter: MonoTypeOperatorFunction<Positioned<InputRecord>>;
  readonly leave: MonoTypeOperatorFunction<Positioned<InputRecord>>;
  /** Records of `kind` from `partition` inside the stage now. */
  holds(kind: InputKind, partition: number): boolean;
}

/**
 * `active` false (a stage that never holds a record back: the feature stage of a model reading
 * neither audio nor video) counts nothing: the hot path pays no key and map update per record.
 */
export function createInFlight(active = true): InFlight {
  if (!active) return { enter: identity, leave: identity, holds: () => false };
  const inside = new Map<string, number>();
  const keyOf = (r: Positioned<InputRecord>) => (r.position ? `${r.value.kind}/${r.position.partition}` : null);
  const add = (r: Positioned<InputRecord>, n: number) => {
    const key = keyOf(r);
    if (key === null) return;
    const left = (inside.get(key) ?? 0) + n;
    if (left > 0) inside.set(key, left);
    else inside.delete(key);
  };
  return {
    enter: tap((r) => add(r, 1)),
    leave: tap((r) => add(r, -1)),
    holds: (kind, partition) => inside.has(`${kind}/${partition}`),
  };
}
