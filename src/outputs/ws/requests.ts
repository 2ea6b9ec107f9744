/**
 * What an authenticated client can ask for: subscribe (then the history of what it named and
 * the recent alerts of the sessions it covers), unsubscribe, and the list of sessions with history.
 * Everything is cut to the client's scope (the sessions its token may see): a request naming
 * sessions outside it is refused (`out_of_scope`); `all`, filters and the session list cover
 * only the sessions inside it.
 */
import type { Score } from '../../schemas/records.js';
import type { ScoreHistory } from '../../scores/scoreHistory.js';
import type { RecentAlerts } from '../../scores/recentAlerts.js';
import type { Principal } from './auth.js';
import type { Client } from './client.js';
import type { ScoreServerSettings } from './options.js';
import { filterCoversSession, historyFrame, matchesFilter, quote, type ClientMessage, type ProtocolError, type SelectionMessage } from './protocol.js';
import { filterOverlaps } from './scope.js';
import type { SubscriptionIndex } from './subscriptions.js';

export const replyFields = (m: { id?: string | number }) => (m.id === undefined ? {} : { id: m.id });

export interface RequestCounters {
  /** Requests refused for naming sessions outside the token's scope. */
  outOfScope: number;
  /** Subscriptions refused by the token's maxSubscribeAll. */
  refusedSubscribeAll: number;
}

export interface RequestContext {
  settings: Pick<ScoreServerSettings, 'maxSubscriptions' | 'historySessionsPerSubscribe'>;
  index: SubscriptionIndex;
  history: ScoreHistory;
  recentAlerts?: Pick<RecentAlerts, 'list'> | undefined;
  /** A score's JSON, made once per score. */
  scoreJson(score: Score): string;
  sendJson(client: Client, message: object): boolean;
  /** Queues a stream of frames sent a slice per event-loop turn (client.ts). */
  sendStream(client: Client, frames: Iterator<string>): boolean;
  sendError(client: Client, problem: ProtocolError): void;
  counters: RequestCounters;
  /** Per token: the subscriptions it was refused. */
  refusedSubscribeAll(principal: Principal): void;
}

