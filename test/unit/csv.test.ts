// @needs python (scripts/test.mjs prepares the training venv for this file)
/**
 * The RFC 4180 parser of src/eval/csv.ts (a unit test; it sits here because this folder's
 * eval* files belong to the eval command), and a parity check on the real label files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { parseCsv } from '../../src/datasets/csv.js';
import { venvPython } from '../fixtures/env.js';

const fields = (text: string) => parseCsv(text).map((r) => r.fields);

test('plain records, LF and CRLF, with or without a final newline', () => {
  assert.deepEqual(fields('a,b\n1,2\n'), [
    ['a', 'b'],
    ['1', '2'],
  ]);
  assert.deepEqual(fields('a,b\r\n1,2\r\n3,4'), [
    ['a', 'b'],
    ['1', '2'],
    ['3', '4'],
  ]);
  assert.deepEqual(fields('a,,c\n,,\n'), [
    ['a', '', 'c'],
    ['', '', ''],
  ]);
});

test('quoted fields hold commas, doubled quotes, and newlines; lines are counted', () => {
  const records = parseCsv('id,text\n1,"hello, ""world"""\n2,"two\r\nlines"\n3,"",\n4,x\n');
  assert.deepEqual(
    records.map((r) => r.fields),
    [
      ['id', 'text'],
      ['1', 'hello, "world"'],
      ['2', 'two\r\nlines'],
      ['3', '', ''],
      ['4', 'x'],
    ],
  );
  assert.deepEqual(
    records.map((r) => r.line),
    [1, 2, 3, 5, 6],
  );
});

test('a BOM is ignored and blank lines are skipped', () => {
  assert.deepEqual(fields('\ufeffa,b\n\n1,2\n\r\n'), [
    ['a', 'b'],
    ['1', '2'],
  ]);
});

test('malformed quoting is an error naming the line', () => {
  assert.throws(() => parseCsv('a,b\n1,"open\n2,3\n', { source: 'x.csv' }), /x\.csv: the quoted field starting on line 2 is never closed/);
  assert.throws(() => parseCsv('a,b\n1,"q"x\n'), /line 2: "x" after a closing quote/);
  assert.throws(() => parseCsv('a,b\n1,ab"c\n'), /line 2: a quote inside an unquoted field/);
});

test('the record limit is enforced', () => {
  assert.throws(() => parseCsv('a\n1\n2\n3\n', { maxRecords: 3, source: 'big.csv' }), /big\.csv: more than 3 records \(line 4\)/);
  assert.equal(parseCsv('a\n1\n2\n', { maxRecords: 3 }).length, 3);
});

const python = venvPython;
for (const file of ['../shared/data/mosi/label.csv', '../shared/data/mosei/label.csv']) {
  test(`parses ${file} exactly as Python's csv module`, { skip: existsSync(file) && existsSync(python) ? false : 'data or venv missing' }, () => {
    const expected = JSON.parse(
      execFileSync(python, ['-c', 'import csv,json,sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8-sig")))))', file], {
        maxBuffer: 256 * 1024 * 1024,
      }).toString(),
    ) as string[][];
    assert.deepEqual(
      fields(readFileSync(file, 'utf8')),
      expected.filter((r) => r.length > 0),
    );
  });
}
