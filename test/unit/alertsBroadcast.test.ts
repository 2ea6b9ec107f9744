/**
 * wsServer.broadcast, the way alerts reach WebSocket clients: only to clients subscribed to the
 * alert's session (all, the session id, or a filter whose sessionPrefix matches). And the
 * recent alerts a subscriber is sent after the history, for the same sessions.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { startScoreServer, type ScoreServer } from '../../src/outputs/ws/server.js';
import type { Alert } from '../../src/scores/alerts.js';
import { createRecentAlerts } from '../../src/scores/recentAlerts.js';
import type { Score } from '../../src/schemas/records.js';

let server: http.Server;
let scores: ScoreServer;
let url: string;

before(async () => {
  server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  scores = await startScoreServer({ server, authTokens: null });
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
});
after(async () => {
  await scores.close();
  await new Promise<void>((r) => server.close(() => r()));
});

/** A client that sent `subscribe` and collects alert messages. */
async function client(subscribe: object): Promise<{ alerts: unknown[]; ws: WebSocket }> {
  const ws = new WebSocket(url);
  const alerts: unknown[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string };
      if (m.type === 'subscribed') resolve();
      if (m.type === 'alert') alerts.push(m);
    });
    ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', ...subscribe })));
  });
  return { alerts, ws };
}

test('broadcast reaches all, session and matching-prefix subscribers only, once each', async () => {
  const all = await client({ all: true });
  const session = await client({ sessions: ['call-1'] });
  const prefix = await client({ filter: { sessionPrefix: 'call-' } });
  const polarityOnly = await client({ filter: { polarity: 'NEGATIVE' } });
  const other = await client({ sessions: ['call-2'], filter: { sessionPrefix: 'stream-' } });
  const both = await client({ all: true, sessions: ['call-1'] });

  const message = { type: 'alert', alert: { sessionId: 'call-1', rule: 'neg', state: 'firing' } };
  scores.broadcast(message, 'call-1');
  const ping = async (c: { ws: WebSocket }) =>
    new Promise<void>((resolve) => {
      c.ws.on('message', (d) => (JSON.parse(d.toString()) as { type: string }).type === 'pong' && resolve());
      c.ws.send('{"type":"ping"}');
    });
  const clients = [all, session, prefix, polarityOnly, other, both];
  await Promise.all(clients.map(ping)); // everything sent before the pong has arrived
  assert.deepEqual(all.alerts, [message]);
  assert.deepEqual(session.alerts, [message]);
  assert.deepEqual(prefix.alerts, [message]);
  assert.deepEqual(polarityOnly.alerts, [message]); // no prefix: every session
  assert.deepEqual(other.alerts, []);
  assert.deepEqual(both.alerts, [message]);
  assert.equal(scores.stats().sessions, 0, 'broadcast keeps no history');
  for (const c of clients) c.ws.close();
});

test('a subscriber gets the recent alerts of the sessions it covers, in one alerts message after the history', async () => {
  const recent = createRecentAlerts();
  const own = http.createServer();
  await new Promise<void>((r) => own.listen(0, '127.0.0.1', r));
  const server = await startScoreServer({ server: own, authTokens: null, recentAlerts: recent });
  const ownUrl = `ws://127.0.0.1:${(own.address() as AddressInfo).port}/ws`;
  const alert = (sessionId: string, state: Alert['state'], at: number): Alert => ({
    type: 'alert',
    sessionId,
    rule: 'neg',
    state,
    since: 1000,
    at,
    score: -1.5,
    message: `${sessionId} ${state}`,
  });
  // Raised before anyone connected: call-1 fired and resolved, call-2 fires still, stream-1 fired.
  for (const a of [
    alert('call-1', 'firing', 11_000),
    alert('call-2', 'firing', 12_000),
    alert('call-1', 'resolved', 13_000),
    alert('stream-1', 'firing', 14_000),
  ])
    recent.add(a);
  server.publish({ sessionId: 'call-1', windowEnd: 13_000, polarity: 'NEGATIVE' } as Score);

  /** The types of the messages a subscription gets up to the alerts message, and that message's alerts. */
  const subscribe = async (selection: object): Promise<{ types: string[]; alerts: string[] }> => {
    const ws = new WebSocket(ownUrl);
    const types: string[] = [];
    try {
      return await new Promise((resolve, reject) => {
        ws.once('error', reject);
        ws.on('message', (data) => {
          const m = JSON.parse(data.toString()) as { type: string; alerts?: Alert[] };
          types.push(m.type);
          if (m.type === 'alerts') resolve({ types, alerts: m.alerts!.map((a) => `${a.sessionId} ${a.state}`) });
        });
        ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', ...selection })));
      });
    } finally {
      ws.close();
    }
  };
  try {
    assert.deepEqual(await subscribe({ all: true }), {
      types: ['subscribed', 'history', 'alerts'],
      alerts: ['call-1 firing', 'call-2 firing', 'call-1 resolved', 'stream-1 firing'],
    });
    assert.deepEqual(await subscribe({ sessions: ['call-1', 'call-9'] }), {
      types: ['subscribed', 'history', 'history', 'alerts'],
      alerts: ['call-1 firing', 'call-1 resolved'],
    });
    assert.deepEqual((await subscribe({ filter: { sessionPrefix: 'call-' } })).alerts, ['call-1 firing', 'call-2 firing', 'call-1 resolved']);
    // Polarity is not checked for alerts (they have none), as for live ones.
    assert.deepEqual((await subscribe({ filter: { polarity: 'POSITIVE' } })).alerts.length, 4);
    assert.deepEqual((await subscribe({ sessions: ['none'] })).alerts, [], 'an empty list says there is nothing');
  } finally {
    await server.close();
    await new Promise<void>((r) => own.close(() => r()));
  }
});