export function createRequestHandlers(ctx: RequestContext) {
  const { settings: cfg, index, history, recentAlerts, sendJson, sendError, counters } = ctx;

  /** The problem with a subscribe outside the client's scope, or null. */
  const scopeProblem = (c: Client, m: SelectionMessage): ProtocolError | null => {
    const scope = c.principal!.scope;
    const outside = (m.sessions ?? []).filter((s) => !scope.covers(s));
    const filterOutside = m.filter !== undefined && !filterOverlaps(scope, m.filter);
    if (outside.length === 0 && !filterOutside) return null;
    const what =
      outside.length > 0
        ? `session${outside.length > 1 ? 's' : ''} ${outside
            .slice(0, 3)
            .map((s) => quote(s))
            .join(', ')}${outside.length > 3 ? ` and ${outside.length - 3} more` : ''}`
        : `filter sessionPrefix ${quote(m.filter!.sessionPrefix)}`;
    return {
      code: 'out_of_scope',
      error: `${what} outside what token ${quote(c.principal!.name)} may see (session ids starting with ${scope.prefixes.map((p) => quote(p)).join(' or ')})`,
      detail: { sessions: outside.slice(0, 100), ...(filterOutside ? { sessionPrefix: m.filter!.sessionPrefix } : {}), sessionPrefixes: scope.prefixes },
      ...replyFields(m),
    };
  };

  const subscribe = (c: Client, m: SelectionMessage): void => {
    const principal = c.principal!;
    const problem = scopeProblem(c, m);
    if (problem !== null) {
      counters.outOfScope++;
      sendError(c, problem);
      return;
    }
    const added = index.newIn(c, m);
    const current = index.count(c);
    if (current + added.count > cfg.maxSubscriptions) {
      sendError(c, {
        code: 'too_many_subscriptions',
        error: `subscribing to ${added.count} more would make ${current + added.count} subscriptions; the limit is ${cfg.maxSubscriptions}`,
        detail: { limit: cfg.maxSubscriptions, current, requested: added.count },
        ...replyFields(m),
      });
      return;
    }
    const broad = index.broadOf(principal.name);
    if (added.broad > 0 && broad + added.broad > principal.maxSubscribeAll) {
      counters.refusedSubscribeAll++;
      ctx.refusedSubscribeAll(principal);
      sendError(c, {
        code: 'too_many_subscribe_all',
        error: `token ${quote(principal.name)} holds ${broad} "all" and filter subscriptions over its connections; the limit is ${principal.maxSubscribeAll} (unsubscribe one, or subscribe to sessions by id)`,
        detail: { limit: principal.maxSubscribeAll, current: broad, requested: added.broad },
        ...replyFields(m),
      });
      return;
    }
    index.add(c, added);
    if (!sendJson(c, { type: 'subscribed', ...replyFields(m), subscriptions: index.view(c) })) return;
    // History and alerts as they stand now (the subscription took effect in the same step), sent in slices.
    const sessions = historyOf(c, m);
    const alerts = alertsOf(c, m);
    ctx.sendStream(c, frames(sessions, alerts));
  };

  function* frames(sessions: Array<[string, readonly Score[]]>, alerts: string | null): Iterator<string> {
    for (const [s, scores] of sessions) yield historyFrame(s, scores, ctx.scoreJson);
    if (alerts !== null) yield alerts;
  }

  /** History for what this request names: listed sessions (even if empty), then `all` / filter matches in the scope; copies, taken now. */
  const historyOf = (c: Client, m: SelectionMessage): Array<[string, readonly Score[]]> => {
    const out: Array<[string, readonly Score[]]> = [];
    const sent = new Set<string>();
    for (const s of m.sessions ?? []) {
      if (sent.has(s)) continue;
      sent.add(s);
      out.push([s, history.get(s).slice()]);
    }
    if (m.all !== true && m.filter === undefined) return out;
    const scope = c.principal!.scope;
    const matched: Array<[string, readonly Score[]]> = [];
    for (const s of history.sessionIds()) {
      if (sent.has(s) || !scope.covers(s)) continue;
      const scores = history.get(s);
      const kept = m.all === true ? scores.slice() : scores.filter((score) => matchesFilter(m.filter!, score));
      if (kept.length > 0) matched.push([s, kept]);
    }
    return out.concat(matched.slice(-cfg.historySessionsPerSubscribe));
  };

  /** The recent alerts of the sessions this request covers in the scope (as live alerts reach them: polarity not checked), oldest first. */
  const alertsOf = (c: Client, m: SelectionMessage): string | null => {
    if (recentAlerts === undefined) return null;
    const scope = c.principal!.scope;
    const sessions = new Set(m.sessions ?? []);
    const covers = (sessionId: string) =>
      scope.covers(sessionId) && (m.all === true || sessions.has(sessionId) || (m.filter !== undefined && filterCoversSession(m.filter, sessionId)));
    return JSON.stringify({ type: 'alerts', alerts: recentAlerts.list(covers) });
  };

  const unsubscribe = (c: Client, m: SelectionMessage): void => {
    index.remove(c, m);
    sendJson(c, { type: 'unsubscribed', ...replyFields(m), subscriptions: index.view(c) });
  };

  const listSessions = (c: Client, m: Extract<ClientMessage, { type: 'sessions' }>): void => {
    const scope = c.principal!.scope;
    const prefix = m.prefix ?? '';
    const limit = m.limit ?? 1000;
    const found: object[] = [];
    let total = 0;
    // Newest first: the history map is oldest first, so walk it into an array and reverse.
    for (const s of [...history.sessionIds()].reverse()) {
      if (!s.startsWith(prefix) || !scope.covers(s)) continue;
      total++;
      if (found.length >= limit) continue;
      const last = history.get(s).at(-1)!;
      found.push({ sessionId: s, windowEnd: last.windowEnd, score: last.score, polarity: last.polarity, emittedAt: last.emittedAt });
    }
    sendJson(c, { type: 'sessions', ...replyFields(m), sessions: found, total, truncated: total > found.length });
  };

  return { subscribe, unsubscribe, listSessions };
}
