/**
 * Low-pass FIR design shared by the 2:1 decimators: pitch (./pitch.ts `decimateBy2`) and the
 * VAD's 8 kHz branch (src/speech/vad.ts `Decimator`).
 */

/** `taps` coefficients of a Blackman-windowed sinc low-pass cut at `fc` (cutoff / sample rate), summing to 1. */
export function windowedSincLowpass(taps: number, fc: number): Float64Array {
  const h = new Float64Array(taps);
  const mid = (taps - 1) / 2;
  let sum = 0;
  for (let i = 0; i < taps; i++) {
    const n = i - mid;
    const sinc = n === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * n) / (Math.PI * n);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (taps - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (taps - 1));
    h[i] = sinc * w;
    sum += h[i]!;
  }
  for (let i = 0; i < taps; i++) h[i] = h[i]! / sum;
  return h;
}
