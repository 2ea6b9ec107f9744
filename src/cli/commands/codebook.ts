/**
 * `msa codebook fit --input DIR_OR_FILES --modality acoustic|visual --k 32 --out FILE
 * [--sequence-norm N]`: fits a k-means codebook on the pooled vectors of `featurize` output
 * (features.jsonl files, or folders holding them) and writes the versioned JSON artifact. With
 * `--sequence-norm`, each record's vectors are normalised as one sequence first (`sequenceNorm`).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { fitCodebook, fitNormalisedCodebook, saveCodebook, type Codebook, type Modality } from '../../features/codebook.js';
import type { FeatureRecord } from '../../features/featurize.js';
import { ACOUSTIC_FEATURES } from '../../features/acoustic/index.js';
import { VISUAL_FEATURES } from '../../features/visual/index.js';

interface FitFlags {
  input: string[];
  modality: Modality;
  k: number;
  seed: number;
  out: string;
  maxVectors: number;
  sequenceNorm?: number;
}

/**
 * Vectors of one modality from featurize output, one sequence per record (null visual entries,
 * frames without a face, are left out; empty sequences too). Whole records are read until
 * `maxVectors` vectors are in.
 */
export async function readSequences(
  inputs: readonly string[],
  modality: Modality,
  maxVectors = Infinity,
): Promise<{ sequences: number[][][]; sources: string[] }> {
  const sequences: number[][][] = [];
  let count = 0;
  const sources: string[] = [];
  for (const input of inputs) {
    const file = (await stat(input)).isDirectory() ? join(input, 'features.jsonl') : input;
    sources.push(file);
    const lines = (await readFile(file, 'utf8')).split('\n');
    for (const [i, line] of lines.entries()) {
      if (!line.trim()) continue;
      let rec: FeatureRecord;
      try {
        rec = JSON.parse(line) as FeatureRecord;
      } catch {
        throw new Error(`${file}:${i + 1}: not JSON; expected featurize output`);
      }
      const names = modality === 'acoustic' ? rec.acousticNames : rec.visualNames;
      const expected = modality === 'acoustic' ? ACOUSTIC_FEATURES : VISUAL_FEATURES;
      if (!names || names.join() !== expected.join())
        throw new Error(`${file}:${i + 1}: ${modality} feature names differ from this version's layout; re-run featurize`);
      const sequence = (modality === 'acoustic' ? rec.acoustic : rec.visual).filter((v): v is number[] => v !== null);
      if (sequence.length === 0 || count >= maxVectors) continue;
      sequences.push(sequence);
      count += sequence.length;
    }
  }
  return { sequences, sources };
}

export async function runCodebookFit(flags: FitFlags): Promise<Codebook> {
  const { sequences, sources } = await readSequences(flags.input, flags.modality, flags.maxVectors);
  const names = flags.modality === 'acoustic' ? ACOUSTIC_FEATURES : VISUAL_FEATURES;
  const options = { modality: flags.modality, featureNames: names, k: flags.k, seed: flags.seed, sources };
  const cb = flags.sequenceNorm === undefined ? fitCodebook(sequences.flat(), options) : fitNormalisedCodebook(sequences, flags.sequenceNorm, options);
  await saveCodebook(flags.out, cb);
  return cb;
}

const positiveInt = (what: string) => (raw: string) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer ${what}, got "${raw}"`);
  return n;
};

export function register(program: Command): void {
  const cmd = program.command('codebook').description('Fit and inspect the k-means codebooks that turn feature vectors into indices');
  cmd
    .command('fit')
    .description('Fit a codebook on featurize output and write the versioned JSON artifact')
    .requiredOption('--input <paths...>', 'features.jsonl files or folders holding one')
    .addOption(new Option('--modality <m>', 'which vectors').choices(['acoustic', 'visual']).makeOptionMandatory())
    .option('--k <n>', 'number of centroids', positiveInt('k'), 32)
    .option('--seed <n>', 'k-means++ seed', positiveInt('seed'), 42)
    .option('--max-vectors <n>', 'use whole records until this many vectors are in', positiveInt('vector count'), 200_000)
    .option(
      '--sequence-norm <n>',
      "normalise each record's vectors as one sequence first, with a prior worth n vectors (quantising does the same per window)",
      positiveInt('prior weight'),
    )
    .requiredOption('--out <file>', 'where to write the codebook, e.g. models/codebooks/acoustic.json')
    .action(async (flags: FitFlags) => {
      const cb = await runCodebookFit(flags);
      process.stderr.write(
        `codebook: ${cb.modality} k=${cb.k} dim=${cb.dim} on ${cb.fittedOn.vectors} vectors (${cb.fittedOn.iterations} iterations, inertia ${cb.fittedOn.inertia.toFixed(1)}) -> ${flags.out}\n`,
      );
    });
}
