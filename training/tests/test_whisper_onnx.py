"""The ONNX graphs: weightless, in-place external data at the CT2 offsets, plain opset-17 ops, and
numerically the CTranslate2 model (encoder output; cached decoding = uncached decoding)."""

import numpy as np
import onnx
import pytest

from training.tests.whisper_fixtures import installed_model
from training.whisper.ct2_reader import read_ct2
from training.whisper.decode import WhisperOnnx, ends_in_loop
from training.whisper.decoder_graph import build_decoder
from training.whisper.encoder_graph import build_encoder
from training.whisper.fetch import GRAPHS_DIR

ALLOWED_OPS = {
    "Cast",
    "Transpose",
    "Mul",
    "Add",
    "Div",
    "Unsqueeze",
    "Squeeze",
    "Conv",
    "Erf",
    "Shape",
    "Slice",
    "LayerNormalization",
    "MatMul",
    "Split",
    "Reshape",
    "Softmax",
    "Concat",
    "Gather",
    "Gemm",
    "Range",
    "Greater",
    "Where",
    "Identity",
}


@pytest.fixture(scope="module")
def tiny():
    return WhisperOnnx(installed_model("tiny.en"), threads=2)


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_committed_graphs_are_the_built_ones_and_reference_model_bin_in_place(name):
    d = installed_model(name)
    ct2 = read_ct2(d / "model.bin")
    for file, build in (("encoder.onnx", build_encoder), ("decoder.onnx", build_decoder)):
        committed = (GRAPHS_DIR / name / file).read_bytes()
        assert build(ct2).SerializeToString() == committed, f"{file} is stale: python -m training.whisper.export {name}"
        assert len(committed) < 2_000_000
        model = onnx.load_model_from_string(committed)
        assert model.opset_import[0].version <= 17
        assert {n.op_type for n in model.graph.node} <= ALLOWED_OPS  # no Loop/If, nothing exotic
        external = [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
        assert external and all(t.name.startswith("ct2:") for t in external)
        for t in external:
            meta = {e.key: e.value for e in t.external_data}
            ct2_tensor = ct2[t.name[4:]]
            assert meta == {"location": "model.bin", "offset": str(ct2_tensor.offset), "length": str(ct2_tensor.nbytes)}
            assert t.data_type == onnx.TensorProto.FLOAT16  # as CT2 stores these weights


@pytest.mark.parametrize("t", [3000, 400])
def test_encoder_equals_ctranslate2(tiny, t):
    ctranslate2 = pytest.importorskip("ctranslate2")
    mel = (np.random.default_rng(t).standard_normal((1, 80, 3000)) * 0.5).astype(np.float32)
    mel[:, :, t:] = 0
    cross_k, cross_v, hidden = tiny.encode(mel[:, :, :t])
    assert cross_k.shape == cross_v.shape == (4, 1, t // 2, 384) and hidden.shape == (1, t // 2, 384)
    if t == 3000:  # CT2's Whisper encoder only takes 30 s
        ref = np.array(
            ctranslate2.models.Whisper(str(tiny.dir), device="cpu", compute_type="float32").encode(
                ctranslate2.StorageView.from_array(mel)
            )
        )
        np.testing.assert_allclose(hidden, ref, atol=2e-3 * np.abs(ref).max())
    # cross keys are hidden @ Wk^T of each decoder layer (no bias)
    w = read_ct2(tiny.dir / "model.bin").float32("decoder/layer_2/attention/linear_1/weight")[:384]
    np.testing.assert_allclose(cross_k[2, 0], hidden[0] @ w.T, atol=1e-3)


def test_block2_output_is_the_voice_study_representation(tiny):
    """The encoder's `block2` output = block 2 of the voice study's PyTorch port
    (training/experiments/whisper_encoder.py), on an unpadded utterance of odd length too."""
    pytest.importorskip("torch")
    from training.experiments.whisper_encoder import WhisperEncoder

    for t in (334, 201):
        mel = (np.random.default_rng(t).standard_normal((80, t)) * 0.5).astype(np.float32)
        ours = tiny.block2(mel[None])[0]
        ref = WhisperEncoder(tiny.dir).layers(mel)[1]
        assert ours.shape == ref.shape == ((t + 1) // 2, 384)
        np.testing.assert_allclose(ours, ref, atol=1e-3 * np.abs(ref).max())


def test_cached_decoding_equals_full_sequence_and_batch_rows_are_independent(tiny):
    mel = (np.random.default_rng(0).standard_normal((2, 80, 200)) * 0.5).astype(np.float32)
    cross_k, cross_v, _ = tiny.encode(mel)
    seq = np.array([[50257, 50362, 314, 588, 340, 13]], np.int64)
    n, d = 4, 384
    empty = np.zeros((n, 1, 0, d), np.float32)
    one = {"cross_k": cross_k[:, :1], "cross_v": cross_v[:, :1]}
    full, k_full, _ = tiny.decoder.run(None, {"tokens": seq, "self_k": empty, "self_v": empty} | one)
    logits, k, v = tiny.decoder.run(None, {"tokens": seq[:, :3], "self_k": empty, "self_v": empty} | one)
    for i in range(3, seq.shape[1]):
        logits, k, v = tiny.decoder.run(None, {"tokens": seq[:, i : i + 1], "self_k": k, "self_v": v} | one)
    np.testing.assert_allclose(logits, full, atol=1e-3)
    np.testing.assert_allclose(k, k_full, atol=1e-4)
    assert k.shape == (n, 1, seq.shape[1], d)
    both, _, _ = tiny.decoder.run(
        None,
        {
            "tokens": np.repeat(seq, 2, 0),
            "self_k": np.zeros((n, 2, 0, d), np.float32),
            "self_v": np.zeros((n, 2, 0, d), np.float32),
            "cross_k": cross_k,
            "cross_v": cross_v,
        },
    )
    np.testing.assert_allclose(both[:1], full, atol=1e-3)
    assert not np.allclose(both[0], both[1], atol=1e-3)  # row 2 saw other audio


def test_repeat_guard():
    assert ends_in_loop([1, 2, 3, 4, 1, 2, 3, 4], 4) == 4
    assert ends_in_loop([9, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5], 4) == 5
    assert ends_in_loop([7, 7, 7, 7], 4) == 0  # short stutters are speech ("i i")
    assert ends_in_loop([1, 2, 3, 4, 1, 2, 3], 4) == 0
