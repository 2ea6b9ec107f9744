/**
 * Whisper's `EnglishNumberNormalizer` (openai-whisper `whisper/normalizers/english.py`, MIT; the
 * copy in the PyPI package whisper-normalizer 0.1.15), ported line by line: spelled-out numbers
 * become Arabic numerals ("twenty five" -> "25", "one oh one" -> "101", "ten thousand dollars"
 * -> "$10000", "second" -> "2nd"), as Whisper's published WERs count them.
 *
 * Python's int is unbounded and the normaliser multiplies up to decillions, so integer values are
 * BigInt; a value is `string` where Python keeps a str (digits concatenated, decimals), and the
 * branches test that difference exactly as Python's `isinstance(value, str)` does.
 * Parity with the Python module: test/unit/whisperNormaliser.test.ts.
 */

type Value = string | bigint | null;

const ONE_NAMES = [
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
];
const ZEROS = new Set(['o', 'oh', 'zero']);
const ONES = new Map(ONE_NAMES.map((name, i) => [name, i + 1]));
const ONES_SUFFIXED = new Map<string, [number, string]>([
  ...ONE_NAMES.map((name, i): [string, [number, string]] => [name === 'six' ? 'sixes' : `${name}s`, [i + 1, 's']]),
  ['zeroth', [0, 'th']],
  ['first', [1, 'st']],
  ['second', [2, 'nd']],
  ['third', [3, 'rd']],
  ['fifth', [5, 'th']],
  ['twelfth', [12, 'th']],
  ...ONE_NAMES.flatMap((name, i): [string, [number, string]][] =>
    i + 1 > 3 && i + 1 !== 5 && i + 1 !== 12 ? [[name + (name.endsWith('t') ? 'h' : 'th'), [i + 1, 'th']]] : [],
  ),
]);
const TENS = new Map([
  ['twenty', 20],
  ['thirty', 30],
  ['forty', 40],
  ['fifty', 50],
  ['sixty', 60],
  ['seventy', 70],
  ['eighty', 80],
  ['ninety', 90],
]);
const TENS_SUFFIXED = new Map<string, [number, string]>([
  ...[...TENS].map(([name, v]): [string, [number, string]] => [name.replaceAll('y', 'ies'), [v, 's']]),
  ...[...TENS].map(([name, v]): [string, [number, string]] => [name.replaceAll('y', 'ieth'), [v, 'th']]),
]);
const MULTIPLIERS = new Map<string, bigint>(
  [
    'hundred',
    'thousand',
    'million',
    'billion',
    'trillion',
    'quadrillion',
    'quintillion',
    'sextillion',
    'septillion',
    'octillion',
    'nonillion',
    'decillion',
  ].map((name, i) => [name, i === 0 ? 100n : 1000n ** BigInt(i)]),
);
const MULTIPLIERS_SUFFIXED = new Map<string, [bigint, string]>([
  ...[...MULTIPLIERS].map(([name, v]): [string, [bigint, string]] => [`${name}s`, [v, 's']]),
  ...[...MULTIPLIERS].map(([name, v]): [string, [bigint, string]] => [`${name}th`, [v, 'th']]),
]);
const DECIMALS = new Set([...ONES.keys(), ...TENS.keys(), ...ZEROS]);
const PRECEDING_PREFIXERS = new Map([
  ['minus', '-'],
  ['negative', '-'],
  ['plus', '+'],
  ['positive', '+'],
]);
const FOLLOWING_PREFIXERS = new Map([
  ['pound', '£'],
  ['pounds', '£'],
  ['euro', '€'],
  ['euros', '€'],
  ['dollar', '$'],
  ['dollars', '$'],
  ['cent', '¢'],
  ['cents', '¢'],
]);
const PREFIXES = new Set([...PRECEDING_PREFIXERS.values(), ...FOLLOWING_PREFIXERS.values()]);
/** "per cent" -> "%" (a two-word suffix), "percent" -> "%". */
const SUFFIXERS = new Map<string, string | Map<string, string>>([
  ['per', new Map([['cent', '%']])],
  ['percent', '%'],
]);
const SPECIALS = new Set(['and', 'double', 'triple', 'point']);
const WORDS = new Set<string>([
  ...ZEROS,
  ...ONES.keys(),
  ...ONES_SUFFIXED.keys(),
  ...TENS.keys(),
  ...TENS_SUFFIXED.keys(),
  ...MULTIPLIERS.keys(),
  ...MULTIPLIERS_SUFFIXED.keys(),
  ...PRECEDING_PREFIXERS.keys(),
  ...FOLLOWING_PREFIXERS.keys(),
  ...SUFFIXERS.keys(),
  ...SPECIALS,
]);

