#!/usr/bin/env node
// `npm test`: lint and format checks, then every test against real parts: a Kafka broker (the
// project's own, started here unless KAFKA_BROKERS names one), ONNX Runtime, WebSocket clients,
// and the Python training tests in the project's virtual environment. Type-checking happens in
// the build that `pretest` runs. Exits non-zero when anything fails.
//
// `node scripts/test.mjs FILE...` runs only those files: no lint, no pytest, and the broker or
// the Python venv only when a file says it needs them (a `// @needs kafka` / `// @needs python`
// line at its top).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env };
const failures = [];
const started = Date.now();

/** Runs one step; `timeoutMin` kills it (SIGKILL) when it runs longer, and counts that as a failure. */
function step(name, cmd, args, opts = {}) {
  console.log(`\n=== ${name}: ${cmd} ${args.join(' ')}`);
  const t0 = Date.now();
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: opts.capture ? ['ignore', 'pipe', 'inherit'] : 'inherit',
    env,
    ...(opts.timeoutMin ? { timeout: opts.timeoutMin * 60_000, killSignal: 'SIGKILL' } : {}),
  });
  const timedOut = r.error?.code === 'ETIMEDOUT';
  if (r.status !== 0) failures.push(`${name} (${timedOut ? `killed after ${opts.timeoutMin} min` : `exit ${r.status ?? r.signal}`})`);
  console.log(`=== ${name}: ${r.status === 0 ? 'ok' : timedOut ? 'KILLED (took too long)' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return r;
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

/** What a test file says it needs: `// @needs kafka` and/or `// @needs python` in its first lines. */
function needsOf(file) {
  const head = readFileSync(join(root, file), 'utf8').split('\n').slice(0, 5).join('\n');
  return new Set([...head.matchAll(/^\/\/ @needs (\w+)/gm)].map((m) => m[1]));
}

const only = process.argv.slice(2);
const all = only.length === 0;
const tests = all ? findTests(join(root, 'test')) : only;
const needs = new Set(tests.flatMap((f) => [...needsOf(f)]));
const bin = (pkg, path) => join(root, 'node_modules', pkg, path);

if (all) {
  step('lint', process.execPath, [bin('eslint', 'bin/eslint.js'), '.']);
  step('format', process.execPath, [bin('prettier', 'bin/prettier.cjs'), '--check', '--log-level', 'warn', '.']);
}

// The training venv first: the Python tests need it, and so do the Node tests that check
// `msa eval` against the Python evaluation (they find it through MSA_PYTHON).
let python = null;
if (all || needs.has('python')) {
  const setup = step('python venv', 'bash', [join(root, 'training', 'setup.sh')], { capture: true });
  if (setup.status === 0) {
    python = join(setup.stdout.toString().trim().split('\n').pop(), 'bin', 'python');
    env.MSA_PYTHON = python;
  }
}

// The tests' own broker: its own ports and data dir, started empty every time (`--fresh`). A
// broker that kept the topics of earlier runs (every test makes its own) grows to thousands of
// partitions, and then takes minutes to start and answers slowly enough to fail tests.
const cacheDir = process.env.MSA_CACHE_DIR || join(homedir(), '.cache', 'msa');
const testBroker = ['--port', '19092', '--controller-port', '19093', '--data-dir', join(cacheDir, 'test-kafka-data')];
let startedBroker = false;
if ((all || needs.has('kafka')) && !env.KAFKA_BROKERS) {
  const msa = join(root, 'bin', 'msa.js');
  spawnSync(process.execPath, [msa, 'kafka', 'stop', ...testBroker], { cwd: root, stdio: 'ignore', env }); // one left by a killed run
  const r = step('kafka broker', process.execPath, [msa, 'kafka', 'start', '--fresh', '--json', ...testBroker], { capture: true });
  if (r.status === 0) {
    const info = JSON.parse(r.stdout.toString());
    env.KAFKA_BROKERS = info.brokers.join(',');
    startedBroker = info.started;
    console.log(`broker: ${env.KAFKA_BROKERS}${startedBroker ? ' (started for the tests)' : ' (already running)'}`);
  }
}

// --test-force-exit: a file whose test timed out still ends (a child process or a Kafka client it
// left open would otherwise keep it, and the whole run, waiting); the step's own limit is the last guard.
step('node tests', process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-force-exit', '--test-reporter=spec', ...tests], {
  timeoutMin: all ? 60 : undefined,
});
if (all && python) {
  step('python lint', python, ['-m', 'ruff', 'check', 'training']);
  step('python format', python, ['-m', 'ruff', 'format', '--check', 'training']);
  step('python tests', python, ['-m', 'pytest', '-q', 'training/tests'], { timeoutMin: 20 });
}

// The fault suite's short run (bench/chaos.ts --short): real `msa run` processes on its own broker
// (ports 19401/19402), kill -9, SIGTERM, a broker outage, 1 -> 3 -> 1 and poison records; it exits
// non-zero when a window is lost, duplicated or contradicted, or a process crashed.
if (all)
  step('fault suite (short)', process.execPath, ['--import', 'tsx', join(root, 'bench', 'chaos.ts'), '--short', '--sessions', '4', '--json'], {
    timeoutMin: 20,
  });

if (startedBroker) step('kafka broker stop', process.execPath, [join(root, 'bin', 'msa.js'), 'kafka', 'stop', ...testBroker]);

const took = `${((Date.now() - started) / 60000).toFixed(1)} min`;
if (failures.length > 0) {
  console.error(`\nFAILED: ${failures.join(', ')} (${took})`);
  process.exit(1);
}
console.log(`\nall test steps passed (${took})`);
