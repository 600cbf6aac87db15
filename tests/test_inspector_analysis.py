"""analyse_pair takes the trainer's path (adapter forward + uedpo.signals + exploration) on tiny models."""

from __future__ import annotations

import pytest
import torch

from inspector.analysis import analyse_pair, context_limit, regate
from inspector.errors import InputError
from uedpo.analysis import analyse_rows
from uedpo.demo import DISPREFERRED, PREFERRED, QUESTION, demo_image
from uedpo.models import load_adapter
from uedpo.models.tiny import build_tiny
from uedpo.signals import token_signals
from uedpo.views import ViewSpec


@pytest.fixture(scope="module", params=["llava", "qwen2_5_vl"])
def adapter(request, tmp_path_factory):
    return load_adapter(build_tiny(request.param, tmp_path_factory.mktemp(request.param), seed=0))


def direct(adapter, responses, *, alpha, tau, k, seed, add_eos=True, sample_id="", step=None):
    """The library numbers computed by hand: forward_batch → token_signals → analyse_rows per branch.

    EOS is appended, as the trainer does (``uedpo.train.collate.response_ids``) and analyse_pair by default;
    the noise is the trainer's, seeded by (seed, sample id, step) for the one pair.
    """
    out = adapter.forward_batch(
        [demo_image()] * len(responses),
        [QUESTION] * len(responses),
        responses,
        view=ViewSpec(noise_step=k),
        sample_ids=[sample_id],
        seed=seed,
        step=step,
        add_eos=add_eos,
    )
    sig = token_signals(out.clear_logits, out.blurred_logits, out.labels, out.mask)
    return [
        analyse_rows(
            sig.u[r : r + 1],
            sig.delta[r : r + 1],
            out.mask[r : r + 1],
            preferred=r == 0,
            alpha=alpha,
            tau=tau,
            token_strings=out.token_strings[r : r + 1],
            token_ids=out.token_ids[r : r + 1],
            logprobs=out.logprobs[r : r + 1],
        )[0]
        for r in range(len(responses))
    ]


def test_pair_view_equals_the_direct_library_path(adapter):
    view = analyse_pair(
        adapter, demo_image(), QUESTION, PREFERRED, DISPREFERRED, alpha=0.3, tau=0.4, noise_step=500, seed=3
    )
    want_pref, want_disp = direct(adapter, [PREFERRED, DISPREFERRED], alpha=0.3, tau=0.4, k=500, seed=3)
    assert view.preferred == want_pref
    assert view.dispreferred == want_disp
    assert "".join(t.token for t in view.preferred.tokens[:-1]) == PREFERRED
    assert view.preferred.tokens[-1].token_id == adapter.tokenizer.eos_token_id
    assert {t.type for t in view.preferred.tokens} <= {"type-i", "type-ii", "ungated"}
    assert {t.type for t in view.dispreferred.tokens} <= {"eased", "ungated"}


def test_preferred_only_and_blank_dispreferred(adapter):
    view = analyse_pair(
        adapter, demo_image(), QUESTION, PREFERRED, "  ", alpha=0.3, tau=0.4, noise_step=500, seed=0
    )
    assert view.dispreferred is None and list(view.analyses) == ["preferred"]
    (want,) = direct(adapter, [PREFERRED], alpha=0.3, tau=0.4, k=500, seed=0)
    assert view.preferred == want


def test_regate_equals_a_full_rerun_without_a_forward(adapter, monkeypatch):
    view = analyse_pair(
        adapter, demo_image(), QUESTION, PREFERRED, DISPREFERRED, alpha=0.3, tau=0.4, noise_step=500, seed=1
    )
    fresh = analyse_pair(
        adapter, demo_image(), QUESTION, PREFERRED, DISPREFERRED, alpha=0.7, tau=0.25, noise_step=500, seed=1
    )

    def no_forward(*args, **kwargs):
        raise AssertionError("regate must not run the model")

    monkeypatch.setattr(adapter, "forward_batch", no_forward)
    regated = regate(view, alpha=0.7, tau=0.25)
    assert regated.preferred == fresh.preferred and regated.dispreferred == fresh.dispreferred
    assert (regated.alpha, regated.tau) == (0.7, 0.25)
    assert [t.lam for t in regated.preferred.tokens] != [t.lam for t in view.preferred.tokens]


