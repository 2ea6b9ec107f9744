"""Per-session running normalisation of RAVDESS voice features, as an experiment's input.

    python -m training.experiments.session_norm --ravdess FEAT/ravdess/features.jsonl \
        --samples FEAT/samples/features.jsonl --out FEAT/ravdess-sn40 [--prior-vectors 40]

Each actor's utterances, in a seeded random order, are one session; every utterance is z-scored
with the statistics of its session so far (its own vectors included), shrunk towards the train
actors' statistics (fixed split) as if `--prior-vectors` vectors of them came first. A sample clip
is a session of its own. Writes OUT/features.jsonl (all RAVDESS rows) and OUT/samples.jsonl in
the featurize format, so `training.experiments.voice_cv --ravdess OUT/features.jsonl --samples OUT/samples.jsonl`
measures a codebook and model on normalised voices (training/README.md, "Voice across actors").
The pipeline has no such normaliser: this measures whether one is worth building.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def running_normalise(sequences, mean, std, prior_vectors: float):
    """Sequences of one session, in order -> each z-scored with the session's running statistics
    through its own end, shrunk towards (mean, std) as if `prior_vectors` vectors came first."""
    import numpy as np

    from ..msa_model.codebook import shrunk_moments

    s1, s2, n, out = np.zeros_like(mean), np.zeros_like(mean), 0, []
    for x in sequences:
        x = np.asarray(x, dtype=np.float64)
        if len(x) == 0:
            out.append(x)
            continue
        s1, s2, n = s1 + x.sum(0), s2 + (x * x).sum(0), n + len(x)
        mu, sd = shrunk_moments(s1, s2, n, mean, std, prior_vectors)
        out.append((x - mu) / sd)
    return out


def session_order(rows: list[dict], seed: int = 0) -> dict[int, list[int]]:
    """Actor -> indices of their rows in a seeded random order (actors in ascending order)."""
    import numpy as np

    from ..msa_model.valence import parse_ravdess

    by_actor: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_actor.setdefault(parse_ravdess(Path(r["media"]).name).actor, []).append(i)
    rng = np.random.default_rng(seed)
    return {a: [idx[j] for j in rng.permutation(len(idx))] for a, idx in sorted(by_actor.items())}


def main(argv=None) -> dict:
    import numpy as np

    from ..msa_model.nonverbal_data import read_jsonl
    from ..msa_model.valence import parse_ravdess, ravdess_split

    p = argparse.ArgumentParser(
        prog="python -m training.experiments.session_norm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--ravdess", type=Path, required=True)
    p.add_argument("--samples", type=Path, default=None)
    p.add_argument("--prior-vectors", type=float, default=40.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    rows = read_jsonl(args.ravdess)
    train = np.concatenate(
        [
            np.asarray(r["acoustic"])
            for r in rows
            if r["acoustic"] and ravdess_split(parse_ravdess(Path(r["media"]).name).actor) == "train"
        ]
    )
    mean, std = train.mean(0), train.std(0)
    out_rows: list[dict] = []
    for idx in session_order(rows, args.seed).values():
        for i, x in zip(
            idx, running_normalise([rows[i]["acoustic"] for i in idx], mean, std, args.prior_vectors), strict=True
        ):
            out_rows.append(rows[i] | {"acoustic": np.round(x, 5).tolist()})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "features.jsonl").write_text("".join(json.dumps(r) + "\n" for r in out_rows))
    samples = read_jsonl(args.samples) if args.samples else []
    (args.out / "samples.jsonl").write_text(
        "".join(
            json.dumps(
                r
                | {
                    "acoustic": np.round(
                        running_normalise([r["acoustic"]], mean, std, args.prior_vectors)[0], 5
                    ).tolist()
                }
            )
            + "\n"
            for r in samples
        )
    )
    print(f"{len(out_rows)} RAVDESS rows, {len(samples)} sample rows -> {args.out}")
    return {"rows": len(out_rows), "samples": len(samples)}


if __name__ == "__main__":
    main()
