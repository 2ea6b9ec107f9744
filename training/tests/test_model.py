"""Shapes, masking and absent modalities of the full model and its units."""

import torch

from training.msa_model.enhancement import CrossModalEnhancement, masked_attention_read

from .conftest import make_batch, run


def test_output_shapes_and_range(tiny_model, tiny_config):
    batch = make_batch(tiny_config, b=3)
    score, contributions = run(tiny_model, batch)
    assert score.shape == (3,) and score.dtype == torch.float32
    assert contributions.shape == (3, 3)
    assert torch.all(score.abs() <= 3.0)


def test_contributions_sum_to_score(tiny_model, tiny_config):
    score, contributions = run(tiny_model, make_batch(tiny_config, b=3))
    torch.testing.assert_close(contributions.sum(-1), score, atol=1e-6, rtol=1e-5)


def test_absent_modality_contributes_exactly_zero(tiny_model, tiny_config):
    batch = make_batch(tiny_config, b=3)
    batch["acoustic_ids"] = torch.full((3, 1), tiny_config.acoustic_pad)
    batch["acoustic_mask"] = torch.zeros(3, 1, dtype=torch.long)
    batch["visual_mask"][0] = 0
    score, contributions = run(tiny_model, batch)
    assert torch.isfinite(score).all() and torch.isfinite(contributions).all()
    assert torch.all(contributions[:, 1] == 0) and not torch.signbit(contributions[:, 1]).any()
    assert contributions[0, 2] == 0
    assert torch.all(contributions[1:, 2] != 0)


def test_text_padding_is_ignored(tiny_model, tiny_config):
    batch = make_batch(tiny_config, b=3)
    s1, c1 = run(tiny_model, batch)
    changed = dict(batch, input_ids=batch["input_ids"].clone())
    changed["input_ids"][batch["attention_mask"] == 0] = 4242
    s2, c2 = run(tiny_model, changed)
    torch.testing.assert_close(s1, s2, atol=1e-6, rtol=0)
    torch.testing.assert_close(c1, c2, atol=1e-6, rtol=0)


def test_text_padding_length_is_ignored(tiny_model, tiny_config):
    """Extra padding columns (a longer batch) change nothing."""
    batch = make_batch(tiny_config, b=3)
    s1, _ = run(tiny_model, batch)
    wider = dict(batch)
    for k, fill in (
        ("input_ids", 0),
        ("attention_mask", 0),
        ("acoustic_ids", tiny_config.acoustic_pad),
        ("acoustic_mask", 0),
        ("visual_ids", tiny_config.visual_pad),
        ("visual_mask", 0),
    ):
        wider[k] = torch.cat([batch[k], torch.full((3, 4), fill, dtype=torch.long)], dim=1)
    s2, _ = run(tiny_model, wider)
    torch.testing.assert_close(s1, s2, atol=1e-5, rtol=0)


def test_nonverbal_padding_is_ignored(tiny_model, tiny_config):
    batch = make_batch(tiny_config, b=3)
    s1, c1 = run(tiny_model, batch)
    changed = dict(batch, acoustic_ids=batch["acoustic_ids"].clone(), visual_ids=batch["visual_ids"].clone())
    changed["acoustic_ids"][batch["acoustic_mask"] == 0] = 1
    changed["visual_ids"][batch["visual_mask"] == 0] = 2
    s2, c2 = run(tiny_model, changed)
    torch.testing.assert_close(s1, s2, atol=1e-6, rtol=0)
    torch.testing.assert_close(c1, c2, atol=1e-6, rtol=0)
    # ... while a change at a real position does change the score.
    real = dict(batch, acoustic_ids=batch["acoustic_ids"].clone())
    real["acoustic_ids"][0, 0] = (batch["acoustic_ids"][0, 0] + 1) % tiny_config.acoustic_codebook_size
    s3, _ = run(tiny_model, real)
    assert (s3[0] - s1[0]).abs() > 0


def test_all_masked_attention_reads_zero_without_nan():
    q = torch.randn(2, 5, 8)
    kv = torch.randn(2, 3, 8)
    mask = torch.tensor([[0, 0, 0], [1, 1, 0]])
    out = masked_attention_read(q, kv, kv, mask, scale=8.0)
    assert torch.isfinite(out).all()
    assert torch.all(out[0] == 0)
    w = torch.softmax(8.0 * q[1] @ kv[1, :2].t(), dim=-1)
    torch.testing.assert_close(out[1], w @ kv[1, :2])


def test_enhancement_is_identity_without_nonverbal():
    unit = CrossModalEnhancement(text_dim=12, nv_dim=6, scale=8.0, dropout=0.0)
    text = torch.randn(2, 4, 12)
    a, v = torch.randn(2, 1, 6), torch.randn(2, 1, 6)
    zero = torch.zeros(2, 1, dtype=torch.long)
    assert torch.equal(unit(text, a, zero, v, zero), text)
    # Only audio present: the visual half of the projection input is exactly zero.
    one = torch.ones(2, 1, dtype=torch.long)
    assert not torch.equal(unit(text, a, one, v, zero), text)


def test_enhancement_injected_after_configured_layer(tiny_config):
    from training.msa_model.model import MSAModel

    for layer in (0, 1, 2):
        cfg = tiny_config.__class__(**{**tiny_config.__dict__, "inject_after_layer": layer})
        score, _ = run(MSAModel(cfg).eval(), make_batch(cfg))
        assert torch.isfinite(score).all()
