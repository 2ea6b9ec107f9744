// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * `npm start` under a process manager: SIGTERM or SIGINT sent to the npm process stops the
 * service (npm runs the script with `exec`, so the signal reaches msa itself, which commits and
 * exits), and nothing is left running.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { brokers, repoRoot } from '../fixtures/env.js';

async function startThenSignal(signal: NodeJS.Signals): Promise<{ code: number | null; childGone: boolean }> {
  const npm = spawn('npm', ['start', '--', '--no-sample', '--ws-port', '0'], {
    cwd: repoRoot,
    env: { ...process.env, KAFKA_BROKERS: brokers.join(','), MSA_TOPIC_PREFIX: `sig-${process.pid}.`, MSA_GROUP_ID: `sig-${process.pid}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  while (!out.includes('msa is running')) {
    if (Date.now() > deadline) throw new Error(`npm start did not come up; stdout: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The service is the npm process's only child (exec replaced the shell).
  const { execFileSync } = await import('node:child_process');
  const child = Number(
    execFileSync('pgrep', ['-P', String(npm.pid)])
      .toString()
      .trim()
      .split('\n')[0],
  );
  npm.kill(signal);
  const code = await Promise.race([
    exited,
    new Promise<number | null>((_, reject) => setTimeout(() => reject(new Error(`npm start did not stop within 30 s of ${signal}`)), 30_000)),
  ]);
  let childGone = false;
  for (let i = 0; i < 50 && !childGone; i++) {
    try {
      process.kill(child, 0);
      await new Promise((r) => setTimeout(r, 100));
    } catch {
      childGone = true;
    }
  }
  return { code, childGone };
}

test('SIGTERM to npm start stops the service', { timeout: 180_000 }, async () => {
  const { childGone } = await startThenSignal('SIGTERM');
  assert.ok(childGone, 'msa itself exited, not only npm');
});

test('SIGINT to npm start stops the service', { timeout: 180_000 }, async () => {
  const { childGone } = await startThenSignal('SIGINT');
  assert.ok(childGone, 'msa itself exited, not only npm');
});
