"""Cross-validation of the voice recipe over RAVDESS actors: how well does it hold on voices it
never saw, and how much of a difference between two recipes is noise?

    python -m training.experiments.voice_cv --ravdess FEAT/ravdess/features.jsonl --fer FEAT/fer/features.jsonl \
        --samples FEAT/samples/features.jsonl --init-checkpoint training/runs/soup-v1v3/best.pt \
        --out training/runs/voice-cv [--folds 0 1 2 3 4 5] [--seed 21]

The fixed split tests 4 actors (240 utterances), so one recipe's test accuracy moves by several
points with the actors drawn. Here every actor is tested once: six folds of four consecutive
actors (`valence.ravdess_split(actor, fold)`: fold k tests block k, selects on block k - 1,
trains on the rest; fold 5 is the fixed split). For each fold, nothing fitted may have seen its
test actors, so the fold gets its own acoustic codebook (`training.experiments.codebook_inputs --ravdess-fold`,
`msa codebook fit` on its train actors plus the sample clips, `training.codebook_gate`), then stage 2
of the shipped recipe (training/README.md, "Voice and face"), then `training.ablation` on its test
actors. The visual codebook is the shipped one (FER splits do not change).

Writes OUT/cv.json and OUT/cv.md: per fold and in all, 3-class valence accuracy and MAE with
words and voice, voice alone (words masked), and the majority baseline; --update-manifest FILE...
records the summary under `voiceCrossValidation`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import subprocess
from pathlib import Path

from ..common import MODELS_DIR, REPO_ROOT, record_in_manifests

RECIPE = [
    "--datasets",
    "none",
    "--freeze-text",
    "--mix",
    "ravdess=0.5,fer=0.5",
    "--text-dropout",
    "0.3",
    "--selection",
    "mean",
    "--max-text-tokens",
    "96",
    "--head-lr",
    "1e-3",
    "--epochs",
    "15",
    "--max-minutes",
    "12",
    "--eval-every",
    "100",
    "--patience",
    "8",
    "--threads",
    "2",
    "--no-progress",
]


def run_fold(fold: int, args) -> dict:
    from .. import ablation, codebook_gate, train
    from . import codebook_inputs

    work = args.out / f"fold-{fold}"
    cb_dir = work / "codebooks"
    cb_dir.mkdir(parents=True, exist_ok=True)
    fer_dir = ["--fer-dir", str(args.fer_dir)] if args.fer_dir else []
    codebook_inputs.main(
        [
            "--ravdess",
            str(args.ravdess),
            "--fer",
            str(args.fer),
            "--out",
            str(work / "cb-inputs"),
            "--ravdess-fold",
            str(fold),
            *fer_dir,
        ]
    )
    fit = [
        "node",
        str(REPO_ROOT / "bin/msa.js"),
        "codebook",
        "fit",
        "--input",
        str(work / "cb-inputs/acoustic.jsonl"),
        *([str(args.samples)] if args.samples else []),
        "--modality",
        "acoustic",
        "--k",
        "32",
        "--out",
        str(cb_dir / "acoustic.json"),
    ]
    subprocess.run(fit, check=True, cwd=REPO_ROOT)
    codebook_gate.main(
        ["--codebook", str(cb_dir / "acoustic.json"), "--ravdess", str(args.ravdess), "--ravdess-fold", str(fold)]
    )
    shutil.copyfile(args.visual_codebook, cb_dir / "visual.json")
    run_name = f"fold-{fold}-s{args.seed}"
    trained = train.main(
        [
            "--run-name",
            run_name,
            "--runs-dir",
            str(work),
            "--init-checkpoint",
            str(args.init_checkpoint),
            "--ravdess",
            str(args.ravdess),
            "--fer",
            str(args.fer),
            "--codebook-dir",
            str(cb_dir),
            "--ravdess-fold",
            str(fold),
            "--seed",
            str(args.seed),
            *fer_dir,
            *RECIPE,
            *shlex.split(args.train_args),
        ]
    )
    result = ablation.main(
        [
            "--checkpoint",
            str(work / run_name / "best.pt"),
            "--ravdess",
            str(args.ravdess),
            "--fer",
            str(args.fer),
            "--codebook-dir",
            str(cb_dir),
            "--ravdess-fold",
            str(fold),
            "--sets",
            "ravdess_test",
            "--out",
            str(work / run_name),
            *fer_dir,
        ]
    )
    t = result["sets"]["ravdess_test"]
    return {
        "fold": fold,
        "test_actors": [a for a in range(1, 25) if (a - 1) // 4 == fold],
        "n": t["n"],
        "acc3": t["all"]["acc3"],
        "mae": t["all"]["mae"],
        "voice_alone_acc3": t["no_text"]["acc3"],
        "voice_alone_mae": t["no_text"]["mae"],
        "majority_acc3": t["baselines"]["majority_acc3"],
        "best_step": trained["best_step"],
    }


def summary(folds: list[dict]) -> dict:
    out = {}
    for key in ("acc3", "mae", "voice_alone_acc3", "voice_alone_mae", "majority_acc3"):
        xs = [f[key] for f in folds]
        out[key] = {
            "mean": statistics.fmean(xs),
            "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
            "min": min(xs),
            "max": max(xs),
        }
    return out


def markdown(result: dict) -> str:
    lines = ["| fold | test actors | acc3 / MAE | voice alone acc3 / MAE | majority |", "|---|---|---|---|---|"]
    for f in result["folds"]:
        lines.append(
            f"| {f['fold']} | {f['test_actors'][0]}-{f['test_actors'][-1]} | {f['acc3']:.1f} / {f['mae']:.3f} | "
            f"{f['voice_alone_acc3']:.1f} / {f['voice_alone_mae']:.3f} | {f['majority_acc3']:.1f} |"
        )
    s = result["summary"]
    lines.append(
        f"| mean (sd) | all {sum(f['n'] for f in result['folds'])} | {s['acc3']['mean']:.1f} ({s['acc3']['sd']:.1f}) / "
        f"{s['mae']['mean']:.3f} | {s['voice_alone_acc3']['mean']:.1f} ({s['voice_alone_acc3']['sd']:.1f}) / "
        f"{s['voice_alone_mae']['mean']:.3f} | {s['majority_acc3']['mean']:.1f} |"
    )
    lines += ["", "3-class valence accuracy (%) on each fold's held-out actors (240 utterances each); chance 33.3."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        prog="python -m training.experiments.voice_cv",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--ravdess", type=Path, help="msa featurize --no-video output of the RAVDESS folder")
    p.add_argument("--fer", type=Path, help="msa featurize --no-audio output of the FER-2013 subset")
    p.add_argument(
        "--samples", type=Path, default=None, help="featurize output of the sample clips (codebook inputs, as shipped)"
    )
    p.add_argument("--visual-codebook", type=Path, default=MODELS_DIR / "codebooks/visual.json")
    p.add_argument(
        "--init-checkpoint", type=Path, help="stage 1 (text) checkpoint, e.g. training/runs/soup-v1v3/best.pt"
    )
    p.add_argument("--folds", type=int, nargs="*", default=list(range(6)), choices=range(6))
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("--fer-dir", type=Path, default=None, help="FER-2013 folder for its splits (default DATA/fer2013)")
    p.add_argument(
        "--train-args", default="", help="more `training.train` flags, after the recipe's (the last one wins)"
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--update-manifest",
        type=Path,
        nargs="*",
        default=[],
        help="manifests to record the summary in (voiceCrossValidation); the recipe must be the shipped one",
    )
    p.add_argument(
        "--record-only", action="store_true", help="only record OUT/cv.json of an earlier run in --update-manifest"
    )
    args = p.parse_args(argv)
    if args.record_only:
        result = json.loads((args.out / "cv.json").read_text())
        record(result, args.update_manifest)
        return result
    if not (args.ravdess and args.fer and args.init_checkpoint):
        p.error("--ravdess, --fer and --init-checkpoint are needed (all but --record-only)")
    args.out.mkdir(parents=True, exist_ok=True)
    folds = []
    for fold in args.folds:
        folds.append(run_fold(fold, args))
        print(f"[cv] fold {fold}: acc3 {folds[-1]['acc3']:.1f} MAE {folds[-1]['mae']:.3f}", flush=True)
    result = {"ravdess": str(args.ravdess), "seed": args.seed, "folds": folds, "summary": summary(folds)}
    (args.out / "cv.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "cv.md").write_text(markdown(result))
    print(markdown(result), end="")
    record(result, args.update_manifest)
    return result


def record(result: dict, manifests) -> None:
    if not manifests:
        return
    s, folds = result["summary"], result["folds"]
    record_in_manifests(
        manifests,
        "voiceCrossValidation",
        {
            "what": "the shipped stage-2 recipe retrained per fold, each fold testing 4 RAVDESS actors it never heard "
            "(its own codebook and gate), words and voice",
            "command": "python -m training.experiments.voice_cv",
            "folds": [f["fold"] for f in folds],
            "seed": result["seed"],
            "acc3Mean": round(s["acc3"]["mean"], 2),
            "acc3Sd": round(s["acc3"]["sd"], 2),
            "maeMean": round(s["mae"]["mean"], 3),
            "voiceAloneAcc3Mean": round(s["voice_alone_acc3"]["mean"], 2),
            "majorityAcc3": round(s["majority_acc3"]["mean"], 2),
            "acc3PerFold": [round(f["acc3"], 2) for f in folds],
        },
    )


if __name__ == "__main__":
    main()
