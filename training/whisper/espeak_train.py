"""Spoken train transcripts: espeak-ng renderings of MOSI train, a seeded subset of MOSEI train
and of MOSEI valid, to teach the text path the words the recogniser gives (training/README.md
"Recognised text"; tried, not shipped).

    python -m training.whisper.espeak_train [--mosei 3000] [--valid 600] [--out ~/.cache/msa/asr/train-espeak]
    python -m training.whisper.espeak_train --hyps OUT/hyps-*.csv [--teacher models]

Each row gets one voice and rate drawn as `espeak_mosi` draws them (six voices, three rates),
from its own seed. Writes `manifest.csv` (train rows) and `manifest-valid.csv` (MOSEI valid rows,
split dev: recognised rows for checkpoint selection), columns id, voice, rate, path, text,
label, corpus, split, each also in two interleaved parts (`manifest-part0.csv`, ...) to
recognise with `msa asr wer --manifest ... --out HYPS.csv` in two processes. With `--hyps`, the
recognised texts become `--featurized` rows: `asr-rows.jsonl` (human labels, `asr_rows`), or with
`--teacher` `asr-distill.jsonl` (consistency rows labelled by the served model, `distill_rows`).
The MOSI dev renderings of `espeak_mosi` are never among them.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from .espeak_mosi import RATES, VOICES, render
from .paths import CACHE_DIR, DATA_DIR

SEED = 20261207
DEFAULT_OUT = CACHE_DIR / "train-espeak"
FIELDS = ["id", "voice", "rate", "path", "text", "label", "corpus", "split"]


def mosei_rows(data_dir: Path, mode: str, split: str) -> list[dict]:
    with open(data_dir / "mosei" / "label.csv", newline="") as f:
        rows = [
            {
                "id": f"{r['video_id']}_{r['clip_id']}",
                "text": r["text"],
                "label": r["label"],
                "corpus": "mosei",
                "split": split,
            }
            for r in csv.DictReader(f)
            if r["mode"].strip() == mode and r["text"].strip()
        ]
    random.Random(SEED).shuffle(rows)
    return rows


def train_rows(data_dir: Path, n_mosei: int) -> list[dict]:
    """MOSI train (all) and `n_mosei` MOSEI train rows drawn with a fixed seed; ids as the
    training loaders name them (MOSEI: `<video_id>_<clip_id>`)."""
    with open(data_dir / "mosi" / "label.csv", newline="") as f:
        mosi = [
            {"id": r["id"], "text": r["text"], "label": r["label"], "corpus": "mosi", "split": "train"}
            for r in csv.DictReader(f)
            if r["mode"].strip() == "train" and r["text"].strip()
        ]
    return mosi + mosei_rows(data_dir, "train", "train")[:n_mosei]


def valid_rows(data_dir: Path, n: int) -> list[dict]:
    """`n` MOSEI valid rows (seeded draw), split `dev`: recognised dev rows for checkpoint
    selection, so the MOSI dev renderings the README reports are never selected on."""
    return mosei_rows(data_dir, "valid", "dev")[:n]


def build(out: Path, rows: list[dict], workers: int, name: str, parts: int = 2) -> Path:
    rng = random.Random(SEED)
    records = []
    for row in rows:
        voice = rng.choice(VOICES)
        rate = rng.choice(RATES)
        path = out / row["corpus"] / f"{voice.replace('+', '_')}-{rate}" / f"{row['id']}.wav"
        records.append({**row, "voice": voice, "rate": rate, "path": str(path)})

    def one(rec: dict) -> None:
        path = Path(rec["path"])
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            render(rec["text"], rec["voice"], rec["rate"], path)

    with ThreadPoolExecutor(workers) as pool:
        for _ in tqdm(pool.map(one, records), total=len(records), desc="espeak-ng", unit="row"):
            pass
    manifest = out / name
    # the whole set, then `parts` interleaved shares of it, to recognise in as many processes
    shares = [(manifest, records)] + [
        (manifest.with_name(f"{manifest.stem}-part{k}.csv"), records[k::parts])
        for k in range(parts if parts > 1 else 0)
    ]
    for path, rows in shares:
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, FIELDS)
            w.writeheader()
            w.writerows(rows)
    return manifest


def read_csvs(paths: list[Path]) -> list[dict]:
    """The rows of several CSV files with headers, one after the other."""
    rows: list[dict] = []
    for path in paths:
        with open(path, newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def asr_rows(manifests: list[Path], hyps: list[Path], out: Path) -> dict:
    """Joins `msa asr wer --out` hypotheses (id, reference, hypothesis, ...) to the manifests'
    labels: one `--featurized` JSONL row per recognised utterance (its manifest's split, no
    non-verbal ids), the text as the recogniser wrote it (serving's `raw`). Utterances heard as
    nothing are skipped and counted."""
    labels = {r["id"]: r for r in read_csvs(manifests)}
    n, empty, unknown = 0, 0, []
    with open(out, "w", encoding="utf-8") as w:
        for r in read_csvs(hyps):
            m = labels.get(r["id"])
            if m is None:
                unknown.append(r["id"])
                continue
            text = (r.get("hypothesis") or "").strip()
            if not text:
                empty += 1
                continue
            row = {"id": f"asr-{r['id']}", "text": text, "label": float(m["label"]), "split": m["split"]}
            w.write(json.dumps(row) + "\n")
            n += 1
    if unknown:
        raise ValueError(f"{len(unknown)} hypothesis ids are not in the manifests, e.g. {unknown[:3]}")
    return {"rows": n, "empty": empty, "out": str(out)}


def teacher_scores(models: Path, manifest: dict, texts: list[str]) -> list[float]:
    """The served graph's scores (`manifest`, the models folder's manifest.json) for `texts` alone
    (words only), through the training tokenizer."""
    from ..msa_model.data import Encoded, Sample
    from ..msa_model.encoder import load_tokenizer
    from ..msa_model.evaluation import predict
    from ..onnx_io import ort_predictor, ort_session

    tok = load_tokenizer("")
    samples = [Sample(str(i), t, 0.0, "test", "teacher") for i, t in enumerate(texts)]
    data = Encoded(samples, tok, int(manifest["maxTextTokens"]))
    pads = (tok.pad_token_id, manifest["acousticPad"], manifest["visualPad"])
    session = ort_session(models / manifest["file"])
    return [float(x) for x in predict(ort_predictor(session), data, pads, 64, True, "teacher")]


def distill_rows(data_dir: Path, manifests: list[Path], hyps: list[Path], models: Path, out: Path) -> dict:
    """Rows for teaching the text path recognised words without moving it on clean words
    (consistency training against the served model as teacher), as `--featurized` JSONL with
    `--datasets none`:
    - every MOSI / MOSEI train transcript, labelled with the served model's own score for it
      (source mosi / mosei): the fine-tune keeps its clean-text answers instead of fitting the
      train labels again;
    - every recognised train utterance, labelled with the served model's score for its true
      transcript (source asr): the same answer from the words the recogniser gives;
    - the recognised MOSEI valid utterances with their human labels (asr dev), and MOSI dev,
      MOSEI valid and MOSEI test as they are (human labels): selection and report sets."""
    from ..msa_model.data import load_datasets

    manifest = json.loads((models / "manifest.json").read_text())
    labels = {r["id"]: r for r in read_csvs(manifests)}
    recognised = [r for r in read_csvs(hyps) if (r.get("hypothesis") or "").strip()]
    clean = load_datasets(data_dir, ["mosei", "mosi"])
    train = [s for s in clean if s.split == "train"]
    asr_train = [r for r in recognised if labels[r["id"]]["split"] == "train"]
    scores = teacher_scores(models, manifest, [s.text for s in train] + [labels[r["id"]]["text"] for r in asr_train])
    n = {"clean_train": 0, "asr_train": 0, "asr_dev": 0, "clean_eval": 0}
    with open(out, "w", encoding="utf-8") as w:

        def put(row: dict, kind: str) -> None:
            w.write(json.dumps(row) + "\n")
            n[kind] += 1

        for s, score in zip(train, scores[: len(train)], strict=True):
            put({"id": s.id, "text": s.text, "label": score, "split": "train", "source": s.source}, "clean_train")
        for r, score in zip(asr_train, scores[len(train) :], strict=True):
            put(
                {
                    "id": f"asr-{r['id']}",
                    "text": r["hypothesis"].strip(),
                    "label": score,
                    "split": "train",
                    "source": "asr",
                },
                "asr_train",
            )
        for r in recognised:
            m = labels[r["id"]]
            if m["split"] == "dev":
                row = {"id": f"asr-{r['id']}", "text": r["hypothesis"].strip(), "label": float(m["label"])}
                put(row | {"split": "dev", "source": "asr"}, "asr_dev")
        for s in clean:
            if s.split != "train":
                put({"id": s.id, "text": s.text, "label": s.label, "split": s.split, "source": s.source}, "clean_eval")
    return n | {"out": str(out), "teacher": f"{manifest['name']} {manifest['version']}"}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DATA_DIR)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--mosei", type=int, default=3000, help="MOSEI train rows to render (seeded draw)")
    p.add_argument("--valid", type=int, default=600, help="MOSEI valid rows to render for selection (seeded draw)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--hyps", type=Path, nargs="+", help="msa asr wer --out CSVs of the manifests: write the JSONL rows instead"
    )
    p.add_argument("--jsonl", type=Path, help="where --hyps writes its rows (default OUT/asr-rows.jsonl)")
    p.add_argument(
        "--teacher",
        type=Path,
        help="with --hyps: write consistency-training rows instead, labelled by this models folder's "
        "served graph (default OUT/asr-distill.jsonl; see distill_rows)",
    )
    args = p.parse_args(argv)
    manifests = [args.out / "manifest.csv", args.out / "manifest-valid.csv"]
    if args.hyps and args.teacher:
        out = args.jsonl or args.out / "asr-distill.jsonl"
        print(json.dumps(distill_rows(args.data_dir, manifests, args.hyps, args.teacher, out)))
        return
    if args.hyps:
        print(json.dumps(asr_rows(manifests, args.hyps, args.jsonl or args.out / "asr-rows.jsonl")))
        return
    print(build(args.out, train_rows(args.data_dir, args.mosei), args.workers, manifests[0].name))
    print(build(args.out, valid_rows(args.data_dir, args.valid), args.workers, manifests[1].name))


if __name__ == "__main__":
    main()
