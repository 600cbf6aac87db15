"""The scripts under ``benchmarks/`` still run against the current library (on tiny sizes, so in seconds).

They are not imported by the package, so an API change can break one silently: ``bench_trainer.py`` did when
the training data moved to ``datasets``. Each runs in a subprocess and must exit 0 and print its table; the
figures themselves are recorded in docs/benchmarks.md from full-size runs, never asserted here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "bench_trainer.py": (["--pairs", "1", "--response", "8", "--vocab", "500", "--hidden", "32", "--layers", "1",
                          "--repeats", "1"], "| mdpo |"),
    "bench_core.py": (["--b", "2", "--t", "16", "--v", "100", "--repeats", "1"], "signals + λ + loss"),
    "bench_generation.py": (["--family", "llava", "--items", "2", "--batch-size", "2", "--max-new-tokens", "2"],
                            "identical texts: True"),
    "bench_shapesworld.py": (["--n", "10", "--repeats", "1"], "write_benchmark"),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_benchmark_script_runs(script):
    args, expected = SCRIPTS[script]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout, done.stdout[-2000:]
