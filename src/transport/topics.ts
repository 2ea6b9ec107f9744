/**
 * Topic names, from one prefix-able config, and which record kind each topic carries.
 * Creating them is the Kafka adapter's job (`kafka/topics.ts`).
 */
import type { InputKind } from '../schemas/records.js';
import type { RecordKind } from '../schemas/kinds.js';

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
