import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { silentLogger, type Logger } from '../../log.js';
import type { Score } from '../../schemas/records.js';
import { ScoreHistory } from '../../scores/scoreHistory.js';
import {
  CLOSE_CODES,
  closeReason,
  filterKey,
  matchesFilter,
  parseClientMessage,
  quote,
  scoreFrame,
  type ClientMessage,
  type ProtocolError,
  type ScoreFilter,
  type SelectionMessage,
} from './protocol.js';

/**
 * The WebSocket edge for scores (DESIGN.md §8): clients authenticate, subscribe to sessions,
 * everything, or a filter, get each matching session's recent history and then live scores.
 * The protocol is in docs/websocket.md and wsProtocol.ts; this file holds the sockets.
 *
 * Memory is bounded everywhere: history (scores a session, sessions), clients, subscriptions a
 * client, message size, and what waits to be written to each client. A client with more than
 * `maxBufferedBytes` waiting in its socket, or more than `maxBufferedMessages` sends not yet
 * handed to the OS, is sent nothing more and closed with 1013 and a reason.
 */

export interface ScoreServerOptions {
  /** Port to listen on (0: any free port). Ignored when `server` is given. Default 8080. */
  port?: number;
  /** Default 127.0.0.1. Ignored when `server` is given. */
  host?: string;
  /** Upgrade path. Default '/ws'. */
  path?: string;
  /** Accepted bearer tokens; null or [] disables authentication (a warning is logged). */
  authTokens: string[] | null;
  /** Scores kept per session for new subscribers. Default 60. */
  historySize?: number;
  /** Sessions whose history is kept (least recently updated dropped first). Default 10 000. */
  maxHistorySessions?: number;
  /** Sessions whose history one `all` or filter subscription sends (the most recent). Default 100. */
  historySessionsPerSubscribe?: number;
  /** Sends to one client not yet handed to the OS before it counts as slow. Default 1000. */
  maxBufferedMessages?: number;
  /** Bytes waiting in one client's socket before it counts as slow. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** Subscriptions one client may hold (each session id, `all`, each filter count one). Default 100. */
  maxSubscriptions?: number;
  /** Client messages above this get an error reply. Default 64 KiB; above 4 times this ws closes with 1009. */
  maxMessageBytes?: number;
  /** Connections at once; more are closed with 1013. Default 10 000. */
  maxClients?: number;
  /** Time a client without a bearer header has to send its auth message. Default 10 s. */
  authTimeoutMs?: number;
  /** Ping period; a client that has not answered the previous ping is terminated. Default 30 s. */
  pingIntervalMs?: number;
  /** Time a closing client has to complete the close handshake before it is cut off. Default 5 s. */
  closeTimeoutMs?: number;
  logger?: Logger;
  /** Share an HTTP server (e.g. the dashboard's); it is not closed by close(). */
  server?: http.Server;
}

export interface ScoreServerStats {
  /** Open connections, authenticated or not. */
  clients: number;
  authenticatedClients: number;
  /** Subscriptions over all clients. */
  subscriptions: number;
  /** Sessions with history. */
  sessions: number;
  scoresPublished: number;
  messagesSent: number;
  bytesSent: number;
  slowClientCloses: number;
  authFailures: number;
  badMessages: number;
  deadClientTerminations: number;
  rejectedServerFull: number;
}

export interface ScoreServer {
  /** Stores the score in history and sends it to every client subscribed to it. */
  publish(score: Score): void;
  /**
   * Sends a message that is not a score (an alert) to the clients subscribed to `sessionId`:
   * `all`, the session itself, or a filter whose sessionPrefix matches (polarity is not checked:
   * the message has none). Not kept in history. Same slow-client bound as scores.
   */
  broadcast(message: object, sessionId: string): void;
  /** Drops a session's history (e.g. when the session expires). Subscriptions stay. */
  forget(sessionId: string): void;
  /** The port listened on (the real one when 0 was asked for). */
  readonly port: number;
  stats(): ScoreServerStats;
  /** Closes every client with 1001, stops listening (own server only); idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_SCORE_SERVER_OPTIONS = {
  port: 8080,
  host: '127.0.0.1',
  path: '/ws',
  historySize: 60,
  maxHistorySessions: 10_000,
  historySessionsPerSubscribe: 100,
  maxBufferedMessages: 1000,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxSubscriptions: 100,
  maxMessageBytes: 64 * 1024,
  maxClients: 10_000,
  authTimeoutMs: 10_000,
  pingIntervalMs: 30_000,
  closeTimeoutMs: 5_000,
} as const;

interface Client {
  readonly id: number;
  readonly ws: WebSocket;
  readonly remote: string;
  authenticated: boolean;
  /** Set once the server decided to close it: nothing more is sent. */
  closing: boolean;
  alive: boolean;
  all: boolean;
  readonly sessions: Set<string>;
  readonly filters: Map<string, ScoreFilter>;
  /** Sends handed to ws whose write callback has not run yet. */
  pending: number;
  timer: NodeJS.Timeout | undefined;
}

