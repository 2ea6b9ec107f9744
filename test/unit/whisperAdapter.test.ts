/**
 * Low-rank adapters merged into model.bin (speech/whisper/adapter.ts): float16 rounding as numpy
 * rounds (nearest, ties to even, overflow to infinity, subnormals), the merge W + scale * B @ A on
 * a small weight, and a bad offset refused by name. That Node's merge gives Python's bytes for the
 * real adapter is checked by the install test (the result's sha256 against whisper.json).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AdapterTensor, applyAdapter, halfToNumber, numberToHalf } from '../../src/speech/whisper/adapter.js';

describe('float16', () => {
  it('rounds to nearest, ties to even, as numpy does', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00], // overflows
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie: to even (0)
      [3 * 2 ** -25, 0x0002], // tie: to even (2)
      [1 + 2 ** -11, 0x3c00], // tie between 1 and 1 + 2^-10: to even
      [1 + 3 * 2 ** -11, 0x3c02],
      [2 ** -14 - 2 ** -26, 0x0400], // rounds up into the smallest normal
      [-0, 0x8000],
    ];
    for (const [x, bits] of cases) assert.equal(numberToHalf(x), bits, `${x}`);
    assert.equal(numberToHalf(Number.NaN) & 0x7c00, 0x7c00);
  });

  it('round-trips every finite float16', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if (((bits >> 10) & 0x1f) === 0x1f) continue;
      assert.equal(numberToHalf(halfToNumber(bits)), bits);
    }
  });
});

describe('applyAdapter', () => {
  const weight = [0.5, -1, 2, 0.25, 0, -0.125]; // [2, 3]
  const a = [1, 2, -1]; // [1, 3]
  const b = [0.5, -2]; // [2, 1]
  const tensor: AdapterTensor = { name: 'w', offset: 4, shape: [2, 3], rank: 1, scale: 2, a: 0, b: 12 };
  const model = (): Buffer => {
    const buf = Buffer.alloc(4 + 12 + 2, 0xaa);
    weight.forEach((w, i) => buf.writeUInt16LE(numberToHalf(w), 4 + 2 * i));
    return buf;
  };
  const adapter = Buffer.alloc(20);
  [...a, ...b].forEach((v, i) => adapter.writeFloatLE(v, 4 * i));

  it('writes W + scale * B @ A over the weight, and nothing else', () => {
    const buf = model();
    applyAdapter(buf, adapter, [tensor]);
    const got = Array.from({ length: 6 }, (_, i) => halfToNumber(buf.readUInt16LE(4 + 2 * i)));
    // row 0: w + 2 * 0.5 * a; row 1: w + 2 * -2 * a
    assert.deepEqual(got, [1.5, 1, 1, -3.75, -8, 3.875]);
    assert.deepEqual([...buf.subarray(0, 4)], [0xaa, 0xaa, 0xaa, 0xaa]);
    assert.deepEqual([...buf.subarray(16)], [0xaa, 0xaa]);
  });

  it('refuses an adapter that reaches past either file, naming it', () => {
    assert.throws(() => applyAdapter(model(), adapter, [{ ...tensor, offset: 8 }]), /adapter w: needs 20 bytes of model\.bin, which has 18/);
    assert.throws(() => applyAdapter(model(), adapter, [{ ...tensor, b: 16 }]), /adapter w: needs 24 bytes of adapter\.bin, which has 20/);
  });
});
