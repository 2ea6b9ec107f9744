"""ExternalMemory: softmax weights over memory rows, read = convex combination of values."""

import math

import torch

from training.msa_model.memory import ExternalMemory


def test_weights_sum_to_one_and_read_is_convex_combination():
    torch.manual_seed(1)
    mem = ExternalMemory(dim=8, mem_size=5)
    q = torch.randn(4, 8)
    w = mem.attention_weights(q)
    assert w.shape == (4, 5)
    assert torch.all(w >= 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(4))
    read = mem(q)
    v = mem.value_transform(mem.memory)
    torch.testing.assert_close(read, w @ v)
    # Inside the bounding box of the value rows (a necessary property of a convex combination).
    assert torch.all(read <= v.max(0).values + 1e-6) and torch.all(read >= v.min(0).values - 1e-6)


def test_matches_manual_computation():
    torch.manual_seed(2)
    mem = ExternalMemory(dim=6, mem_size=3)
    q = torch.randn(2, 6)
    with torch.no_grad():
        Q = q @ mem.query_transform.weight.t() + mem.query_transform.bias
        K = mem.memory @ mem.key_transform.weight.t() + mem.key_transform.bias
        V = mem.memory @ mem.value_transform.weight.t() + mem.value_transform.bias
        scores = Q @ K.t() / math.sqrt(6)
        weights = torch.exp(scores) / torch.exp(scores).sum(-1, keepdim=True)
        expected = weights @ V
        torch.testing.assert_close(mem(q), expected, atol=1e-6, rtol=1e-5)


def test_memory_is_learnable():
    mem = ExternalMemory(dim=4, mem_size=3)
    mem(torch.randn(2, 4)).sum().backward()
    assert mem.memory.grad is not None and mem.memory.grad.abs().sum() > 0
