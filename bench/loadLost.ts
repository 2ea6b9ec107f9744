/**
 * The lost-window report of bench/load.ts: for each expected window with no score when the drain
 * ended, what the bench sent for it and what the pipeline said it did (its /metrics.json
 * counters), so that a loss can be told from a miscount.
 */
import type { Config } from '../src/config/config.js';
import type { InputRecord } from '../src/schemas/records.js';

/** One record as the bench sent it: its event-time span, endOfStream, and the wall time of the send. */
export interface SentRecord {
  kind: InputRecord['kind'];
  from: number;
  to: number;
  eos: boolean;
  wall: number;
}

interface LostInput {
  plans: { id: string; tracker: { log: SentRecord[]; closedAt: Map<number, number> } }[];
  /** `session@windowEnd` keys. */
  lost: string[];
  receivedEnds: Map<string, number[]>;
  metrics: unknown;
  windows: Config['windows'];
  /** Most windows described one by one. */
  limit?: number;
}

const fmt = (r: SentRecord, base: number) =>
  `${r.kind[0]}[${r.from - base}${r.to !== r.from ? `..${r.to - base}` : ''}]${r.eos ? ' EOS' : ''} sent@${r.wall - base}`;

/** A multi-line report; times relative to the window's end. */
export function describeLost(input: LostInput): string {
  const { sizeMs: W } = input.windows;
  const byId = new Map(input.plans.map((p) => [p.id, p]));
  const lines = [`${input.lost.length} expected window(s) with no score:`];
  for (const key of input.lost.slice(0, input.limit ?? 20)) {
    const at = key.lastIndexOf('@');
    const id = key.slice(0, at);
    const end = Number(key.slice(at + 1));
    const plan = byId.get(id);
    if (!plan) continue;
    const log = plan.tracker.log;
    const inWindow = log.filter((r) => (r.to > r.from ? r.from < end && r.to > end - W : r.from >= end - W && r.from < end));
    const segments = inWindow.filter((r) => r.kind === 'transcript');
    const audio = inWindow.filter((r) => r.kind === 'audio');
    const last = (kind: string) => log.filter((r) => r.kind === kind).at(-1);
    const ends = [...(input.receivedEnds.get(id) ?? [])].sort((a, b) => a - b);
    const near = ends.filter((e) => Math.abs(e - end) <= 3 * W).map((e) => e - end);
    const lastAudio = last('audio');
    const lastSeg = last('transcript');
    lines.push(
      `- ${id} windowEnd ${end} (closable at send +${(plan.tracker.closedAt.get(end) ?? NaN) - end} ms): ` +
        `${segments.length} segment(s) ${segments.map((r) => fmt(r, end)).join(', ')}; ${audio.length} audio chunk(s) ` +
        `${audio.length > 0 ? `[${audio[0]!.from - end}..${audio.at(-1)!.from - end}]` : ''}; ` +
        `last audio ${lastAudio ? fmt(lastAudio, end) : '-'}, last segment ${lastSeg ? fmt(lastSeg, end) : '-'}; ` +
        `scores received for this session: ${ends.length}, last at ${ends.length > 0 ? ends.at(-1)! - end : '-'}, near it (relative ends): [${near.join(', ')}]`,
    );
  }
  const m = input.metrics as { pipeline?: Record<string, unknown> } | null;
  if (m?.pipeline) {
    const p = m.pipeline as { windows?: Record<string, unknown>; transport?: Record<string, unknown>; [k: string]: unknown };
    const pick = (o: Record<string, unknown> | undefined) =>
      o ? Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'number' || (typeof v === 'object' && v !== null && !Array.isArray(v)))) : {};
    lines.push(
      `pipeline counters: ${JSON.stringify({ scores: p.scores, unscoredWindows: p.unscoredWindows, windows: pick(p.windows), transport: pick(p.transport) })}`,
    );
  } else lines.push(`pipeline counters: /metrics.json gave ${JSON.stringify(input.metrics)?.slice(0, 200)}`);
  return lines.join('\n');
}

/**
 * Scores that arrived before the send the bench thought let their window close: the bench replays
 * the pipeline's watermark with send times, the pipeline runs it on its own processing time (see
 * bench/loadSessions.ts SessionTracker). Per window: the arrival relative to that send, and the
 * last record of each kind sent before the arrival.
 */
export function describeEarly(plans: LostInput['plans'], early: { id: string; end: number; arrived: number }[], limit = 10): string {
  const byId = new Map(plans.map((p) => [p.id, p]));
  const lines = [`${early.length} score(s) arrived before the bench saw their window closable:`];
  for (const { id, end, arrived } of early.slice(0, limit)) {
    const plan = byId.get(id);
    if (!plan) continue;
    const before = plan.tracker.log.filter((r) => r.wall <= arrived);
    const last = (kind: string) => before.filter((r) => r.kind === kind).at(-1);
    const show = (r: SentRecord | undefined) => (r ? `${fmt(r, end)} (${arrived - r.wall} ms before the score)` : '-');
    lines.push(
      `- ${id} windowEnd ${end}: score ${(plan.tracker.closedAt.get(end) ?? NaN) - arrived} ms before the closing send; ` +
        `last audio ${show(last('audio'))}, last segment ${show(last('transcript'))}`,
    );
  }
  return lines.join('\n');
}
