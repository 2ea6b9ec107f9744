/**
 * The HTTP edge on its own (no Kafka): routes, content types, path traversal refused, methods,
 * health, metrics behind the token, and the WebSocket upgrade on the same port.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startHttpServer, type HttpServer } from '../../src/outputs/http/server.js';
import { startScoreServer, type ScoreServer } from '../../src/outputs/ws/server.js';

let httpServer: HttpServer;
let scores: ScoreServer;
let base: string;
let outside: string;
let healthStatus: 'ok' | 'failed' = 'ok';

before(async () => {
  outside = await mkdtemp(join(tmpdir(), 'msa-dash-outside-'));
  await writeFile(join(outside, 'secret.js'), 'secret');
  httpServer = await startHttpServer({
    port: 0,
    health: () => ({ status: healthStatus, model: 'm@1', provider: 'cpu' }),
    metrics: () => ({ scores: 42 }),
    authTokens: ['metrics-token-1'],
  });
  scores = await startScoreServer({ server: httpServer.server, authTokens: null });
  base = `http://127.0.0.1:${httpServer.port}`;
});
after(async () => {
  await scores.close();
  await httpServer.close();
  await rm(outside, { recursive: true, force: true });
});

/** Sends raw bytes (fetch normalises paths, so traversal tests need this) and returns the status line. */
async function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(httpServer.port, '127.0.0.1', () => socket.write(request));
    let data = '';
    socket.on('data', (d) => (data += d.toString()));
    socket.on('end', () => resolve(data.split('\r\n')[0]!));
    socket.on('error', reject);
  });
}

test('the page, its files and uPlot are served with content types and a CSP on the page', async () => {
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(page.headers.get('content-security-policy') ?? '', /connect-src 'self'/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.match(await page.text(), /<title>msa/);
  for (const [path, type] of [
    ['/dashboard/app.js', 'text/javascript; charset=utf-8'],
    ['/dashboard/style.css', 'text/css; charset=utf-8'],
    ['/vendor/uPlot.iife.min.js', 'text/javascript; charset=utf-8'],
    ['/vendor/uPlot.min.css', 'text/css; charset=utf-8'],
  ] as const) {
    const r = await fetch(`${base}${path}`);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('content-type'), type, path);
    const etag = r.headers.get('etag')!;
    assert.equal((await fetch(`${base}${path}`, { headers: { 'if-none-match': etag } })).status, 304, path);
  }
});

test('paths outside the dashboard folder are not found', async () => {
  for (const path of [
    '/dashboard/../package.json',
    '/dashboard/%2e%2e/package.json',
    '/dashboard/..%2fpackage.json',
    '/dashboard/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/dashboard/..\\package.json',
    '/dashboard/.hidden.js',
    '/dashboard/',
    '/dashboard/%zz',
    '/vendor/uPlot.cjs.js',
    '/vendor/../package.json',
    '/etc/passwd',
  ]) {
    assert.match(await raw(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 (404|400)/, path);
  }
});

test('a symlink in the dashboard folder pointing outside is not followed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'msa-dash-'));
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'index.html'), '<title>x</title>');
  await symlink(join(outside, 'secret.js'), join(dir, 'sub', 'leak.js'));
  const s = await startHttpServer({ port: 0, dashboardDir: dir, health: () => ({ status: 'ok' }), metrics: () => ({}) });
  try {
    assert.equal((await fetch(`http://127.0.0.1:${s.port}/`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${s.port}/dashboard/sub/leak.js`)).status, 404);
  } finally {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('methods other than GET and HEAD get 405; unknown paths 404; HEAD has no body', async () => {
  const post = await fetch(`${base}/`, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  assert.equal((await fetch(`${base}/nope`)).status, 404);
  const head = await fetch(`${base}/dashboard/app.js`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal((await head.text()).length, 0);
  assert.equal((await fetch(`${base}/${'a'.repeat(3000)}`)).status, 414);
  assert.match(await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), /^HTTP\/1\.1 431/);
});

test('healthz says status, model and provider; 503 when not ok', async () => {
  const r = await fetch(`${base}/healthz`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { status: 'ok', model: 'm@1', provider: 'cpu' });
  healthStatus = 'failed';
  assert.equal((await fetch(`${base}/healthz`)).status, 503);
  healthStatus = 'ok';
});

test('metrics need the bearer token when tokens are configured: JSON on /metrics.json, no registry: /metrics is 404', async () => {
  for (const path of ['/metrics', '/metrics.json']) {
    assert.equal((await fetch(`${base}${path}`)).status, 401);
    assert.equal((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer wrong-token-0' } })).status, 401);
  }
  const ok = await fetch(`${base}/metrics.json`, { headers: { authorization: 'Bearer metrics-token-1' } });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { scores: 42 });
  assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer metrics-token-1' } })).status, 404);
});

test('the WebSocket upgrade works on /ws of the same port; a plain GET /ws gets 426', async () => {
  assert.equal((await fetch(`${base}/ws`)).status, 426);
  const ws = new WebSocket(`ws://127.0.0.1:${httpServer.port}/ws`);
  const reply = await new Promise<string>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => ws.send('{"type":"ping","id":1}'));
    ws.once('message', (d) => resolve(d.toString()));
  });
  assert.deepEqual(JSON.parse(reply), { type: 'pong', id: 1 });
  ws.close();
  const other = new WebSocket(`ws://127.0.0.1:${httpServer.port}/elsewhere`);
  await assert.rejects(
    new Promise((resolve, reject) => {
      other.once('open', resolve);
      other.once('error', reject);
    }),
    /404/,
  );
});
