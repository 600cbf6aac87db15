"""The core on a CUDA device gives the CPU numbers on the input's device (skipped without a GPU).

These kill the ``device=`` mutants that are equivalent on a CPU-only machine (docs/testing.md): a tensor made
without ``device=`` lands on the CPU and a CUDA computation that mixes it in fails or returns a CPU tensor.
"""

from __future__ import annotations

import pytest
import torch

from uedpo.baselines import tpo_score
from uedpo.exploration import explore, token_types
from uedpo.loss import ue_dpo_loss
from uedpo.noise import add_diffusion_noise
from uedpo.signals import selective_log_softmax, token_signals

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _signals_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    clear = torch.randn(2, 6, 9, generator=g)
    blurred = clear + torch.randn(2, 6, 9, generator=g)
    labels = torch.randint(0, 9, (2, 6), generator=g)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, 4:] = False
    return clear, blurred, labels, mask


def test_noise_draws_on_the_generators_device():
    x = torch.rand(2, 3, 4, 4)
    cuda_gen = torch.Generator(device="cuda").manual_seed(0)
    y = add_diffusion_noise(x.cuda(), generator=cuda_gen)
    assert y.device.type == "cuda" and y.shape == x.shape
    cpu = add_diffusion_noise(x, generator=torch.Generator().manual_seed(1))
    moved = add_diffusion_noise(x.cuda(), generator=torch.Generator().manual_seed(1))  # CPU draw, moved
    assert moved.device.type == "cuda" and torch.allclose(moved.cpu(), cpu, atol=1e-6)


def test_signals_on_cuda_equal_the_cpu_values():
    clear, blurred, labels, mask = _signals_inputs()
    lp = selective_log_softmax(clear.cuda(), labels.cuda())
    assert lp.device.type == "cuda" and torch.allclose(lp.cpu(), selective_log_softmax(clear, labels), atol=1e-5)
    for space in ("logit", "logprob"):
        got = token_signals(clear.cuda(), blurred.cuda(), labels.cuda(), mask.cuda(), score_space=space)
        want = token_signals(clear, blurred, labels, mask, score_space=space)
        assert got.u.device.type == "cuda" and got.delta.device.type == "cuda"
        assert torch.allclose(got.u.cpu(), want.u, atol=1e-5) and torch.allclose(got.delta.cpu(), want.delta, atol=1e-5)


def test_exploration_and_token_types_on_cuda_equal_the_cpu_values():
    g = torch.Generator().manual_seed(2)
    u, delta = torch.randn(3, 20, generator=g), torch.randn(3, 20, generator=g)
    mask = torch.ones(3, 20, dtype=torch.bool)
    mask[2, 12:] = False
    for preferred in (True, False):
        got = explore(u.cuda(), delta.cuda(), mask.cuda(), preferred=preferred, alpha=0.3, tau=0.4)
        want = explore(u, delta, mask, preferred=preferred, alpha=0.3, tau=0.4)
        assert got.lam.device.type == "cuda" and torch.allclose(got.lam.cpu(), want.lam, atol=1e-6)
        types = token_types(u.cuda(), delta.cuda(), mask.cuda(), preferred=preferred, tau=0.4)
        assert types.device.type == "cuda"
        assert torch.equal(types.cpu(), token_types(u, delta, mask, preferred=preferred, tau=0.4))


def test_loss_and_tpo_score_on_cuda_equal_the_cpu_values():
    g = torch.Generator().manual_seed(3)
    lp = [-torch.rand(2, 5, generator=g) for _ in range(4)]
    lam = [1 + 0.2 * torch.rand(2, 5, generator=g), 1 - 0.2 * torch.rand(2, 5, generator=g)]
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[0, 3:] = False
    want = ue_dpo_loss(*lp, *lam, mask, mask, 0.1)
    got = ue_dpo_loss(*(t.cuda() for t in lp), *(t.cuda() for t in lam), mask.cuda(), mask.cuda(), 0.1)
    assert got.loss.device.type == "cuda" and torch.allclose(got.losses.cpu(), want.losses, atol=1e-6)
    clear, noised, labels, mask = _signals_inputs(4)
    s = tpo_score(clear.cuda(), noised.cuda(), labels.cuda(), mask.cuda())
    assert s.device.type == "cuda" and torch.allclose(s.cpu(), tpo_score(clear, noised, labels, mask), atol=1e-6)
