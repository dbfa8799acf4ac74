"""The field demonstration, short: each site of a region asked for 25 % less power for 3 h,
announced 1 h ahead, on the packaged default fleet (two seeds, a week). Every event step is
met, static has no deadline miss it would not have without the events, and the shed work
is reported as moved or suspended. The 20-seed, 30-day run: benchmarks/bench_dr_field.py
(numbers in docs/grid.md)."""

from __future__ import annotations

import pytest

from greenhop.sim.dr_field import field_checks, field_run


@pytest.mark.parametrize("seed", [2, 3])
def test_each_site_of_a_region_sheds_a_quarter_of_its_power_for_three_hours(seed):
    run = field_run(seed, ("static",), horizon="7d", until="5d", count=30, history="1d")
    assert field_checks(run) == []
    for name in ("static",):
        row = run[name]
        assert row["dr_compliance_pct"] == 100.0 and row["dr_excess_kwh"] == 0.0
        assert row["flex_kwh"] > 0 and row["dr_moved"] + row["dr_suspended"] > 0
        assert 0.0 <= row["dr_moved_pct"] <= 100.0
    assert run["static"]["extra_misses"] == 0
    # some of the shed work found a feasible green destination
    assert run["static"]["dr_moved"] > 0
