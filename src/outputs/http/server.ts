import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { silentLogger, type Logger } from '../../log.js';
import { packageRoot } from '../../paths.js';
import { bearerToken, createTokenCheck, type Principal, type TokenEntry } from '../ws/auth.js';
import { readFileIn, readStaticFile, vendorFiles, type StaticFile } from './staticFiles.js';

/**
 * The HTTP edge (DESIGN.md §8): one `node:http` server on one port for the dashboard page,
 * its static files, health and metrics; the score WebSocket server attaches to it for the
 * upgrade on `/ws` (startScoreServer's `server` option). Routes:
 *
 *   GET /                          the dashboard page (dashboard/index.html)
 *   GET /dashboard/<file>          its scripts and styles
 *   GET /vendor/uPlot.iife.min.js  uPlot, from node_modules (also uPlot.min.css)
 *   GET /healthz                   200 {status:'ok', model, provider, ...}; 503 when not ok ('starting',
 *                                  'degraded' with the reasons while Kafka is away, 'failed')
 *   GET /metrics                   Prometheus text format (bearer token when WebSocket tokens are set;
 *                                  only a token that sees every session: the counters add up all tenants)
 *   GET /metrics.json              the counters as JSON (same token; a token that sees some sessions
 *                                  only gets what concerns them)
 *   GET /ws                        WebSocket upgrade (a plain GET gets 426)
 *
 * HEAD works wherever GET does; other methods get 405, unknown paths 404. Requests are
 * bounded: header size, URL length, time to send the request, requests per connection. Request
 * bodies are never read.
 */

export interface Health {
  status: 'ok' | 'starting' | 'degraded' | 'failed';
  [detail: string]: unknown;
}

export interface HttpServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0: any free port. */
  port: number;
  /** The WebSocket path, answered with 426 to plain requests. Default '/ws'. */
  wsPath?: string;
  /** Serve the dashboard page. Default true. */
  dashboard?: boolean;
  /** The page's folder; default the project's `dashboard/`. */
  dashboardDir?: string | null;
  health: () => Health;
  /** The counters this viewer may see (the token's principal; `anonymous` without tokens). */
  metrics: (viewer: Principal) => unknown;
  /** When non-empty, /metrics needs `Authorization: Bearer <one of these>` (the WebSocket's tokens). */
  authTokens?: readonly TokenEntry[] | null;
  /** The Prometheus registry served on /metrics (metrics/registry.ts); absent: /metrics is 404. */
  prometheus?: { contentType: string; metrics(): Promise<string> } | null;
  /** Time a client has to send a whole request. Default 10 s. */
  requestTimeoutMs?: number;
  logger?: Logger;
}

export interface HttpServer {
  /** The node server, for startScoreServer({ server }). */
  readonly server: http.Server;
  /** The port listened on (the real one when 0 was asked for). */
  readonly port: number;
  /** Stops listening and closes every connection; idempotent. Close the WebSocket server first. */
  close(): Promise<void>;
}

export const MAX_URL_LENGTH = 2048;
const MAX_HEADER_BYTES = 16 * 1024;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
} as const;

/** The page may load only its own files and talk only to its own origin (the WebSocket included). */
const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** A listen failure as a person can act on it: a port in use names --ws-port / ws.port. */
function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  if (err.code === 'EADDRINUSE') {
    return new Error(
      `port ${port} on ${host} is already in use (another msa, or another server): choose another with --ws-port (config ws.port, env MSA_WS_PORT; 0 = any free port), or stop what uses it`,
      { cause: err },
    );
  }
  if (err.code === 'EACCES')
    return new Error(`not allowed to listen on ${host}:${port}: use a port above 1023 with --ws-port (config ws.port)`, { cause: err });
  if (err.code === 'EADDRNOTAVAIL')
    return new Error(`cannot listen on ${host}: no such address on this machine; check --ws-host (config ws.host)`, { cause: err });
  return err;
}

