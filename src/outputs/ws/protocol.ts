import { z } from 'zod';
import type { Polarity, Score } from '../../schemas/records.js';

/**
 * The score WebSocket protocol (docs/websocket.md): JSON text frames, each an object with a
 * `type`. This file is pure: parsing and checking client messages, matching scores to filters.
 * The socket handling is in server.ts.
 */

/** Close codes the server uses. */
export const CLOSE_CODES = {
  /** Missing, wrong or late authentication. */
  unauthorized: 4401,
  /** Slow consumer (buffer bound reached) or server full: try again later. */
  tryAgainLater: 1013,
  /** The server is shutting down. */
  goingAway: 1001,
  /** A message above the hard size cap (sent by ws itself). */
  tooBig: 1009,
  /** The token already has its maximum of connections open. */
  tooManyConnections: 4429,
} as const;

export type ErrorCode =
  'bad_json' | 'not_text' | 'message_too_large' | 'unknown_type' | 'invalid_message' | 'too_many_subscriptions' | 'too_many_subscribe_all' | 'out_of_scope';

/** Which scores a filter subscription receives: every condition given must hold. */
export interface ScoreFilter {
  sessionPrefix?: string;
  /** Normalised: sorted, no duplicates. */
  polarity?: Polarity[];
}

const POLARITIES = ['NEGATIVE', 'NEUTRAL', 'POSITIVE'] as const;
const requestId = z.union([z.string().max(128), z.number()]).optional();
const sessionId = z.string().min(1).max(256);

const filterSchema = z
  .object({
    sessionPrefix: z.string().min(1).max(256).optional(),
    // One label or a list; made a list first so a bad label is reported as itself.
    polarity: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(z.enum(POLARITIES)).min(1)).optional(),
  })
  .strict()
  .refine((f) => f.sessionPrefix !== undefined || f.polarity !== undefined, {
    message: 'a filter needs sessionPrefix and/or polarity (use "all": true for every session)',
  })
  .transform((f): ScoreFilter => {
    const out: ScoreFilter = {};
    if (f.sessionPrefix !== undefined) out.sessionPrefix = f.sessionPrefix;
    if (f.polarity !== undefined) {
      out.polarity = [...new Set(f.polarity)].sort();
    }
    return out;
  });

/** subscribe and unsubscribe share a shape: any of sessions, all, filter; at least one. */
const selectionFields = {
  id: requestId,
  sessions: z.array(sessionId).optional(),
  all: z.literal(true).optional(),
  filter: filterSchema.optional(),
};
const hasSelection = (m: { sessions?: string[]; all?: true; filter?: ScoreFilter }) =>
  (m.sessions !== undefined && m.sessions.length > 0) || m.all === true || m.filter !== undefined;
const selectionMessage = 'give "sessions" (non-empty), "all": true, or "filter"';

const messageSchemas = {
  auth: z.object({ type: z.literal('auth'), id: requestId, token: z.string().min(1).max(4096) }).strict(),
  subscribe: z
    .object({ type: z.literal('subscribe'), ...selectionFields })
    .strict()
    .refine(hasSelection, { message: selectionMessage }),
  unsubscribe: z
    .object({ type: z.literal('unsubscribe'), ...selectionFields })
    .strict()
    .refine(hasSelection, { message: selectionMessage }),
  sessions: z
    .object({
      type: z.literal('sessions'),
      id: requestId,
      prefix: z.string().max(256).optional(),
      limit: z.number().int().min(1).max(10_000).optional(),
    })
    .strict(),
  ping: z.object({ type: z.literal('ping'), id: requestId }).strict(),
};

export const MESSAGE_TYPES = Object.keys(messageSchemas) as Array<keyof typeof messageSchemas>;

export type ClientMessage = { [K in keyof typeof messageSchemas]: z.output<(typeof messageSchemas)[K]> }[keyof typeof messageSchemas];
export type SelectionMessage = Extract<ClientMessage, { type: 'subscribe' | 'unsubscribe' }>;

export interface ProtocolError {
  code: ErrorCode;
  /** One sentence naming what was wrong and the offending value. */
  error: string;
  detail?: unknown;
  id?: string | number;
}

export type ParseResult = { ok: true; message: ClientMessage } | { ok: false; problem: ProtocolError };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value quoted for an error sentence, cut short so an error never echoes a huge input. */
export function quote(v: unknown, max = 80): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

/** Parses one text frame into a checked client message, or says what is wrong with it. */
export function parseClientMessage(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return {
      ok: false,
      problem: { code: 'bad_json', error: `message is not valid JSON (${(e as Error).message}): ${quote(text)}` },
    };
  }
  if (!isPlainObject(raw)) {
    return { ok: false, problem: { code: 'invalid_message', error: `message must be a JSON object, got ${quote(raw)}` } };
  }
  const id = typeof raw.id === 'string' || typeof raw.id === 'number' ? raw.id : undefined;
  const type = raw.type;
  if (typeof type !== 'string' || !(MESSAGE_TYPES as string[]).includes(type)) {
    return {
      ok: false,
      problem: {
        code: 'unknown_type',
        error: `unknown message type ${quote(type)}; expected one of ${MESSAGE_TYPES.join(', ')}`,
        detail: { type: type ?? null, expected: MESSAGE_TYPES },
        id,
      },
    };
  }
  const parsed = messageSchemas[type as keyof typeof messageSchemas].safeParse(raw);
  if (parsed.success) return { ok: true, message: parsed.data as ClientMessage };
  const issues = parsed.error.issues.map((i) => {
    const path = i.path.join('.');
    const got = i.path.reduce<unknown>((o, k) => (isPlainObject(o) || Array.isArray(o) ? (o as Record<string, unknown>)[k] : undefined), raw);
    return { path: path || '(message)', problem: i.message, ...(got === undefined || path === '' ? {} : { got }) };
  });
  const first = issues[0]!;
  return {
    ok: false,
    problem: {
      code: 'invalid_message',
      error: `bad ${type} message: ${first.path}: ${first.problem}${'got' in first ? ` (got ${quote(first.got)})` : ''}`,
      detail: issues,
      id,
    },
  };
}

export function matchesFilter(filter: ScoreFilter, score: Pick<Score, 'sessionId' | 'polarity'>): boolean {
  if (filter.sessionPrefix !== undefined && !score.sessionId.startsWith(filter.sessionPrefix)) return false;
  if (filter.polarity !== undefined && !filter.polarity.includes(score.polarity)) return false;
  return true;
}

/**
 * Whether a filter subscription covers a session for messages that are not scores (alerts):
 * by its sessionPrefix only, since such messages have no polarity.
 */
export function filterCoversSession(filter: ScoreFilter, sessionId: string): boolean {
  return filter.sessionPrefix === undefined || sessionId.startsWith(filter.sessionPrefix);
}

/** A canonical key, so the same filter given twice is one subscription. */
export function filterKey(filter: ScoreFilter): string {
  return JSON.stringify([filter.sessionPrefix ?? null, filter.polarity ?? null]);
}

/** A `score` frame, built once per published score and sent as is to every subscriber. */
export function scoreFrame(score: Score, json: (score: Score) => string = JSON.stringify): string {
  return `{"type":"score","score":${json(score)}}`;
}

/** A `history` frame from each score's JSON (made once per score and kept: many subscribers share it). */
export function historyFrame(sessionId: string, scores: readonly Score[], json: (score: Score) => string): string {
  return `{"type":"history","sessionId":${JSON.stringify(sessionId)},"scores":[${scores.map(json).join(',')}]}`;
}

/** Close reasons are limited to 123 bytes by the protocol. */
export function closeReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}
