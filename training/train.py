"""Fine-tune the model on labelled transcripts (and featurized media when given).

    python -m training.train --run-name minilm --epochs 3 --max-minutes 45

Writes training/runs/<run-name>/: best.pt (best dev checkpoint), history.json, curve.png,
metrics.json (best checkpoint on MOSEI valid, MOSI dev, MOSEI test).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path

from .common import (
    DEFAULT_DATA_DIR,
    DEFAULT_RUNS_DIR,
    add_ravdess_fold_arg,
    clean_nans,
    load_checkpoint,
    pads_for,
    save_checkpoint,
    seed_everything,
    set_threads,
    write_json,
)


def parse_args(argv=None) -> argparse.Namespace:
    from .msa_model.config import ModelConfig, TrainConfig

    p = argparse.ArgumentParser(
        prog="python -m training.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder with mosi/ and mosei/ label.csv")
    p.add_argument(
        "--featurized",
        type=Path,
        nargs="*",
        default=[],
        help="JSONL rows that hold codebook ids (training/README.md; `msa featurize` output goes to --ravdess / --fer)",
    )
    p.add_argument("--mmsa-pkl", type=Path, default=None, help="MMSA feature pickle (needs --codebook-dir)")
    p.add_argument(
        "--ravdess",
        type=Path,
        default=None,
        help="`msa featurize --no-video` output of the RAVDESS folder (needs --codebook-dir)",
    )
    p.add_argument(
        "--fer",
        type=Path,
        default=None,
        help="`msa featurize --no-audio` output of the FER-2013 folder (needs --codebook-dir)",
    )
    add_ravdess_fold_arg(p)
    p.add_argument("--fer-dir", type=Path, default=None, help="FER-2013 folder for the splits (default DATA/fer2013)")
    p.add_argument(
        "--codebook-dir",
        type=Path,
        default=None,
        help="folder with acoustic.json / visual.json (`msa codebook fit`, or codebook.save_codebook for "
        "--mmsa-pkl): quantises --ravdess / --fer / --mmsa-pkl",
    )
    p.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR)
    p.add_argument("--run-name", default="default")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    for cfg in (TrainConfig(), ModelConfig()):
        for f in dataclasses.fields(cfg):
            default = getattr(cfg, f.name)
            flag = "--" + f.name.replace("_", "-")
            if isinstance(default, bool):
                p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
            elif isinstance(default, list):
                p.add_argument(flag, nargs="+", default=default)
            else:
                p.add_argument(flag, type=type(default), default=default)
    return p.parse_args(argv)


def split_configs(args):
    from .msa_model.config import ModelConfig, TrainConfig

    pick = lambda cls: cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})  # noqa: E731
    return pick(ModelConfig), pick(TrainConfig)


def gather_samples(args, mcfg):
    from .msa_model.codebook import load_codebook_dir
    from .msa_model.data import load_datasets, load_featurized_jsonl, load_mmsa_pkl

    samples = load_datasets(args.data_dir, args.datasets) if args.datasets != ["none"] else []
    for path in args.featurized:
        samples += load_featurized_jsonl(path, mcfg.acoustic_codebook_size, mcfg.visual_codebook_size)
    codebooks = None
    if args.ravdess or args.fer or args.mmsa_pkl:
        if not args.codebook_dir:
            raise SystemExit("--ravdess / --fer / --mmsa-pkl need --codebook-dir (acoustic.json, visual.json)")
        codebooks = load_codebook_dir(args.codebook_dir)
        cb_a, cb_v = codebooks
        if (cb_a.k, cb_v.k) != (mcfg.acoustic_codebook_size, mcfg.visual_codebook_size):
            raise SystemExit(f"codebook sizes {cb_a.k}/{cb_v.k} differ from the model's K_a/K_v")
    if args.ravdess or args.fer:
        from .msa_model.nonverbal_data import load_fer_featurized, load_ravdess_featurized
        from .msa_model.valence import fer_splits_from_dir

        if args.ravdess:
            samples += load_ravdess_featurized(args.ravdess, cb_a, cb_v, mcfg.max_nonverbal_len, fold=args.ravdess_fold)
        if args.fer:
            splits = fer_splits_from_dir(args.fer_dir or args.data_dir / "fer2013")
            samples += load_fer_featurized(args.fer, splits, cb_v, cb_a, mcfg.max_nonverbal_len)
    if args.mmsa_pkl:
        samples += load_mmsa_pkl(args.mmsa_pkl, codebooks, max_len=mcfg.max_nonverbal_len)
    return samples


TEXT_SOURCES = ("mosi", "mosei")


def parse_mix(spec: str) -> dict[str, float]:
    """ "text=0.5,ravdess=0.25,fer=0.25" -> {group: fraction} (normalised)."""
    out = {}
    for part in spec.split(","):
        name, _, frac = part.partition("=")
        out[name.strip()] = float(frac)
    total = sum(out.values())
    if total <= 0:
        raise SystemExit(f"--mix {spec!r}: fractions must sum to > 0")
    return {k: v / total for k, v in out.items()}


def source_group(source: str) -> str:
    return "text" if source in TEXT_SOURCES else source


def mixed_batches(train, mix: dict[str, float], batch_size: int, n_batches: int, rng):
    """`n_batches` batches, each holding round(fraction * batch_size) rows of every group (at
    least 1), drawn without replacement from each group's shuffled rows, reshuffled when a group
    runs out (small corpora are oversampled, big ones subsampled: none is drowned)."""
    import numpy as np

    groups = {}
    for i, s in enumerate(train):
        groups.setdefault(source_group(s.source), []).append(i)
    missing = [g for g in mix if g not in groups]
    if missing:
        raise SystemExit(f"--mix names {missing} but the training rows have groups {sorted(groups)}")
    counts = {g: max(1, int(round(f * batch_size))) for g, f in mix.items()}
    pools = {g: np.array(groups[g]) for g in mix}
    pos = {g: len(pools[g]) for g in mix}
    for _ in range(n_batches):
        idx = []
        for g, n in counts.items():
            for _ in range(n):
                if pos[g] >= len(pools[g]):
                    pools[g] = rng.permutation(pools[g])
                    pos[g] = 0
                idx.append(pools[g][pos[g]])
                pos[g] += 1
        yield np.array(idx)


def blank_text(batch, idx, text_rows, p: float, rng, blank: list[int], pad_token: int) -> None:
    """Replaces the words of non-transcript rows by "" ([CLS] [SEP], mask 0: text absent, as
    `collate` and the Node side treat a row without words) with probability p, in place."""
    for j, i in enumerate(idx):
        if not text_rows[i] and rng.random() < p:
            batch["input_ids"][j] = pad_token
            batch["attention_mask"][j] = 0
            batch["input_ids"][j, :2] = batch["input_ids"].new_tensor(blank)


def load_init_weights(model, state: dict) -> list[str]:
    """Loads a checkpoint's weights; tensors whose shape differs (codebook embeddings, when the
    new run's codebooks have another k) keep their fresh initialisation. The text path must load
    whole. Returns the names left at initialisation."""
    own = model.state_dict()
    fresh = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    text = [k for k in fresh if k.startswith(("encoder.", "head.text."))]
    if text:
        raise SystemExit(f"--init-checkpoint: text-path tensors differ in shape: {text}")
    model.load_state_dict({k: v for k, v in state.items() if k not in fresh}, strict=False)
    missing, extra = [k for k in own if k not in state], [k for k in state if k not in own]
    if missing or extra:
        raise SystemExit(f"--init-checkpoint does not fit the model: missing {missing}, unexpected {extra}")
    for k in fresh:
        print(f"init: {k} {tuple(state[k].shape)} -> {tuple(own[k].shape)} (new shape, initialised afresh)", flush=True)
    return fresh


def plot_curve(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    tr = [h for h in history if "train_loss" in h]
    ev = [h for h in history if "dev_mae" in h]
    if tr:
        ax.plot([h["step"] for h in tr], [h["train_loss"] for h in tr], label="train loss (avg since last eval)")
    if ev:
        ax.plot([h["step"] for h in ev], [h["dev_mae"] for h in ev], "o-", label="dev MAE, pooled (selection)")
        for name in sorted({k for h in ev for k, v in h.items() if isinstance(v, dict)}):
            pts = [h for h in ev if name in h]
            if pts:
                ax.plot([h["step"] for h in pts], [h[name]["mae"] for h in pts], ".--", label=f"{name} MAE")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("L1 / MAE")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> dict:
    args = parse_args(argv)
    mcfg, tcfg = split_configs(args)
    set_threads(tcfg.threads)
    seed_everything(tcfg.seed)

    import numpy as np
    import torch
    from tqdm import tqdm

    from .msa_model.config import to_dict
    from .msa_model.data import Encoded, bucketed_batches, collate
    from .msa_model.encoder import load_tokenizer
    from .msa_model.evaluation import dev_mae, dev_names, eval_sets, evaluate_sets, torch_predictor
    from .msa_model.metrics import format_metrics
    from .msa_model.model import MSAModel

    run_dir = args.runs_dir / args.run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(mcfg.text_encoder)
    samples = gather_samples(args, mcfg)
    train = [s for s in samples if s.split == "train"]
    if tcfg.max_train_rows:
        train = [train[i] for i in np.random.default_rng(tcfg.seed).permutation(len(train))[: tcfg.max_train_rows]]
    if not train:
        raise SystemExit(f"no training rows found in {args.data_dir} for datasets {tcfg.datasets}")
    train_data = Encoded(train, tokenizer, mcfg.max_text_tokens)
    sets = {k: Encoded(v, tokenizer, mcfg.max_text_tokens) for k, v in eval_sets(samples).items()}
    dev_sets = {k: sets[k] for k in dev_names(sets)}
    print(f"train rows {len(train_data)}; eval sets " + ", ".join(f"{k}={len(v)}" for k, v in sets.items()), flush=True)

    model = MSAModel(mcfg)
    if tcfg.init_checkpoint:
        import torch as _t

        init = _t.load(tcfg.init_checkpoint, map_location="cpu", weights_only=False)
        load_init_weights(model, init["model"])
        print(
            f"initialised from {tcfg.init_checkpoint} (step {init.get('step')}, dev MAE {init.get('dev_mae')})",
            flush=True,
        )
    pads = pads_for(tokenizer, mcfg)
    if tcfg.freeze_text:
        frozen = 0
        for name, prm in model.named_parameters():
            if name.startswith(("encoder.", "head.text.")):
                prm.requires_grad_(False)
                frozen += prm.numel()
        print(f"text path frozen: {frozen} parameters", flush=True)
    if tcfg.freeze_nonverbal:
        frozen = 0
        for name, prm in model.named_parameters():
            if not name.startswith(("encoder.", "head.text.")):
                prm.requires_grad_(False)
                frozen += prm.numel()
        print(f"non-verbal paths frozen: {frozen} parameters", flush=True)
    # The weights that are evaluated and saved: the live model, or its moving average.
    ema = None
    if tcfg.ema_decay > 0:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(tcfg.ema_decay), use_buffers=True)
    scored = ema.module if ema is not None else model
    opt = torch.optim.AdamW(model.parameter_groups(tcfg.encoder_lr, tcfg.head_lr, tcfg.weight_decay))
    steps_per_epoch = math.ceil(len(train_data) / tcfg.batch_size)
    total_steps = max(1, int(round(tcfg.epochs * steps_per_epoch)))
    warmup = max(1, int(tcfg.warmup_fraction * total_steps))
    # `plan["total"]` shrinks when --max-minutes cannot fit the planned steps (measured pace), so
    # the linear decay still reaches zero by the end of the budget.
    plan = {"total": total_steps}
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (plan["total"] - s) / max(1, plan["total"] - warmup)))
    )
    loss_fn = torch.nn.L1Loss() if tcfg.loss == "l1" else torch.nn.MSELoss()
    rng = np.random.default_rng(tcfg.seed)
    lengths = train_data.lengths()

    history: list[dict] = []
    best, bad_evals, step, start = math.inf, 0, 0, time.time()
    run_loss, run_n, stop_reason = 0.0, 0, "planned steps done"
    ckpt_path = run_dir / "best.pt"
    bar = tqdm(total=total_steps, desc="train", disable=args.no_progress, mininterval=10)

    def evaluate_now() -> bool:
        nonlocal best, bad_evals, run_loss, run_n
        scored.eval()
        metrics, preds = evaluate_sets(torch_predictor(scored), dev_sets, pads)
        model.train()
        crit = dev_mae(preds, dev_sets, tcfg.selection) if dev_sets else run_loss / max(1, run_n)
        entry = {
            "step": step,
            "epoch": step / steps_per_epoch,
            "minutes": (time.time() - start) / 60,
            "train_loss": run_loss / max(1, run_n),
            "dev_mae": crit,
        } | metrics
        history.append(entry)
        run_loss, run_n = 0.0, 0
        improved = crit < best
        if improved:
            best, bad_evals = crit, 0
            save_checkpoint(ckpt_path, scored, {"train_config": to_dict(tcfg), "step": step, "dev_mae": crit})
        else:
            bad_evals += 1
        msg = (
            f"[eval] step {step} epoch {entry['epoch']:.2f} min {entry['minutes']:.1f} "
            f"train_loss {entry['train_loss']:.4f} dev_mae {crit:.4f}{' *' if improved else ''}"
        )
        for k, m in metrics.items():
            msg += f"\n    {k}: {format_metrics(m)}"
        print(msg, flush=True)
        write_json(run_dir / "history.json", clean_nans(history))
        plot_curve(history, run_dir / "curve.png")
        return bad_evals >= tcfg.patience

    blank = [tokenizer.cls_token_id, tokenizer.sep_token_id]
    text_rows = np.array([s.source in TEXT_SOURCES for s in train])

    def batches():
        if not tcfg.mix:
            return bucketed_batches(lengths, tcfg.batch_size, rng)
        return mixed_batches(train, parse_mix(tcfg.mix), tcfg.batch_size, steps_per_epoch, rng)

    if tcfg.init_checkpoint and dev_sets:
        evaluate_now()  # step 0: the initial weights are a candidate, so a fine-tune never ships worse on dev
    model.train()
    done = False
    while not done:
        for idx in batches():
            batch = collate(train_data, idx, *pads, mcfg.modality_dropout, rng)
            if tcfg.text_dropout > 0:
                blank_text(batch, idx, text_rows, tcfg.text_dropout, rng, blank, pads[0])
            score, _ = model(
                batch["input_ids"],
                batch["attention_mask"],
                batch["acoustic_ids"],
                batch["acoustic_mask"],
                batch["visual_ids"],
                batch["visual_mask"],
            )
            loss = loss_fn(score, batch["labels"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            step += 1
            run_loss += loss.item() * len(idx)
            run_n += len(idx)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if step == 20:
                print(
                    f"[timing] {(time.time() - start) / 20:.2f} s/step over the first 20 steps, "
                    f"{total_steps} steps planned",
                    flush=True,
                )
            elapsed = time.time() - start
            if tcfg.max_minutes and step % 20 == 0 and step > warmup:
                # Steps that fit in the remaining budget at the pace so far (evaluations included).
                fit = step + int((tcfg.max_minutes * 60 - elapsed) / (elapsed / step))
                plan["total"] = max(step + 1, min(total_steps, fit))
            over_time = tcfg.max_minutes and elapsed / 60 >= tcfg.max_minutes
            if step % tcfg.eval_every == 0 or step >= plan["total"] or over_time:
                if evaluate_now():
                    stop_reason, done = f"early stop: {tcfg.patience} evaluations without dev improvement", True
                if over_time:
                    stop_reason, done = f"time budget of {tcfg.max_minutes} min reached", True
                if step >= plan["total"]:
                    if plan["total"] < total_steps:
                        stop_reason = (
                            f"schedule fitted to the {tcfg.max_minutes} min budget ({step} of {total_steps} steps)"
                        )
                    done = True
                if done:
                    break
    bar.close()
    train_minutes = (time.time() - start) / 60
    print(f"[done] {stop_reason}; {step} steps in {train_minutes:.1f} min; best dev MAE {best:.4f}", flush=True)

    best_model, ckpt = load_checkpoint(ckpt_path)
    metrics, _ = evaluate_sets(torch_predictor(best_model), sets, pads, progress=not args.no_progress)
    for k, m in metrics.items():
        print(f"[best step {ckpt['step']}] {k}: {format_metrics(m)}", flush=True)
    result = {
        "best_step": ckpt["step"],
        "steps": step,
        "train_minutes": train_minutes,
        "stop_reason": stop_reason,
        "train_rows": len(train_data),
        "datasets": tcfg.datasets,
        "ravdess_fold": args.ravdess_fold,
        "metrics": metrics,
        "model_config": to_dict(mcfg),
        "train_config": to_dict(tcfg),
    }
    write_json(run_dir / "metrics.json", clean_nans(result))
    return result


if __name__ == "__main__":
    main()
