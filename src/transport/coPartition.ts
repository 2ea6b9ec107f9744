/**
 * Co-partitioned assignment, pure: partition p of every input topic goes to the same member, as
 * Kafka Streams does for co-partitioned topics. A session's audio, video and transcript records
 * are keyed by its session id with the same partitioner, so they lie in the same partition number
 * of each topic; the instance that owns that number sees all of the session's modalities.
 *
 * Members are sorted by id and partition p goes to member p mod n: the same members and counts
 * always give the same assignment. Members beyond the partition count get nothing.
 */
export class PartitionCountMismatchError extends Error {
  constructor(readonly counts: Readonly<Record<string, number>>) {
    super(
      `the input topics must have the same number of partitions (a session's records are co-partitioned by session id), got ` +
        Object.entries(counts)
          .map(([topic, n]) => `${topic}: ${n}`)
          .join(', ') +
        '; give them the same count (kafka-topics --alter --partitions N) or recreate them',
    );
    this.name = 'PartitionCountMismatchError';
  }
}

/** Throws {@link PartitionCountMismatchError} unless every topic has the same (non-zero) partition count; returns it. */
export function commonPartitionCount(counts: Readonly<Record<string, number>>): number {
  const values = Object.values(counts);
  if (values.length === 0) throw new Error('co-partitioned assignment needs at least one topic, got none');
  const n = values[0]!;
  if (!values.every((v) => v === n) || n < 1) throw new PartitionCountMismatchError(counts);
  return n;
}

/** Per member id, per topic, the partitions it owns. Every member appears (with {} if it owns nothing). */
export function assignCoPartitioned(memberIds: readonly string[], counts: Readonly<Record<string, number>>): Record<string, Record<string, number[]>> {
  const n = commonPartitionCount(counts);
  const members = [...new Set(memberIds)].sort();
  const out: Record<string, Record<string, number[]>> = {};
  for (const m of members) out[m] = {};
  if (members.length === 0) return out;
  for (let p = 0; p < n; p++) {
    const owner = out[members[p % members.length]!]!;
    for (const topic of Object.keys(counts)) (owner[topic] ??= []).push(p);
  }
  return out;
}
