// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * Tenants end to end: the real service (broker, test graph, alert rules) with a flat token and
 * two tenant tokens. Two sessions flow through Kafka; each tenant's WebSocket client sees only
 * its session's scores, alert and `ended` notice, the flat token sees both, and `/metrics.json` with
 * a tenant's token holds nothing of the other tenant.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { WebSocket } from 'ws';
import { generateSession } from '../../src/ingest/sampleSession.js';
import { startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';
import type { Frame } from '../fixtures/wsClient.js';

const OPS = 'ops-flat-token-1';
const ACME = 'acme-tenant-token';
const GLOBEX = 'globex-tenant-token';

let h: Harness | undefined;
after(async () => {
  await h?.close();
});

/** A client that keeps every frame it gets. */
async function client(port: number, token: string): Promise<{ ws: WebSocket; frames: Frame[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: `Bearer ${token}` } });
  const frames: Frame[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Frame));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'subscribe', all: true }));
  return { ws, frames };
}

const sessionOf = (f: Frame): string | undefined => f.score?.sessionId ?? f.alert?.sessionId ?? f.summary?.sessionId ?? f.sessionId;
const kinds = (frames: Frame[], sessionId: string) => new Set(frames.filter((f) => sessionOf(f) === sessionId).map((f) => f.type));

test('each tenant sees only its sessions (scores, alerts, ended, metrics); the flat token sees all', async () => {
  h = await startHarness({
    alerts: { rules: [{ name: 'test-negative', when: 'below', threshold: -0.9, forMs: 5000 }] },
    ws: {
      port: 0,
      authTokens: [OPS, { name: 'acme', token: ACME, sessionPrefixes: ['acme-'] }, { name: 'globex', token: GLOBEX, sessionPrefixes: ['globex-'] }],
    },
  });
  const port = h.service.http.port;
  const ops = await client(port, OPS);
  const acme = await client(port, ACME);
  const globex = await client(port, GLOBEX);
  await h.produce([
    ...generateSession({ sessionId: 'acme-call-1', startTime: Date.now() - 60_000, endOfStream: true, seed: 1 }),
    ...generateSession({ sessionId: 'globex-call-1', startTime: Date.now() - 60_000, endOfStream: true, seed: 2 }),
  ]);
  const ended = (c: { frames: Frame[] }, s: string) => c.frames.some((f) => f.type === 'ended' && f.summary.sessionId === s);
  await waitFor('both sessions ended for the flat token', () => ended(ops, 'acme-call-1') && ended(ops, 'globex-call-1'), 120_000);
  await waitFor('each tenant got its ended notice', () => ended(acme, 'acme-call-1') && ended(globex, 'globex-call-1'), 30_000);

  for (const [c, mine, theirs] of [
    [acme, 'acme-call-1', 'globex-call-1'],
    [globex, 'globex-call-1', 'acme-call-1'],
  ] as const) {
    assert.deepEqual([...kinds(c.frames, mine)].sort(), ['alert', 'ended', 'score'], `${mine}: scores, alerts and ended`);
    assert.equal(kinds(c.frames, theirs).size, 0, `nothing of ${theirs}`);
    assert.ok(!JSON.stringify(c.frames).includes(theirs));
  }
  assert.deepEqual([...kinds(ops.frames, 'acme-call-1')].sort(), ['alert', 'ended', 'score']);
  assert.deepEqual([...kinds(ops.frames, 'globex-call-1')].sort(), ['alert', 'ended', 'score']);

  // A page opened later: history, session list and recent alerts of its own sessions only.
  const late = await client(port, ACME);
  await waitFor('history and alerts', () => late.frames.some((f) => f.type === 'alerts'), 10_000);
  late.ws.send(JSON.stringify({ type: 'sessions' }));
  await waitFor('session list', () => late.frames.some((f) => f.type === 'sessions'), 10_000);
  assert.ok(!JSON.stringify(late.frames).includes('globex'), 'no globex in history, alerts or the list');
  assert.ok(late.frames.some((f) => f.type === 'history' && f.sessionId === 'acme-call-1'));
  assert.deepEqual(
    late.frames.find((f) => f.type === 'sessions')!.sessions.map((s: Frame) => s.sessionId),
    ['acme-call-1'],
  );

  const metrics = async (token: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics.json`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    return (await res.json()) as Frame;
  };
  const acmeMetrics = await metrics(ACME);
  assert.equal(acmeMetrics.token, 'acme');
  assert.equal(acmeMetrics.websocket.connections, 2);
  assert.equal(acmeMetrics.pipeline, undefined, 'no counters over every tenant');
  assert.ok(!JSON.stringify(acmeMetrics).includes('globex'));
  const opsMetrics = await metrics(OPS);
  assert.ok(opsMetrics.pipeline.scores > 0);
  assert.deepEqual(Object.keys(opsMetrics.websocket.tokens), ['token-1', 'acme', 'globex']);
  for (const c of [ops, acme, globex, late]) c.ws.close();
});
