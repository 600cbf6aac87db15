"""Checkpoint comparison: B − A per token and type flips."""

from __future__ import annotations

import pytest

from inspector.compare import compare_responses
from inspector.errors import InputError
from uedpo.analysis import ResponseAnalysis, TokenRecord


def analysis(values, ids=(1, 2, 3)):
    tokens = tuple(
        TokenRecord(
            index=i,
            token=f" w{i}",
            token_id=ids[i],
            u=u,
            delta=d,
            gated=t != "ungated",
            type=t,
            lam=lam,
            logprob=-1.0,
        )
        for i, (u, d, lam, t) in enumerate(values)
    )
    return ResponseAnalysis(
        preferred=True, tokens=tokens, threshold=0.0, mu=0.0, sigma=1.0, n_gated=1, alpha=0.3, tau=0.4
    )


def test_differences_are_b_minus_a_and_flips_are_type_changes():
    a = analysis([(1.0, -1.0, 1.2, "type-i"), (0.5, 2.0, 1.0, "ungated"), (-1.0, -3.0, 1.05, "type-ii")])
    b = analysis([(0.25, -1.5, 1.1, "type-ii"), (0.5, 2.5, 1.0, "ungated"), (-2.0, -3.0, 1.05, "type-ii")])
    cmp = compare_responses(a, b, label_a="base", label_b="trained")
    assert [d.du for d in cmp.tokens] == [-0.75, 0.0, -1.0]
    assert [d.ddelta for d in cmp.tokens] == [-0.5, 0.5, 0.0]
    assert [d.dlam for d in cmp.tokens] == pytest.approx([-0.1, 0.0, 0.0])
    assert [d.flipped for d in cmp.tokens] == [True, False, False]
    assert cmp.n_flips == 1 and (cmp.tokens[0].type_a, cmp.tokens[0].type_b) == ("type-i", "type-ii")
    frame = cmp.frame()
    assert list(frame["du"]) == [-0.75, 0.0, -1.0] and frame.shape == (3, 15)


def test_different_tokenizations_are_refused():
    a = analysis([(1.0, -1.0, 1.2, "type-i")], ids=(1,))
    b = analysis([(1.0, -1.0, 1.2, "type-i")], ids=(7,))
    with pytest.raises(InputError, match="tokenize the response differently") as err:
        compare_responses(a, b)
    assert err.value.field == "compare"  # shown beside the comparison
