/**
 * Mel filterbank and DCT-II tables, built the way meyda builds them (HTK mel scale
 * 1125 ln(1 + f/700), triangular filters from 0 Hz to Nyquist on FFT bins, DCT-II scaled by 2)
 * so our MFCCs can be checked against meyda's; unlike meyda we take ln(energy + 1e-10) rather
 * than ln(energy + 1), which flattens quiet frames.
 */
export interface MelTables {
  /** Per filter: first bin and weights over consecutive bins (sparse rows). */
  filters: { start: number; weights: Float64Array }[];
  /** numCoefficients x numFilters, row-major. */
  dct: Float64Array;
  numFilters: number;
  numCoefficients: number;
}

const freqToMel = (f: number) => 1125 * Math.log(1 + f / 700);
const melToFreq = (m: number) => 700 * (Math.exp(m / 1125) - 1);

export function melTables(fftSize: number, sampleRate: number, numFilters = 26, numCoefficients = 13): MelTables {
  const top = freqToMel(sampleRate / 2);
  const bins: number[] = [];
  for (let i = 0; i < numFilters + 2; i++) bins.push(Math.floor(((fftSize + 1) * melToFreq((i * top) / (numFilters + 1))) / sampleRate));
  const nBins = fftSize / 2;
  const filters: MelTables['filters'] = [];
  for (let j = 0; j < numFilters; j++) {
    const lo = bins[j]!;
    const mid = bins[j + 1]!;
    const hi = Math.min(bins[j + 2]!, nBins);
    const weights = new Float64Array(Math.max(0, hi - lo));
    for (let i = lo; i < Math.min(mid, hi); i++) weights[i - lo] = (i - lo) / (mid - lo);
    for (let i = mid; i < hi; i++) weights[i - lo] = (bins[j + 2]! - i) / (bins[j + 2]! - mid);
    filters.push({ start: lo, weights });
  }
  const dct = new Float64Array(numCoefficients * numFilters);
  for (let k = 0; k < numCoefficients; k++) {
    for (let n = 0; n < numFilters; n++) dct[k * numFilters + n] = 2 * Math.cos((Math.PI / numFilters) * (n + 0.5) * k);
  }
  return { filters, dct, numFilters, numCoefficients };
}
