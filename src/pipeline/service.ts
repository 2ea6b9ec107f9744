/**
 * The running service: model, WebSocket server and pipeline together, optionally fed by the
 * generated sample session. What `msa run` and `msa start` (npm start) start.
 */
import type { Writable } from 'node:stream';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import { startScoreServer, type ScoreServer } from '../outputs/ws/server.js';
import { startHttpServer, type HttpServer } from '../outputs/http/server.js';
import { createAlertEvaluator, type Alert, type AlertEvaluator } from '../scores/alerts.js';
import { createRecentAlerts } from '../scores/recentAlerts.js';
import { modalitiesRead } from '../model/manifest.js';
import { feedSampleSessions } from '../ingest/sampleFeed.js';
import { formatScore } from '../scores/format.js';
import { formatSummary } from '../scores/sessionLedger.js';
import { loadServedModel } from '../model/servedModel.js';
import { startPipeline, type Pipeline } from './pipeline.js';
import { createMetricsRegistry, statsCounter, statsGauge, type Registry } from '../metrics/registry.js';
import { createTransportHealth } from '../transport/health.js';

export interface ServiceOptions {
  config: Config;
  brokers: string[];
  logger: Logger;
  /** Feed the generated sample session (loop: again as a new session each time it ends). */
  sample: { loop: boolean; speed: number } | null;
  /** Where the human-readable lines go (connect info, sample scores). */
  out?: Writable;
  /** Where the log goes, when not to stderr (named in the banner). */
  logFile?: string | null;
}

