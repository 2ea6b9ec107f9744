"""CTranslate2 model.bin reader: the format as CTranslate2's own writer produces it, and the real files."""

import numpy as np
import pytest

from training.tests.whisper_fixtures import installed_model
from training.whisper.ct2_reader import read_ct2


def _write_ct2(tmp_path, quantization):
    """A small model.bin written by ctranslate2's own serializer (aliases, int8 + scales)."""
    model_spec = pytest.importorskip("ctranslate2.specs.model_spec")
    common_spec = pytest.importorskip("ctranslate2.specs.common_spec")

    class Layer(model_spec.LayerSpec):
        def __init__(self):
            self.a = common_spec.LinearSpec()
            self.b = common_spec.LinearSpec()
            self.heads = np.dtype("int16").type(6)

    class Model(model_spec.ModelSpec):
        def __init__(self):
            super().__init__()
            self.enc = Layer()

        @property
        def name(self):
            return "TestSpec"

        @property
        def revision(self):
            return 2

    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    spec = Model()
    # CT2 quantises in place: hand it copies.
    spec.enc.a.weight, spec.enc.a.bias = w.copy(), bias.copy()
    spec.enc.b.weight, spec.enc.b.bias = w.copy(), np.zeros(4, np.float32)
    spec.validate()
    spec.optimize(quantization=quantization)
    spec.save(str(tmp_path))
    return read_ct2(tmp_path / "model.bin"), w, bias


def test_reads_int8_weights_scales_and_aliases(tmp_path):
    model, w, bias = _write_ct2(tmp_path, "int8")
    assert (model.spec, model.revision, model.binary_version) == ("TestSpec", 2, 6)
    assert model.aliases == {"enc/b/weight": "enc/a/weight"}  # duplicate weight stored once
    assert model["enc/a/weight"].dtype == "int8" and model["enc/a/weight_scale"].shape == (4,)
    assert model["enc/b/weight_scale"] is model["enc/a/weight_scale"]  # the alias carries the scale
    np.testing.assert_allclose(model.float32("enc/b/weight"), w, atol=np.abs(w).max() / 127)
    np.testing.assert_array_equal(model.float32("enc/a/bias"), bias)
    assert model.scalar("enc/heads") == 6


def test_reads_float16_in_place(tmp_path):
    model, w, _ = _write_ct2(tmp_path, "float16")
    t = model["enc/a/weight"]
    raw = (tmp_path / "model.bin").read_bytes()[t.offset : t.offset + t.nbytes]
    assert t.dtype == "float16" and raw == w.astype(np.float16).tobytes()  # offset points at the data


def test_truncated_file_names_the_problem(tmp_path):
    _write_ct2(tmp_path, "float16")
    path = tmp_path / "model.bin"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated"):
        read_ct2(path)


@pytest.mark.parametrize("name,layers,d,vocab", [("tiny.en", 4, 384, 51864), ("base", 6, 512, 51865)])
def test_real_whisper_files(name, layers, d, vocab):
    model = read_ct2(installed_model(name) / "model.bin")
    assert model.spec == "WhisperSpec" and model.revision == 3
    assert model["decoder/embeddings/weight"].shape == (vocab, d)
    assert model["decoder/projection/weight"] is model["decoder/embeddings/weight"]
    assert (
        f"encoder/layer_{layers - 1}/ffn/linear_1/weight" in model
        and f"encoder/layer_{layers}/ffn/linear_1/weight" not in model
    )
    # Tensors tile the file: no gaps or overlaps between consecutive data blocks.
    blocks = sorted({(t.offset, t.nbytes) for t in model.tensors.values()})
    assert all(a[0] + a[1] <= b[0] for a, b in zip(blocks, blocks[1:], strict=False))
    assert blocks[-1][0] + blocks[-1][1] < model.path.stat().st_size
