"""eGeMAPS-style utterance functionals in plain numpy (no opensmile: its licence forbids commercial
use; no librosa: this is to be ported to TypeScript with parity tests, so every step is a formula
written out here).

Frame-level low-level descriptors (LLDs), 10 ms hop:
  f0_semitone   F0 by YIN (de Cheveigne & Kawahara 2002) on 45 ms frames, 55-600 Hz, in semitones
                above 27.5 Hz; voiced frames only.
  loudness      sum over 26 mel bands of band power ** 0.3 (Stevens' power law). APPROXIMATE:
                eGeMAPS uses an auditory spectrum with an equal-loudness curve.
  jitter        per voiced frame, mean |T_k+1 - T_k| / mean T over consecutive pitch cycles found by
                waveform matching (cycle length = best-correlated lag within 0.8-1.2 x the YIN
                period). APPROXIMATE: frames of 43 ms hold only 2-7 cycles, and Praat's cycle
                boundaries differ.
  shimmer       per voiced frame, mean |20 log10(A_k+1 / A_k)| (dB) over the same cycles'
                peak-to-peak amplitudes. APPROXIMATE, as jitter (Praat uses peak amplitudes).
  hnr           10 log10(r / (1 - r)), r the normalised autocorrelation at the YIN period
                (Boersma's autocorrelation HNR without his window correction). APPROXIMATE.
  alpha_ratio   10 log10(power 50-1000 Hz / power 1-5 kHz)
  hammarberg    10 log10(max power bin 0-2 kHz / max power bin 2-5 kHz)
  slope_0_500, slope_500_1500   least-squares slope of the power spectrum in dB against frequency
                (dB / kHz) within the band
  mfcc1..mfcc4  HTK mel (26 bands, 20-8000 Hz), natural log, orthonormal DCT-II, coefficients 1-4
                (no liftering)
  flux          sum over bins of the squared difference of consecutive L1-normalised magnitude spectra
Jitter and shimmer use 60 ms frames on the same grid. Spectral LLDs use 25 ms Hamming frames (512-point FFT)
and only "active" frames (RMS within 35 dB of the utterance's loudest frame and above -70 dBFS);
voice-source LLDs use voiced frames.

Functionals per LLD: mean, std, 20th / 50th / 80th percentile, 80-20 range (6 each); coefficient
of variation of f0_semitone and loudness; temporal: loudness peaks per second, voiced segments per
second, mean and std of voiced segment length (s), mean and std of unvoiced segment length (s).
Missing values (no voiced frame, one voiced segment) are NaN: the study imputes train means.
Formants (F1-F3 frequency, bandwidth, level) and H1-H2 / H1-A3 of eGeMAPS are left out.
"""

from __future__ import annotations

import numpy as np

SR = 16000
HOP = 160  # 10 ms
WIN = 400  # 25 ms spectral frame
NFFT = 512
F0_MIN, F0_MAX = 55.0, 600.0
YIN_W = 400  # YIN integration window (25 ms)
YIN_TAU_MIN = int(SR // F0_MAX)  # 26 samples
YIN_TAU_MAX = int(np.ceil(SR / F0_MIN))  # 291 samples
PITCH_FRAME = YIN_W + YIN_TAU_MAX  # 691 samples (~43 ms)
CYCLE_FRAME = 960  # 60 ms frames for jitter / shimmer (>= 4 cycles at 90 Hz)
YIN_THRESHOLD = 0.15  # first dip of the cumulative mean normalised difference below this
VOICED_MAX_DIP = 0.3  # a frame is voiced when its chosen dip is below this (and it is active)
ACTIVE_RANGE_DB = 35.0
ACTIVE_FLOOR_DBFS = -70.0
N_MEL = 26

LLD_NAMES = (
    "f0_semitone",
    "loudness",
    "jitter",
    "shimmer",
    "hnr",
    "alpha_ratio",
    "hammarberg",
    "slope_0_500",
    "slope_500_1500",
    "mfcc1",
    "mfcc2",
    "mfcc3",
    "mfcc4",
    "flux",
)
STATS = ("mean", "std", "p20", "p50", "p80", "range20_80")
TEMPORAL = (
    "loudness_peaks_per_s",
    "voiced_segments_per_s",
    "voiced_len_mean",
    "voiced_len_std",
    "unvoiced_len_mean",
    "unvoiced_len_std",
)
FEATURE_NAMES = tuple(f"{lld}_{s}" for lld in LLD_NAMES for s in STATS) + ("f0_semitone_cv", "loudness_cv") + TEMPORAL


def frames(x: np.ndarray, length: int, hop: int = HOP) -> np.ndarray:
    """(n,) -> (F, length) frames starting every `hop` samples, centred like a 10 ms grid: frame i
    covers [i*hop - length//2, i*hop + length - length//2), zero-padded at the ends. F = n // hop + 1."""
    n_frames = len(x) // hop + 1
    padded = np.pad(x, (length // 2, length))
    idx = np.arange(n_frames)[:, None] * hop + np.arange(length)[None, :]
    return padded[idx]


def mel_filterbank(n_mel: int = N_MEL, fmin: float = 20.0, fmax: float = 8000.0) -> np.ndarray:
    """(n_mel, NFFT//2+1) triangular HTK-mel filters on power-spectrum bins."""

    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mel + 2))
    bins = np.arange(NFFT // 2 + 1) * SR / NFFT
    fb = np.zeros((n_mel, len(bins)))
    for m in range(n_mel):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        fb[m] = np.clip(np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)), 0.0, None)
    return fb


