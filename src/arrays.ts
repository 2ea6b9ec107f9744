/** Small array and number helpers shared by the media, feature, codebook and evaluation code. */

/** The parts one after another; empty parts are skipped, and a single non-empty part is returned as is (no copy). */
export function concatFloat32(parts: readonly Float32Array[]): Float32Array {
  const nonEmpty = parts.filter((p) => p.length > 0);
  if (nonEmpty.length === 1) return nonEmpty[0]!;
  const out = new Float32Array(nonEmpty.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of nonEmpty) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Median (mean of the two middle values for an even count), as numpy.median; null when empty. */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** At most `max` items, evenly spread, first and last kept (numpy linspace(0, n-1, max).round()). */
export function subsample<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  if (max <= 0) return [];
  if (max === 1) return [items[0]!];
  const step = (items.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => items[roundHalfEven(i * step)]!);
}

/** numpy's `np.round(x)`: to the nearest integer, halves to the even one. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor; // exact in binary floating point
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * `run` once per distinct `keyOf` value (in the order keys first appear), each call given that
 * key's items in order; resolves with one result per item, in the items' order. For a batch that
 * several models share: each model runs once, on its own items.
 */
export async function runPerKey<T, K, R>(items: readonly T[], keyOf: (item: T) => K, run: (key: K, items: T[]) => Promise<readonly R[]>): Promise<R[]> {
  const groups = new Map<K, number[]>();
  for (const [i, item] of items.entries()) {
    const key = keyOf(item);
    const at = groups.get(key);
    if (at) at.push(i);
    else groups.set(key, [i]);
  }
  const out = new Array<R>(items.length);
  for (const [key, at] of groups) {
    const results = await run(
      key,
      at.map((i) => items[i]!),
    );
    for (const [k, i] of at.entries()) out[i] = results[k]!;
  }
  return out;
}
