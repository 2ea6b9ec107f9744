/**
 * Whisper token ids to text (CONTRACT.md section 4): `vocabulary.txt` holds token i on line i; the
 * token strings are GPT-2 byte-level BPE, one character per byte (`bytes_to_unicode`), so text =
 * the bytes behind the characters of every id below <|endoftext|>, decoded as UTF-8 with U+FFFD
 * for invalid sequences, then trimmed.
 */
import { readFileSync } from 'node:fs';

/** GPT-2's bytes_to_unicode, inverted: code point of a token character -> the byte it stands for. */
function unicodeToBytes(): Map<number, number> {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const map = new Map<number, number>();
  let next = 0x100;
  for (let b = 0; b < 256; b++) map.set(printable(b) ? b : next++, b);
  return map;
}

const BYTE_OF = unicodeToBytes();

export class Vocabulary {
  /** Bytes of each token. */
  private readonly bytes: Uint8Array[];

  /**
   * @param tokens token i's string, as in vocabulary.txt
   * @param eot id of <|endoftext|>; ids from it up are special tokens and give no text
   */
  constructor(
    tokens: readonly string[],
    readonly eot: number,
  ) {
    if (!Number.isSafeInteger(eot) || eot < 0 || eot > tokens.length) throw new RangeError(`eot ${eot} is outside the vocabulary of ${tokens.length} tokens`);
    this.bytes = tokens.slice(0, eot).map((t, id) => {
      const out = new Uint8Array(t.length);
      let i = 0;
      for (const ch of t) {
        const b = BYTE_OF.get(ch.codePointAt(0)!);
        if (b === undefined) throw new Error(`vocabulary token ${id} ${JSON.stringify(t)} has a character outside GPT-2's byte alphabet`);
        out[i++] = b;
      }
      return out.subarray(0, i);
    });
  }

  get size(): number {
    return this.bytes.length;
  }

  /** Reads vocabulary.txt (token i on line i, split on "\n" only). */
  static fromFile(path: string, eot: number, nVocab: number): Vocabulary {
    const text = readFileSync(path, 'utf8');
    const tokens = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    if (tokens.length !== nVocab) throw new Error(`${path} has ${tokens.length} tokens, whisper.json says n_vocab = ${nVocab}; reinstall the model`);
    return new Vocabulary(tokens, eot);
  }

  /** Text of a token sequence, untrimmed (ids >= eot dropped). */
  decodeRaw(ids: readonly number[]): string {
    const parts = ids.filter((id) => id >= 0 && id < this.bytes.length).map((id) => this.bytes[id]!);
    const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return new TextDecoder('utf-8').decode(all);
  }

  /** Text of a token sequence: decodeRaw, trimmed of spaces. */
  decode(ids: readonly number[]): string {
    return this.decodeRaw(ids).trim();
  }
}