def dct_matrix(n_out: int, n_in: int = N_MEL) -> np.ndarray:
    """(n_out, n_in) orthonormal DCT-II rows 0..n_out-1."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return m


def yin(pitch_frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, PITCH_FRAME) -> period in samples (F,) (parabolic interpolation), the chosen dip of the
    cumulative mean normalised difference d'(tau) (F,), and the normalised autocorrelation at the
    integer period (F,). d(tau) = sum_{j<W} (x_j - x_{j+tau})^2 for tau = 0..TAU_MAX."""
    f = pitch_frames.astype(np.float64)
    w = YIN_W
    taus = np.arange(YIN_TAU_MAX + 1)
    # d(tau) = e(0) + e(tau) - 2 c(tau), e(tau) = sum_{j<W} x_{j+tau}^2, c(tau) = sum_{j<W} x_j x_{j+tau}
    cs = np.concatenate([np.zeros((len(f), 1)), np.cumsum(f * f, axis=1)], axis=1)
    e = cs[:, taus + w] - cs[:, taus]  # (F, T+1)
    nfft = 1 << int(np.ceil(np.log2(PITCH_FRAME + w)))
    c = np.fft.irfft(np.conj(np.fft.rfft(f[:, :w], nfft)) * np.fft.rfft(f, nfft), nfft)[:, : YIN_TAU_MAX + 1]
    d = np.maximum(e[:, :1] + e - 2.0 * c, 0.0)  # (F, T+1)
    cum = np.cumsum(d[:, 1:], axis=1) / np.arange(1, YIN_TAU_MAX + 1)
    dn = np.ones_like(d)
    dn[:, 1:] = d[:, 1:] / np.maximum(cum, 1e-20)
    period = np.zeros(len(f))
    dip = np.ones(len(f))
    r = np.zeros(len(f))
    for i in range(len(f)):
        row = dn[i]
        cand = np.nonzero(row[YIN_TAU_MIN:YIN_TAU_MAX] < YIN_THRESHOLD)[0]
        if len(cand):
            t = YIN_TAU_MIN + cand[0]
            while t + 1 < YIN_TAU_MAX and row[t + 1] < row[t]:  # walk down to the dip's bottom
                t += 1
        else:
            t = YIN_TAU_MIN + int(np.argmin(row[YIN_TAU_MIN:YIN_TAU_MAX]))
        a, b, cc = row[t - 1], row[t], row[t + 1]
        den = a - 2 * b + cc
        shift = 0.5 * (a - cc) / den if den > 0 else 0.0
        period[i] = t + float(np.clip(shift, -1.0, 1.0))
        dip[i] = b
        r[i] = c[i, t] / np.sqrt(max(e[i, 0] * e[i, t], 1e-20))
    return period, dip, r


