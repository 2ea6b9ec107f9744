/**
 * Topic names, from one prefix-able config, and their creation up front (the broker does not
 * auto-create them, and a consumer subscribed before a topic exists sees no partitions).
 */
import type { Admin } from 'kafkajs';
import type { InputKind } from '../../schemas/records.js';
import type { RecordKind } from '../../schemas/kinds.js';

export type TopicRole = 'audio' | 'video' | 'transcript' | 'scores' | 'deadLetter' | 'late';

export type TopicNames = Readonly<Record<TopicRole, string>>;

const BASE_NAMES: TopicNames = {
  audio: 'audio',
  video: 'video',
  transcript: 'transcript',
  scores: 'scores',
  deadLetter: 'dead-letter',
  late: 'late',
};

/** What each topic carries. The late topic carries dead-letter records with code LATE. */
export const TOPIC_RECORD_KIND: Readonly<Record<TopicRole, RecordKind>> = {
  audio: 'audio',
  video: 'video',
  transcript: 'transcript',
  scores: 'score',
  deadLetter: 'deadLetter',
  late: 'deadLetter',
};

export interface TopicConfig {
  /** Put before every name, e.g. `msa.` gives `msa.audio`. Default ''. */
  prefix?: string;
  /** Full names for some roles, replacing prefix + base name. */
  names?: Partial<Record<TopicRole, string>>;
}

const LEGAL = /^[a-zA-Z0-9._-]{1,249}$/;

export function topicNames(config: TopicConfig = {}): TopicNames {
  const out = {} as Record<TopicRole, string>;
  for (const role of Object.keys(BASE_NAMES) as TopicRole[]) {
    const name = config.names?.[role] ?? `${config.prefix ?? ''}${BASE_NAMES[role]}`;
    if (!LEGAL.test(name)) throw new Error(`topic name for ${role} must be 1-249 of [a-zA-Z0-9._-], got ${JSON.stringify(name)}`);
    out[role] = name;
  }
  return out;
}

/** The input topics (what the pipeline consumes), with the record kind each carries. */
export function inputTopics(names: TopicNames): { topic: string; kind: InputKind }[] {
  return (['audio', 'video', 'transcript'] as const).map((kind) => ({ topic: names[kind], kind }));
}

/** The input kind a topic carries, or undefined for a topic that is not an input. */
export function inputKindOf(names: TopicNames, topic: string): InputKind | undefined {
  return inputTopics(names).find((t) => t.topic === topic)?.kind;
}

/**
 * Creates the topics that do not exist yet, with `partitions` partitions each; returns the names
 * created. Existing topics are left as they are.
 */
export async function ensureTopics(
  admin: Admin,
  topics: TopicNames | readonly string[],
  partitions: number,
  replicationFactor = 1,
): Promise<string[]> {
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
  throw new Error(`topics ${topics.join(', ')} were created but have no leader after ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
