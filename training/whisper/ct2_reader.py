"""Reader for CTranslate2's `model.bin` (binary versions 1-6), tensors referenced in place.

Layout (CTranslate2 `src/models/model.cc` `Model::load`, writer `python/ctranslate2/specs/model_spec.py`
`_serialize`), all integers little-endian, strings = uint16 length (including a trailing NUL) + bytes:

    uint32 binary_version
    string spec_name, uint32 spec_revision            (binary_version >= 2)
    uint32 num_variables, then per variable:
        string name; uint8 rank; uint32 dims[rank]
        binary_version >= 4: uint8 dtype_id; uint32 num_bytes      (dtype ids below)
        binary_version <  4: uint8 item_size; uint32 num_items     (4 float32, 2 int16, 1 int8)
        num_bytes of raw row-major data (no padding, so offsets are not aligned)
    uint32 num_aliases, then per alias: string alias; string target      (binary_version >= 3)

int8/int16 weights come with a float32 `<name>_scale` variable (one scale per output row for int8;
`weight_float = weight_int / scale`), and an alias `a -> b` also aliases `a_scale -> b_scale`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# CTranslate2 DataType ids (include/ctranslate2/types.h; `_dtype_to_type_id` in model_spec.py).
CT2_DTYPES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
_LEGACY_ITEM_SIZES = {4: "float32", 2: "int16", 1: "int8"}
MAX_BINARY_VERSION = 6


@dataclass(frozen=True)
class Ct2Tensor:
    """One variable: `array` is a read-only view into the file's bytes (no copy)."""

    name: str
    dtype: str  # CTranslate2 dtype name, e.g. "float16"; bfloat16 arrays are raw uint16
    shape: tuple[int, ...]
    offset: int  # byte offset of the data in model.bin
    nbytes: int
    array: np.ndarray


@dataclass
class Ct2Model:
    path: Path
    binary_version: int
    spec: str
    revision: int
    tensors: dict[str, Ct2Tensor]  # aliases resolved: an alias maps to its target's tensor
    aliases: dict[str, str]  # alias -> target name

    def __getitem__(self, name: str) -> Ct2Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise KeyError(
                f"variable {name!r} not in {self.path} (spec {self.spec}); "
                f"{len(self.tensors)} variables, e.g. {sorted(self.tensors)[:3]}"
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def float32(self, name: str) -> np.ndarray:
        """The variable as float32, dequantising int8/int16 with `<name>_scale`."""
        t = self[name]
        if t.dtype in ("float32", "float16"):
            return t.array.astype(np.float32)
        if t.dtype == "bfloat16":
            return (t.array.astype(np.uint32) << 16).view(np.float32)
        if t.dtype in ("int8", "int16"):
            scale = self.float32(name + "_scale")
            # int8 scales are per output row ([rows]); int16 has one global scale.
            scale = scale.reshape((-1,) + (1,) * (t.array.ndim - 1)) if scale.size > 1 else scale
            return t.array.astype(np.float32) / scale
        raise TypeError(f"variable {name!r} has dtype {t.dtype}, not a float or quantised weight")

    def scalar(self, name: str):
        return self[name].array.reshape(()).item()


class _Cursor:
    def __init__(self, buf: memoryview, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def take_many(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise ValueError(
                f"{self.path} is truncated: reading {size} bytes at offset {self.pos}, file has {len(self.buf)}"
            )
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values

    def take(self, fmt: str):
        return self.take_many(fmt)[0]

    def string(self) -> str:
        n = self.take("<H")
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return raw.split(b"\0", 1)[0].decode("utf-8")


def read_ct2(path: str | Path) -> Ct2Model:
    """Parses `path` (a CTranslate2 model.bin); tensor arrays are memory-mapped views."""
    path = Path(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    cur = _Cursor(memoryview(mm), path)
    version = cur.take("<I")
    if not 1 <= version <= MAX_BINARY_VERSION:
        raise ValueError(
            f"{path}: binary version {version} not supported (1..{MAX_BINARY_VERSION}); "
            "is this a CTranslate2 model.bin?"
        )
    spec, revision = ("", 1)
    if version >= 2:
        spec = cur.string()
        revision = cur.take("<I")
    tensors: dict[str, Ct2Tensor] = {}
    for _ in range(cur.take("<I")):
        name = cur.string()
        rank = cur.take("<B")
        shape = tuple(int(d) for d in cur.take_many(f"<{rank}I"))
        if version >= 4:
            type_id = cur.take("<B")
            if type_id not in CT2_DTYPES:
                raise ValueError(f"{path}: variable {name!r} has unknown dtype id {type_id}")
            dtype = CT2_DTYPES[type_id]
            nbytes = cur.take("<I")
        else:
            item = cur.take("<B")
            dtype = _LEGACY_ITEM_SIZES[item]
            nbytes = cur.take("<I") * item
        offset = cur.pos
        np_dtype = np.uint16 if dtype == "bfloat16" else np.dtype(dtype)
        count = int(np.prod(shape)) if shape else 1
        if count * np.dtype(np_dtype).itemsize != nbytes:
            raise ValueError(
                f"{path}: variable {name!r} shape {shape} {dtype} needs "
                f"{count * np.dtype(np_dtype).itemsize} bytes, file says {nbytes}"
            )
        if offset + nbytes > len(mm):
            raise ValueError(f"{path} is truncated: {name!r} ends at {offset + nbytes} > {len(mm)}")
        # np.frombuffer accepts unaligned offsets (CT2 does not pad), the view stays read-only.
        array = np.frombuffer(mm, dtype=np_dtype, count=count, offset=offset).reshape(shape)
        tensors[name] = Ct2Tensor(name, dtype, shape, offset, nbytes, array)
        cur.pos += nbytes
    aliases: dict[str, str] = {}
    if version >= 3:
        for _ in range(cur.take("<I")):
            alias, target = cur.string(), cur.string()
            aliases[alias] = target
    for alias, target in aliases.items():
        for suffix in ("", "_scale"):
            if target + suffix in tensors:
                tensors[alias + suffix] = tensors[target + suffix]
    if alias_missing := [a for a, t in aliases.items() if t not in tensors]:
        raise ValueError(f"{path}: aliases {alias_missing} point to missing variables")
    return Ct2Model(path, version, spec, revision, tensors, aliases)
