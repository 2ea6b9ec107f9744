/**
 * Whisper's English text normaliser (`EnglishTextNormalizer` of openai-whisper
 * `whisper/normalizers/english.py`, MIT; the copy in the PyPI package whisper-normalizer 0.1.15,
 * which the Python measurements use), ported to TypeScript: what Whisper's published WERs are
 * computed on. Lower case; bracketed and parenthesised text removed; the fillers hmm, mm, mhm,
 * mmm, uh, um removed; contractions expanded ("won't" -> "will not", "I'm" -> "i am"); symbols
 * and diacritics removed; numbers written as digits (./numbers.ts); British spellings made
 * American (english-spelling.json, the module's list of 1739 words, copied unchanged).
 *
 * The output is Python's string for string, spaces included (test/unit/whisperNormaliser.test.ts
 * checks MOSI dev references and recognised texts against the Python module). Known difference:
 * Python's `\d` and `str.split()` also take non-ASCII digits and a few control characters as
 * digits and spaces; here digits are 0-9 and spaces are JavaScript's `\s`.
 */
import spellingJson from './english-spelling.json' with { type: 'json' };
import { B, normaliseNumbers, splitPy } from './numbers.js';

const SPELLING = new Map(Object.entries(spellingJson as Record<string, string>));

/** `EnglishTextNormalizer.replacers`, in order (dict order in Python). */
const REPLACERS: [RegExp, string][] = (
  [
    // common contractions
    [`${B}won't${B}`, 'will not'],
    [`${B}can't${B}`, 'can not'],
    [`${B}let's${B}`, 'let us'],
    [`${B}ain't${B}`, 'aint'],
    [`${B}y'all${B}`, 'you all'],
    [`${B}wanna${B}`, 'want to'],
    [`${B}kinda${B}`, 'kind of'],
    [`${B}sorta${B}`, 'sort of'],
    [`${B}dunno${B}`, 'do not know'],
    [`${B}gotta${B}`, 'got to'],
    [`${B}gonna${B}`, 'going to'],
    [`${B}i'ma${B}`, 'i am going to'],
    [`${B}imma${B}`, 'i am going to'],
    [`${B}woulda${B}`, 'would have'],
    [`${B}coulda${B}`, 'could have'],
    [`${B}shoulda${B}`, 'should have'],
    [`${B}cause${B}`, 'because'],
    [`${B}ma'am${B}`, 'madam'],
    // contractions in titles/prefixes
    [`${B}mr${B}`, 'mister '],
    [`${B}mrs${B}`, 'missus '],
    [`${B}st${B}`, 'saint '],
    [`${B}dr${B}`, 'doctor '],
    [`${B}prof${B}`, 'professor '],
    [`${B}capt${B}`, 'captain '],
    [`${B}gov${B}`, 'governor '],
    [`${B}ald${B}`, 'alderman '],
    [`${B}gen${B}`, 'general '],
    [`${B}sen${B}`, 'senator '],
    [`${B}rep${B}`, 'representative '],
    [`${B}pres${B}`, 'president '],
    [`${B}rev${B}`, 'reverend '],
    [`${B}hon${B}`, 'honorable '],
    [`${B}asst${B}`, 'assistant '],
    [`${B}assoc${B}`, 'associate '],
    [`${B}lt${B}`, 'lieutenant '],
    [`${B}col${B}`, 'colonel '],
    [`${B}jr${B}`, 'junior '],
    [`${B}sr${B}`, 'senior '],
    [`${B}esq${B}`, 'esquire '],
    // perfect tenses
    [`'d been${B}`, ' had been'],
    [`'s been${B}`, ' has been'],
    [`'d gone${B}`, ' had gone'],
    [`'s gone${B}`, ' has gone'],
    [`'d done${B}`, ' had done'],
    [`'s got${B}`, ' has got'],
    // general contractions
    [`n't${B}`, ' not'],
    [`'re${B}`, ' are'],
    [`'s${B}`, ' is'],
    [`'d${B}`, ' would'],
    [`'ll${B}`, ' will'],
    [`'t${B}`, ' not'],
    [`'ve${B}`, ' have'],
    [`'m${B}`, ' am'],
  ] as const
).map(([pattern, replacement]) => [new RegExp(pattern, 'gu'), replacement]);

const FILLERS = new RegExp(`${B}(hmm|mm|mhm|mmm|uh|um)${B}`, 'gu');

/** Non-ASCII letters that NFKD does not split into a letter and a mark (basic.py ADDITIONAL_DIACRITICS). */
const ADDITIONAL_DIACRITICS: Readonly<Record<string, string>> = {
  œ: 'oe',
  Œ: 'OE',
  ø: 'o',
  Ø: 'O',
  æ: 'ae',
  Æ: 'AE',
  ß: 'ss',
  ẞ: 'SS',
  đ: 'd',
  Đ: 'D',
  ð: 'd',
  Ð: 'D',
  þ: 'th',
  Þ: 'th',
  ł: 'l',
  Ł: 'L',
};

/**
 * basic.py `remove_symbols_and_diacritics`: NFKD, then each character in `keep` stays, the
 * letters above are spelt out, nonspacing marks (Mn) go, other marks, symbols and punctuation
 * (categories M, S, P) become a space.
 */
export function removeSymbolsAndDiacritics(s: string, keep = ''): string {
  let out = '';
  for (const c of s.normalize('NFKD')) {
    if (keep.includes(c)) out += c;
    else if (Object.hasOwn(ADDITIONAL_DIACRITICS, c)) out += ADDITIONAL_DIACRITICS[c];
    else if (/^\p{Mn}$/u.test(c)) continue;
    else out += /^[\p{M}\p{S}\p{P}]$/u.test(c) ? ' ' : c;
  }
  return out;
}

/** `EnglishSpellingNormalizer`: British -> American, word by word. */
function americanSpelling(s: string): string {
  return splitPy(s)
    .map((w) => SPELLING.get(w) ?? w)
    .join(' ');
}

/** `EnglishTextNormalizer.__call__`: Whisper's normalised form of an English text. */
export function whisperNormalise(text: string): string {
  let s = text.toLowerCase();
  s = s.replace(/[<[][^>\]]*[>\]]/gu, ''); // words between brackets
  s = s.replace(/\(([^)]+?)\)/gu, ''); // words between parentheses
  s = s.replace(FILLERS, '');
  s = s.replace(/\s+'/gu, "'"); // a space before an apostrophe
  for (const [pattern, replacement] of REPLACERS) s = s.replace(pattern, replacement);
  s = s.replace(/(\p{Nd}),(\p{Nd})/gu, '$1$2'); // commas between digits
  s = s.replace(/\.([^0-9]|$)/gu, ' $1'); // periods not followed by numbers
  s = removeSymbolsAndDiacritics(s, '.%$¢€£'); // keep numeric symbols
  s = normaliseNumbers(s);
  s = americanSpelling(s);
  // Prefix/suffix symbols not next to a number.
  s = s.replace(/[.$¢€£]([^0-9])/gu, ' $1');
  s = s.replace(/([^0-9])%/gu, '$1 ');
  return s.replace(/\s+/gu, ' ');
}
