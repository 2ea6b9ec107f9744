#!/usr/bin/env node
// `npm test`: lint, then every test against real parts: a Kafka broker (the project's own,
// started here unless KAFKA_BROKERS names one), ONNX Runtime, WebSocket clients, and the
// Python training tests in the project's virtual environment. Type-checking happens in the
// build that `pretest` runs. Exits non-zero when anything fails.
import { readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env };
const failures = [];

function step(name, cmd, args, opts = {}) {
  console.log(`\n=== ${name}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: opts.capture ? ['ignore', 'pipe', 'inherit'] : 'inherit', env });
  if (r.status !== 0) failures.push(`${name} (exit ${r.status ?? r.signal})`);
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

const only = process.argv.slice(2);
step('lint', process.execPath, [join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '.']);

// The training venv first: the Python tests need it, and so do the Node tests that check
// `msa eval` against the Python evaluation (they find it through MSA_PYTHON).
let python = null;
const setup = step('python venv', 'bash', [join(root, 'training', 'setup.sh')], { capture: true });
if (setup.status === 0) {
  python = join(setup.stdout.toString().trim().split('\n').pop(), 'bin', 'python');
  env.MSA_PYTHON = python;
}

let startedBroker = false;
if (!env.KAFKA_BROKERS) {
  const r = step('kafka broker', process.execPath, [join(root, 'bin', 'msa.js'), 'kafka', 'start', '--json'], { capture: true });
  if (r.status === 0) {
    const info = JSON.parse(r.stdout.toString());
    env.KAFKA_BROKERS = info.brokers.join(',');
    startedBroker = info.started;
    console.log(`broker: ${env.KAFKA_BROKERS}${startedBroker ? ' (started for the tests)' : ' (already running)'}`);
  }
}

const tests = only.length > 0 ? only : findTests(join(root, 'test'));
step('node tests', process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...tests]);
if (only.length === 0 && python) step('python tests', python, ['-m', 'pytest', '-q', 'training/tests']);

if (startedBroker) step('kafka broker stop', process.execPath, [join(root, 'bin', 'msa.js'), 'kafka', 'stop']);

if (failures.length > 0) {
  console.error(`\nFAILED: ${failures.join(', ')}`);
  process.exit(1);
}
console.log('\nall test steps passed');
