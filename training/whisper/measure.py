"""ASR measurements: WER per set, model and engine; speed on one thread; a JSON + markdown report.

    python -m training.whisper.measure wer --sets samples mosi-plain --models tiny.en base \\
        --engines onnx:30s onnx:trim:100:50+guard4 fw-int8
    python -m training.whisper.measure speed --models tiny.en base --engines onnx:30s fw-int8 fw-float32
    python -m training.whisper.measure report          # training/runs/asr/results.{json,md}

Engines: `onnx:<mode>` = our graphs through onnxruntime (mode as in training.whisper.transcribe:
30s, trim:MULTIPLE:MARGIN, +guardK); `onnx-int8:<mode>` = the same after ORT dynamic int8
quantisation (python -m training.whisper.quantize); `fw-int8`, `fw-float32` = faster-whisper with that compute type
(always 30-s windows), both greedy as fw_reference.GREEDY. Transcripts are cached per
set/model/engine under training/runs/asr/hyps/, so a rerun only computes what is missing.
The machine is shared (2 cores, other jobs running): timings are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from .audio import load_audio
from .decode import Timing, WhisperOnnx
from .eval_sets import SETS, Utterance, load_set
from .fetch import ensure_model
from .fw_reference import fw_transcribe, load_faster_whisper
from .mel import N_FRAMES_30S, SAMPLE_RATE, log_mel, pad_features
from .paths import RUNS_DIR
from .transcribe import Mode, transcribe_signals
from .wer import corpus_wer

MOSI_SETS = ("mosi-espeak", "mosi-plain", "samples")


class Engine:
    """One way to transcribe: `onnx:<mode>` or `fw-<compute type>`."""

    def __init__(self, spec: str, model: str, threads: int):
        self.spec, self.model_name, self.threads = spec, model, threads
        self.dir = ensure_model(model)
        if spec.startswith(("onnx:", "onnx-int8:")):
            kind, _, mode = spec.partition(":")
            self.mode = Mode.parse(mode)
            suffix = ".int8.onnx" if kind == "onnx-int8" else ".onnx"  # int8: python -m training.whisper.quantize
            self.onnx = WhisperOnnx(self.dir, threads, "encoder" + suffix, "decoder" + suffix)
        elif spec in ("fw-int8", "fw-float32"):
            self.fw = load_faster_whisper(self.dir, spec[3:], threads)
        else:
            raise ValueError(f"engine {spec!r}: expected onnx:<mode>, onnx-int8:<mode>, fw-int8 or fw-float32")

    def transcribe(self, signals: list[np.ndarray], batch_size: int = 8, timing: Timing | None = None) -> list[str]:
        if hasattr(self, "onnx"):
            return transcribe_signals(self.onnx, signals, self.mode, batch_size, timing)
        texts = []
        for s in signals:
            text, n_tokens = fw_transcribe(self.fw, s, with_tokens=True)
            texts.append(text)
            if timing is not None:
                timing.tokens.append(n_tokens)
        return texts

    def encode_once(self, signal: np.ndarray) -> None:
        """Encoder alone on this signal (for its time)."""
        feats = log_mel(signal)
        if hasattr(self, "onnx"):
            self.onnx.encode(pad_features(feats, self.mode.frames(min(feats.shape[1], N_FRAMES_30S)))[None])
        else:
            import ctranslate2

            self.fw.model.encode(ctranslate2.StorageView.from_array(pad_features(feats)[None]))


def _hyp_path(out: Path, set_name: str, model: str, engine: str) -> Path:
    return out / "hyps" / set_name / model / (engine.replace(":", "_").replace("+", "_") + ".json")


def run_wer(sets, models, engines, out: Path, threads: int, batch_size: int) -> None:
    for set_name in sets:
        utts = load_set(set_name)
        signals = None
        for model in models:
            for spec in engines:
                path = _hyp_path(out, set_name, model, spec)
                if path.exists():
                    continue
                signals = signals or [load_audio(u.path) for u in utts]
                engine = Engine(spec, model, threads)
                t0, timing = time.perf_counter(), Timing()
                hyps = engine.transcribe(signals, batch_size, timing)
                seconds = time.perf_counter() - t0
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(
                    json.dumps(
                        {
                            "set": set_name,
                            "model": model,
                            "engine": spec,
                            "threads": threads,
                            "seconds": seconds,
                            "tokens": sum(timing.tokens),
                            "hyps": {u.id: h for u, h in zip(utts, hyps, strict=True)},
                        },
                        indent=0,
                    )
                )
                refs = [u.text for u in utts]
                hows = ("basic", "whisper-noapos", "whisper")
                w = " / ".join(f"{corpus_wer(refs, hyps, how)['wer']:.3f}" for how in hows)
                print(f"{set_name:14s} {model:8s} {spec:26s} WER {w} ({' / '.join(hows)})  {seconds:.0f} s")


def speed_utterances(n_each: int) -> list[Utterance]:
    """n_each RAVDESS (3-5 s, stratified set order) + n_each espeak MOSI clips of 2-8 s (manifest order)."""
    chosen = load_set("ravdess-strat")[::8][:n_each]
    mosi = []
    for u in load_set("mosi-espeak"):
        if 2.0 <= len(load_audio(u.path)) / SAMPLE_RATE <= 8.0:
            mosi.append(u)
        if len(mosi) == n_each:
            break
    return chosen + mosi


def _time_one(engine: Engine, signal: np.ndarray) -> dict:
    timing = Timing()
    t0 = time.perf_counter()
    engine.transcribe([signal], 1, timing)
    total = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine.encode_once(signal)
    return {
        "audio_s": len(signal) / SAMPLE_RATE,
        "total_s": total,
        "encoder_s": time.perf_counter() - t0,
        "decoder_s": timing.decoder_s,
        "decoder_calls": timing.decoder_calls,
        "tokens": sum(timing.tokens),
    }


def run_speed(models, engines, out: Path, n_each: int, repeats: int) -> None:
    """One thread each. Engines take turns on every utterance (and the whole pass is repeated), so
    the load other jobs put on the shared machine hits them alike; the minimum over repeats is kept."""
    utts = speed_utterances(n_each)
    signals = [load_audio(u.path) for u in utts]
    runners = {(m, e): Engine(e, m, threads=1) for m in models for e in engines}
    for engine in runners.values():
        engine.transcribe(signals[:1], 1)  # warm-up (first-run allocations)
    per: dict[tuple, list[dict]] = {k: [None] * len(signals) for k in runners}
    for _ in range(repeats):
        for i, s in enumerate(signals):
            for key, engine in runners.items():
                r = _time_one(engine, s)
                best = per[key][i]
                per[key][i] = (
                    r
                    if best is None
                    else {
                        **r,
                        **{k: min(r[k], best[k]) for k in ("total_s", "encoder_s")},
                        "decoder_s": min(r["decoder_s"], best["decoder_s"]),
                    }
                )
    rows = []
    for (model, spec), p_list in per.items():
        rtf = [p["total_s"] / p["audio_s"] for p in p_list]
        row = {
            "model": model,
            "engine": spec,
            "threads": 1,
            "n": len(p_list),
            "repeats": repeats,
            "audio_s_median": statistics.median(p["audio_s"] for p in p_list),
            "rtf_median": statistics.median(rtf),
            "x_realtime_median": 1 / statistics.median(rtf),
            "encoder_ms_median": 1000 * statistics.median(p["encoder_s"] for p in p_list),
            "tokens_median": statistics.median(p["tokens"] for p in p_list),
        }
        # Per decoder call: ours timed directly; CT2 decodes inside generate(), so there it is
        # (total - encoder) / (tokens + 1), which also holds the (small) mel time.
        row["decoder_ms_per_call_median"] = 1000 * statistics.median(
            p["decoder_s"] / max(p["decoder_calls"], 1)
            if spec.startswith("onnx")
            else (p["total_s"] - p["encoder_s"]) / (p["tokens"] + 1)
            for p in p_list
        )
        rows.append(row | {"per_utterance": p_list})
        print(
            f"speed {model:8s} {spec:26s} x{row['x_realtime_median']:.1f} real time, encoder "
            f"{row['encoder_ms_median']:.0f} ms, decoder {row['decoder_ms_per_call_median']:.1f} ms/call",
            flush=True,
        )
    out.mkdir(parents=True, exist_ok=True)
    path = out / "speed.json"
    by_key = {(r["model"], r["engine"]): r for r in (json.loads(path.read_text())["rows"] if path.exists() else [])}
    by_key.update({(r["model"], r["engine"]): r for r in rows})
    path.write_text(json.dumps({"machine": _machine(), "rows": list(by_key.values())}, indent=1))


def _machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "loadavg": load,
        "note": "shared machine: other jobs ran at the same time",
    }


def report(out: Path) -> None:
    rows = []
    for path in sorted((out / "hyps").glob("*/*/*.json")):
        h = json.loads(path.read_text())
        utts = {u.id: u for u in load_set(h["set"])}
        ids = [i for i in h["hyps"] if i in utts]
        refs, hyps = [utts[i].text for i in ids], [h["hyps"][i] for i in ids]
        row = {k: h[k] for k in ("set", "model", "engine", "threads", "seconds")} | corpus_wer(refs, hyps)
        row["n"] = len(ids)
        row["wer_whisper"] = corpus_wer(refs, hyps, "whisper")["wer"]
        row["wer_whisper_noapos"] = corpus_wer(refs, hyps, "whisper-noapos")["wer"]
        if h["set"] in MOSI_SETS:
            row["wer_nofill"] = corpus_wer(refs, hyps, "nofill")["wer"]
        rows.append(row)
    speed = json.loads((out / "speed.json").read_text()) if (out / "speed.json").exists() else {"rows": []}
    (out / "results.json").write_text(
        json.dumps(
            {
                "wer": rows,
                "speed": [{k: v for k, v in r.items() if k != "per_utterance"} for r in speed["rows"]],
                "speed_machine": speed.get("machine"),
            },
            indent=1,
        )
    )
    (out / "results.md").write_text(markdown(rows, speed["rows"]))
    print((out / "results.md").read_text())


def markdown(rows: list[dict], speed_rows: list[dict]) -> str:
    sets = [s for s in SETS if any(r["set"] == s for r in rows)]
    combos = sorted({(r["model"], r["engine"]) for r in rows}, key=lambda c: (c[0], c[1]))
    lines = [
        "WER (corpus, `basic` normalisation; in brackets: fillers dropped; then / `whisper-noapos` / `whisper`)",
        "",
        "| model | engine | " + " | ".join(sets) + " |",
        "|---|---|" + "---|" * len(sets),
    ]
    for model, engine in combos:
        cells = []
        for s in sets:
            r = next((r for r in rows if (r["set"], r["model"], r["engine"]) == (s, model, engine)), None)
            if r is None:
                cells.append("")
            else:
                cell = f"{r['wer']:.3f}"
                if "wer_nofill" in r:
                    cell += f" ({r['wer_nofill']:.3f})"
                if "wer_whisper" in r:
                    cell += f" / {r['wer_whisper_noapos']:.3f} / {r['wer_whisper']:.3f}"
                cells.append(cell + f" n={r['n']}")
        lines.append(f"| {model} | {engine} | " + " | ".join(cells) + " |")
    if speed_rows:
        lines += [
            "",
            "Speed, one thread, utterances of 2-8 s (median)",
            "",
            "| model | engine | n | audio s | tokens | x real time | encoder ms | decoder ms/call |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in speed_rows:
            dec = f"{r['decoder_ms_per_call_median']:.1f}" if "decoder_ms_per_call_median" in r else ""
            lines.append(
                f"| {r['model']} | {r['engine']} | {r['n']} | {r['audio_s_median']:.1f} | "
                f"{r.get('tokens_median', '')} | "
                f"{r['x_realtime_median']:.1f} | {r['encoder_ms_median']:.0f} | {dec} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wer")
    w.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    w.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    w.add_argument("--engines", nargs="+", default=["onnx:30s", "onnx:trim:100:50+guard4", "fw-int8"])
    w.add_argument("--threads", type=int, default=2)
    w.add_argument("--batch-size", type=int, default=8)
    s = sub.add_parser("speed")
    s.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    s.add_argument("--engines", nargs="+", default=["onnx:30s", "onnx:trim:100:50+guard4", "fw-int8", "fw-float32"])
    s.add_argument("--n-each", type=int, default=10, help="RAVDESS and MOSI-espeak utterances each")
    s.add_argument("--repeats", type=int, default=2, help="passes over the utterances; the fastest kept")
    sub.add_parser("report")
    p.add_argument("--out", type=Path, default=RUNS_DIR)
    args = p.parse_args(argv)
    if args.cmd == "wer":
        run_wer(args.sets, args.models, args.engines, args.out, args.threads, args.batch_size)
    elif args.cmd == "speed":
        run_speed(args.models, args.engines, args.out, args.n_each, args.repeats)
    else:
        report(args.out)


if __name__ == "__main__":
    main()
