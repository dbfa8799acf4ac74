"""The feasibility model (greenhop.model): worked examples, formulas, errors, presets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from greenhop.core.errors import ConfigError
from greenhop.model import (
    PRESETS,
    _kernel,
    checkpoint_bytes,
    effective_bps,
    evaluate,
    mathis_bps,
    max_checkpoint_bytes,
    min_bandwidth_bps,
    min_window_seconds,
    restore_seconds,
    save_seconds,
    transfer_seconds,
)
from greenhop.model import constants as C
from greenhop.model.presets import REFERENCE_MODELS, preset

IDEAL = dict(efficiency=1.0, loss=0.0, write_Bps=math.inf, read_Bps=math.inf, startup_s=0.0)


def test_worked_example_98gb_over_1gbps_in_a_2_5h_window() -> None:
    r = evaluate(98e9, 1e9, 2.5 * 3600, **IDEAL)
    assert r.transfer_s == pytest.approx(784.0)
    assert r.downtime_s == pytest.approx(784.0)
    assert r.budget_s == pytest.approx(900.0)
    assert bool(r.feasible)
    assert not bool(evaluate(98e9, 1e9, 2 * 3600, **IDEAL).feasible)


def test_a_migration_exactly_at_the_boundary_is_feasible_with_a_zero_margin() -> None:
    """8 x 612.5 MB / 1 Gbit/s = 4.9 s = 0.7 x 7 s, by hand: it read "NOT FEASIBLE:
    downtime 4.9 s > budget 4.9 s" with a margin of -8.9e-16 s, while the same result's
    largest checkpoint was 612.5 MB and its shortest window 7 s."""
    r = evaluate(612.5e6, 1e9, 7.0, alpha=0.7, **IDEAL)
    assert bool(r.feasible) and float(r.time_margin_s) == 0.0
    assert float(r.max_checkpoint_bytes) == pytest.approx(612.5e6)
    assert not bool(evaluate(612.6e6, 1e9, 7.0, alpha=0.7, **IDEAL).feasible)


def test_mathis_bound_caps_each_stream() -> None:
    one = mathis_bps(0.05, 1e-4)
    assert one == pytest.approx(1460 * 8 / 0.05 * math.sqrt(1.5) / math.sqrt(1e-4))
    assert one == pytest.approx(28.6e6, rel=1e-3)
    lossy = dict(IDEAL, loss=1e-4, rtt_s=0.05)
    assert effective_bps(10e9, efficiency=1.0, streams=1, rtt_s=0.05, loss=1e-4) == one
    assert float(evaluate(98e9, 10e9, 9000, streams=1, **lossy).effective_bps) == one
    assert float(evaluate(98e9, 10e9, 9000, streams=8, **lossy).effective_bps) == 8 * one
    assert mathis_bps(0.05, 0.0) == math.inf


def test_terms_follow_the_design_formulas() -> None:
    S, bw, W = 50e9, 10e9, 4 * 3600.0
    r = evaluate(S, bw, W, job_power_w=1400.0, idle_power_w=100.0, green_gain=0.5)
    b_eff = C.EFFICIENCY * bw
    save = S / C.WRITE_BPS
    transfer = 8 * S / b_eff
    restore = S / C.READ_BPS + C.STARTUP_S
    down = save + transfer + restore
    e_mig = 8 * S * C.NETWORK_J_PER_BIT + 100.0 * down
    assert float(r.effective_bps) == pytest.approx(b_eff)
    assert float(r.save_s) == pytest.approx(save)
    assert float(r.transfer_s) == pytest.approx(transfer)
    assert float(r.restore_s) == pytest.approx(restore)
    assert float(r.downtime_s) == pytest.approx(down)
    assert float(r.time_margin_s) == pytest.approx(C.ALPHA * W - down)
    assert float(r.migration_energy_j) == pytest.approx(e_mig)
    assert float(r.payback_s) == pytest.approx(e_mig / (1400.0 * 0.5))
    assert bool(r.justified) == (e_mig / 700.0 < W - down)
    assert float(r.min_window_s) == pytest.approx(down / C.ALPHA)
    assert float(r.checkpoint_headroom) == pytest.approx(float(r.max_checkpoint_bytes) / S)


def test_helper_functions_agree_with_evaluate() -> None:
    r = evaluate(98e9, 1e9, 9000)
    assert save_seconds(98e9) == pytest.approx(float(r.save_s))
    assert transfer_seconds(98e9, float(r.effective_bps)) == pytest.approx(float(r.transfer_s))
    assert restore_seconds(98e9) == pytest.approx(float(r.restore_s))
    assert max_checkpoint_bytes(1e9, 9000) == pytest.approx(float(r.max_checkpoint_bytes))
    assert min_window_seconds(98e9, 1e9) == pytest.approx(float(r.min_window_s))
    assert min_bandwidth_bps(98e9, 9000) == pytest.approx(float(r.min_bandwidth_bps))


def test_no_bandwidth_suffices_when_fixed_costs_exceed_the_budget() -> None:
    # Startup 10 min > budget 6 min: nothing fits, at any bandwidth.
    assert min_bandwidth_bps(1e9, 3600, startup_s=600) == math.inf
    assert max_checkpoint_bytes(1e9, 3600, startup_s=600) == 0.0
    # A loss-limited path caps the rate: more bandwidth does not help.
    assert min_bandwidth_bps(1e12, 3600, loss=1e-2, streams=1, rtt_s=0.1) == math.inf


def test_to_dict_gives_plain_python_values() -> None:
    d = evaluate(98e9, 1e9, 9000).to_dict()
    assert isinstance(d["feasible"], bool)
    assert isinstance(d["downtime_s"], float)
    grid = evaluate(np.array([1e9, 2e9]), 1e9, 9000).to_dict()
    assert isinstance(grid["downtime_s"], list) and len(grid["downtime_s"]) == 2


def test_chunked_kernel_matches_the_textbook_expressions() -> None:
    """Across several chunks, with loss on part of the grid, values equal the formulas."""
    rng = np.random.default_rng(7)
    n = 2 * _kernel.CHUNK + 11
    S = rng.uniform(1e8, 2e12, n)
    bw = rng.uniform(1e7, 1e11, n)
    W = rng.uniform(60, 50_000, n)
    loss = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(1e-7, 1e-2, n))
    rtt = rng.uniform(1e-3, 0.3, n)
    r = evaluate(S, bw, W, loss=loss, rtt_s=rtt, streams=4)
    with np.errstate(divide="ignore"):
        tcp = 4 * np.where(loss > 0, 1460 * 8.0 / rtt * math.sqrt(1.5) / np.sqrt(loss), np.inf)
    b_eff = np.minimum(C.EFFICIENCY * bw, tcp)
    down = S / C.WRITE_BPS + 8.0 * S / b_eff + (S / C.READ_BPS + C.STARTUP_S)
    spare = C.ALPHA * W - C.STARTUP_S
    disk = 1 / C.WRITE_BPS + 1 / C.READ_BPS
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(spare - S * disk > 0, 8.0 * S / (spare - S * disk), np.inf)
    min_bw = np.where(need <= tcp, need / C.EFFICIENCY, np.inf)
    # Bit-identical, not merely close: the kernel reorders nothing but exact scalings.
    np.testing.assert_array_equal(r.effective_bps, b_eff)
    np.testing.assert_array_equal(r.downtime_s, down)
    np.testing.assert_array_equal(r.feasible, down <= C.ALPHA * W)
    np.testing.assert_array_equal(r.max_checkpoint_bytes,
                                  np.where(spare > 0, spare / (disk + 8.0 / b_eff), 0.0))
    np.testing.assert_array_equal(r.min_bandwidth_bps, min_bw)


def test_grid_broadcasting_gives_the_outer_shape() -> None:
    sizes = np.geomspace(1e9, 1e12, 5)[:, None]
    rates = np.geomspace(1e8, 1e11, 7)[None, :]
    r = evaluate(sizes, rates, 9000)
    assert r.downtime_s.shape == (5, 7)
    assert r.checkpoint_bytes.shape == (5, 7)
    assert r.feasible.dtype == bool


def test_mss_broadcasts_like_every_other_argument() -> None:
    """``mss_bytes`` was taken as one float: an array of them raised a TypeError."""
    r = evaluate(1e9, 1e9, 3600.0, loss=1e-4, rtt_s=0.05, mss_bytes=np.array([1460.0, 9000.0]))
    one = [evaluate(1e9, 1e9, 3600.0, loss=1e-4, rtt_s=0.05, mss_bytes=m).effective_bps
           for m in (1460.0, 9000.0)]
    assert r.effective_bps.tolist() == pytest.approx([float(x) for x in one])
    assert r.effective_bps[1] > r.effective_bps[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(checkpoint_bytes=0.0), "checkpoint size must be positive"),
        (dict(checkpoint_bytes=[1e9, -1.0]), "checkpoint size must be positive"),
        (dict(bandwidth_bps=math.nan), "bandwidth must be positive"),
        (dict(window_s=math.inf), "window must be positive and finite"),
        (dict(alpha=0.0), r"alpha must be in \(0, 1\]"),
        (dict(alpha=1.5), r"alpha must be in \(0, 1\]"),
        (dict(loss=1.0), r"loss must be in \[0, 1\)"),
        (dict(efficiency=0.0), r"efficiency must be in \(0, 1\]"),
        (dict(streams=0), "streams must be a whole number"),
        (dict(streams=2.5), "streams must be a whole number"),
        (dict(write_Bps=-1.0), "write rate must be positive"),
        (dict(startup_s=-1.0), "startup time must be non-negative"),
        (dict(green_gain=0.0), r"green gain must be in \(0, 1\]"),
        (dict(loss=1e-4, mss_bytes=-1460.0), "mss must be positive"),
        (dict(loss=1e-4, mss_bytes=math.nan), "mss must be positive"),
    ],
)
def test_bad_model_inputs_raise_config_error(kwargs: dict, match: str) -> None:
    args = dict(checkpoint_bytes=1e9, bandwidth_bps=1e9, window_s=3600.0)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        evaluate(**args)


def test_error_message_shows_a_plain_number() -> None:
    with pytest.raises(ConfigError) as info:
        evaluate(0.0, 1e9, 3600)
    assert str(info.value).endswith("got 0.0")


def test_presets_give_bytes_per_param() -> None:
    assert checkpoint_bytes(7e9, "mixed-adam") == 98e9
    assert checkpoint_bytes(7e9, "weights-bf16") == 14e9
    assert checkpoint_bytes(1e9, "fp32-adam", extra_bytes=1e6) == 12e9 + 1e6
    np.testing.assert_allclose(checkpoint_bytes(np.array([1e9, 2e9]), "zero-states"),
                               [16e9, 32e9])
    assert set(PRESETS) >= {"weights-bf16", "fp32-adam", "mixed-adam", "zero-states"}


def test_unknown_preset_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        preset("adam-9000")
    for name in PRESETS:
        assert name in str(info.value)


def test_reference_models_of_the_map() -> None:
    sizes = {m.name: m.checkpoint_bytes for m in REFERENCE_MODELS}
    assert sizes["7B"] == 98e9
    assert sizes["70B"] == 980e9
    assert 0.3e9 <= sizes["ResNet-50"] <= 2e9
