"""The DiLoCo worker in one process: settings, data shards, the rank-order average,
worker checkpoints (exact resume, loud failure on corruption)."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.core.errors import CheckpointError, ConfigError
from greenhop.workload import diloco as dl
from greenhop.workload import load_checkpoint
from greenhop.workload.session import ENV_RESUME_STEP, EXIT_FINISHED, EXIT_MIGRATED

torch = pytest.importorskip("torch")

TINY = dl.DilocoConfig(workers=1, inner_steps=3, outer_steps=4, width=16, layers=1,
                       context=16, batch_size=4)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"workers": 0}, "workers must be an integer >= 1"),
        ({"inner_steps": 0}, "inner_steps must be an integer >= 1"),
        ({"width": 30}, "multiple of the 4 heads"),
        ({"outer_lr": 0}, "outer_lr must be > 0"),
        ({"outer_momentum": 0.0}, "outer_momentum must be in (0, 1)"),
        ({"dropout": 1.0}, "dropout must be in [0, 1)"),
    ],
)
def test_bad_settings_are_one_line_errors(kw, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)):
        dl.DilocoConfig(**kw)


def test_config_json_round_trip_and_unknown_keys():
    cfg = dl.DilocoConfig(workers=2, inner_steps=7)
    assert dl.DilocoConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ConfigError, match=r"unknown DiLoCo settings \['H'\]"):
        dl.DilocoConfig.from_json('{"H": 5}')
    with pytest.raises(ConfigError, match="not JSON"):
        dl.DilocoConfig.from_json("{")


@settings(max_examples=40, deadline=None)
@given(n_items=st.integers(1, 300), workers=st.integers(1, 6), seed=st.integers(0, 2**31))
def test_shards_are_disjoint_and_cover_every_item(n_items, workers, seed):
    shards = [dl.shard_items(n_items, workers, r, seed) for r in range(workers)]
    joined = np.concatenate(shards)
    assert sorted(joined.tolist()) == list(range(n_items))
    assert max(len(s) for s in shards) - min(len(s) for s in shards) <= 1
    assert np.array_equal(shards[-1], dl.shard_items(n_items, workers, workers - 1, seed))


def test_average_sums_in_rank_order():
    g = torch.Generator().manual_seed(1)
    parts = [torch.randn(1000, generator=g) * 10 ** (3 * i) for i in range(3)]
    avg = dl.average_in_rank_order(parts)
    expected = ((parts[0] + parts[1]) + parts[2]) / 3
    assert torch.equal(avg, expected)
    assert torch.equal(dl.average_in_rank_order(parts), avg)  # inputs left unchanged
    assert not torch.equal(parts[0], avg)


def _solo(cfg, ckpt, stop_after=None):
    """Run a one-worker job in this process (the exchange is the identity)."""
    lines = []
    code = dl.run_worker(cfg, 0, lambda t, flat: [flat], lambda t: t == stop_after, str(ckpt),
                         out=lines.append, log=lambda msg: None)
    return code, lines


def _final(ckpt_dir, step):
    """The components of the checkpoint of ``step`` (model, optimizers, loader, RNGs)."""
    return load_checkpoint(ckpt_dir / f"step-{step:09d}").components


def test_same_state_compares_bits_and_structure():
    a = {"w": torch.tensor([0.0, 1.0]), "s": [1, (2, 3)]}
    assert dl.same_state(a, {"s": [1, (2, 3)], "w": torch.tensor([0.0, 1.0])})
    assert not dl.same_state(a, {"w": torch.tensor([-0.0, 1.0]), "s": [1, (2, 3)]})
    assert not dl.same_state(a, {"w": torch.tensor([0.0, 1.0], dtype=torch.float64),
                                 "s": [1, (2, 3)]})
    assert not dl.same_state(a, {"w": torch.tensor([0.0, 1.0]), "s": [1, [2, 3]]})


def test_worker_resumes_exactly_from_its_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_RESUME_STEP, raising=False)
    code, lines = _solo(TINY, tmp_path / "whole")
    assert code == EXIT_FINISHED and len(lines) == TINY.outer_steps
    assert lines[0].startswith("outer 1 loss ") and lines[0].endswith(
        f" sync_bytes {4 * sum(p.numel() for p in dl.initial_model(TINY).parameters())}")

    code, first = _solo(TINY, tmp_path / "moved", stop_after=2)
    assert code == EXIT_MIGRATED and len(first) == 2
    monkeypatch.setenv(ENV_RESUME_STEP, str(2 * TINY.inner_steps))
    code, rest = _solo(TINY, tmp_path / "moved")
    assert code == EXIT_FINISHED and first + rest == lines
    steps = TINY.total_inner_steps
    moved, whole = _final(tmp_path / "moved", steps), _final(tmp_path / "whole", steps)
    assert set(moved) == {"model", "optimizer", "loader", "outer", "rng"}
    assert dl.same_state(moved, whole)
    manifests = [load_checkpoint(tmp_path / d / f"step-{steps:09d}").manifest["files"]
                 for d in ("moved", "whole")]
    for name in ("model.safetensors", "optimizer.json", "optimizer.safetensors",
                 "outer.json", "outer.safetensors", "rng.safetensors", "loader.json"):
        assert manifests[0][name] == manifests[1][name], name  # the same bytes, too
    # the outer optimiser's momentum is part of the worker's checkpoint
    assert moved["outer"]["state"] and "momentum_buffer" in moved["outer"]["state"][0]


def test_sequential_reference_equals_the_worker(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_RESUME_STEP, raising=False)
    _solo(TINY, tmp_path)
    ref = dl.train_sequential(TINY)[0]
    got = _final(tmp_path, TINY.total_inner_steps)
    for name in ("model", "optimizer", "outer", "loader"):
        assert dl.same_state(got[name], ref[name]), name
    assert dl.same_state(got["rng"]["torch"], ref["torch_rng"])


def test_corrupt_worker_checkpoint_is_a_loud_failure(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_RESUME_STEP, raising=False)
    code, _ = _solo(TINY, tmp_path, stop_after=2)
    assert code == EXIT_MIGRATED
    model = tmp_path / f"step-{2 * TINY.inner_steps:09d}" / "model.safetensors"
    data = bytearray(model.read_bytes())
    data[-3] ^= 0x01
    model.write_bytes(bytes(data))
    monkeypatch.setenv(ENV_RESUME_STEP, str(2 * TINY.inner_steps))
    with pytest.raises(CheckpointError,
                       match=r"cannot resume from .*model\.safetensors: BLAKE3 mismatch"):
        _solo(TINY, tmp_path)


@pytest.fixture
def _own_signal_handlers():
    """``dl.main`` is a worker process's entry point: it sets SIGINT, SIGTERM and SIGUSR1
    for the rest of the process; put this process's handlers back afterwards."""
    import signal

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
    saved = {sig: signal.getsignal(sig) for sig in sigs}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.usefixtures("_own_signal_handlers")
def test_worker_main_reports_bad_environment(monkeypatch, capsys):
    monkeypatch.setenv(dl.ENV_CONFIG, '{"workers": 2}')
    monkeypatch.setenv(dl.ENV_RANK, "x")
    assert dl.main() == 2
    assert "GREENHOP_DILOCO_RANK='x'" in capsys.readouterr().err
    monkeypatch.setenv(dl.ENV_RANK, "0")
    monkeypatch.setenv(dl.ENV_STORE, "nowhere")
    assert dl.main() == 2
    assert "must be host:port" in capsys.readouterr().err
    assert os.environ.get("GLOO_SOCKET_IFNAME")
