/**
 * Tenants on the score WebSocket server, with real ws clients on a loopback port: a token that
 * sees some session-id prefixes gets only those sessions (live scores, history, the session
 * list, filters, alerts, broadcasts), a flat-list token sees all, limits per token refuse
 * connections and subscriptions to everything, and history goes out in slices.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startScoreServer, type ScoreServer, type ScoreServerOptions } from '../../src/outputs/ws/server.js';
import type { Alert } from '../../src/scores/alerts.js';
import { score, TestClient, until, type Frame } from '../fixtures/wsClient.js';

const OPS = 'ops-token-sees-all';
const ACME = 'acme-tenant-token';
const GLOBEX = 'globex-tenant-token';
const TOKENS = [OPS, { name: 'acme', token: ACME, sessionPrefixes: ['acme-'] }, { name: 'globex', token: GLOBEX, sessionPrefixes: ['globex-', 'gx-'] }];
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const servers: ScoreServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(options: Partial<ScoreServerOptions> = {}): Promise<ScoreServer> {
  const s = await startScoreServer({ port: 0, host: '127.0.0.1', authTokens: TOKENS, ...options });
  servers.push(s);
  return s;
}

/** Frames up to and including the first of `type`. */
async function through(c: TestClient, type: string): Promise<Frame[]> {
  const out: Frame[] = [];
  for (;;) {
    const f = await c.next();
    out.push(f);
    if (f.type === type) return out;
  }
}

const sessionsOf = (frames: Frame[]) =>
  [...new Set(frames.flatMap((f) => (f.type === 'history' ? [f.sessionId] : f.type === 'score' ? [f.score.sessionId] : [])))].sort();

function alert(sessionId: string, at: number): Alert {
  return { type: 'alert', sessionId, rule: 'r', state: 'firing', since: at - 1000, at, score: -2, message: 'low' } as Alert;
}

