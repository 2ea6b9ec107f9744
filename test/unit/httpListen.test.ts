/** A port already in use is reported so a person knows what to do (--ws-port), not as a bare EADDRINUSE. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startHttpServer } from '../../src/outputs/http/server.js';

test('EADDRINUSE on the WebSocket port names the port and suggests --ws-port', async () => {
  const first = await startHttpServer({ port: 0, health: () => ({ status: 'ok', model: 'm@1', provider: 'cpu' }), metrics: () => ({}), authTokens: [] });
  try {
    await assert.rejects(
      startHttpServer({ port: first.port, health: () => ({ status: 'ok', model: 'm@1', provider: 'cpu' }), metrics: () => ({}), authTokens: [] }),
      (e: unknown) =>
        e instanceof Error &&
        e.message.includes(`port ${first.port} on 127.0.0.1 is already in use`) &&
        /--ws-port/.test(e.message) &&
        (e.cause as NodeJS.ErrnoException).code === 'EADDRINUSE',
    );
  } finally {
    await first.close();
  }
});
