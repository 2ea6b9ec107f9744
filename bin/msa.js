#!/usr/bin/env node
// The `msa` command. Runs the compiled CLI from dist/, building it first when it is missing or
// older than a source file (so a checkout that changed src/ never runs a stale build).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'cli', 'main.js');
// Written by scripts/ensure-deps.mjs after each successful build (tsc leaves unchanged outputs alone).
const stamp = join(root, 'dist', '.built');

/** Newest modification time (ms) of the .ts files under `dir`; 0 when there is none. */
function newestSource(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

if (!existsSync(entry) || !existsSync(stamp) || newestSource(join(root, 'src')) > statSync(stamp).mtimeMs) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'ensure-deps.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const { main } = await import(entry);
await main(process.argv);