describe('tenants on the score WebSocket server', () => {
  it('a tenant token sees only its sessions: history, live scores, filters, the session list, alerts and broadcasts', async () => {
    const recent = [alert('acme-1', 1000), alert('globex-1', 1000), alert('other-1', 1000)];
    const server = await start({ recentAlerts: { list: (covers) => recent.filter((a) => covers?.(a.sessionId) ?? true) } });
    for (const s of ['acme-1', 'acme-2', 'globex-1', 'gx-9', 'other-1']) server.publish(score(s, 1000, -1));

    const acme = await TestClient.connect(server);
    acme.send({ type: 'auth', id: 'a', token: ACME });
    assert.deepEqual(await acme.next(), { type: 'authenticated', id: 'a', token: { name: 'acme', sessionPrefixes: ['acme-'] } });
    acme.send({ type: 'subscribe', all: true });
    const acmeFirst = await through(acme, 'alerts');
    assert.deepEqual(sessionsOf(acmeFirst), ['acme-1', 'acme-2']);
    assert.deepEqual(
      acmeFirst.at(-1)!.alerts.map((a: Alert) => a.sessionId),
      ['acme-1'],
    );

    const globex = await TestClient.connect(server, bearer(GLOBEX));
    globex.send({ type: 'subscribe', filter: { polarity: 'NEGATIVE' } });
    assert.deepEqual(sessionsOf(await through(globex, 'alerts')), ['globex-1', 'gx-9']);

    const ops = await TestClient.connect(server, bearer(OPS));
    ops.send({ type: 'subscribe', all: true });
    assert.deepEqual(sessionsOf(await through(ops, 'alerts')), ['acme-1', 'acme-2', 'globex-1', 'gx-9', 'other-1']);

    // Live: each score, alert and `ended` notice goes only where its session is in scope.
    for (const s of ['other-1', 'globex-1', 'acme-1']) {
      server.publish(score(s, 2000, -1));
      server.broadcast({ type: 'alert', alert: alert(s, 2000) }, s);
      server.broadcast({ type: 'ended', summary: { sessionId: s } }, s);
    }
    const live = (frames: Frame[]) => frames.map((f) => `${f.type}:${f.score?.sessionId ?? f.alert?.sessionId ?? f.summary?.sessionId}`);
    assert.deepEqual(live([await acme.next(), await acme.next(), await acme.next()]), ['score:acme-1', 'alert:acme-1', 'ended:acme-1']);
    assert.deepEqual(live([await globex.next(), await globex.next(), await globex.next()]), ['score:globex-1', 'alert:globex-1', 'ended:globex-1']);
    const opsFrames: Frame[] = [];
    for (let i = 0; i < 9; i++) opsFrames.push(await ops.next());
    const opsLive = live(opsFrames);
    assert.deepEqual(opsLive.slice(0, 3), ['score:other-1', 'alert:other-1', 'ended:other-1']);
    await acme.nothingWithin();
    await globex.nothingWithin();

    // The session list counts only what the token sees, whatever the prefix asked.
    acme.send({ type: 'sessions', id: 1 });
    const list = await acme.next();
    assert.deepEqual(
      list.sessions.map((s: Frame) => s.sessionId),
      ['acme-1', 'acme-2'],
    );
    assert.equal(list.total, 2);
    acme.send({ type: 'sessions', id: 2, prefix: 'globex-' });
    assert.deepEqual((await acme.next()).sessions, []);
    ops.send({ type: 'sessions', id: 3 });
    assert.equal((await ops.next()).total, 5);

    // A filter broader than the scope is cut to it; sessions or a filter outside it are refused, naming them.
    acme.send({ type: 'subscribe', filter: { sessionPrefix: 'a' } });
    assert.deepEqual(sessionsOf(await through(acme, 'alerts')), ['acme-1', 'acme-2']);
    acme.send({ type: 'subscribe', id: 'x', sessions: ['acme-1', 'globex-1'] });
    const refused = await acme.next();
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'out_of_scope');
    assert.equal(refused.id, 'x');
    assert.match(refused.error, /session "globex-1" outside what token "acme" may see \(session ids starting with "acme-"\)/);
    acme.send({ type: 'subscribe', filter: { sessionPrefix: 'globex-' } });
    assert.match((await acme.next()).error, /filter sessionPrefix "globex-" outside what token "acme" may see/);
    assert.equal(server.stats().outOfScope, 2);
    for (const c of [acme, globex, ops]) c.ws.close();
  });

  it('a flat list of tokens sees every session, as before', async () => {
    const server = await start({ authTokens: ['flat-token-one', 'flat-token-two'] });
    server.publish(score('acme-1', 1000));
    server.publish(score('globex-1', 1000));
    const c = await TestClient.connect(server, bearer('flat-token-two'));
    c.send({ type: 'auth', token: 'flat-token-two' });
    assert.deepEqual(await c.next(), { type: 'authenticated', token: { name: 'token-2', sessionPrefixes: '*' } });
    c.send({ type: 'subscribe', sessions: ['acme-1', 'globex-1'] });
    assert.equal((await c.next()).type, 'subscribed');
    assert.deepEqual(sessionsOf([await c.next(), await c.next()]), ['acme-1', 'globex-1']);
    c.ws.close();
  });

  it('refuses connections past a token’s limit with 4429, and subscriptions to everything past its limit; counts both', async () => {
    const server = await start({
      maxSubscribeAllPerToken: 1,
      authTokens: [OPS, { name: 'acme', token: ACME, sessionPrefixes: ['acme-'], maxConnections: 2 }],
    });
    const a1 = await TestClient.connect(server, bearer(ACME));
    const a2 = await TestClient.connect(server);
    a2.send({ type: 'auth', token: ACME });
    assert.equal((await a2.next()).type, 'authenticated');
    const a3 = await TestClient.connect(server, bearer(ACME));
    assert.deepEqual(await a3.closed, { code: 4429, reason: 'too many connections for token "acme": 2 open (limit 2)' });
    const a4 = await TestClient.connect(server);
    a4.send({ type: 'auth', token: ACME });
    assert.equal((await a4.closed).code, 4429);
    // Another token is not affected.
    const ops = await TestClient.connect(server, bearer(OPS));
    ops.send({ type: 'ping' });
    assert.equal((await ops.next()).type, 'pong');

    // One `all` or filter subscription per token (maxSubscribeAllPerToken 1), over its connections.
    a1.send({ type: 'subscribe', all: true });
    assert.equal((await a1.next()).type, 'subscribed');
    a2.send({ type: 'subscribe', id: 2, filter: { polarity: 'NEGATIVE' } });
    const refused = await a2.next();
    assert.equal(refused.code, 'too_many_subscribe_all');
    assert.match(refused.error, /token "acme" holds 1 "all" and filter subscriptions over its connections; the limit is 1/);
    a2.send({ type: 'subscribe', sessions: ['acme-1'] }); // by id: not limited by it
    assert.equal((await a2.next()).type, 'subscribed');

    const stats = server.stats();
    assert.equal(stats.refusedTokenConnections, 2);
    assert.equal(stats.refusedSubscribeAll, 1);
    assert.deepEqual(stats.tokens.acme, {
      sessionPrefixes: ['acme-'],
      connections: 2,
      maxConnections: 2,
      subscribeAll: 1,
      maxSubscribeAll: 1,
      refusedConnections: 2,
      refusedSubscribeAll: 1,
    });
    assert.equal(stats.tokens['token-1']!.connections, 1);

    // A closed connection frees its place and its subscription to everything.
    a1.ws.close();
    await until(() => server.tokenStats('acme')!.connections === 1);
    assert.equal(server.tokenStats('acme')!.subscribeAll, 0);
    const a5 = await TestClient.connect(server, bearer(ACME));
    a5.send({ type: 'subscribe', all: true });
    assert.equal((await a5.next()).type, 'subscribed');
    for (const c of [a2, a5, ops]) c.ws.close();
  });

  it('sends history in slices, live scores waiting behind it: no gap, no overlap', async () => {
    const server = await start({ authTokens: null, historySliceBytes: 2048, historySessionsPerSubscribe: 300 });
    for (let s = 0; s < 300; s++) for (let w = 1; w <= 10; w++) server.publish(score(`s${s}`, w * 1000));
    const c = await TestClient.connect(server);
    c.send({ type: 'subscribe', all: true });
    assert.equal((await c.next()).type, 'subscribed');
    // The history (300 sessions, about 1.3 MB) is still going out: a score published now must come after all of it.
    assert.ok(server.stats().historySlices < 300, `history still going out (${server.stats().historySlices} slices sent)`);
    server.publish(score('s0', 11_000));
    const history: Frame[] = [];
    for (let i = 0; i < 300; i++) history.push(await c.next(10_000));
    assert.deepEqual(
      history.map((f) => `${f.type}:${f.sessionId}:${f.scores.length}`),
      Array.from({ length: 300 }, (_, s) => `history:s${s}:10`),
    );
    const next = await c.next();
    assert.equal(next.type, 'score');
    assert.equal(next.score.windowEnd, 11_000);
    assert.ok(server.stats().historySlices > 100, `history went out in ${server.stats().historySlices} slices of about 2 KiB`);
    c.ws.close();
  });
});
