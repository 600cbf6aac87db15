"""Retired: the DPO vs UE-DPO experiment is now part of ``benchmarks/shapes_methods.py`` (docs/shapesworld.md).

This alias runs that script with DPO and UE-DPO only, in the co-occurrence and blind-spot regimes, with no
sweep, no timing pass and no figures (so the committed ``docs/img/shapes-methods-*.png`` stay as they are);
any option of ``shapes_methods.py`` given here overrides these::

    python benchmarks/shapes_dpo_vs_uedpo.py --out runs/shapes-exp [--seeds 0 1 2] [--steps 60]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shapes_methods import main  # noqa: E402

DEFAULTS = ["--methods", "DPO", "UE-DPO", "--regimes", "cooccurrence", "blindspot", "--main-regime", "none",
            "--sweep-regimes", "--no-controls", "--extra-seeds", "--timing-steps", "0", "--no-figures"]

if __name__ == "__main__":
    sys.argv[1:1] = DEFAULTS
    raise SystemExit(main())
