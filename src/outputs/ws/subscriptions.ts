/**
 * Who is subscribed to what: per client its sessions, filters and `all`, indexed so that finding
 * the recipients of a score costs the session's subscribers, the `all` subscribers and the
 * filter subscribers, never every client. A client only ever receives sessions of its token's
 * scope, whatever it subscribed to. Per token, the `all` and filter subscriptions its clients
 * hold are counted (the maxSubscribeAll limit).
 */
import type { Client } from './client.js';
import { filterKey, type ScoreFilter, type SelectionMessage } from './protocol.js';

export interface SubscriptionView {
  all: boolean;
  sessions: string[];
  filters: ScoreFilter[];
}

export class SubscriptionIndex {
  private readonly bySession = new Map<string, Set<Client>>();
  private readonly allSubscribers = new Set<Client>();
  private readonly filterSubscribers = new Set<Client>();
  /** Per token name: `all` and filter subscriptions over its clients. */
  private readonly broadByToken = new Map<string, number>();

  /** `all` and filter subscriptions the token's clients hold. */
  broadOf(tokenName: string): number {
    return this.broadByToken.get(tokenName) ?? 0;
  }

  private countBroad(c: Client, delta: number): void {
    if (delta === 0 || c.principal === null) return;
    const n = this.broadOf(c.principal.name) + delta;
    if (n === 0) this.broadByToken.delete(c.principal.name);
    else this.broadByToken.set(c.principal.name, n);
  }

  private broad(c: Client): number {
    return c.filters.size + (c.all ? 1 : 0);
  }

  /** Subscriptions a client holds (each session, each filter and `all` count one). */
  count(c: Client): number {
    return c.sessions.size + c.filters.size + (c.all ? 1 : 0);
  }

  view(c: Client): SubscriptionView {
    return { all: c.all, sessions: [...c.sessions], filters: [...c.filters.values()] };
  }

  /** What a subscribe message would add for this client: sessions, a filter, `all` not held yet; `broad` counts the filter and `all`. */
  newIn(c: Client, m: SelectionMessage): { sessions: string[]; filter: ScoreFilter | undefined; all: boolean; count: number; broad: number } {
    const sessions = [...new Set(m.sessions ?? [])].filter((s) => !c.sessions.has(s));
    const filter = m.filter !== undefined && !c.filters.has(filterKey(m.filter)) ? m.filter : undefined;
    const all = m.all === true && !c.all;
    const broad = (filter ? 1 : 0) + (all ? 1 : 0);
    return { sessions, filter, all, count: sessions.length + broad, broad };
  }

  add(c: Client, add: { sessions: string[]; filter: ScoreFilter | undefined; all: boolean }): void {
    const before = this.broad(c);
    for (const s of add.sessions) {
      c.sessions.add(s);
      let set = this.bySession.get(s);
      if (set === undefined) this.bySession.set(s, (set = new Set()));
      set.add(c);
    }
    if (add.filter) {
      c.filters.set(filterKey(add.filter), add.filter);
      this.filterSubscribers.add(c);
    }
    if (add.all) {
      c.all = true;
      this.allSubscribers.add(c);
    }
    this.countBroad(c, this.broad(c) - before);
  }

  remove(c: Client, m: SelectionMessage): void {
    const before = this.broad(c);
    for (const s of m.sessions ?? []) {
      if (c.sessions.delete(s)) this.dropSession(s, c);
    }
    if (m.filter !== undefined) {
      c.filters.delete(filterKey(m.filter));
      if (c.filters.size === 0) this.filterSubscribers.delete(c);
    }
    if (m.all === true) {
      c.all = false;
      this.allSubscribers.delete(c);
    }
    this.countBroad(c, this.broad(c) - before);
  }

  /** Drops all of a client's subscriptions. */
  removeAll(c: Client): void {
    this.countBroad(c, -this.broad(c));
    for (const s of c.sessions) this.dropSession(s, c);
    c.sessions.clear();
    c.filters.clear();
    c.all = false;
    this.allSubscribers.delete(c);
    this.filterSubscribers.delete(c);
  }

  /** Each client whose scope covers the session, once: subscribed by `all`, the session id, or a matching filter. */
  recipientsOf(sessionId: string, matches: (f: ScoreFilter) => boolean): Set<Client> {
    const recipients = new Set<Client>();
    const sees = (c: Client) => c.principal !== null && c.principal.scope.covers(sessionId);
    for (const c of this.allSubscribers) if (sees(c)) recipients.add(c);
    for (const c of this.bySession.get(sessionId) ?? []) if (sees(c)) recipients.add(c);
    for (const c of this.filterSubscribers) {
      if (recipients.has(c) || !sees(c)) continue;
      for (const f of c.filters.values()) {
        if (matches(f)) {
          recipients.add(c);
          break;
        }
      }
    }
    return recipients;
  }

  private dropSession(s: string, c: Client): void {
    const set = this.bySession.get(s);
    set?.delete(c);
    if (set?.size === 0) this.bySession.delete(s);
  }
}