def test_noise_step_changes_delta(adapter):
    a = analyse_pair(adapter, demo_image(), QUESTION, PREFERRED, alpha=0.3, tau=0.4, noise_step=500, seed=0)
    b = analyse_pair(adapter, demo_image(), QUESTION, PREFERRED, alpha=0.3, tau=0.4, noise_step=50, seed=0)
    assert [t.u for t in a.preferred.tokens] != [t.u for t in b.preferred.tokens] or [
        t.delta for t in a.preferred.tokens
    ] != [t.delta for t in b.preferred.tokens]
    assert [t.token_id for t in a.preferred.tokens] == [t.token_id for t in b.preferred.tokens]


def test_empty_response_is_refused(adapter):
    for text in ("", "   \n"):
        with pytest.raises(InputError, match="preferred response: empty"):
            analyse_pair(adapter, demo_image(), QUESTION, text, alpha=0.3, tau=0.4, noise_step=500, seed=0)


def test_context_limit_and_too_long_response(adapter, monkeypatch):
    assert context_limit(adapter) == 4096  # the tiny configs: max positions 4096, tokenizer 4096
    monkeypatch.setattr(adapter.tokenizer, "model_max_length", 64)
    assert context_limit(adapter) == 64
    long_text = " ".join(["a red car"] * 20)  # 60 words: with the prompt and image tokens over 64
    with pytest.raises(
        InputError,
        match=r"preferred response: 61 tokens \+ \d+ prompt and image tokens exceed "
        r"the model context of 64 tokens",
    ):
        analyse_pair(adapter, demo_image(), QUESTION, long_text, alpha=0.3, tau=0.4, noise_step=500, seed=0)
    with pytest.raises(InputError, match="dispreferred response: .* exceed"):
        analyse_pair(
            adapter, demo_image(), QUESTION, "a car", long_text, alpha=0.3, tau=0.4, noise_step=500, seed=0
        )
    analyse_pair(adapter, demo_image(), QUESTION, "a red car", alpha=0.3, tau=0.4, noise_step=500, seed=0)


def test_without_eos_matches_the_direct_path_without_eos(adapter):
    view = analyse_pair(
        adapter, demo_image(), QUESTION, PREFERRED, alpha=0.3, tau=0.4, noise_step=500, seed=0, add_eos=False
    )
    (want,) = direct(adapter, [PREFERRED], alpha=0.3, tau=0.4, k=500, seed=0, add_eos=False)
    assert view.preferred == want and "".join(t.token for t in view.preferred.tokens) == PREFERRED


def test_sample_id_and_step_select_the_noise(adapter):
    """The noise key is (seed, sample id, step): each part changes Δ; the same key gives the same numbers."""

    def deltas(**key):
        view = analyse_pair(adapter, demo_image(), QUESTION, PREFERRED, DISPREFERRED, noise_step=500, **key)
        return torch.cat([b.delta for b in view.signals], dim=1), view

    base, view = deltas(seed=1, sample_id="p3", step=4)
    assert (view.seed, view.sample_id, view.step) == (1, "p3", 4)
    assert torch.equal(base, deltas(seed=1, sample_id="p3", step=4)[0])
    for other in (dict(seed=2, sample_id="p3", step=4), dict(seed=1, sample_id="p4", step=4),
                  dict(seed=1, sample_id="p3", step=5), dict(seed=1, sample_id="p3", step=None)):
        assert not torch.equal(base, deltas(**other)[0]), other
    want_pref, want_disp = direct(
        adapter, [PREFERRED, DISPREFERRED], alpha=0.3, tau=0.4, k=500, seed=1, sample_id="p3", step=4
    )
    assert (view.preferred, view.dispreferred) == (want_pref, want_disp)


def test_a_lone_preferred_response_gets_the_noise_it_gets_beside_the_dispreferred(adapter):
    pair = analyse_pair(adapter, demo_image(), QUESTION, PREFERRED, DISPREFERRED, seed=0, sample_id="x", step=2)
    alone = analyse_pair(adapter, demo_image(), QUESTION, PREFERRED, seed=0, sample_id="x", step=2)
    other = analyse_pair(adapter, demo_image(), QUESTION, PREFERRED, seed=0, sample_id="y", step=2)
    n = alone.signals[0].u.shape[1]
    torch.testing.assert_close(alone.signals[0].delta, pair.signals[0].delta[:, :n], atol=1e-5, rtol=0)
    torch.testing.assert_close(alone.signals[0].u, pair.signals[0].u[:, :n], atol=1e-5, rtol=0)
    assert (other.signals[0].delta - alone.signals[0].delta).abs().max() > 1e-4
