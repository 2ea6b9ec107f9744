/**
 * wsServer.broadcast, the way alerts reach WebSocket clients: only to clients subscribed to the
 * alert's session (all, the session id, or a filter whose sessionPrefix matches).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { startScoreServer, type ScoreServer } from '../../src/outputs/ws/server.js';

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
