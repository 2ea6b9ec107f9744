"""OUT/results-*.jsonl -> OUT/results.json (all rows) and OUT/report.md (tables).

Tables: baselines; RAVDESS 6-fold across actors per row; leave-one-corpus-out per row; nested
selection per family (for each fold / held-out corpus the row of the family with the best
selection score, dev or inner, is taken: the summary is not a maximum over test figures).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

from .corpora import CORPORA


def load_rows(out: Path) -> list[dict]:
    rows = []
    for p in sorted(out.glob("results-*.jsonl")):
        rows += [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return rows


def _ms(xs: list[float], digits: int = 1) -> str:
    xs = [x for x in xs if x == x]
    if not xs:
        return "-"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.fmean(xs):.{digits}f} ± {sd:.{digits}f}"


def _cfg(c: dict) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for k, v in c.items())


def ravdess_table(rows: list[dict]) -> list[str]:
    lines = [
        "| set | dim | norm | reader | test acc3 (mean ± sd) | MAE | bal. sign | "
        "happy vs angry | happy→neg % | configs (dev-picked) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["reader"], r["set"], r["norm"])):
        f = r["folds"]
        lines.append(
            f"| {r['set']} | {r['dim']} | {r['norm']} | {r['reader']} | {_ms([x['test']['acc3'] for x in f])} | "
            f"{_ms([x['test']['mae'] for x in f], 3)} | {_ms([x['test']['bal_sign'] for x in f])} | "
            f"{_ms([x['test']['happy_angry'] for x in f])} | {_ms([x['test']['happy_neg'] for x in f])} | "
            f"{'; '.join(_cfg(x['config']) for x in f)} |"
        )
    return lines


def loco_table(rows: list[dict]) -> list[str]:
    head = " | ".join(f"{c} sign / acc3 / MAE" for c in CORPORA)
    lines = [
        f"| set | dim | norm | reader | {head} | min sign | mean sign | TESS sign w/o ps | happy→neg % (mean) |",
        "|---|---|---|---|" + "---|" * (len(CORPORA) + 4),
    ]
    for r in sorted(rows, key=lambda r: (r["reader"], r["set"], r["norm"])):
        h = {x["corpus"]: x for x in r["held_out"]}
        cells = [
            f"{h[c]['test']['bal_sign']:.1f} / {h[c]['test']['acc3']:.1f} / {h[c]['test']['mae']:.2f}" for c in CORPORA
        ]
        signs = [h[c]["test"]["bal_sign"] for c in CORPORA]
        lines.append(
            f"| {r['set']} | {r['dim']} | {r['norm']} | {r['reader']} | {' | '.join(cells)} | {min(signs):.1f} | "
            f"{np.mean(signs):.1f} | {h['tess']['test']['bal_sign_no_surprise']:.1f} | "
            f"{np.mean([h[c]['test']['happy_neg'] for c in CORPORA]):.1f} |"
        )
    return lines


def baseline_lines(rows: list[dict]) -> list[str]:
    lines = []
    rav = next((r for r in rows if r["protocol"] == "ravdess_cv"), None)
    if rav:
        b = [f["baselines"] for f in rav["folds"]]
        lines.append(
            f"* RAVDESS 6-fold: majority (negative) 3-class {_ms([x['majority_acc3'] for x in b])} %, chance 33.3 %, "
            f"balanced sign chance 50 %, constant training-mean MAE {_ms([x['mean_mae'] for x in b], 3)}."
        )
    lo = next((r for r in rows if r["protocol"] == "loco"), None)
    if lo:
        for h in lo["held_out"]:
            b = h["baselines"]
            lines.append(
                f"* left out {h['corpus']} ({h['test']['n']} utterances): training-majority (negative) 3-class "
                f"{b['majority_acc3']:.1f} %, chance 33.3 %, balanced sign chance / any constant 50 %, "
                f"constant training-mean MAE {b['mean_mae']:.3f}."
            )
    return lines


def nested(rows: list[dict], family) -> list[str]:
    """family(row) -> family name or None. Per fold / held-out corpus, the family's row with the
    best selection score; its test figures."""
    fams: dict[str, list[dict]] = {}
    for r in rows:
        f = family(r)
        if f:
            fams.setdefault(f, []).append(r)
    lines = [
        "| family | protocol | rows | RAVDESS acc3 / MAE / sign (picked per fold on dev) | "
        "LOCO sign per corpus (picked on inner LOCO) | min | picks |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rs in sorted(fams.items()):
        rv = [r for r in rs if r["protocol"] == "ravdess_cv"]
        lo = [r for r in rs if r["protocol"] == "loco"]
        if rv:
            picks = [max(rv, key=lambda r: tuple(r["folds"][k]["select"])) for k in range(len(rv[0]["folds"]))]
            t = [p["folds"][k]["test"] for k, p in enumerate(picks)]
            cell = (
                f"{_ms([x['acc3'] for x in t])} / {_ms([x['mae'] for x in t], 3)} / {_ms([x['bal_sign'] for x in t])}"
            )
            pick_txt = "; ".join(f"{p['set'].split('/', 1)[-1]} {p['norm']}" for p in picks)
            lines.append(f"| {name} | ravdess_cv | {len(rv)} | {cell} | | | {pick_txt} |")
        if lo:
            out, pick_txt = [], []
            for c in CORPORA:
                best = max(lo, key=lambda r: tuple(next(h for h in r["held_out"] if h["corpus"] == c)["select"]))
                out.append(next(h for h in best["held_out"] if h["corpus"] == c)["test"]["bal_sign"])
                pick_txt.append(f"{c}: {best['set'].split('/', 1)[-1]} {best['norm']}")
            per_corpus = " / ".join(f"{c} {v:.1f}" for c, v in zip(CORPORA, out, strict=True))
            lines.append(f"| {name} | loco | {len(lo)} | | {per_corpus} | {min(out):.1f} | {'; '.join(pick_txt)} |")
    return lines


def write_report(out: Path) -> None:
    rows = load_rows(out)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    commands = sorted({r["command"] for r in rows})
    md = ["# Voice representation study", "", "Commands that produced these rows (results-*.jsonl):", ""]
    md += [f"    {c}" for c in commands] + ["", "## Baselines", ""] + baseline_lines(rows)
    md += [
        "",
        "## RAVDESS, 6 folds across actors",
        "",
        "acc3: 3-class valence accuracy (%), mean ± sd over the 6 test folds; MAE on the [-3, 3] score; bal. sign: "
        "balanced accuracy of the sign over positive / negative utterances; happy vs angry: the same over happy and "
        "angry only; configs: per fold, the reader's weighting and penalty picked on the dev actors.",
        "",
    ]
    md += ravdess_table([r for r in rows if r["protocol"] == "ravdess_cv"])
    md += [
        "",
        "## Leave one corpus out",
        "",
        "Train on three corpora, test on every utterance of the fourth. Per held-out corpus: balanced sign accuracy "
        "(%) / 3-class accuracy (%) / MAE; reader weighting and penalty picked by inner leave-one-corpus-out on the "
        "training corpora. TESS sign w/o ps: TESS without its pleasant-surprise utterances.",
        "",
    ]
    md += loco_table([r for r in rows if r["protocol"] == "loco"])
    md += [
        "",
        "## Nested selection",
        "",
        "Per representation x reader (layer, pooling and normalisation picked per fold / held-out corpus on dev / "
        "inner scores only):",
        "",
    ]
    md += nested(rows, lambda r: f"{r['rep']} {r['reader']}")
    md += ["", "Per representation x normalisation x reader (layer and pooling picked):", ""]
    md += nested(rows, lambda r: f"{r['rep']} {r['norm']} {r['reader']}")
    (out / "report.md").write_text("\n".join(md) + "\n")
    print(f"{len(rows)} rows -> {out / 'report.md'}")
