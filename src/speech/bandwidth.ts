/**
 * Telephone-band audio that arrives at a wideband rate: an 8 kHz call that a gateway, a recorder
 * or a Bluetooth headset's narrowband mode upsampled to 16 kHz or more. Nothing in the stream says
 * so, but its spectrum does: telephone speech has nothing above 4 kHz, wideband speech has its
 * fricatives and breath there. `BandwidthProbe` looks at the start of a 16 kHz signal, 32 ms
 * frames with a Hann window, and over the loudest 30 % of its frames above -70 dBFS compares the
 * energy at 4.5-7.5 kHz that rises with the signal (above that band's own floor, its 10th
 * percentile over the frames: the upsampler's dither and other steady noise) with the energy at
 * 300-3400 Hz.
 *
 * Measured on the data here (the first 2 s of each file; the top-level README, Speech recognition,
 * "Telephone audio that arrives upsampled"): wideband speech from -45 to -8 dB (RAVDESS, TESS,
 * EMOVO, the MOSI sample clips, espeak-ng), RAVDESS through the G.711 channel and upsampled from
 * -91 to -50 dB (without the floor, quiet RAVDESS files reached -42 and overlapped). The
 * threshold, -46 dB, sits nearer the wideband side: telephone audio taken for wideband costs more
 * (the 16 kHz branch barely hears it) than the other way round (tiny.en hears wideband speech
 * about as well).
 *
 * The decision is taken at the first frame where `decideAfterMs` of signal have passed with at
 * least `minFrames` loud enough frames, so it does not depend on how the signal is chunked: a
 * live session and the same audio as a file are decided alike. A signal that ends sooner is
 * decided at its end (`finish`) on the frames it has. Without enough signal by `giveUpAfterMs`
 * (silence) there is no decision, and the caller keeps its rule by rate.
 */
import { Fft } from '../features/acoustic/fft.js';

export type Band = 'narrow' | 'wide';

export interface BandwidthOptions {
  /** Signal the decision waits for at least (ms). */
  decideAfterMs: number;
  /** Signal after which, still without `minFrames` loud frames, there is no decision (ms). */
  giveUpAfterMs: number;
  /** Frames above `floorDbfs` needed for a decision. */
  minFrames: number;
  /** A frame counts when its mean square is above this (dBFS). */
  floorDbfs: number;
  /** Narrow when the 4.5-7.5 kHz energy above its floor is this far or further below the 300-3400 Hz energy (dB). */
  thresholdDb: number;
}

export const BANDWIDTH_OPTIONS: BandwidthOptions = { decideAfterMs: 2000, giveUpAfterMs: 5000, minFrames: 8, floorDbfs: -70, thresholdDb: -46 };

const RATE = 16_000;
const FRAME = 512;
const TOP_SHARE = 0.3;
/** The 4.5-7.5 kHz floor: this quantile of that band's energy over the loud frames. */
const FLOOR_QUANTILE = 0.1;
const bin = (hz: number) => Math.round((hz * FRAME) / RATE);
const BAND = [bin(300), bin(3400)] as const;
const HIGH = [bin(4500), bin(7500)] as const;
const HANN = Float64Array.from({ length: FRAME }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FRAME));

export class BandwidthProbe {
  private readonly fft = new Fft(FRAME);
  private readonly re = new Float64Array(FRAME);
  private readonly im = new Float64Array(FRAME);
  /** Samples of a frame not yet complete. */
  private readonly pending = new Float32Array(FRAME);
  private filled = 0;
  private frames = 0;
  /** [300-3400 Hz energy, 4.5-7.5 kHz energy] of each loud frame. */
  private readonly loud: [number, number][] = [];
  private decided: Band | null = null;
  private gaveUp = false;
  /** The ratio the decision was taken on: 4.5-7.5 kHz energy above its floor to 300-3400 Hz energy (dB). */
  ratioDb: number | null = null;

  constructor(private readonly options: BandwidthOptions = BANDWIDTH_OPTIONS) {}

  /** The band once decided; null while undecided, or when the probe gave up (too little signal). */
  get band(): Band | null {
    return this.decided;
  }

  /** Decided, or given up: more samples change nothing. */
  get done(): boolean {
    return this.decided !== null || this.gaveUp;
  }

  /** The next 16 kHz samples. */
  push(samples: Float32Array): void {
    for (let i = 0; i < samples.length && !this.done;) {
      const take = Math.min(FRAME - this.filled, samples.length - i);
      this.pending.set(samples.subarray(i, i + take), this.filled);
      this.filled += take;
      i += take;
      if (this.filled === FRAME) {
        this.filled = 0;
        this.frame();
      }
    }
  }

  /**
   * The signal has ended: decides on the frames there are when they are enough (`minFrames`), even
   * before `decideAfterMs` (a short file, a session that ends early); else gives up.
   */
  finish(): void {
    if (this.done) return;
    if (this.loud.length >= this.options.minFrames) this.decide();
    else this.gaveUp = true;
  }

  private frame(): void {
    this.frames++;
    let power = 0;
    for (let i = 0; i < FRAME; i++) {
      const x = this.pending[i]!;
      power += x * x;
      this.re[i] = x * HANN[i]!;
      this.im[i] = 0;
    }
    if (10 * Math.log10(power / FRAME + 1e-20) > this.options.floorDbfs) {
      this.fft.transform(this.re, this.im);
      const energy = ([from, to]: readonly [number, number]) => {
        let e = 0;
        for (let k = from; k <= to; k++) e += this.re[k]! ** 2 + this.im[k]! ** 2;
        return e;
      };
      this.loud.push([energy(BAND), energy(HIGH)]);
    }
    const ms = (this.frames * FRAME * 1000) / RATE;
    if (ms >= this.options.decideAfterMs && this.loud.length >= this.options.minFrames) this.decide();
    else if (ms >= this.options.giveUpAfterMs) this.gaveUp = true;
  }

  private decide(): void {
    const highs = this.loud.map((f) => f[1]).sort((a, b) => a - b);
    const floor = highs[Math.floor(highs.length * FLOOR_QUANTILE)]!;
    const top = [...this.loud].sort((a, b) => b[0] - a[0]).slice(0, Math.ceil(this.loud.length * TOP_SHARE));
    const band = top.reduce((s, f) => s + f[0], 0);
    const high = top.reduce((s, f) => s + Math.max(0, f[1] - floor), 0);
    this.ratioDb = 10 * Math.log10((high + 1e-20) / (band + 1e-20));
    this.decided = this.ratioDb <= this.options.thresholdDb ? 'narrow' : 'wide';
  }
}