def cycles(frame: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    """Pitch cycles of one voiced frame by waveform matching: from the frame start, each cycle's
    length is the lag in [0.8, 1.2] x the YIN period that best correlates (normalised) the cycle
    with the next one, refined by a parabola through the correlation peak; its amplitude is the
    cycle's peak-to-peak height. (Peak picking instead moves with noise on the flat top of a low
    voice's cycle: 0.7 % jitter on a perfect 150 Hz tone at 40 dB SNR.) -> (periods in samples,
    peak-to-peak amplitudes), one per cycle."""
    p = int(round(period))
    lags = np.arange(int(0.8 * p), int(np.ceil(1.2 * p)) + 1)
    windows = np.lib.stride_tricks.sliding_window_view(frame, p)  # (n - p + 1, p), a view
    cs = np.concatenate([[0.0], np.cumsum(frame * frame)])
    energy = cs[p:] - cs[:-p]  # (n - p + 1,) per window
    periods, amps = [], []
    start = 0.0
    while True:
        m = int(round(start))
        if m + lags[-1] + 1 + p > len(frame):
            break
        a = frame[m : m + p]
        corr = (windows[m + lags] @ a) / np.sqrt(np.maximum(energy[m + lags] * energy[m], 1e-20))
        k = int(np.argmax(corr))
        d = 0.0
        if 0 < k < len(lags) - 1:
            den = corr[k - 1] - 2 * corr[k] + corr[k + 1]
            d = float(np.clip(0.5 * (corr[k - 1] - corr[k + 1]) / den, -0.5, 0.5)) if den < 0 else 0.0
        periods.append(lags[k] + d)
        amps.append(float(a.max() - a.min()))
        start += lags[k] + d
    return np.asarray(periods), np.asarray(amps)


def jitter_shimmer(cycle_frames: np.ndarray, period: np.ndarray, voiced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F, CYCLE_FRAME) frames -> per-frame local jitter (fraction) and shimmer (dB); NaN where
    unvoiced or under 3 cycles."""
    jit = np.full(len(period), np.nan)
    shim = np.full(len(period), np.nan)
    for i in np.nonzero(voiced)[0]:
        t, a = cycles(cycle_frames[i], period[i])
        if len(t) >= 2:
            jit[i] = np.mean(np.abs(np.diff(t))) / np.mean(t)
        a = a[a > 1e-6]
        if len(a) >= 3:  # as jitter: at least 3 cycles
            shim[i] = np.mean(np.abs(20.0 * np.log10(a[1:] / a[:-1])))
    return jit, shim


def band_slope(power_db: np.ndarray, freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(F, bins) dB spectrum -> (F,) least-squares slope in dB/kHz over lo <= f <= hi."""
    m = (freqs >= lo) & (freqs <= hi)
    f = freqs[m] / 1000.0
    fc = f - f.mean()
    return (power_db[:, m] - power_db[:, m].mean(1, keepdims=True)) @ fc / (fc @ fc)


def segments(mask: np.ndarray) -> tuple[list[int], list[int]]:
    """Lengths (frames) of runs of True and of False in a boolean sequence, leading/trailing False
    runs excluded (silence around the utterance is not a pause)."""
    runs_t, runs_f, n, cur = [], [], 0, None
    for v in mask:
        if v == cur:
            n += 1
            continue
        if cur is not None:
            (runs_t if cur else runs_f).append(n)
        cur, n = v, 1
    if cur is not None:
        (runs_t if cur else runs_f).append(n)
    if len(mask) and not mask[0] and runs_f:
        runs_f = runs_f[1:]
    if len(mask) and not mask[-1] and runs_f:
        runs_f = runs_f[:-1]
    return runs_t, runs_f


def describe(v: np.ndarray) -> list[float]:
    """Functionals of one LLD over its frames (NaNs dropped): mean, std, p20, p50, p80, p80 - p20."""
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return [np.nan] * len(STATS)
    p20, p50, p80 = np.percentile(v, [20, 50, 80])
    return [float(v.mean()), float(v.std()), float(p20), float(p50), float(p80), float(p80 - p20)]


def low_level(x: np.ndarray) -> dict[str, np.ndarray]:
    """(n,) float audio at 16 kHz -> frame-level LLDs (F,) each (NaN where not defined) plus the
    'active' and 'voiced' masks."""
    x = np.asarray(x, dtype=np.float64)
    spec_frames = frames(x, WIN) * np.hamming(WIN)  # (F, 400)
    power = np.abs(np.fft.rfft(spec_frames, NFFT)) ** 2  # (F, 257)
    freqs = np.arange(NFFT // 2 + 1) * SR / NFFT
    rms_db = 10 * np.log10(np.mean(frames(x, WIN) ** 2, axis=1) + 1e-12)  # (F,)
    active = (rms_db > rms_db.max() - ACTIVE_RANGE_DB) & (rms_db > ACTIVE_FLOOR_DBFS)

    pf = frames(x, PITCH_FRAME)  # (F, 691)
    period, dip, r = yin(pf)
    voiced = active & (dip < VOICED_MAX_DIP)
    f0 = SR / np.maximum(period, 1.0)
    out = {"active": active, "voiced": voiced}
    out["f0_semitone"] = np.where(voiced, 12.0 * np.log2(f0 / 27.5), np.nan)
    bands = power @ mel_filterbank().T  # (F, 26)
    out["loudness"] = np.where(active, np.sum(bands**0.3, axis=1), np.nan)
    jit, shim = jitter_shimmer(frames(x, CYCLE_FRAME), period, voiced)
    out["jitter"], out["shimmer"] = jit, shim
    rc = np.clip(r, 1e-3, 0.999)
    out["hnr"] = np.where(voiced, 10 * np.log10(rc / (1 - rc)), np.nan)

    def band_power(lo, hi):
        return power[:, (freqs >= lo) & (freqs < hi)]

    alpha = 10 * np.log10((band_power(50, 1000).sum(1) + 1e-12) / (band_power(1000, 5000).sum(1) + 1e-12))
    hamm = 10 * np.log10((band_power(0, 2000).max(1) + 1e-12) / (band_power(2000, 5000).max(1) + 1e-12))
    power_db = 10 * np.log10(power + 1e-12)
    for name, v in (
        ("alpha_ratio", alpha),
        ("hammarberg", hamm),
        ("slope_0_500", band_slope(power_db, freqs, 0, 500)),
        ("slope_500_1500", band_slope(power_db, freqs, 500, 1500)),
    ):
        out[name] = np.where(active, v, np.nan)
    mfcc = np.log(bands + 1e-10) @ dct_matrix(5).T  # (F, 5)
    for k in range(1, 5):
        out[f"mfcc{k}"] = np.where(active, mfcc[:, k], np.nan)
    mag = np.sqrt(power)
    mag = mag / (mag.sum(1, keepdims=True) + 1e-12)
    flux = np.concatenate([[np.nan], np.sum(np.diff(mag, axis=0) ** 2, axis=1)])
    out["flux"] = np.where(active, flux, np.nan)
    return out


def loudness_peaks(loud: np.ndarray) -> int:
    """Local maxima of the loudness contour (NaN frames as 0) that rise at least 10 % of the
    contour's range above the lowest point since the previous peak."""
    v = np.nan_to_num(loud, nan=0.0)
    thresh = 0.1 * (v.max() - v.min())
    peaks, low = 0, v[0] if len(v) else 0.0
    for i in range(1, len(v) - 1):
        low = min(low, v[i])
        if v[i] >= v[i - 1] and v[i] > v[i + 1] and v[i] - low >= thresh:
            peaks += 1
            low = v[i]
    return peaks


def functionals(x: np.ndarray) -> np.ndarray:
    """(n,) float audio at 16 kHz -> (len(FEATURE_NAMES),) = (92,) utterance functionals."""
    lld = low_level(x)
    feats: list[float] = []
    for name in LLD_NAMES:
        feats += describe(lld[name])
    for name in ("f0_semitone", "loudness"):
        v = lld[name][np.isfinite(lld[name])]
        feats.append(float(v.std() / v.mean()) if len(v) and v.mean() > 0 else np.nan)
    seconds = len(x) / SR
    voiced_runs, unvoiced_runs = segments(lld["voiced"])
    hop_s = HOP / SR

    def stats(runs):
        return [float(np.mean(runs) * hop_s), float(np.std(runs) * hop_s)] if runs else [np.nan, np.nan]

    feats += [loudness_peaks(lld["loudness"]) / seconds, len(voiced_runs) / seconds]
    feats += stats(voiced_runs) + stats(unvoiced_runs)
    return np.asarray(feats, dtype=np.float64)
