"""Average the weights of fine-tuned checkpoints that share an initialisation ("model soup",
Wortsman et al. 2022): one model, the cost of one, often better than each ingredient.

    python -m training.soup --out training/runs/soup/best.pt \
        training/runs/minilm-v1/best.pt training/runs/minilm-v3/best.pt

The model config (max text tokens included) is the first checkpoint's unless --config-from
names another. Evaluate the result on the dev sets before trusting it (python -m training.evaluate
--checkpoint OUT); choose between soup and ingredients on dev only.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv=None) -> Path:
    import torch

    p = argparse.ArgumentParser(
        prog="python -m training.soup", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("checkpoints", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--config-from", type=int, default=0, help="index of the checkpoint whose model config is kept")
    args = p.parse_args(argv)
    if len(args.checkpoints) < 2:
        raise SystemExit("a soup needs at least two checkpoints")
    ckpts = [torch.load(c, map_location="cpu", weights_only=False) for c in args.checkpoints]
    keys = set(ckpts[0]["model"])
    for path, c in zip(args.checkpoints, ckpts, strict=True):
        if set(c["model"]) != keys or any(c["model"][k].shape != ckpts[0]["model"][k].shape for k in keys):
            raise SystemExit(
                f"{path}: its tensors differ from {args.checkpoints[0]}'s; "
                "only checkpoints of one architecture can be averaged"
            )
    soup = {}
    for k in ckpts[0]["model"]:
        t = [c["model"][k] for c in ckpts]
        soup[k] = (sum(x.double() for x in t) / len(t)).to(t[0].dtype) if t[0].is_floating_point() else t[0]
    base = ckpts[args.config_from]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": soup,
            "model_config": base["model_config"],
            "soup_of": [str(c) for c in args.checkpoints],
            "train_config": base.get("train_config"),
            "step": None,
            "dev_mae": None,
        },
        args.out,
    )
    print(f"averaged {len(ckpts)} checkpoints -> {args.out}")
    return args.out


if __name__ == "__main__":
    main()
