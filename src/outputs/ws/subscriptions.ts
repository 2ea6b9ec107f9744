/**
 * Who is subscribed to what: per client its sessions, filters and `all`, indexed so that finding
 * the recipients of a score costs the session's subscribers, the `all` subscribers and the
 * filter subscribers, never every client.
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

  /** Subscriptions a client holds (each session, each filter and `all` count one). */
  count(c: Client): number {
    return c.sessions.size + c.filters.size + (c.all ? 1 : 0);
  }

  view(c: Client): SubscriptionView {
    return { all: c.all, sessions: [...c.sessions], filters: [...c.filters.values()] };
  }

  /** What a subscribe message would add for this client: sessions, a filter, `all` not held yet. */
  newIn(c: Client, m: SelectionMessage): { sessions: string[]; filter: ScoreFilter | undefined; all: boolean; count: number } {
    const sessions = [...new Set(m.sessions ?? [])].filter((s) => !c.sessions.has(s));
    const filter = m.filter !== undefined && !c.filters.has(filterKey(m.filter)) ? m.filter : undefined;
    const all = m.all === true && !c.all;
    return { sessions, filter, all, count: sessions.length + (filter ? 1 : 0) + (all ? 1 : 0) };
  }

  add(c: Client, add: { sessions: string[]; filter: ScoreFilter | undefined; all: boolean }): void {
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
  }

  remove(c: Client, m: SelectionMessage): void {
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
  }

  /** Drops all of a client's subscriptions. */
  removeAll(c: Client): void {
    for (const s of c.sessions) this.dropSession(s, c);
    c.sessions.clear();
    c.filters.clear();
    c.all = false;
    this.allSubscribers.delete(c);
    this.filterSubscribers.delete(c);
  }

  /** Each client subscribed to the session once: `all`, the session id, or a matching filter. */
  recipientsOf(sessionId: string, matches: (f: ScoreFilter) => boolean): Set<Client> {
    const recipients = new Set<Client>(this.allSubscribers);
    for (const c of this.bySession.get(sessionId) ?? []) recipients.add(c);
    for (const c of this.filterSubscribers) {
      if (recipients.has(c)) continue;
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