type Settings = Required<Omit<ScoreServerOptions, 'server' | 'logger' | 'authTokens'>>;

function positiveInt(name: string, v: number): number {
  if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`startScoreServer: ${name} must be an integer >= 1, got ${v}`);
  return v;
}

function settingsFrom(o: ScoreServerOptions): Settings {
  const d = DEFAULT_SCORE_SERVER_OPTIONS;
  const s: Settings = {
    port: o.port ?? d.port,
    host: o.host ?? d.host,
    path: o.path ?? d.path,
    historySize: positiveInt('historySize', o.historySize ?? d.historySize),
    maxHistorySessions: positiveInt('maxHistorySessions', o.maxHistorySessions ?? d.maxHistorySessions),
    historySessionsPerSubscribe: positiveInt(
      'historySessionsPerSubscribe',
      o.historySessionsPerSubscribe ?? d.historySessionsPerSubscribe,
    ),
    maxBufferedMessages: positiveInt('maxBufferedMessages', o.maxBufferedMessages ?? d.maxBufferedMessages),
    maxBufferedBytes: positiveInt('maxBufferedBytes', o.maxBufferedBytes ?? d.maxBufferedBytes),
    maxSubscriptions: positiveInt('maxSubscriptions', o.maxSubscriptions ?? d.maxSubscriptions),
    maxMessageBytes: positiveInt('maxMessageBytes', o.maxMessageBytes ?? d.maxMessageBytes),
    maxClients: positiveInt('maxClients', o.maxClients ?? d.maxClients),
    authTimeoutMs: positiveInt('authTimeoutMs', o.authTimeoutMs ?? d.authTimeoutMs),
    pingIntervalMs: positiveInt('pingIntervalMs', o.pingIntervalMs ?? d.pingIntervalMs),
    closeTimeoutMs: positiveInt('closeTimeoutMs', o.closeTimeoutMs ?? d.closeTimeoutMs),
  };
  if (!(Number.isInteger(s.port) && s.port >= 0 && s.port <= 65535)) {
    throw new RangeError(`startScoreServer: port must be an integer in 0..65535, got ${s.port}`);
  }
  if (!s.path.startsWith('/')) throw new RangeError(`startScoreServer: path must start with '/', got ${quote(s.path)}`);
  return s;
}

const digest = (token: string) => createHash('sha256').update(token).digest();

