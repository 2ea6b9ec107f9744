/**
 * The WebSocket edge for scores (DESIGN.md §8): clients authenticate, subscribe to sessions,
 * everything, or a filter, get each matching session's recent history and then live scores.
 * The protocol is in docs/websocket.md and protocol.ts; this file holds the connection lifecycle
 * (upgrade, authentication, messages, pings, close). Authentication is in auth.ts, who gets what
 * in subscriptions.ts, the requests (subscribe, unsubscribe, sessions) in requests.ts, bounded
 * sending in client.ts, options and defaults in options.ts.
 *
 * Memory is bounded everywhere: history (scores a session, sessions), clients, subscriptions a
 * client, message size, and what waits to be written to each client.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { silentLogger } from '../../log.js';
import type { Score } from '../../schemas/records.js';
import { ScoreHistory } from '../../scores/scoreHistory.js';
import { bearerToken, createTokenCheck, type Principal } from './auth.js';
import { createBoundedSender, type Client } from './client.js';
import { settingsFrom, type ScoreServerOptions } from './options.js';
import {
  CLOSE_CODES,
  closeReason,
  filterCoversSession,
  matchesFilter,
  parseClientMessage,
  scoreFrame,
  type ClientMessage,
  type ProtocolError,
} from './protocol.js';
import { createRequestHandlers, replyFields } from './requests.js';
import { SubscriptionIndex } from './subscriptions.js';

export { DEFAULT_SCORE_SERVER_OPTIONS, type ScoreServerOptions } from './options.js';

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
  /** Connections closed with 4429: their token had maxConnections open. */
  refusedTokenConnections: number;
  /** `all` / filter subscriptions refused by their token's maxSubscribeAll. */
  refusedSubscribeAll: number;
  /** Requests refused for naming sessions outside the token's scope. */
  outOfScope: number;
  /** History slices sent (one event-loop turn each). */
  historySlices: number;
  /** Per token (by name; `anonymous` without authentication). */
  tokens: Record<string, TokenStats>;
}

/** What one token holds and was refused. */
export interface TokenStats {
  /** The session-id prefixes it sees; '*' for all. */
  sessionPrefixes: readonly string[] | '*';
  connections: number;
  maxConnections: number;
  /** `all` and filter subscriptions over its connections. */
  subscribeAll: number;
  maxSubscribeAll: number;
  refusedConnections: number;
  refusedSubscribeAll: number;
}

export interface ScoreServer {
  /** Stores the score in history and sends it to every client subscribed to it. */
  publish(score: Score): void;
  /**
   * Sends a message that is not a score (an alert) to the clients subscribed to `sessionId`:
   * `all`, the session itself, or a filter whose sessionPrefix matches (polarity is not checked:
   * the message has none). Not kept in history (alerts are replayed from the `recentAlerts`
   * option instead). Same slow-client bound as scores.
   */
  broadcast(message: object, sessionId: string): void;
  /** Drops a session's history (e.g. when the session expires). Subscriptions stay. */
  forget(sessionId: string): void;
  /** The port listened on (the real one when 0 was asked for). */
  readonly port: number;
  stats(): ScoreServerStats;
  /** One token's stats (what a tenant may see of the server); null for an unknown name. */
  tokenStats(name: string): TokenStats | null;
  /** Closes every client with 1001, stops listening (own server only); idempotent. */
  close(): Promise<void>;
}

