"""The feasibility map's data and the model's import-lightness."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np

from greenhop.model import evaluate
from greenhop.model.plot import DEFAULT_WINDOWS_S, map_boundaries


def test_boundaries_are_the_smallest_feasible_bandwidth() -> None:
    sizes = np.geomspace(1e9, 1e12, 9)
    need = map_boundaries(sizes, DEFAULT_WINDOWS_S)
    assert need.shape == (4, 9)
    # Longer windows need less bandwidth; bigger checkpoints need more.
    assert np.all(need[1:] <= need[:-1])
    assert np.all(need[:, 1:] >= need[:, :-1])
    for w, row in zip(DEFAULT_WINDOWS_S, need, strict=True):
        for s, bw in zip(sizes, row, strict=True):
            if math.isfinite(bw):
                assert evaluate(s, bw * (1 + 1e-9), w).feasible
                assert not evaluate(s, bw * (1 - 1e-6), w).feasible


def test_model_and_cli_import_without_matplotlib() -> None:
    code = ("import sys, greenhop.model, greenhop.model.plot, greenhop.cli.main; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