const NUMERIC = /^[0-9]+(\.[0-9]+)?$/u;

interface Fraction {
  num: bigint;
  den: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/**
 * Python's `Fraction(value)` for the values this normaliser builds (an int, or a str of digits
 * and periods, now and then with a sign or currency glued on): null where Python raises
 * ValueError. Decimal strings "1.25", "1." and ".5" parse, as in Python 3.11.
 */
function toFraction(value: string | bigint): Fraction | null {
  if (typeof value === 'bigint') return { num: value, den: 1n };
  const m = /^(?=[0-9]|\.[0-9])([0-9]*)(?:\.([0-9]*))?$/u.exec(value);
  if (m === null) return null;
  const decimals = m[2] ?? '';
  const num = BigInt(`${m[1]}${decimals}` || '0');
  const den = 10n ** BigInt(decimals.length);
  const g = gcd(num, den);
  return { num: num / g, den: den / g };
}

/** Python's `str(value or "")`: None, "" and the int 0 are all falsy. */
const strOr = (value: Value): string => (value === null || value === '' || value === 0n ? '' : String(value));

/** `EnglishNumberNormalizer.process_words`. */
function processWords(words: readonly string[]): string[] {
  const out: string[] = [];
  let prefix: string | null = null;
  let value: Value = null;
  let skip = false;
  const output = (result: string | bigint): string => {
    let s = String(result);
    if (prefix !== null) s = prefix + s;
    value = null;
    prefix = null;
    return s;
  };
  const flush = (): void => {
    if (value !== null) out.push(output(value));
  };

  for (let i = 0; i < words.length; i++) {
    const prev = i > 0 ? words[i - 1]! : null;
    const current = words[i]!;
    const next = i + 1 < words.length ? words[i + 1]! : null;
    if (skip) {
      skip = false;
      continue;
    }
    const nextIsNumeric = next !== null && NUMERIC.test(next);
    const hasPrefix = PREFIXES.has(current[0]!);
    const currentWithoutPrefix = hasPrefix ? current.slice(1) : current;
    if (NUMERIC.test(currentWithoutPrefix)) {
      // Arabic numbers (potentially with signs and fractions).
      const f = toFraction(currentWithoutPrefix)!;
      if (value !== null) {
        if (typeof value === 'string' && value.endsWith('.')) {
          // Concatenate decimals / IP address components.
          value = value + current;
          continue;
        }
        out.push(output(value));
      }
      prefix = hasPrefix ? current[0]! : prefix;
      value = f.den === 1n ? f.num : currentWithoutPrefix;
    } else if (!WORDS.has(current)) {
      // Non-numeric words.
      flush();
      out.push(output(current));
    } else if (ZEROS.has(current)) {
      value = strOr(value) + '0';
    } else if (ONES.has(current)) {
      const ones = ONES.get(current)!;
      if (value === null) value = BigInt(ones);
      else if (typeof value === 'string' || (prev !== null && ONES.has(prev))) {
        if (prev !== null && TENS.has(prev) && ones < 10) {
          // Replace the last zero with the digit.
          value = assertEndsInZero(value).slice(0, -1) + String(ones);
        } else value = String(value) + String(ones);
      } else if (ones < 10) {
        if (value % 10n === 0n) value += BigInt(ones);
        else value = String(value) + String(ones);
      } else if (value % 100n === 0n) value += BigInt(ones);
      else value = String(value) + String(ones);
    } else if (ONES_SUFFIXED.has(current)) {
      // Ordinal or cardinal: out right away.
      const [ones, suffix] = ONES_SUFFIXED.get(current)!;
      if (value === null) out.push(output(String(ones) + suffix));
      else if (typeof value === 'string' || (prev !== null && ONES.has(prev))) {
        if (prev !== null && TENS.has(prev) && ones < 10) out.push(output(assertEndsInZero(value).slice(0, -1) + String(ones) + suffix));
        else out.push(output(String(value) + String(ones) + suffix));
      } else if (ones < 10) {
        out.push(output(value % 10n === 0n ? String(value + BigInt(ones)) + suffix : String(value) + String(ones) + suffix));
      } else out.push(output(value % 100n === 0n ? String(value + BigInt(ones)) + suffix : String(value) + String(ones) + suffix));
      value = null;
    } else if (TENS.has(current)) {
      const tens = TENS.get(current)!;
      if (value === null) value = BigInt(tens);
      else if (typeof value === 'string') value = value + String(tens);
      else if (value % 100n === 0n) value += BigInt(tens);
      else value = String(value) + String(tens);
    } else if (TENS_SUFFIXED.has(current)) {
      const [tens, suffix] = TENS_SUFFIXED.get(current)!;
      if (value === null) out.push(output(String(tens) + suffix));
      else if (typeof value === 'string') out.push(output(value + String(tens) + suffix));
      else out.push(output(value % 100n === 0n ? String(value + BigInt(tens)) + suffix : String(value) + String(tens) + suffix));
    } else if (MULTIPLIERS.has(current)) {
      const multiplier = MULTIPLIERS.get(current)!;
      if (value === null) value = multiplier;
      else if (typeof value === 'string' || value === 0n) {
        const p = times(toFraction(value), multiplier);
        if (p !== null) value = p;
        else {
          out.push(output(value));
          value = multiplier;
        }
      } else value = (value / 1000n) * 1000n + (value % 1000n) * multiplier;
    } else if (MULTIPLIERS_SUFFIXED.has(current)) {
      const [multiplier, suffix] = MULTIPLIERS_SUFFIXED.get(current)!;
      if (value === null) out.push(output(String(multiplier) + suffix));
      else if (typeof value === 'string') {
        const p = times(toFraction(value), multiplier);
        if (p !== null) out.push(output(String(p) + suffix));
        else {
          out.push(output(value));
          out.push(output(String(multiplier) + suffix));
        }
      } else {
        value = (value / 1000n) * 1000n + (value % 1000n) * multiplier;
        out.push(output(String(value) + suffix));
      }
      value = null;
    } else if (PRECEDING_PREFIXERS.has(current)) {
      // A sign (minus, plus...) when it precedes a number.
      flush();
      if ((next !== null && WORDS.has(next)) || nextIsNumeric) prefix = PRECEDING_PREFIXERS.get(current)!;
      else out.push(output(current));
    } else if (FOLLOWING_PREFIXERS.has(current)) {
      // A currency (dollars, cents...) only after a number.
      if (value !== null) {
        prefix = FOLLOWING_PREFIXERS.get(current)!;
        out.push(output(value));
      } else out.push(output(current));
    } else if (SUFFIXERS.has(current)) {
      // Percent -> '%'.
      if (value !== null) {
        const suffix = SUFFIXERS.get(current)!;
        if (typeof suffix !== 'string') {
          if (next !== null && suffix.has(next)) {
            out.push(output(String(value) + suffix.get(next)!));
            skip = true;
          } else {
            out.push(output(value));
            out.push(output(current));
          }
        } else out.push(output(String(value) + suffix));
      } else out.push(output(current));
    } else if (SPECIALS.has(current)) {
      if (!(next !== null && WORDS.has(next)) && !nextIsNumeric) {
        // Only when the next word can be numeric.
        flush();
        out.push(output(current));
      } else if (current === 'and') {
        // "and" after hundreds, thousands... is dropped.
        if (!(prev !== null && MULTIPLIERS.has(prev))) {
          flush();
          out.push(output(current));
        }
      } else if (current === 'double' || current === 'triple') {
        if (next !== null && (ONES.has(next) || ZEROS.has(next))) {
          const repeats = current === 'double' ? 2 : 3;
          value = strOr(value) + String(ONES.get(next) ?? 0).repeat(repeats);
          skip = true;
        } else {
          flush();
          out.push(output(current));
        }
      } else if (current === 'point') {
        if ((next !== null && DECIMALS.has(next)) || nextIsNumeric) value = strOr(value) + '.';
      }
    }
  }
  flush();
  return out;
}

/** Python's `assert value[-1] == "0"` (an AssertionError there too). */
function assertEndsInZero(value: string | bigint): string {
  if (typeof value !== 'string' || !value.endsWith('0')) throw new Error(`number normaliser: expected a string ending in 0, got ${String(value)}`);
  return value;
}

/** `f * multiplier` when it is an integer (Python: `p.denominator == 1`), else null. */
function times(f: Fraction | null, multiplier: bigint): bigint | null {
  if (f === null) return null;
  const n = f.num * multiplier;
  return n % f.den === 0n ? n / f.den : null;
}

/** `EnglishNumberNormalizer.preprocess`: "<number> and a half" -> "<number> point five"; spaces at digit/letter borders. */
function preprocess(s: string): string {
  const results: string[] = [];
  const segments = s.split(new RegExp(`${B}and\\s+a\\s+half${B}`, 'u'));
  segments.forEach((segment, i) => {
    if (segment.trim().length === 0) return;
    results.push(segment);
    if (i === segments.length - 1) return;
    const lastWord = segment.trim().split(/\s+/u).at(-1)!;
    results.push(DECIMALS.has(lastWord) || MULTIPLIERS.has(lastWord) ? 'point five' : 'and a half');
  });
  return results
    .join(' ')
    .replace(/([a-z])([0-9])/gu, '$1 $2')
    .replace(/([0-9])([a-z])/gu, '$1 $2')
    .replace(new RegExp(`([0-9])\\s+(st|nd|rd|th|s)${B}`, 'gu'), '$1$2');
}

/** `EnglishNumberNormalizer.postprocess`: "$2 and ¢7" -> "$2.07", "$0.07" -> "¢7", "1" -> "one". */
function postprocess(s: string): string {
  return s
    .replace(new RegExp(`([€£$])([0-9]+) (?:and )?¢([0-9]{1,2})${B}`, 'gu'), (_m, currency: string, integer: string, cents: string) => {
      return `${currency}${integer}.${String(Number(cents)).padStart(2, '0')}`;
    })
    .replace(new RegExp(`[€£$]0.([0-9]{1,2})${B}`, 'gu'), (_m, cents: string) => `¢${Number(cents)}`)
    .replace(new RegExp(`${B}1(s?)${B}`, 'gu'), 'one$1');
}

/** `EnglishNumberNormalizer.__call__`. */
export function normaliseNumbers(s: string): string {
  return postprocess(processWords(splitPy(preprocess(s))).join(' '));
}

/** Python's `str.split()`: runs of whitespace, no empty words. */
export function splitPy(s: string): string[] {
  return s.split(/\s+/u).filter((w) => w.length > 0);
}

/**
 * Python's `\b` on str patterns: a border between a word character (a letter or number of any
 * script, or "_": `str.isalnum()`) and a non-word one. JavaScript's `\b` knows only [A-Za-z0-9_].
 */
const W = '[\\p{L}\\p{N}_]';
export const B = `(?:(?<=${W})(?!${W})|(?<!${W})(?=${W}))`;
