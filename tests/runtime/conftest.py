"""Fixtures of the runtime tests: a source site holding a checkpoint of a few chunks."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

CHUNK_BYTES = 128 * 1024


@pytest.fixture
def source_site(tmp_path):
    """``(root, checkpoint path)``: job ``job`` with one ~1.6 MB checkpoint (13 chunks)."""
    from greenhop.workload import save_checkpoint

    g = torch.Generator().manual_seed(3)
    state = {
        "model": {"w": torch.randn(400_000, generator=g), "b": torch.randn(17, generator=g)},
        "loader": {"epoch": 0, "cursor": 5},
    }
    root = tmp_path / "src"
    path = save_checkpoint(root / "job", 42, state)
    return root, path
