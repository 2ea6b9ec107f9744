import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as transformers from '@huggingface/transformers';

/** Token ids of a batch of texts, one unpadded row per text (padding is the batcher's job). */
export interface TokenizedBatch {
  inputIds: number[][];
  attentionMask: number[][];
}

/** The text encoder's tokenizer, as the model was trained with it. */
export interface TextTokenizer {
  /** The folder it was loaded from. */
  readonly folder: string;
  /**
   * Tokenizes each text as the Python tokenizer does: special tokens ([CLS] ... [SEP] for BERT)
   * added, truncated at the end so that a row holds at most `maxTokens` ids (specials included).
   */
  encode(texts: readonly string[], maxTokens: number): TokenizedBatch;
  /** Number of ids `text` takes without truncation, special tokens included. */
  countTokens(text: string): number;
}

/** The files a Hugging Face tokenizer folder must hold (what `save_pretrained` writes). */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'];

/**
 * Loads the tokenizer saved in `folder` (`tokenizer.json` + `tokenizer_config.json`), offline.
 *
 * The two files are read here and handed to the class `AutoTokenizer` would pick from
 * `tokenizer_class`, instead of calling `AutoTokenizer.from_pretrained`: so no hub code path
 * runs at all (no network, no cache files written, no need to set the library's global `env`,
 * which would be shared with every other user of the library in the process).
 */
export async function loadTokenizer(folder: string): Promise<TextTokenizer> {
  const absolute = path.resolve(folder);
  const [tokenizerJson, tokenizerConfig] = await Promise.all([
    readJsonObject(path.join(absolute, 'tokenizer.json')),
    readJsonObject(path.join(absolute, 'tokenizer_config.json')),
  ]);
  const className = tokenizerClassName(tokenizerConfig);
  const Cls = (transformers as unknown as Record<string, unknown>)[className] ?? transformers.PreTrainedTokenizer;
  if (typeof Cls !== 'function' || !isTokenizerClass(Cls)) {
    throw new Error(`${path.join(absolute, 'tokenizer_config.json')}: tokenizer_class "${className}" is not a tokenizer class of @huggingface/transformers`);
  }
  const tokenizer = new Cls(tokenizerJson, tokenizerConfig);
  return createTextTokenizer(absolute, tokenizer);
}

function createTextTokenizer(folder: string, tokenizer: transformers.PreTrainedTokenizer): TextTokenizer {
  return {
    folder,
    encode(texts, maxTokens) {
      if (!Number.isInteger(maxTokens) || maxTokens < 2) {
        throw new RangeError(`maxTokens must be an integer >= 2 (room for the special tokens), got ${maxTokens}`);
      }
      const inputIds = texts.map((text) => encodeTruncated(tokenizer, text, maxTokens));
      return { inputIds, attentionMask: inputIds.map((ids) => ids.map(() => 1)) };
    },
    countTokens(text) {
      return tokenizer.encode(text).length;
    },
  };
}

/**
 * Encodes one text with special tokens, truncating its content (never the special tokens) so
 * the row has at most `maxTokens` ids, as Python's tokenizers do with `truncation=True`.
 * transformers.js's own `truncation` cuts the row after the specials are added, which drops the
 * final [SEP]; the model never saw such rows in training, hence this.
 */
function encodeTruncated(tokenizer: transformers.PreTrainedTokenizer, text: string, maxTokens: number): number[] {
  const full = tokenizer.encode(text);
  if (full.length <= maxTokens) return full;
  const content = tokenizer.encode(text, { add_special_tokens: false });
  const added = full.length - content.length;
  if (maxTokens < added) {
    throw new RangeError(`maxTokens ${maxTokens} leaves no room for the ${added} special tokens of this tokenizer`);
  }
  // full = prefix + content + suffix; find where the content starts (after [CLS] for BERT).
  const prefix = findPrefixLength(full, content, added);
  return [...full.slice(0, prefix), ...content.slice(0, maxTokens - added), ...full.slice(prefix + content.length)];
}

function findPrefixLength(full: number[], content: number[], added: number): number {
  for (let prefix = 0; prefix <= added; prefix++) {
    if (content.every((id, i) => full[prefix + i] === id)) return prefix;
  }
  throw new Error('the tokenizer adds special tokens inside the text; truncation is not supported for it');
}

function tokenizerClassName(config: Record<string, unknown>): string {
  const name = config.tokenizer_class;
  // Python saves fast tokenizers as e.g. "BertTokenizerFast"; transformers.js has one class each.
  return typeof name === 'string' ? name.replace(/Fast$/, '') : 'PreTrainedTokenizer';
}

function isTokenizerClass(value: unknown): value is new (json: unknown, config: unknown) => transformers.PreTrainedTokenizer {
  return typeof value === 'function' && (value === transformers.PreTrainedTokenizer || value.prototype instanceof transformers.PreTrainedTokenizer);
}

async function readJsonObject(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `tokenizer file ${file} cannot be read (${code ?? String(err)}): the folder must hold ${TOKENIZER_FILES.join(' and ')} as written by save_pretrained`,
      { cause: err },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`tokenizer file ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`tokenizer file ${file} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}
