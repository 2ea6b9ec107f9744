/**
 * Options of the score WebSocket server, their defaults (the config's `ws` section: one set of
 * defaults for the service and for direct use) and their checks.
 */
import type http from 'node:http';
import { DEFAULTS } from '../../config/config.js';
import type { Logger } from '../../log.js';
import type { RecentAlerts } from '../../scores/recentAlerts.js';
import type { TokenEntry } from './auth.js';
import { quote } from './protocol.js';

export interface ScoreServerOptions {
  /** Port to listen on (0: any free port). Ignored when `server` is given. Default 8080. */
  port?: number;
  /** Default 127.0.0.1. Ignored when `server` is given. */
  host?: string;
  /** Upgrade path. Default '/ws'. */
  path?: string;
  /**
   * Accepted bearer tokens; null or [] disables authentication (a warning is logged). A string
   * sees every session; an object sees the sessions of its `sessionPrefixes` (auth.ts).
   */
  authTokens: readonly TokenEntry[] | null;
  /** Connections at once per token (an entry's maxConnections overrides it); more are closed with 4429. Default 1000. */
  maxConnectionsPerToken?: number;
  /** `all` and filter subscriptions at once per token (an entry's maxSubscribeAll overrides it). Default 100. */
  maxSubscribeAllPerToken?: number;
  /** History goes out in slices of about this many bytes, one slice per event-loop turn. Default 64 KiB. */
  historySliceBytes?: number;
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
  /**
   * Recent alerts (the service's, fed as they are raised): a subscriber gets those of the
   * sessions its subscription covers in an `alerts` message after the history. Absent: none sent.
   */
  recentAlerts?: Pick<RecentAlerts, 'list'>;
}

export type ScoreServerSettings = Required<Omit<ScoreServerOptions, 'server' | 'logger' | 'authTokens' | 'recentAlerts'>>;

const { authTokens: _tokens, ...wsDefaults } = DEFAULTS.ws;
export const DEFAULT_SCORE_SERVER_OPTIONS: ScoreServerSettings = wsDefaults;

function positiveInt(name: string, v: number): number {
  if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`startScoreServer: ${name} must be an integer >= 1, got ${v}`);
  return v;
}

/** The options with defaults filled in; throws a RangeError naming the first bad value. */
export function settingsFrom(o: ScoreServerOptions): ScoreServerSettings {
  const d = DEFAULT_SCORE_SERVER_OPTIONS;
  const s: ScoreServerSettings = {
    port: o.port ?? d.port,
    host: o.host ?? d.host,
    path: o.path ?? d.path,
    historySize: positiveInt('historySize', o.historySize ?? d.historySize),
    maxHistorySessions: positiveInt('maxHistorySessions', o.maxHistorySessions ?? d.maxHistorySessions),
    historySessionsPerSubscribe: positiveInt('historySessionsPerSubscribe', o.historySessionsPerSubscribe ?? d.historySessionsPerSubscribe),
    maxBufferedMessages: positiveInt('maxBufferedMessages', o.maxBufferedMessages ?? d.maxBufferedMessages),
    maxBufferedBytes: positiveInt('maxBufferedBytes', o.maxBufferedBytes ?? d.maxBufferedBytes),
    maxSubscriptions: positiveInt('maxSubscriptions', o.maxSubscriptions ?? d.maxSubscriptions),
    maxMessageBytes: positiveInt('maxMessageBytes', o.maxMessageBytes ?? d.maxMessageBytes),
    maxClients: positiveInt('maxClients', o.maxClients ?? d.maxClients),
    authTimeoutMs: positiveInt('authTimeoutMs', o.authTimeoutMs ?? d.authTimeoutMs),
    pingIntervalMs: positiveInt('pingIntervalMs', o.pingIntervalMs ?? d.pingIntervalMs),
    closeTimeoutMs: positiveInt('closeTimeoutMs', o.closeTimeoutMs ?? d.closeTimeoutMs),
    maxConnectionsPerToken: positiveInt('maxConnectionsPerToken', o.maxConnectionsPerToken ?? d.maxConnectionsPerToken),
    maxSubscribeAllPerToken: positiveInt('maxSubscribeAllPerToken', o.maxSubscribeAllPerToken ?? d.maxSubscribeAllPerToken),
    historySliceBytes: positiveInt('historySliceBytes', o.historySliceBytes ?? d.historySliceBytes),
  };
  if (!(Number.isInteger(s.port) && s.port >= 0 && s.port <= 65535)) {
    throw new RangeError(`startScoreServer: port must be an integer in 0..65535, got ${s.port}`);
  }
  if (!s.path.startsWith('/')) throw new RangeError(`startScoreServer: path must start with '/', got ${quote(s.path)}`);
  return s;
}