/** Starts the score WebSocket server; resolves once it listens. */
export async function startScoreServer(options: ScoreServerOptions): Promise<ScoreServer> {
  const cfg = settingsFrom(options);
  const log = (options.logger ?? silentLogger).child({ component: 'wsServer' });
  const tokens = options.authTokens ?? [];
  if (tokens.some((t) => typeof t !== 'string' || t.length === 0)) {
    throw new RangeError('startScoreServer: authTokens must be non-empty strings (use null to disable authentication)');
  }
  const tokenDigests = tokens.map(digest);
  const authRequired = tokenDigests.length > 0;

  const history = new ScoreHistory(cfg.historySize, cfg.maxHistorySessions);
  const clients = new Set<Client>();
  const bySession = new Map<string, Set<Client>>();
  const allSubscribers = new Set<Client>();
  const filterSubscribers = new Set<Client>();
  const counters = {
    scoresPublished: 0,
    messagesSent: 0,
    bytesSent: 0,
    slowClientCloses: 0,
    authFailures: 0,
    badMessages: 0,
    deadClientTerminations: 0,
    rejectedServerFull: 0,
  };
  let nextClientId = 1;
  let closed: Promise<void> | undefined;

  // Client messages up to maxMessageBytes are read; up to 4x that they get an error reply
  // (so a client learns the limit); beyond, ws closes the connection with 1009 unread.
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: cfg.maxMessageBytes * 4,
  });
  const ownServer = options.server === undefined;
  const server =
    options.server ??
    http.createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end(`WebSocket only: connect to ${cfg.path}\n`);
    });

  const isAuthorized = (token: string): boolean => {
    const d = digest(token);
    let ok = false;
    for (const t of tokenDigests) ok = timingSafeEqual(d, t) || ok; // no early exit
    return ok;
  };

  // --- sending --------------------------------------------------------------------------

  /** Sends one frame unless the client is closing or over its buffer bound (then closes it). */
  const send = (client: Client, frame: string): boolean => {
    if (client.closing || client.ws.readyState !== WebSocket.OPEN) return false;
    const buffered = client.ws.bufferedAmount;
    if (buffered > cfg.maxBufferedBytes || client.pending >= cfg.maxBufferedMessages) {
      counters.slowClientCloses++;
      const why =
        buffered > cfg.maxBufferedBytes
          ? `${buffered} bytes buffered (limit ${cfg.maxBufferedBytes})`
          : `${client.pending} messages buffered (limit ${cfg.maxBufferedMessages})`;
      log.warn({ client: client.id, remote: client.remote, buffered, pending: client.pending }, `closing slow client: ${why}`);
      closeClient(client, CLOSE_CODES.tryAgainLater, `slow consumer: ${why}`);
      return false;
    }
    client.pending++;
    client.ws.send(frame, () => {
      client.pending--;
    });
    counters.messagesSent++;
    counters.bytesSent += Buffer.byteLength(frame);
    return true;
  };

  const sendJson = (client: Client, message: object): boolean => send(client, JSON.stringify(message));

  const sendError = (client: Client, p: ProtocolError): void => {
    counters.badMessages++;
    log.debug({ client: client.id, code: p.code }, p.error);
    sendJson(client, { type: 'error', ...(p.id === undefined ? {} : { id: p.id }), code: p.code, error: p.error, detail: p.detail ?? null });
  };

  // --- subscriptions --------------------------------------------------------------------

  const subscriptionCount = (c: Client) => c.sessions.size + c.filters.size + (c.all ? 1 : 0);

  /** Drops all of a client's subscriptions. */
  const unindex = (c: Client) => {
    for (const s of c.sessions) {
      const set = bySession.get(s);
      set?.delete(c);
      if (set?.size === 0) bySession.delete(s);
    }
    c.sessions.clear();
    c.filters.clear();
    c.all = false;
    allSubscribers.delete(c);
    filterSubscribers.delete(c);
  };

  const subscriptionsView = (c: Client) => ({
    all: c.all,
    sessions: [...c.sessions],
    filters: [...c.filters.values()],
  });

  const replyFields = (m: { id?: string | number }) => (m.id === undefined ? {} : { id: m.id });

  const subscribe = (c: Client, m: SelectionMessage): void => {
    const newSessions = [...new Set(m.sessions ?? [])].filter((s) => !c.sessions.has(s));
    const newFilter = m.filter !== undefined && !c.filters.has(filterKey(m.filter)) ? m.filter : undefined;
    const newAll = m.all === true && !c.all;
    const requested = newSessions.length + (newFilter ? 1 : 0) + (newAll ? 1 : 0);
    const current = subscriptionCount(c);
    if (current + requested > cfg.maxSubscriptions) {
      sendError(c, {
        code: 'too_many_subscriptions',
        error: `subscribing to ${requested} more would make ${current + requested} subscriptions; the limit is ${cfg.maxSubscriptions}`,
        detail: { limit: cfg.maxSubscriptions, current, requested },
        ...replyFields(m),
      });
      return;
    }
    for (const s of newSessions) {
      c.sessions.add(s);
      let set = bySession.get(s);
      if (set === undefined) bySession.set(s, (set = new Set()));
      set.add(c);
    }
    if (newFilter) {
      c.filters.set(filterKey(newFilter), newFilter);
      filterSubscribers.add(c);
    }
    if (newAll) {
      c.all = true;
      allSubscribers.add(c);
    }
    if (!sendJson(c, { type: 'subscribed', ...replyFields(m), subscriptions: subscriptionsView(c) })) return;
    sendHistory(c, m);
  };

  /** History for what this request names: listed sessions (even if empty), then `all` / filter matches. */
  const sendHistory = (c: Client, m: SelectionMessage): void => {
    const sent = new Set<string>();
    for (const s of m.sessions ?? []) {
      if (sent.has(s)) continue;
      sent.add(s);
      if (!sendJson(c, { type: 'history', sessionId: s, scores: history.get(s) })) return;
    }
    if (m.all !== true && m.filter === undefined) return;
    const matched: Array<[string, readonly Score[]]> = [];
    for (const s of history.sessionIds()) {
      if (sent.has(s)) continue;
      const scores = history.get(s);
      const kept = m.all === true ? scores : scores.filter((score) => matchesFilter(m.filter!, score));
      if (kept.length > 0) matched.push([s, kept]);
    }
    for (const [s, scores] of matched.slice(-cfg.historySessionsPerSubscribe)) {
      if (!sendJson(c, { type: 'history', sessionId: s, scores })) return;
    }
  };

  const unsubscribe = (c: Client, m: SelectionMessage): void => {
    for (const s of m.sessions ?? []) {
      if (!c.sessions.delete(s)) continue;
      const set = bySession.get(s);
      set?.delete(c);
      if (set?.size === 0) bySession.delete(s);
    }
    if (m.filter !== undefined) {
      c.filters.delete(filterKey(m.filter));
      if (c.filters.size === 0) filterSubscribers.delete(c);
    }
    if (m.all === true) {
      c.all = false;
      allSubscribers.delete(c);
    }
    sendJson(c, { type: 'unsubscribed', ...replyFields(m), subscriptions: subscriptionsView(c) });
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

  // --- connection lifecycle -------------------------------------------------------------

  const closeClient = (c: Client, code: number, reason: string): void => {
    if (c.closing) return;
    c.closing = true;
    unindex(c);
    clearTimeout(c.timer);
    c.ws.close(code, closeReason(reason));
    // A client that does not read will never answer the close frame: cut it off after a while.
    c.timer = setTimeout(() => c.ws.terminate(), cfg.closeTimeoutMs);
    c.timer.unref();
  };

  const refuseAuth = (c: Client, reason: string): void => {
    counters.authFailures++;
    log.warn({ client: c.id, remote: c.remote }, `authentication failed: ${reason}`);
    closeClient(c, CLOSE_CODES.unauthorized, reason);
  };

  const onMessage = (c: Client, data: RawData, isBinary: boolean): void => {
    c.alive = true;
    if (c.closing) return;
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    let problem: ProtocolError | undefined;
    let message: ClientMessage | undefined;
    if (isBinary) {
      problem = { code: 'not_text', error: `binary frames are not accepted (got ${buf.length} bytes); send JSON text` };
    } else if (buf.length > cfg.maxMessageBytes) {
      problem = {
        code: 'message_too_large',
        error: `message of ${buf.length} bytes is over the limit of ${cfg.maxMessageBytes} bytes`,
        detail: { bytes: buf.length, limit: cfg.maxMessageBytes },
      };
    } else {
      const parsed = parseClientMessage(buf.toString('utf8'));
      if (parsed.ok) message = parsed.message;
      else problem = parsed.problem;
    }

    if (!c.authenticated) {
      if (message?.type === 'auth' && isAuthorized(message.token)) {
        c.authenticated = true;
        clearTimeout(c.timer);
        c.timer = undefined;
        sendJson(c, { type: 'authenticated', ...replyFields(message) });
      } else {
        refuseAuth(c, message?.type === 'auth' ? 'invalid token' : 'authentication required: send {"type":"auth","token":...} first');
      }
      return;
    }
    if (problem !== undefined || message === undefined) {
      sendError(c, problem!);
      return;
    }
    switch (message.type) {
      case 'auth': // already authenticated (or none needed): nothing to do
        sendJson(c, { type: 'authenticated', ...replyFields(message) });
        return;
      case 'subscribe':
        subscribe(c, message);
        return;
      case 'unsubscribe':
        unsubscribe(c, message);
        return;
      case 'sessions':
        listSessions(c, message);
        return;
      case 'ping':
        sendJson(c, { type: 'pong', ...replyFields(message) });
        return;
    }
  };

  const onConnection = (ws: WebSocket, req: http.IncomingMessage): void => {
    const c: Client = {
      id: nextClientId++,
      ws,
      remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`,
      authenticated: !authRequired,
      closing: false,
      alive: true,
      all: false,
      sessions: new Set(),
      filters: new Map(),
      pending: 0,
      timer: undefined,
    };
    clients.add(c);
    ws.on('message', (data, isBinary) => onMessage(c, data, isBinary));
    ws.on('pong', () => {
      c.alive = true;
    });
    ws.on('error', (err) => {
      counters.badMessages++;
      log.debug({ client: c.id, err: err.message }, 'client socket error');
    });
    ws.on('close', (code, reason) => {
      clients.delete(c);
      unindex(c);
      clearTimeout(c.timer);
      log.debug({ client: c.id, code, reason: reason.toString() }, 'client disconnected');
    });

    if (closed !== undefined) {
      closeClient(c, CLOSE_CODES.goingAway, 'server shutting down');
      return;
    }
    if (clients.size > cfg.maxClients) {
      counters.rejectedServerFull++;
      closeClient(c, CLOSE_CODES.tryAgainLater, `server full: ${cfg.maxClients} clients`);
      return;
    }
    if (authRequired) {
      const header = req.headers.authorization;
      if (header !== undefined) {
        const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
        if (m === null) return refuseAuth(c, 'malformed Authorization header: expected "Bearer <token>"');
        if (!isAuthorized(m[1]!)) return refuseAuth(c, 'invalid token');
        c.authenticated = true;
      } else {
        c.timer = setTimeout(() => refuseAuth(c, `authentication timeout: no auth message within ${cfg.authTimeoutMs} ms`), cfg.authTimeoutMs);
        c.timer.unref();
      }
    }
    log.debug({ client: c.id, remote: c.remote, authenticated: c.authenticated }, 'client connected');
  };

  const onUpgrade = (req: http.IncomingMessage, socket: Socket, head: Buffer): void => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname !== cfg.path) {
      // Leave other paths to other upgrade handlers of a shared server, if it has any.
      if (ownServer || server.listenerCount('upgrade') === 1) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req));
  };
  server.on('upgrade', onUpgrade);

  const pinger = setInterval(() => {
    for (const c of clients) {
      if (!c.alive) {
        counters.deadClientTerminations++;
        log.info({ client: c.id, remote: c.remote }, 'terminating client that did not answer a ping');
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }, cfg.pingIntervalMs);
  pinger.unref();

  if (ownServer) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(cfg.port, cfg.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }
  const port = () => (server.address() as AddressInfo | null)?.port ?? 0;

  if (!authRequired) {
    log.warn(
      { host: ownServer ? cfg.host : '(shared server)', port: port() },
      'WebSocket authentication is disabled (no tokens): anyone who can reach this address can read scores; configure ws.authTokens',
    );
  }
  log.info({ port: port(), path: cfg.path, auth: authRequired }, 'score WebSocket server listening');

  /** Each client subscribed to the session once: `all`, the session id, or a matching filter. */
  const recipientsOf = (sessionId: string, matches: (f: ScoreFilter) => boolean): Set<Client> => {
    const recipients = new Set<Client>(allSubscribers);
    for (const c of bySession.get(sessionId) ?? []) recipients.add(c);
    for (const c of filterSubscribers) {
      if (recipients.has(c)) continue;
      for (const f of c.filters.values()) {
        if (matches(f)) {
          recipients.add(c);
          break;
        }
      }
    }
    return recipients;
  };

  const close = async (): Promise<void> => {
    clearInterval(pinger);
    server.off('upgrade', onUpgrade);
    const gone = [...clients].map((c) => new Promise<void>((resolve) => c.ws.once('close', () => resolve())));
    for (const c of clients) closeClient(c, CLOSE_CODES.goingAway, 'server shutting down');
    await Promise.all(gone); // closeClient terminates stragglers after closeTimeoutMs
    wss.close();
    history.clear();
    if (ownServer) {
      const stopped = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      server.closeAllConnections(); // idle keep-alive HTTP connections would hold close() open
      await stopped;
    }
    log.info('score WebSocket server closed');
  };

  return {
    publish(score: Score): void {
      if (closed !== undefined) return;
      history.add(score);
      counters.scoresPublished++;
      const recipients = recipientsOf(score.sessionId, (f) => matchesFilter(f, score));
      if (recipients.size === 0) return;
      const frame = scoreFrame(score);
      for (const c of recipients) send(c, frame);
    },
    broadcast(message: object, sessionId: string): void {
      if (closed !== undefined) return;
      const recipients = recipientsOf(sessionId, (f) => f.sessionPrefix === undefined || sessionId.startsWith(f.sessionPrefix));
      if (recipients.size === 0) return;
      const frame = JSON.stringify(message);
      for (const c of recipients) send(c, frame);
    },
    forget(sessionId: string): void {
      history.forget(sessionId);
    },
    get port() {
      return port();
    },
    stats(): ScoreServerStats {
      let authenticatedClients = 0;
      let subscriptions = 0;
      for (const c of clients) {
        if (c.authenticated) authenticatedClients++;
        subscriptions += subscriptionCount(c);
      }
      return { clients: clients.size, authenticatedClients, subscriptions, sessions: history.size, ...counters };
    },
    close(): Promise<void> {
      closed ??= close();
      return closed;
    },
  };
}