/** Starts the HTTP server; resolves once it listens. */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const log = (options.logger ?? silentLogger).child({ component: 'http' });
  const wsPath = options.wsPath ?? '/ws';
  const dashboard = options.dashboard ?? true;
  const dashboardDir = dashboard ? (options.dashboardDir ?? join(packageRoot(), 'dashboard')) : null;
  const vendor = dashboard ? vendorFiles() : {};
  const tokens = createTokenCheck(options.authTokens ?? null);
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;

  /** Who asks for /metrics, or null when tokens are set and the request has none of them. */
  const metricsViewer = (req: http.IncomingMessage): Principal | null => {
    if (!tokens.required) return tokens.anonymous;
    const token = bearerToken(req.headers.authorization ?? '');
    return token === null ? null : tokens.principalOf(token);
  };

  const send = (req: http.IncomingMessage, res: http.ServerResponse, status: number, headers: http.OutgoingHttpHeaders, body: string | Buffer) => {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-length': bytes.length, ...headers });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };
  const sendJson = (req: http.IncomingMessage, res: http.ServerResponse, status: number, value: unknown) =>
    send(req, res, status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }, `${JSON.stringify(value)}\n`);
  const sendText = (req: http.IncomingMessage, res: http.ServerResponse, status: number, text: string, headers: http.OutgoingHttpHeaders = {}) =>
    send(req, res, status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers }, `${text}\n`);

  const sendFile = (req: http.IncomingMessage, res: http.ServerResponse, file: StaticFile | null, what: string): void => {
    if (file === null) return sendText(req, res, 404, `not found: ${what}`);
    const headers: http.OutgoingHttpHeaders = { 'content-type': file.contentType, 'cache-control': 'no-cache', etag: file.etag };
    if (file.contentType.startsWith('text/html')) headers['content-security-policy'] = PAGE_CSP;
    if (req.headers['if-none-match'] === file.etag) {
      res.writeHead(304, { ...SECURITY_HEADERS, etag: file.etag, 'cache-control': 'no-cache' });
      res.end();
      return;
    }
    send(req, res, 200, headers, file.body);
  };

  const route = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    if (url.length > MAX_URL_LENGTH) return sendText(req, res, 414, `URL of ${url.length} characters is over the limit of ${MAX_URL_LENGTH}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendText(req, res, 405, `method ${req.method ?? '?'} not allowed: this server only answers GET and HEAD`, { allow: 'GET, HEAD' });
    }
    let pathname: string;
    try {
      pathname = new URL(url, 'http://localhost').pathname;
    } catch {
      return sendText(req, res, 400, 'malformed request URL');
    }

    if (pathname === '/healthz') {
      const health = options.health();
      return sendJson(req, res, health.status === 'ok' ? 200 : 503, health);
    }
    if (pathname === '/metrics' || pathname === '/metrics.json') {
      const viewer = metricsViewer(req);
      if (viewer === null)
        return sendText(req, res, 401, 'metrics need "Authorization: Bearer <token>" (one of ws.authTokens)', { 'www-authenticate': 'Bearer' });
      if (pathname === '/metrics.json') return sendJson(req, res, 200, options.metrics(viewer));
      if (!viewer.scope.all)
        return sendText(req, res, 403, `token "${viewer.name}" sees some sessions only; the Prometheus counters add up every tenant's: see /metrics.json`);
      const prometheus = options.prometheus;
      if (!prometheus) return sendText(req, res, 404, 'no Prometheus metrics here: see /metrics.json');
      return send(req, res, 200, { 'content-type': prometheus.contentType, 'cache-control': 'no-store' }, await prometheus.metrics());
    }
    if (pathname === wsPath) return sendText(req, res, 426, `WebSocket only: connect to ${wsPath} with an upgrade request`, { upgrade: 'websocket' });
    if (dashboardDir !== null) {
      if (pathname === '/' || pathname === '/index.html') return sendFile(req, res, await readFileIn(dashboardDir, 'index.html'), pathname);
      if (pathname.startsWith('/dashboard/')) {
        return sendFile(req, res, await readStaticFile(dashboardDir, pathname.slice('/dashboard/'.length)), pathname);
      }
      if (pathname.startsWith('/vendor/')) {
        const file = vendor[pathname.slice('/vendor/'.length)];
        return sendFile(req, res, file === undefined ? null : await readFileIn(dirname(file), basename(file)), pathname);
      }
    }
    return sendText(req, res, 404, `not found: ${pathname}`);
  };

  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: requestTimeoutMs, headersTimeout: requestTimeoutMs }, (req, res) => {
    route(req, res).catch((err: unknown) => {
      log.error({ err, url: req.url }, 'HTTP request failed');
      if (!res.headersSent) sendText(req, res, 500, 'internal error');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  server.maxRequestsPerSocket = 1000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    log.debug({ err: err.message, code: err.code }, 'bad HTTP request');
    if (socket.writable) {
      const status =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? '408 Request Timeout'
            : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, host, options.port)));
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: options.host ?? '127.0.0.1', port, dashboard: dashboardDir }, 'HTTP server listening');

  let closed: Promise<void> | undefined;
  return {
    server,
    port,
    close: () =>
      (closed ??= (async () => {
        const stopped = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
        server.closeAllConnections(); // idle keep-alive connections would hold close() open
        await stopped;
        log.info('HTTP server closed');
      })()),
  };
}
