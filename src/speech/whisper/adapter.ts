/**
 * Low-rank adapters merged into a copy of a base model's `model.bin` (training/whisper/adapt.py).
 *
 * An adapted model (whisper.json `adapter`) is its base's weights with `W + scale * B @ A` written
 * over some float16 weights, at the offsets where the base stores them, so the base's weightless
 * graphs read it unchanged. A and B (float32) are committed in `adapter.bin`; the merge runs at
 * install, in float64, one rank at a time, each product and sum rounded on its own, then rounded
 * to float16 (nearest, ties to even): the same operations in the same order as the Python
 * `merge_f16`, so both give the same bytes and the install can check the result's sha256.
 */

/** One adapted weight: where it sits in model.bin and where its A [rank, in] and B [out, rank] sit in adapter.bin. */
export interface AdapterTensor {
  name: string;
  /** Byte offset of the float16 weight [out, in] in model.bin. */
  offset: number;
  shape: [number, number];
  rank: number;
  scale: number;
  /** Byte offsets of A and B (float32, little-endian, row-major) in adapter.bin. */
  a: number;
  b: number;
}

/** whisper.json `adapter`. */
export interface AdapterSpec {
  /** The model whose model.bin is adapted (its wheels, vocabulary and graphs serve this one too). */
  base: string;
  file: string;
  sha256: string;
  tensors: AdapterTensor[];
}

/** float16 bits -> its value. */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** x rounded to an integer, ties to even (callers scale by a power of two first: exact). */
function roundEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/** A number -> float16 bits, rounded to nearest, ties to even (as numpy's float64 -> float16). */
export function numberToHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a < 2 ** -14) return sign | roundEven(a * 2 ** 24); // subnormal (1024 rounds up to the smallest normal's bits)
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a)
    e -= 1; // log2 can be off by one near powers of two
  else if (2 ** (e + 1) <= a) e += 1;
  let m = roundEven(a / 2 ** (e - 10)); // in [1024, 2048]
  if (m === 2048) {
    m = 1024;
    e += 1;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (m - 1024);
}

/** Writes every adapted weight into `modelBin` (the base's bytes, changed in place). */
export function applyAdapter(modelBin: Buffer, adapterBin: Buffer, tensors: AdapterTensor[]): void {
  for (const t of tensors) {
    const [rows, cols] = t.shape;
    const { rank, scale } = t;
    const need = [
      [t.offset + rows * cols * 2, modelBin.length, 'model.bin'],
      [t.a + rank * cols * 4, adapterBin.length, 'adapter.bin'],
      [t.b + rows * rank * 4, adapterBin.length, 'adapter.bin'],
    ] as const;
    for (const [end, size, file] of need) if (end > size) throw new RangeError(`adapter ${t.name}: needs ${end} bytes of ${file}, which has ${size}`);
    const a = new Float64Array(rank * cols);
    for (let i = 0; i < a.length; i++) a[i] = adapterBin.readFloatLE(t.a + 4 * i);
    const b = new Float64Array(rows * rank);
    for (let i = 0; i < b.length; i++) b[i] = adapterBin.readFloatLE(t.b + 4 * i);
    for (let o = 0; o < rows; o++) {
      for (let i = 0; i < cols; i++) {
        let acc = 0;
        for (let r = 0; r < rank; r++) acc += b[o * rank + r]! * a[r * cols + i]!;
        const at = t.offset + 2 * (o * cols + i);
        modelBin.writeUInt16LE(numberToHalf(halfToNumber(modelBin.readUInt16LE(at)) + scale * acc), at);
      }
    }
  }
}
