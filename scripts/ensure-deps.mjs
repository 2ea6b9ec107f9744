#!/usr/bin/env node
// First-use installer for `npm start` and `npm test`: installs node modules when they are missing
// or older than the lockfile, then compiles the TypeScript (incremental, so fast when unchanged).
// onnxruntime-node's install script would download CUDA libraries from the internet, which fails
// offline, so it is skipped (DESIGN §11); the CPU provider ships inside the npm package.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_onnxruntime_node_install: 'skip' };
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error(`ensure-deps: '${cmd} ${args.join(' ')}' failed with exit code ${r.status}`);
    process.exit(r.status ?? 1);
  }
};

const installed = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  console.error('ensure-deps: installing node modules (npm ci)...');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')]);
// bin/msa.js rebuilds when a source file is newer than this stamp.
writeFileSync(join(root, 'dist', '.built'), `${new Date().toISOString()}\n`);
