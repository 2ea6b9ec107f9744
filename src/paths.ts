import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding this project's package.json, found from this module (src/ or dist/src/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'dashboard'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the msa package root (a folder with package.json and dashboard/) above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}
