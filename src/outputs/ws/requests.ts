/**
 * What an authenticated client can ask for: subscribe (then the history of what it named and
 * the recent alerts of the sessions it covers), unsubscribe, and the list of sessions with history.
 */
import type { Score } from '../../schemas/records.js';
import type { ScoreHistory } from '../../scores/scoreHistory.js';
import type { RecentAlerts } from '../../scores/recentAlerts.js';
import type { Client } from './client.js';
import type { ScoreServerSettings } from './options.js';
import { filterCoversSession, matchesFilter, type ClientMessage, type ProtocolError, type SelectionMessage } from './protocol.js';
import type { SubscriptionIndex } from './subscriptions.js';

export const replyFields = (m: { id?: string | number }) => (m.id === undefined ? {} : { id: m.id });

export interface RequestContext {
  settings: Pick<ScoreServerSettings, 'maxSubscriptions' | 'historySessionsPerSubscribe'>;
  index: SubscriptionIndex;
  history: ScoreHistory;
  recentAlerts?: Pick<RecentAlerts, 'list'> | undefined;
  sendJson(client: Client, message: object): boolean;
  sendError(client: Client, problem: ProtocolError): void;
}

export function createRequestHandlers({ settings: cfg, index, history, recentAlerts, sendJson, sendError }: RequestContext) {
  const subscribe = (c: Client, m: SelectionMessage): void => {
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
    index.add(c, added);
    if (!sendJson(c, { type: 'subscribed', ...replyFields(m), subscriptions: index.view(c) })) return;
    if (!sendHistory(c, m)) return;
    sendAlerts(c, m);
  };

  /** History for what this request names: listed sessions (even if empty), then `all` / filter matches. False when a send failed. */
  const sendHistory = (c: Client, m: SelectionMessage): boolean => {
    const sent = new Set<string>();
    for (const s of m.sessions ?? []) {
      if (sent.has(s)) continue;
      sent.add(s);
      if (!sendJson(c, { type: 'history', sessionId: s, scores: history.get(s) })) return false;
    }
    if (m.all !== true && m.filter === undefined) return true;
    const matched: Array<[string, readonly Score[]]> = [];
    for (const s of history.sessionIds()) {
      if (sent.has(s)) continue;
      const scores = history.get(s);
      const kept = m.all === true ? scores : scores.filter((score) => matchesFilter(m.filter!, score));
      if (kept.length > 0) matched.push([s, kept]);
    }
    for (const [s, scores] of matched.slice(-cfg.historySessionsPerSubscribe)) {
      if (!sendJson(c, { type: 'history', sessionId: s, scores })) return false;
    }
    return true;
  };

  /** The recent alerts of the sessions this request covers (as live alerts reach them: polarity not checked), oldest first. */
  const sendAlerts = (c: Client, m: SelectionMessage): void => {
    if (recentAlerts === undefined) return;
    const sessions = new Set(m.sessions ?? []);
    const covers = (sessionId: string) => m.all === true || sessions.has(sessionId) || (m.filter !== undefined && filterCoversSession(m.filter, sessionId));
    sendJson(c, { type: 'alerts', alerts: recentAlerts.list(covers) });
  };

  const unsubscribe = (c: Client, m: SelectionMessage): void => {
    index.remove(c, m);
    sendJson(c, { type: 'unsubscribed', ...replyFields(m), subscriptions: index.view(c) });
  };

  const listSessions = (c: Client, m: Extract<ClientMessage, { type: 'sessions' }>): void => {
    const prefix = m.prefix ?? '';
    const limit = m.limit ?? 1000;
    const found: object[] = [];
    let total = 0;
    // Newest first: the history map is oldest first, so walk it into an array and reverse.
    for (const s of [...history.sessionIds()].reverse()) {
      if (!s.startsWith(prefix)) continue;
      total++;
      if (found.length >= limit) continue;
      const last = history.get(s).at(-1)!;
      found.push({ sessionId: s, windowEnd: last.windowEnd, score: last.score, polarity: last.polarity, emittedAt: last.emittedAt });
    }
    sendJson(c, { type: 'sessions', ...replyFields(m), sessions: found, total, truncated: total > found.length });
  };

  return { subscribe, unsubscribe, listSessions };
}
