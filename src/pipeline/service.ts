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
    metrics: () => ({
      model: { version: model.version, provider: model.session.provider },
      pipeline: pipeline?.stats() ?? null,
      websocket: scoreServer.stats(),
      alerts: alerts.stats(),
    }),
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
