import { readFile, realpath, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';

/**
 * Static files for the dashboard: the page's own folder and the two uPlot files from
 * node_modules. Only regular files inside the folder, with a known extension, under a size
 * limit; anything that could climb out of it (`..`, encoded or not, backslashes, symlinks
 * pointing outside) is not found.
 */

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
};

/** Largest static file served; the dashboard's are a few KiB, uPlot ~50 KiB. */
export const MAX_STATIC_BYTES = 2 * 1024 * 1024;

export interface StaticFile {
  body: Buffer;
  contentType: string;
  /** Weak validator from size and mtime, for If-None-Match. */
  etag: string;
}

/** The uPlot files the page loads, by the name it asks for, resolved through the package (not cwd). */
export function vendorFiles(): Record<string, string> {
  const require = createRequire(import.meta.url);
  let dist: string;
  try {
    dist = join(dirname(require.resolve('uplot/package.json')), 'dist');
  } catch (e) {
    throw new Error(`the dashboard needs the uplot package, which is not installed (${(e as Error).message}); run npm install`);
  }
  return {
    'uPlot.iife.min.js': join(dist, 'uPlot.iife.min.js'),
    'uPlot.min.css': join(dist, 'uPlot.min.css'),
  };
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/**
 * The file `relative` (a URL path below the folder, still percent-encoded) names inside `root`,
 * or null when it is not a servable file. Throws nothing for bad input: bad is not found.
 */
export async function readStaticFile(root: string, relative: string): Promise<StaticFile | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    return null;
  }
  const segments = decoded.split('/');
  // Every segment a plain name: no '', '.', '..', dot-files, backslashes, NUL or drive letters.
  if (segments.length === 0 || segments.length > 8 || !segments.every((s) => SEGMENT.test(s))) return null;
  return readFileIn(root, join(...segments));
}

/** Reads `file` if it is a regular file inside `root` (after symlinks), with a known extension. */
export async function readFileIn(root: string, file: string): Promise<StaticFile | null> {
  const contentType = CONTENT_TYPES[extname(file).toLowerCase()];
  if (contentType === undefined) return null;
  try {
    const realRoot = await realpath(root);
    const real = await realpath(resolve(root, file));
    if (!real.startsWith(realRoot + sep)) return null;
    const info = await stat(real);
    if (!info.isFile() || info.size > MAX_STATIC_BYTES) return null;
    const body = await readFile(real);
    return { body, contentType, etag: `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"` };
  } catch {
    return null; // missing, unreadable: not found
  }
}
