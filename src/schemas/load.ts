/**
 * Finds and reads the Avro schemas in `schemas/` and the local schema-id registry.
 * The folder is located from this module's own path (works from `src/` under tsx and from
 * `dist/src/` after a build), never from the current working directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Schema } from 'avsc';
import { RECORD_KINDS, SCHEMA_FILES, type RecordKind } from './kinds.js';

const REGISTRY_FILE = 'registry.json';

/** The `schemas/` folder of this package: the nearest ancestor folder holding `schemas/registry.json`. */
export function defaultSchemaDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'schemas');
    if (existsSync(join(candidate, REGISTRY_FILE))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find schemas/${REGISTRY_FILE} above ${fileURLToPath(import.meta.url)}; pass schemaDir explicitly`);
    }
    dir = parent;
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** The parsed Avro schema of each record kind. */
export function loadSchemas(schemaDir: string): Record<RecordKind, Schema> {
  const out = {} as Record<RecordKind, Schema>;
  for (const kind of RECORD_KINDS) out[kind] = readJson(join(schemaDir, SCHEMA_FILES[kind])) as Schema;
  return out;
}

/**
 * The schema id of each record kind, from `registry.json` (`{ "schemas": { "<id>": "<file>.avsc" } }`).
 * Every kind must have exactly one id there.
 */
export function loadSchemaIds(schemaDir: string): Record<RecordKind, number> {
  const path = join(schemaDir, REGISTRY_FILE);
  const json = readJson(path) as { schemas?: Record<string, unknown> };
  const entries = Object.entries(json.schemas ?? {});
  const ids = {} as Record<RecordKind, number>;
  for (const kind of RECORD_KINDS) {
    const found = entries.filter(([, file]) => file === SCHEMA_FILES[kind]);
    if (found.length !== 1) {
      throw new Error(`${path} must map exactly one schema id to ${SCHEMA_FILES[kind]}, found ${found.length}`);
    }
    ids[kind] = parseSchemaId(found[0]![0], path);
  }
  return ids;
}

function parseSchemaId(text: string, where: string): number {
  const id = Number(text);
  if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
    throw new Error(`schema id must be an integer in 0..2147483647, got ${JSON.stringify(text)} in ${where}`);
  }
  return id;
}
