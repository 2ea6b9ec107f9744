/**
 * The load bench's two ends of one run (bench/load.ts): the send loop that paces every session's
 * records into Kafka, and the WebSocket client that takes the scores; then the delays, split into
 * their parts, from what the client received.
 */
import WebSocket from 'ws';
import type { OpenSender } from '../src/ingest/kafkaSender.js';
import type { InputRecord, Score } from '../src/schemas/records.js';
import { takeDue, type LoadSession } from './loadSessions.js';

/** Records a request at most: 400 audio chunks at once exceed the broker's 1 MB request limit. */
const SEND_CHUNK = 100;
const TICK_MS = 20;

/** What the client received: each window's score once (`<session>@<windowEnd>`). */
export interface Received {
  /** Arrival time at the client. */
  arrivals: Map<string, number>;
  /** Each score's close and emit times on the pipeline's clock (the same machine's): they split the delay. */
  stamps: Map<string, { closed: number; emitted: number }>;
  /** Window ends received per session. */
  ends: Map<string, number[]>;
  /** Scores received again. */
  duplicates: number;
}

/** Subscribes to every session's scores at `url`; resolves once subscribed. */
export async function collectScores(url: string): Promise<{ received: Received; close: () => void }> {
  const received: Received = { arrivals: new Map(), stamps: new Map(), ends: new Map(), duplicates: 0 };
  const ws = new WebSocket(url);
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  ws.on('message', (data) => {
    const now = Date.now();
    const text = data.toString();
    if (!text.startsWith('{"type":"score"')) return;
    const score = (JSON.parse(text) as { score: Score }).score;
    const key = `${score.sessionId}@${score.windowEnd}`;
    if (received.arrivals.has(key)) {
      received.duplicates++;
      return;
    }
    received.arrivals.set(key, now);
    received.stamps.set(key, { closed: score.emittedAt - score.latencyMs, emitted: score.emittedAt });
    const ends = received.ends.get(score.sessionId) ?? [];
    ends.push(score.windowEnd);
    received.ends.set(score.sessionId, ends);
  });
  ws.send(JSON.stringify({ type: 'subscribe', all: true }));
  return { received, close: () => ws.close() };
}

/** The send loop's counters; `sent` grows as it goes (the sampler reads it for the lag). */
export interface Sending {
  sent: number;
  errors: number;
  /** How long each send request took to be acknowledged, per kind (the generator's and the broker's share of the delay). */
  ackMs: Record<InputRecord['kind'], number[]>;
}

/**
 * From `t0` on, every tick: everything due for every session, one send per kind (not awaited one
 * by one). Resolves when every record is sent and acknowledged, or when `stopped()` says so.
 */
export async function sendPlans(
  plans: LoadSession[],
  sender: OpenSender,
  t0: number,
  counters: Sending,
  stopped: () => boolean,
  say: (line: string) => void,
): Promise<void> {
  const pending = new Set<Promise<void>>();
  await new Promise<void>((done) => {
    const tick = () => {
      const now = Date.now();
      const byKind: Record<InputRecord['kind'], InputRecord['value'][]> = { audio: [], video: [], transcript: [] };
      let left = 0;
      for (const s of plans) {
        for (const stamped of takeDue(s, t0, now)) byKind[stamped.kind].push(stamped.value);
        left += s.plan.length - s.next;
      }
      for (const kind of ['audio', 'video', 'transcript'] as const) {
        for (let from = 0; from < byKind[kind].length; from += SEND_CHUNK) {
          const values = byKind[kind].slice(from, from + SEND_CHUNK);
          counters.sent += values.length;
          const askedAt = Date.now();
          const p = sender.send(kind, values).then(
            () => void counters.ackMs[kind].push(Date.now() - askedAt),
            (err: unknown) => {
              counters.errors++;
              if (counters.errors === 1) say(`send failed: ${(err as Error).message}`);
            },
          );
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }
      }
      if (left === 0 || stopped()) done();
      else setTimeout(tick, Math.max(0, TICK_MS - (Date.now() - now)));
    };
    setTimeout(tick, Math.max(0, t0 - Date.now()));
  });
  await Promise.all(pending);
}

/**
 * Every expected window's delay (the send of its closing record to its score at the client) and
 * its parts: that send to the pipeline's close, and the score's emission to the client (Kafka
 * write included); the close to the emission is the score's own latencyMs. Scores that came
 * before their closing record was sent are listed as early.
 */
export function delayParts(plans: LoadSession[], received: Received) {
  const delays: number[] = [];
  const sendToClose: number[] = [];
  const emittedToWs: number[] = [];
  const early: { id: string; end: number; arrived: number }[] = [];
  for (const s of plans) {
    for (const e of s.tracker.expected) {
      const arrived = received.arrivals.get(`${s.id}@${e}`);
      const closed = s.tracker.closedAt.get(e);
      if (arrived === undefined || closed === undefined) continue;
      if (arrived < closed) early.push({ id: s.id, end: e, arrived });
      delays.push(Math.max(0, arrived - closed));
      const st = received.stamps.get(`${s.id}@${e}`);
      if (st) {
        sendToClose.push(st.closed - closed);
        emittedToWs.push(arrived - st.emitted);
      }
    }
  }
  return { delays, sendToClose, emittedToWs, early };
}