export interface Service {
  pipeline: Pipeline;
  scoreServer: ScoreServer;
  /** The one HTTP server: page, healthz, metrics, and the WebSocket on ws.path. */
  http: HttpServer;
  /** Alert rules over the rolling scores (config alerts). */
  alerts: AlertEvaluator;
  /** The Prometheus registry served on /metrics; other parts may register into it. */
  registry: Registry;
  done: Promise<void>;
  stop(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export async function startService(opts: ServiceOptions): Promise<Service> {
  const { config, logger } = opts;
  const out = opts.out;
  if (config.ws.authTokens.length === 0 && !LOOPBACK.has(config.ws.host)) {
    throw new Error(`refusing to serve scores without authentication on ${config.ws.host}: set ws.authTokens (env MSA_WS_TOKENS) or use a loopback ws.host`);
  }
  const model = await loadServedModel({ ...config.model, logger });
  const alerts = createAlertEvaluator(config.alerts);
  // What a page opened later sees of the alerts raised before (the WebSocket's `alerts` message).
  const recentAlerts = createRecentAlerts();
  // One port for the page and the WebSocket: the score server attaches to this one.
  let pipeline: Pipeline | undefined;
  let failure: unknown;
  const registry = createMetricsRegistry();
  registerServiceMetrics(registry, {
    model: { version: model.version, provider: model.session.provider },
    websocket: () => scoreServer.stats(),
    alerts: () => alerts.stats(),
  });
  // Broker trouble, from the first connect on: /healthz says 'degraded' (or 'starting') with the reasons.
  const transportHealth = createTransportHealth();
  const brokerProblems = () => transportHealth.problems().map((p) => ({ part: p.part, reason: p.reason, forMs: Date.now() - p.since }));
  const http = await startHttpServer({
    host: config.ws.host,
    port: config.ws.port,
    wsPath: config.ws.path,
    dashboard: config.http.dashboard,
    dashboardDir: config.http.dashboardDir,
    requestTimeoutMs: config.http.requestTimeoutMs,
    authTokens: config.ws.authTokens,
    health: () => ({
      status: failure !== undefined ? 'failed' : pipeline === undefined ? 'starting' : transportHealth.degraded ? 'degraded' : 'ok',
      ...(transportHealth.degraded ? { kafka: brokerProblems() } : {}),
      model: model.version,
      sentimentModel: model.isSentimentModel,
      provider: model.session.provider,
      neutralBand: config.scores.neutralBand, // the dashboard shades it
      // Which modalities the model reads at all: a modality present but unused in a score is
      // then either not read by this model or left out by its codebook gate (the dashboard says which).
      reads: modalitiesRead(model.manifest),
    }),
    // A token that sees all sessions gets every counter; a tenant's token only its own
    // WebSocket figures (the others count every tenant's sessions together).
    metrics: (viewer) =>
      viewer.scope.all
        ? {
            model: { version: model.version, provider: model.session.provider },
            pipeline: pipeline?.stats() ?? null,
            websocket: scoreServer.stats(),
            alerts: alerts.stats(),
          }
        : {
            model: { version: model.version, provider: model.session.provider },
            token: viewer.name,
            websocket: scoreServer.tokenStats(viewer.name),
          },
    prometheus: registry,
    logger,
  });
  const scoreServer = await startScoreServer({
    ...config.ws,
    server: http.server,
    authTokens: config.ws.authTokens.length > 0 ? config.ws.authTokens : null,
    recentAlerts,
    logger,
  });
  let samplePrefix: string | null = null;
  // Alerts: each transition logged, kept among the recent ones, and sent to the session's WebSocket subscribers.
  const alertLog = logger.child({ component: 'alerts' });
  const sessionLog = logger.child({ component: 'sessions' });
  const raise = (events: Alert[]) => {
    for (const alert of events) {
      if (alert.state === 'firing') alertLog.warn({ alert }, `alert ${alert.rule} firing for ${alert.sessionId}: ${alert.message}`);
      else alertLog.info({ alert }, `alert ${alert.rule} resolved for ${alert.sessionId}: ${alert.message}`);
      recentAlerts.add(alert);
      scoreServer.broadcast({ type: 'alert', alert }, alert.sessionId);
      if (out && samplePrefix && alert.sessionId.startsWith(samplePrefix)) out.write(`${alert.sessionId} ALERT ${alert.state} ${alert.message}\n`);
    }
  };
  const alertSweep = setInterval(() => raise(alerts.sweep(Date.now())), Math.min(5_000, config.alerts.idleTimeoutMs));
  alertSweep.unref();
  try {
    pipeline = await startPipeline({
      config,
      brokers: opts.brokers,
      model,
      logger,
      registry,
      health: transportHealth,
      onScore: (score, reached) => {
        scoreServer.publish(score);
        // Time over the event time the window's records reach: a session's flushed last windows
        // end up to W past its last record.
        raise(alerts.update(score, Date.now(), reached));
        if (out && samplePrefix && score.sessionId.startsWith(samplePrefix)) out.write(`${formatScore(score)}\n`);
      },
      // After the session's last score: its alert state goes (firing rules resolve as 'expired'),
      // and what became of it is said once: a log line, a WebSocket message to its subscribers
      // (the dashboard lists sessions that got no score, and why), and a line on the terminal.
      onSessionEnded: (sessionId, summary) => {
        raise(alerts.expire(sessionId));
        const line = formatSummary(summary);
        if (summary.why !== null) sessionLog.warn({ summary }, line);
        else sessionLog.info({ summary }, line);
        scoreServer.broadcast({ type: 'ended', summary }, sessionId);
        out?.write(`${line}\n`);
      },
    });
  } catch (err) {
    clearInterval(alertSweep);
    await scoreServer.close();
    await http.close();
    throw err;
  }
  const running = pipeline;
  running.done.catch((err: unknown) => {
    failure = err;
  });
  const host = config.ws.host.includes(':') ? `[${config.ws.host}]` : config.ws.host;
  const wsUrl = `ws://${host}:${http.port}${config.ws.path}`;
  out?.write(
    [
      '',
      `msa is running`,
      `  model      ${model.version} on ${model.session.provider}`,
      `  voice      ${config.voice.enabled ? `${config.voice.reader}: words + voice (voice.enabled; MSA_VOICE=off for words only)` : 'off: words only (voice.enabled false)'}`,
      `  kafka      ${opts.brokers.join(',')}  topics in: ${running.topics.audio}, ${running.topics.video}, ${running.topics.transcript}  out: ${running.topics.scores}, ${running.topics.deadLetter}, ${running.topics.late}`,
      `  dashboard  http://${host}:${http.port}/${config.http.dashboard ? '' : '   (page disabled: http.dashboard false)'}`,
      `  websocket  ${wsUrl}   send {"type":"subscribe","all":true}${config.ws.authTokens.length > 0 ? ' after authenticating' : ''}`,
      `  feed       msa replay --speed 1   (or produce Avro records to the input topics)`,
      ...(opts.logFile ? [`  log        ${opts.logFile}   (warnings and errors also here)`] : []),
      '',
    ].join('\n') + '\n',
  );

  const abort = new AbortController();
  let feeding: Promise<void> = Promise.resolve();
  if (opts.sample) {
    samplePrefix = `sample-${Date.now()}`;
    feeding = feedSampleSessions({
      config,
      brokers: opts.brokers,
      logger,
      ...opts.sample,
      prefix: samplePrefix,
      onSession: (sessionId) => out?.write(`feeding sample session ${sessionId}\n`),
      signal: abort.signal,
    });
  }

  let stopping: Promise<void> | null = null;
  return {
    pipeline: running,
    scoreServer,
    http,
    alerts,
    registry,
    done: running.done,
    stop: () =>
      (stopping ??= (async () => {
        abort.abort();
        await feeding;
        await running.stop();
        clearInterval(alertSweep);
        await scoreServer.close();
        await http.close();
        await model.session.release();
      })()),
  };
}

/**
 * The service's own metrics beside the pipeline's: the model served, WebSocket clients and alerts.
 * Exported for test/unit/grafanaDashboard.test.ts, which checks the dashboard's metric names.
 */
export function registerServiceMetrics(
  registry: Registry,
  parts: {
    model: { version: string; provider: string };
    websocket: () => ReturnType<ScoreServer['stats']>;
    alerts: () => ReturnType<AlertEvaluator['stats']>;
  },
): void {
  statsGauge(registry, { name: 'msa_model_info', help: 'The model served (always 1)', labelNames: ['version', 'provider'], read: () => [[parts.model, 1]] });
  const ws = parts.websocket;
  statsGauge(registry, { name: 'msa_ws_clients', help: 'WebSocket connections open now, authenticated or not', read: () => ws().clients });
  statsGauge(registry, { name: 'msa_ws_authenticated_clients', help: 'WebSocket connections authenticated now', read: () => ws().authenticatedClients });
  statsGauge(registry, { name: 'msa_ws_subscriptions', help: 'Subscriptions over all WebSocket clients now', read: () => ws().subscriptions });
  statsCounter(registry, { name: 'msa_ws_messages_sent_total', help: 'Messages sent to WebSocket clients', read: () => ws().messagesSent });
  statsCounter(registry, { name: 'msa_ws_bytes_sent_total', help: 'Bytes sent to WebSocket clients', read: () => ws().bytesSent });
  statsCounter(registry, {
    name: 'msa_ws_slow_client_closes_total',
    help: 'WebSocket clients closed for reading too slowly',
    read: () => ws().slowClientCloses,
  });
  statsCounter(registry, { name: 'msa_ws_auth_failures_total', help: 'WebSocket authentication failures', read: () => ws().authFailures });
  statsCounter(registry, {
    name: 'msa_ws_rejected_server_full_total',
    help: 'WebSocket connections refused at the client limit',
    read: () => ws().rejectedServerFull,
  });
  statsGauge(registry, { name: 'msa_alerts_firing', help: 'Alert rules firing now over all sessions', read: () => parts.alerts().firing });
}
