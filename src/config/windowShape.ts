/**
 * The rule for a window shape, in one place: the config checks it when it is loaded and the
 * windowing operator when it is built. W and H positive integers, W a multiple of H (so every
 * instant lies in exactly W / H windows and no instant falls between windows), W / H at most
 * MAX_WINDOWS_PER_INSTANT (it bounds the work and references per record).
 */
export const MAX_WINDOWS_PER_INSTANT = 1000;

/** What is wrong with the shape (naming the values and what to do), or null. */
export function windowShapeProblem(sizeMs: number, hopMs: number): string | null {
  for (const [name, v] of [
    ['sizeMs', sizeMs],
    ['hopMs', hopMs],
  ] as const) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) return `${name} must be an integer >= 1 (milliseconds or a count), got ${String(v)}`;
  }
  if (sizeMs % hopMs !== 0) {
    const lower = Math.max(hopMs, sizeMs - (sizeMs % hopMs));
    return (
      `sizeMs must be a multiple of hopMs so that every instant lies in the same number of windows, ` +
      `got sizeMs=${sizeMs}, hopMs=${hopMs}; use e.g. sizeMs=${lower} or ${lower + hopMs}`
    );
  }
  if (sizeMs / hopMs > MAX_WINDOWS_PER_INSTANT) {
    return `sizeMs / hopMs (windows per instant) must be at most ${MAX_WINDOWS_PER_INSTANT}, got sizeMs=${sizeMs}, hopMs=${hopMs}; raise hopMs`;
  }
  return null;
}
