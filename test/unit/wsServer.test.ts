import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { startScoreServer, type ScoreServer, type ScoreServerOptions } from '../../src/outputs/ws/server.js';
import type { Score } from '../../src/schemas/records.js';
import { score, TestClient, until, type Frame } from '../fixtures/wsClient.js';

// Real ws clients against a real server on an ephemeral loopback port.

const servers: ScoreServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(options: Partial<ScoreServerOptions> = {}): Promise<ScoreServer> {
  const s = await startScoreServer({ port: 0, host: '127.0.0.1', authTokens: null, ...options });
  servers.push(s);
  return s;
}

describe('score WebSocket server', () => {
  it('sends a client subscribed to one session only that session, in order', async () => {
    const server = await start();
    const c = await TestClient.connect(server);
    c.send({ type: 'subscribe', id: 7, sessions: ['s1'] });
    assert.deepEqual(await c.next(), { type: 'subscribed', id: 7, subscriptions: { all: false, sessions: ['s1'], filters: [] } });
    assert.deepEqual(await c.next(), { type: 'history', sessionId: 's1', scores: [] });
    for (let i = 1; i <= 5; i++) {
      server.publish(score('s1', i * 1000, i / 10));
      server.publish(score('s2', i * 1000));
    }
    for (let i = 1; i <= 5; i++) {
      const f = await c.next();
      assert.equal(f.type, 'score');
      assert.deepEqual(f.score, score('s1', i * 1000, i / 10));
    }
    await c.nothingWithin();
    c.ws.close();
  });

  it('sends every session to a client subscribed to all', async () => {
    const server = await start();
    const c = await TestClient.connect(server);
    c.send({ type: 'subscribe', all: true });
    assert.equal((await c.next()).type, 'subscribed');
    server.publish(score('a', 1000));
    server.publish(score('b', 1000));
    server.publish(score('a', 2000));
    assert.deepEqual(
      [await c.next(), await c.next(), await c.next()].map((f) => [f.score.sessionId, f.score.windowEnd]),
      [
        ['a', 1000],
        ['b', 1000],
        ['a', 2000],
      ],
    );
    assert.equal(server.stats().subscriptions, 1);
    c.ws.close();
  });

  it('sends the recent history (historySize, oldest first) and then live scores', async () => {
    const server = await start({ historySize: 3 });
    for (let i = 1; i <= 5; i++) server.publish(score('s1', i * 1000));
    server.publish(score('s1', 3000, -2)); // same window again: replaces it in history
    server.publish(score('other', 1000));
    const c = await TestClient.connect(server);
    c.send({ type: 'subscribe', sessions: ['s1'] });
    assert.equal((await c.next()).type, 'subscribed');
    const h = await c.next();
    assert.equal(h.type, 'history');
    assert.equal(h.sessionId, 's1');
    assert.deepEqual(
      h.scores.map((s: Score) => [s.windowEnd, s.score]),
      [
        [3000, -2],
        [4000, 1],
        [5000, 1],
      ],
    );
    server.publish(score('s1', 6000));
    const live = await c.next();
    assert.equal(live.type, 'score');
    assert.equal(live.score.windowEnd, 6000);
    c.ws.close();
  });

  it('filters by session prefix and polarity, with filtered history; unsubscribe stops delivery', async () => {
    const server = await start();
    server.publish(score('call-1', 1000, -2));
    server.publish(score('call-1', 2000, 2));
    server.publish(score('stream-1', 1000, -2));
    const c = await TestClient.connect(server);
    const filter = { sessionPrefix: 'call-', polarity: 'NEGATIVE' };
    c.send({ type: 'subscribe', filter });
    assert.deepEqual((await c.next()).subscriptions.filters, [{ sessionPrefix: 'call-', polarity: ['NEGATIVE'] }]);
    const h = await c.next();
    assert.deepEqual([h.sessionId, h.scores.map((s: Score) => s.windowEnd)], ['call-1', [1000]]);
    server.publish(score('call-2', 1000, -1));
    server.publish(score('call-2', 2000, 1));
    server.publish(score('stream-1', 2000, -1));
    const f = await c.next();
    assert.deepEqual([f.score.sessionId, f.score.windowEnd], ['call-2', 1000]);
    await c.nothingWithin();
    c.send({ type: 'unsubscribe', filter });
    assert.deepEqual(await c.next(), { type: 'unsubscribed', subscriptions: { all: false, sessions: [], filters: [] } });
    server.publish(score('call-2', 3000, -1));
    await c.nothingWithin();
    c.ws.close();
  });

  it('lists known sessions, newest first', async () => {
    const server = await start();
    server.publish(score('a', 1000));
    server.publish(score('b', 1000, -1));
    server.publish(score('a', 2000, 0));
    const c = await TestClient.connect(server);
    c.send({ type: 'sessions', id: 'q1' });
    const f = await c.next();
    assert.equal(f.id, 'q1');
    assert.deepEqual(
      f.sessions.map((s: Frame) => [s.sessionId, s.windowEnd, s.polarity]),
      [
        ['a', 2000, 'NEUTRAL'],
        ['b', 1000, 'NEGATIVE'],
      ],
    );
    assert.equal(f.total, 2);
    c.send({ type: 'sessions', prefix: 'b', limit: 1 });
    assert.deepEqual(
      (await c.next()).sessions.map((s: Frame) => s.sessionId),
      ['b'],
    );
    c.send({ type: 'ping', id: 3 });
    assert.deepEqual(await c.next(), { type: 'pong', id: 3 });
    c.ws.close();
  });

  describe('authentication', () => {
    const token = 'right-token-123';
    const authed = () => start({ authTokens: [token], authTimeoutMs: 200 });

    it('closes with 4401 a client that sends anything but auth first', async () => {
      const server = await authed();
      const c = await TestClient.connect(server);
      c.send({ type: 'subscribe', all: true });
      const closed = await c.closed;
      assert.equal(closed.code, 4401);
      assert.match(closed.reason, /authentication required/);
      assert.equal(server.stats().authFailures, 1);
    });

    it('closes with 4401 a wrong bearer header, a malformed one, and a wrong auth message', async () => {
      const server = await authed();
      const wrongHeader = await TestClient.connect(server, { authorization: 'Bearer wrong-token-123' });
      assert.deepEqual(await wrongHeader.closed, { code: 4401, reason: 'invalid token' });
      const malformed = await TestClient.connect(server, { authorization: token });
      assert.match((await malformed.closed).reason, /malformed Authorization header/);
      const wrongMessage = await TestClient.connect(server);
      wrongMessage.send({ type: 'auth', token: 'nope' });
      assert.deepEqual(await wrongMessage.closed, { code: 4401, reason: 'invalid token' });
      assert.equal(server.stats().authFailures, 3);
    });

    it('closes with 4401 a client that does not authenticate in time', async () => {
      const server = await authed();
      const c = await TestClient.connect(server);
      const closed = await c.closed;
      assert.equal(closed.code, 4401);
      assert.match(closed.reason, /authentication timeout/);
    });

    it('accepts the right token as a bearer header or as the first message', async () => {
      const server = await authed();
      const byHeader = await TestClient.connect(server, { authorization: `Bearer ${token}` });
      byHeader.send({ type: 'subscribe', sessions: ['s1'] });
      assert.equal((await byHeader.next()).type, 'subscribed');
      const byMessage = await TestClient.connect(server);
      byMessage.send({ type: 'auth', id: 1, token });
      assert.deepEqual(await byMessage.next(), { type: 'authenticated', id: 1, token: { name: 'token-1', sessionPrefixes: '*' } });
      byMessage.send({ type: 'subscribe', sessions: ['s1'] });
      assert.equal((await byMessage.next()).type, 'subscribed');
      await sleep(300); // past the auth timeout: still connected
      server.publish(score('s1', 1000));
      await byHeader.next(); // history
      await byMessage.next(); // history
      assert.equal((await byHeader.next()).type, 'score');
      assert.equal((await byMessage.next()).type, 'score');
      assert.equal(server.stats().authenticatedClients, 2);
      assert.equal(server.stats().authFailures, 0);
      byHeader.ws.close();
      byMessage.ws.close();
    });
  });

  describe('bad messages', () => {
    it('answers each with an error naming the bad value, and keeps the connection', async () => {
      const server = await start({ maxSubscriptions: 2, maxMessageBytes: 1024 });
      const c = await TestClient.connect(server);
      const expectError = async (msg: unknown, code: string, pattern: RegExp) => {
        c.send(msg);
        const f = await c.next();
        assert.equal(f.type, 'error', JSON.stringify(f));
        assert.equal(f.code, code);
        assert.match(f.error, pattern);
        return f;
      };
      await expectError('{"type": "subscribe", sessions', 'bad_json', /not valid JSON.*sessions/);
      await expectError('[1,2]', 'invalid_message', /must be a JSON object, got \[1,2\]/);
      const unknown = await expectError({ type: 'subscrib', id: 9 }, 'unknown_type', /unknown message type "subscrib"/);
      assert.equal(unknown.id, 9);
      const bad = await expectError(
        { type: 'subscribe', filter: { polarity: ['NEGATIVE', 'ANGRY'] } },
        'invalid_message',
        /filter\.polarity\.1: Invalid enum value.*received 'ANGRY' \(got "ANGRY"\)/,
      );
      assert.equal(bad.detail[0].got, 'ANGRY');
      await expectError({ type: 'subscribe', sessions: ['a'], colour: 'red' }, 'invalid_message', /colour/);
      await expectError({ type: 'subscribe' }, 'invalid_message', /give "sessions"/);
      await expectError({ type: 'subscribe', sessions: ['a', 'b', 'c'] }, 'too_many_subscriptions', /limit is 2/);
      await expectError({ type: 'subscribe', sessions: ['x'], pad: 'y'.repeat(2000) }, 'message_too_large', /over the limit of 1024 bytes/);
      c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
      const bin = await c.next();
      assert.equal(bin.code, 'not_text');
      // Still usable: the failed subscribe applied nothing.
      c.send({ type: 'subscribe', sessions: ['a', 'b'] });
      assert.deepEqual((await c.next()).subscriptions.sessions, ['a', 'b']);
      assert.equal(server.stats().badMessages, 9);
      c.ws.close();
    });

    it('closes with 1009 a message far over the limit, unread', async () => {
      const server = await start({ maxMessageBytes: 1024 });
      const c = await TestClient.connect(server);
      c.send('x'.repeat(5000));
      assert.equal((await c.closed).code, 1009);
    });
  });

  it('closes a client that stops reading with 1013 while a reading client keeps receiving', async () => {
    const server = await start({ maxBufferedBytes: 512 * 1024, maxBufferedMessages: 10_000, closeTimeoutMs: 10_000 });
    const slow = await TestClient.connect(server);
    const normal = await TestClient.connect(server);
    for (const c of [slow, normal]) {
      c.send({ type: 'subscribe', sessions: ['big'] });
      assert.equal((await c.next()).type, 'subscribed');
      assert.equal((await c.next()).type, 'history');
    }
    slow.socket.pause();
    const padding = 'x'.repeat(64 * 1024);
    let published = 0;
    // Loopback buffers absorb a few MB before the server's socket buffer grows; 64 MB is ample.
    while (server.stats().slowClientCloses === 0 && published < 1000) {
      server.publish(score('big', ++published * 1000, 1, { modelVersion: padding }));
      await tick();
    }
    assert.equal(server.stats().slowClientCloses, 1, `not closed after ${published} scores`);
    for (let i = 0; i < 3; i++) server.publish(score('big', ++published * 1000, 1, { modelVersion: padding }));
    for (let i = 1; i <= published; i++) {
      const f = await normal.next(5000);
      assert.equal(f.score.windowEnd, i * 1000);
    }
    slow.socket.resume();
    const closed = await slow.closed;
    assert.equal(closed.code, 1013);
    assert.match(closed.reason, /^slow consumer: \d+ bytes buffered \(limit 524288\)$/);
    assert.ok(slow.frames.length < published, 'the slow client got less than everything');
    assert.equal(normal.ws.readyState, WebSocket.OPEN);
    await until(() => server.stats().clients === 1); // the server sees the close a moment later
    normal.ws.close();
  });

  it('terminates a client that does not answer pings', async () => {
    const server = await start({ pingIntervalMs: 50 });
    const c = await TestClient.connect(server);
    c.socket.pause();
    await until(() => server.stats().deadClientTerminations === 1);
    await until(() => server.stats().clients === 0);
    c.ws.terminate();
  });

  it('close() closes clients with 1001, stops listening and is idempotent', async () => {
    const server = await start();
    const c = await TestClient.connect(server);
    c.send({ type: 'subscribe', all: true });
    await c.next();
    const port = server.port;
    await Promise.all([server.close(), server.close()]);
    assert.deepEqual(await c.closed, { code: 1001, reason: 'server shutting down' });
    assert.equal(server.stats().clients, 0);
    assert.equal(server.stats().subscriptions, 0);
    server.publish(score('s1', 1000)); // ignored, no throw
    const refused = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await assert.rejects(new Promise((_resolve, reject) => refused.once('error', reject)), /ECONNREFUSED/);
  });

  it('shares a given HTTP server, answers 404 to other paths, and leaves that server open', async () => {
    const http1 = http.createServer((_req, res) => res.end('dashboard'));
    await new Promise<void>((resolve) => http1.listen(0, '127.0.0.1', resolve));
    const server = await startScoreServer({ server: http1, authTokens: null });
    assert.equal(server.port, (http1.address() as AddressInfo).port);
    const c = await TestClient.connect(server);
    c.send({ type: 'ping' });
    assert.equal((await c.next()).type, 'pong');
    const wrong = new WebSocket(`ws://127.0.0.1:${server.port}/other`);
    await assert.rejects(new Promise((_resolve, reject) => wrong.once('error', reject)), /404/);
    await server.close();
    assert.equal((await c.closed).code, 1001);
    assert.equal(http1.listening, true);
    await new Promise((resolve) => http1.close(resolve));
  });

  it('refuses bad options, naming the value', async () => {
    await assert.rejects(startScoreServer({ authTokens: [''] }), /authTokens\[0\] \("token-1"\): the token must be a non-empty string/);
    await assert.rejects(
      startScoreServer({ authTokens: [{ token: 'tenant-token-1', sessionPrefixes: [] }] }),
      /authTokens\[0\] \("token-1"\): a token's sessionPrefixes must be '\*' or a non-empty list/,
    );
    await assert.rejects(
      startScoreServer({ authTokens: ['same-token-1', { name: 'acme', token: 'same-token-1', sessionPrefixes: ['acme-'] }] }),
      /authTokens\[1\] \("acme"\): the same token as authTokens\[0\] \("token-1"\)/,
    );
    await assert.rejects(startScoreServer({ authTokens: null, maxConnectionsPerToken: 0 }), /maxConnectionsPerToken must be an integer >= 1, got 0/);
    await assert.rejects(startScoreServer({ authTokens: null, historySize: 0 }), /historySize must be an integer >= 1, got 0/);
    await assert.rejects(startScoreServer({ authTokens: null, path: 'ws' }), /path must start with '\/', got "ws"/);
  });
});
