/**
 * /healthz latency while many clients subscribe to everything at once.
 *
 *   npx tsx bench/wsBurst.ts [--clients 500] [--sessions 100] [--history 60] [--runs 3]
 *
 * Three processes: the server (the HTTP edge with the score WebSocket server on it, history
 * filled with `--sessions` x `--history` scores), the clients (one token, each sends
 * {"type":"subscribe","all":true} at the same moment and reads everything), and this one, which
 * asks /healthz every 5 ms from just before the burst until every client has its history, and
 * prints p50 / p99 / max of those requests. Per-token limits are raised to --clients so that
 * every subscription is served (the slicing is measured, not the refusal). Uses only APIs that
 * main had too, so the same file measures before and after.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { startHttpServer } from '../src/outputs/http/server.js';
import { startScoreServer } from '../src/outputs/ws/server.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'main' },
    clients: { type: 'string', default: '500' },
    sessions: { type: 'string', default: '100' },
    history: { type: 'string', default: '60' },
    runs: { type: 'string', default: '3' },
    port: { type: 'string', default: '0' },
  },
});
const CLIENTS = Number(values.clients);
const SESSIONS = Number(values.sessions);
const HISTORY = Number(values.history);
const TOKEN = 'bench-token-123';
const self = fileURLToPath(import.meta.url);

async function server(): Promise<void> {
  const edge = await startHttpServer({ port: 0, dashboard: false, health: () => ({ status: 'ok' }), metrics: () => ({}) });
  const ws = await startScoreServer({
    server: edge.server,
    authTokens: [TOKEN],
    historySize: HISTORY,
    maxClients: CLIENTS + 10,
    // Not on main (ignored there): every subscription served.
    ...({ maxConnectionsPerToken: CLIENTS + 10, maxSubscribeAllPerToken: CLIENTS + 10 } as object),
  } as Parameters<typeof startScoreServer>[0]);
  for (let s = 0; s < SESSIONS; s++) {
    for (let w = 1; w <= HISTORY; w++) {
      const v = Math.sin(s + w);
      ws.publish({
        sessionId: `bench-session-${s}`,
        windowStart: w * 1000,
        windowEnd: w * 1000 + 6000,
        score: v,
        windowScore: v,
        polarity: v > 0.5 ? 'POSITIVE' : v < -0.5 ? 'NEGATIVE' : 'NEUTRAL',
        confidence: 0.5,
        contributions: { text: v, audio: 0, video: 0 },
        modalities: { text: true, audio: true, video: false },
        modalitiesUsed: { text: true, audio: false, video: false },
        modelVersion: 'bench@1',
        records: 70,
        latencyMs: 12,
        emittedAt: w * 1000 + 6012,
      });
    }
  }
  process.send!({ port: edge.port });
}

async function clients(port: number): Promise<void> {
  const sockets = await Promise.all(
    Array.from(
      { length: CLIENTS },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: `Bearer ${TOKEN}` } });
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );
  process.send!({ ready: true });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  let done = 0;
  let closed = 0;
  for (const ws of sockets) {
    let got = 0;
    ws.on('message', (data) => {
      // Count history messages without parsing them all: the alerts message (if any) or the last history ends it.
      if (data.toString('utf8', 0, 20).startsWith('{"type":"history"')) got++;
      if (got === SESSIONS) {
        got++;
        if (++done === CLIENTS) process.send!({ done: true, closed });
      }
    });
    ws.on('close', () => {
      closed++;
      if (++done === CLIENTS) process.send!({ done: true, closed });
    });
    ws.send(JSON.stringify({ type: 'subscribe', all: true }));
  }
}

function healthz(port: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(performance.now() - t0));
      })
      .on('error', reject);
  });
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function run(): Promise<{ p50: number; p99: number; max: number; n: number; burstS: number }> {
  const srv = fork(self, ['--mode', 'server', '--clients', String(CLIENTS), '--sessions', String(SESSIONS), '--history', String(HISTORY)]);
  const { port } = await new Promise<{ port: number }>((resolve) => srv.once('message', (m) => resolve(m as { port: number })));
  const cli = fork(self, ['--mode', 'clients', '--port', String(port), '--clients', String(CLIENTS), '--sessions', String(SESSIONS)]);
  await new Promise((resolve) => cli.once('message', resolve));
  const latencies: number[] = [];
  let finished = false;
  const ended = new Promise<void>((resolve) =>
    cli.on('message', (m: { done?: boolean; closed?: number }) => {
      if (m.done) {
        if (m.closed) console.log(`  ${m.closed} clients were closed by the server`);
        finished = true;
        resolve();
      }
    }),
  );
  const t0 = performance.now();
  cli.send({ go: true });
  while (!finished) {
    latencies.push(await healthz(port));
    await new Promise((r) => setTimeout(r, 5));
  }
  await ended;
  const burstS = (performance.now() - t0) / 1000;
  cli.kill();
  srv.kill();
  return { p50: pct(latencies, 50), p99: pct(latencies, 99), max: Math.max(...latencies), n: latencies.length, burstS };
}

if (values.mode === 'server') await server();
else if (values.mode === 'clients') await clients(Number(values.port));
else {
  console.log(`${CLIENTS} clients subscribe to all at once; history ${SESSIONS} sessions x ${HISTORY} scores`);
  const results: Array<Awaited<ReturnType<typeof run>>> = [];
  for (let i = 0; i < Number(values.runs); i++) {
    const r = await run();
    results.push(r);
    console.log(
      `run ${i + 1}: /healthz p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms over ${r.n} requests; burst served in ${r.burstS.toFixed(1)} s`,
    );
  }
  const med = (k: 'p50' | 'p99' | 'max' | 'burstS') =>
    pct(
      results.map((r) => r[k]),
      50,
    );
  console.log(
    `median of ${results.length} runs: /healthz p50 ${med('p50').toFixed(1)} ms, p99 ${med('p99').toFixed(1)} ms, max ${med('max').toFixed(1)} ms; burst ${med('burstS').toFixed(1)} s`,
  );
}
