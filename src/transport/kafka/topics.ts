/**
 * Creating the topics up front: the broker does not auto-create them, and a consumer subscribed
 * before a topic exists sees no partitions.
 */
import type { Admin } from 'kafkajs';
import type { TopicNames } from '../topics.js';

/**
 * Creates the topics that do not exist yet, with `partitions` partitions each; returns the names
 * created. Existing topics are left as they are.
 */
export async function ensureTopics(admin: Admin, topics: TopicNames | readonly string[], partitions: number, replicationFactor = 1): Promise<string[]> {
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`partitions must be a positive integer, got ${partitions}`);
  const wanted = [...new Set(Array.isArray(topics) ? (topics as readonly string[]) : Object.values(topics))];
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((t) => !existing.has(t));
  if (missing.length === 0) return [];
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor })),
    });
  } catch (e) {
    // kafkajs waits for leaders with a metadata request that it retries on LEADER_NOT_AVAILABLE
    // only; a broker that has just started can answer UNKNOWN_TOPIC_OR_PARTITION for a topic it
    // has created but not yet put in its metadata cache (seen once in CI, right after startup).
    if (!isUnknownTopic(e)) throw e;
    await waitForLeaders(admin, missing);
  }
  return missing;
}

function isUnknownTopic(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION';
}

/** Polls the metadata of `topics` until every partition has a leader (at most `timeoutMs`). */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics });
      if (meta.length === topics.length && meta.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch (e) {
      if (!isUnknownTopic(e) && (e as { retriable?: boolean }).retriable !== true) throw e;
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `topics ${topics.join(', ')} were created but have no leader after ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`,
  );
}
