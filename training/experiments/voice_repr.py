"""Voice representation study: which utterance-level speech representation should the voice path
of the sentiment model read, so that it holds on voices and corpora it never heard?

    python -m training.experiments.voice_repr extract [--reps functionals whisper-tiny.en ...] [--corpora ...]
    python -m training.experiments.voice_repr parity            # PyTorch port vs CTranslate2 encode
    python -m training.experiments.voice_repr evaluate [--reps ...] [--out training/runs/voice-study]
    python -m training.experiments.voice_repr probe ...         # extra checks (bag of ids, single-emotion sessions)

Corpora: RAVDESS, TESS, ASED, EMOVO (../shared/data, README "More voices"); valence mapping in
corpora.py. Representations (extract.py): eGeMAPS-style functionals (functionals.py), Whisper
tiny.en / base encoder layers pooled mean+std, with or without 30 s padding. Normalisation
(normalise.py): none, per-speaker running statistics shrunk towards the training prior (N0
pseudo-utterances), per-speaker oracle. Readers and protocols (study.py): logistic regression
(3 classes), ridge and MLP regression to the valence score; RAVDESS 6-fold across actors,
leave-one-corpus-out, within-corpus by speaker. Features are cached under
~/.cache/msa/voice-study/ (npz), results go to training/runs/voice-study/ (JSON + markdown).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from ..common import DEFAULT_DATA_DIR, REPO_ROOT

CACHE_DIR = Path.home() / ".cache" / "msa" / "voice-study"
OUT_DIR = REPO_ROOT / "training" / "runs" / "voice-study"


def command_line(argv) -> str:
    return "python -m training.experiments.voice_repr " + " ".join(shlex.quote(a) for a in argv)


def cmd_extract(args) -> None:
    from .corpora import CORPORA
    from .extract import extract

    for rep in args.reps:
        for corpus in args.corpora or CORPORA:
            extract(
                rep,
                corpus,
                args.data_dir,
                args.cache_dir,
                args.cache_dir / "models",
                log=lambda m: print(time.strftime("%H:%M:%S"), m, flush=True),
            )


def cmd_parity(args) -> None:
    from .corpora import decode, list_corpus
    from .whisper_encoder import check_parity

    out = {}
    for corpus in ("ravdess", "tess"):
        u = list_corpus(corpus, args.data_dir)[0]
        audio = decode(u.path)
        for model in ("tiny.en", "base"):
            for pad in (False, True):
                key = f"{model} {'pad30' if pad else 'unpadded'} {u.id}"
                out[key] = check_parity(args.cache_dir / "models" / model, audio, pad)
                print(f"{key}: max |port - ct2| = {out[key]:.2e}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "parity.json").write_text(json.dumps(out, indent=1))


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    from .corpora import CORPORA
    from .extract import REPRESENTATIONS

    p = argparse.ArgumentParser(
        prog="python -m training.experiments.voice_repr",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    p.add_argument("--out", type=Path, default=OUT_DIR)
    p.add_argument("--threads", type=int, default=1, help="torch / BLAS threads (2 cores are shared)")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract", help="cache representations (npz)")
    e.add_argument("--reps", nargs="+", default=list(REPRESENTATIONS), choices=REPRESENTATIONS)
    e.add_argument("--corpora", nargs="+", choices=CORPORA)
    sub.add_parser("parity", help="PyTorch Whisper encoder port vs CTranslate2 encode")
    ev = sub.add_parser("evaluate", help="the study grid: representations x normalisations x readers x protocols")
    from .study import add_evaluate_args, add_probe_args

    add_evaluate_args(ev)
    pr = sub.add_parser(
        "probe",
        help="extra checks on chosen settings: bag of k-means ids, single-emotion "
        "sessions, accuracy by position in the session",
    )
    add_probe_args(pr)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.cmd == "extract":
        cmd_extract(args)
    elif args.cmd == "parity":
        cmd_parity(args)
    else:
        from . import study

        (study.cmd_evaluate if args.cmd == "evaluate" else study.cmd_probe)(args, command_line(argv))


if __name__ == "__main__":
    main()