/** Starts the score WebSocket server; resolves once it listens. */
export async function startScoreServer(options: ScoreServerOptions): Promise<ScoreServer> {
  const cfg = settingsFrom(options);
  const log = (options.logger ?? silentLogger).child({ component: 'wsServer' });
  const tokens = createTokenCheck(options.authTokens, cfg);

  const history = new ScoreHistory(cfg.historySize, cfg.maxHistorySessions);
  const clients = new Set<Client>();
  const index = new SubscriptionIndex();
  const counters = {
    scoresPublished: 0,
    messagesSent: 0,
    bytesSent: 0,
    slowClientCloses: 0,
    authFailures: 0,
    badMessages: 0,
    deadClientTerminations: 0,
    rejectedServerFull: 0,
    refusedTokenConnections: 0,
    refusedSubscribeAll: 0,
    outOfScope: 0,
    historySlices: 0,
  };
  // Per token: connections open (authenticated), and what it was refused.
  const usage = new Map(tokens.principals.map((p) => [p.name, { connections: 0, refusedConnections: 0, refusedSubscribeAll: 0 }]));
  const usageOf = (p: Principal) => usage.get(p.name)!;
  // Each score's JSON, made once (live frames and every history that includes it).
  const jsons = new WeakMap<Score, string>();
  const scoreJson = (score: Score): string => {
    let j = jsons.get(score);
    if (j === undefined) jsons.set(score, (j = JSON.stringify(score)));
    return j;
  };
  let nextClientId = 1;
  let closed: Promise<void> | undefined;

  // Client messages up to maxMessageBytes are read; up to 4x that they get an error reply
  // (so a client learns the limit); beyond, ws closes the connection with 1009 unread.
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: cfg.maxMessageBytes * 4 });
  const ownServer = options.server === undefined;
  const server =
    options.server ??
    http.createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end(`WebSocket only: connect to ${cfg.path}\n`);
    });

  const { send, sendJson, sendStream } = createBoundedSender(cfg, counters, (client, why) => {
    log.warn({ client: client.id, remote: client.remote, buffered: client.ws.bufferedAmount, pending: client.pending }, `closing slow client: ${why}`);
    closeClient(client, CLOSE_CODES.tryAgainLater, `slow consumer: ${why}`);
  });

  const sendError = (client: Client, p: ProtocolError): void => {
    counters.badMessages++;
    log.debug({ client: client.id, code: p.code }, p.error);
    sendJson(client, { type: 'error', ...(p.id === undefined ? {} : { id: p.id }), code: p.code, error: p.error, detail: p.detail ?? null });
  };

  const requests = createRequestHandlers({
    settings: cfg,
    index,
    history,
    recentAlerts: options.recentAlerts,
    scoreJson,
    sendJson,
    sendStream,
    sendError,
    counters,
    refusedSubscribeAll: (p) => usageOf(p).refusedSubscribeAll++,
  });

  // --- connection lifecycle -------------------------------------------------------------

  /** A client stops counting against its token once the server closes it or it goes. */
  const release = (c: Client): void => {
    index.removeAll(c);
    c.outbox.length = 0;
    if (c.principal !== null) usageOf(c.principal).connections--;
    c.principal = null;
  };

  const closeClient = (c: Client, code: number, reason: string): void => {
    if (c.closing) return;
    c.closing = true;
    release(c);
    clearTimeout(c.timer);
    c.ws.close(code, closeReason(reason));
    // A client that does not read will never answer the close frame: cut it off after a while.
    c.timer = setTimeout(() => c.ws.terminate(), cfg.closeTimeoutMs);
    c.timer.unref();
  };

  /** Admits a client as the token's principal, or closes it with 4429 when the token has all its connections open. */
  const admit = (c: Client, principal: Principal): boolean => {
    const u = usageOf(principal);
    if (u.connections >= principal.maxConnections) {
      counters.refusedTokenConnections++;
      u.refusedConnections++;
      log.warn({ client: c.id, remote: c.remote, token: principal.name, limit: principal.maxConnections }, 'connection refused: token at its connection limit');
      closeClient(
        c,
        CLOSE_CODES.tooManyConnections,
        `too many connections for token ${JSON.stringify(principal.name)}: ${u.connections} open (limit ${principal.maxConnections})`,
      );
      return false;
    }
    u.connections++;
    c.principal = principal;
    return true;
  };

  /** What the `authenticated` reply says of the token: its name and the sessions it sees. */
  const tokenFields = (p: Principal) => ({ token: { name: p.name, sessionPrefixes: p.scope.all ? '*' : p.scope.prefixes } });

  const refuseAuth = (c: Client, reason: string): void => {
    counters.authFailures++;
    log.warn({ client: c.id, remote: c.remote }, `authentication failed: ${reason}`);
    closeClient(c, CLOSE_CODES.unauthorized, reason);
  };

  const readMessage = (data: RawData, isBinary: boolean): { message?: ClientMessage; problem?: ProtocolError } => {
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (isBinary) return { problem: { code: 'not_text', error: `binary frames are not accepted (got ${buf.length} bytes); send JSON text` } };
    if (buf.length > cfg.maxMessageBytes) {
      return {
        problem: {
          code: 'message_too_large',
          error: `message of ${buf.length} bytes is over the limit of ${cfg.maxMessageBytes} bytes`,
          detail: { bytes: buf.length, limit: cfg.maxMessageBytes },
        },
      };
    }
    const parsed = parseClientMessage(buf.toString('utf8'));
    return parsed.ok ? { message: parsed.message } : { problem: parsed.problem };
  };

  const onMessage = (c: Client, data: RawData, isBinary: boolean): void => {
    c.alive = true;
    if (c.closing) return;
    const { message, problem } = readMessage(data, isBinary);
    if (c.principal === null) {
      const principal = message?.type === 'auth' ? tokens.principalOf(message.token) : null;
      if (principal !== null) {
        clearTimeout(c.timer);
        c.timer = undefined;
        if (admit(c, principal)) sendJson(c, { type: 'authenticated', ...replyFields(message!), ...tokenFields(principal) });
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
      case 'auth': // already authenticated (or none needed): the token stays the first one
        sendJson(c, { type: 'authenticated', ...replyFields(message), ...tokenFields(c.principal) });
        return;
      case 'subscribe':
        requests.subscribe(c, message);
        return;
      case 'unsubscribe':
        requests.unsubscribe(c, message);
        return;
      case 'sessions':
        requests.listSessions(c, message);
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
      principal: null,
      closing: false,
      alive: true,
      all: false,
      sessions: new Set(),
      filters: new Map(),
      pending: 0,
      outbox: [],
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
      release(c);
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
    if (!tokens.required) {
      if (!admit(c, tokens.anonymous)) return;
    } else {
      const header = req.headers.authorization;
      if (header !== undefined) {
        const token = bearerToken(header);
        if (token === null) return refuseAuth(c, 'malformed Authorization header: expected "Bearer <token>"');
        const principal = tokens.principalOf(token);
        if (principal === null) return refuseAuth(c, 'invalid token');
        if (!admit(c, principal)) return;
      } else {
        c.timer = setTimeout(() => refuseAuth(c, `authentication timeout: no auth message within ${cfg.authTimeoutMs} ms`), cfg.authTimeoutMs);
        c.timer.unref();
      }
    }
    log.debug({ client: c.id, remote: c.remote, token: c.principal?.name ?? null }, 'client connected');
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

  if (!tokens.required) {
    log.warn(
      { host: ownServer ? cfg.host : '(shared server)', port: port() },
      'WebSocket authentication is disabled (no tokens): anyone who can reach this address can read scores; configure ws.authTokens',
    );
  }
  log.info({ port: port(), path: cfg.path, auth: tokens.required }, 'score WebSocket server listening');

  const tokenStatsOf = (p: Principal): TokenStats => {
    const u = usageOf(p);
    return {
      sessionPrefixes: p.scope.all ? '*' : p.scope.prefixes,
      connections: u.connections,
      maxConnections: p.maxConnections,
      subscribeAll: index.broadOf(p.name),
      maxSubscribeAll: p.maxSubscribeAll,
      refusedConnections: u.refusedConnections,
      refusedSubscribeAll: u.refusedSubscribeAll,
    };
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
      const recipients = index.recipientsOf(score.sessionId, (f) => matchesFilter(f, score));
      if (recipients.size === 0) return;
      const frame = scoreFrame(score, scoreJson);
      for (const c of recipients) send(c, frame);
    },
    broadcast(message: object, sessionId: string): void {
      if (closed !== undefined) return;
      const recipients = index.recipientsOf(sessionId, (f) => filterCoversSession(f, sessionId));
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
        if (c.principal !== null) authenticatedClients++;
        subscriptions += index.count(c);
      }
      const perToken: Record<string, TokenStats> = {};
      for (const p of tokens.principals) perToken[p.name] = tokenStatsOf(p);
      return { clients: clients.size, authenticatedClients, subscriptions, sessions: history.size, ...counters, tokens: perToken };
    },
    tokenStats(name: string): TokenStats | null {
      const p = tokens.principals.find((x) => x.name === name);
      return p === undefined ? null : tokenStatsOf(p);
    },
    close(): Promise<void> {
      closed ??= close();
      return closed;
    },
  };
}
