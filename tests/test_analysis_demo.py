"""Per-token analysis records agree with the core, and `make demo` runs the core on a tiny model."""

import math
import re

import torch

from uedpo import demo
from uedpo.analysis import analyse_rows
from uedpo.exploration import TOKEN_TYPE_NAMES, TokenType, exploration_strengths, token_types


def test_analysis_records_match_core_tensors():
    g = torch.Generator().manual_seed(0)
    u, delta = torch.randn(2, 8, generator=g), torch.randn(2, 8, generator=g)
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[1, 5:] = False
    logprobs = -torch.rand(2, 8, generator=g)
    strings = [[f"w{i}" for i in range(int(m.sum()))] for m in mask]
    ids = [list(range(len(s))) for s in strings]
    for preferred in (True, False):
        rows = analyse_rows(u, delta, mask, preferred=preferred, alpha=0.3, tau=0.4, token_strings=strings,
                            token_ids=ids, logprobs=logprobs)
        lam = exploration_strengths(u, delta, mask, preferred=preferred, alpha=0.3, tau=0.4)
        types = token_types(u, delta, mask, preferred=preferred, tau=0.4)
        for r, analysis in enumerate(rows):
            n = int(mask[r].sum())
            assert len(analysis.tokens) == n
            assert [t.lam for t in analysis.tokens] == lam[r, :n].tolist()
            assert [t.type for t in analysis.tokens] == [TOKEN_TYPE_NAMES[TokenType(int(c))] for c in types[r, :n]]
            assert [t.u for t in analysis.tokens] == u[r, :n].tolist()
            assert analysis.frame().shape == (n, 9)


def test_demo_prints_token_tables_and_losses(capsys):
    assert demo.main(["--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("| token") == 2 and "type-" in out and "eased" in out
    dpo = float(re.search(r"^DPO loss\s+= ([0-9.]+)", out, re.M).group(1))
    ue = float(re.search(r"UE-DPO loss = ([0-9.]+)", out).group(1))
    assert abs(dpo - math.log(2)) < 1e-6
    assert ue >= math.log(2)
