"""The one quantity parser behind every option (``core.units.parse_quantity``) and the
output-path checks (``cli.paths``): properties and edge cases."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenhop.cli import paths
from greenhop.core import units
from greenhop.core.errors import ConfigError, UnitError

KINDS = ("size", "rate", "duration", "power", "energy")
FORMAT = {"size": units.format_size, "rate": units.format_rate, "power": units.format_power,
          "energy": units.format_energy, "duration": units.format_duration}
values = st.floats(min_value=1e-3, max_value=1e15, allow_nan=False, allow_infinity=False)


@given(kind=st.sampled_from(KINDS), value=values)
def test_a_plain_number_is_the_si_unit(kind, value) -> None:
    assert units.parse_quantity(repr(value), kind) == value


@given(kind=st.sampled_from(KINDS), value=values)
def test_what_greenhop_prints_it_reads_back(kind, value) -> None:
    text = FORMAT[kind](value)
    assert units.parse_quantity(text, kind) == pytest.approx(value, rel=6e-3), text


@given(kind=st.sampled_from(KINDS), value=values)
def test_a_plain_number_is_refused_where_a_unit_is_required(kind, value) -> None:
    with pytest.raises(UnitError, match=r"^--opt: .*needs a unit"):
        units.parse_quantity(repr(value), kind, option="--opt", plain=False)


@given(kind=st.sampled_from(KINDS),
       text=st.text(alphabet="0123456789.-+eE xyzWBbmsh/", min_size=0, max_size=8))
def test_every_error_names_the_option(kind, text) -> None:
    try:
        value = units.parse_quantity(text, kind, option="--opt")
    except UnitError as exc:
        assert str(exc).startswith("--opt: ")
    else:
        assert math.isfinite(value) and value >= 0


def test_negative_and_unknown_kinds() -> None:
    with pytest.raises(UnitError, match=r"--step-sleep: .*non-negative"):
        units.parse_quantity("-1", "duration", option="--step-sleep")
    with pytest.raises(ValueError, match="unknown quantity kind"):
        units.parse_quantity("1", "temperature")
    assert units.parse_quantity("7B", "count") == 7e9


def test_output_file_keeps_an_existing_file_and_leaves_no_probe(tmp_path) -> None:
    target = tmp_path / "plot.png"
    target.write_bytes(b"old")
    assert paths.output_file(target, "--plot") == target
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]


@pytest.mark.parametrize(("name", "expect"), [
    ("x.txt", "unknown image type '.txt'"), ("x", "no image type"),
    ("missing/x.png", "no such directory"), ("file/x.png", "is not a directory")])
def test_output_file_refusals_name_the_option(tmp_path, name, expect) -> None:
    (tmp_path / "file").write_text("a file")
    with pytest.raises(ConfigError, match=rf"^--plot .*{expect}"):
        paths.output_file(tmp_path / name, "--plot")


def test_output_file_with_parents_needs_a_writable_ancestor(tmp_path) -> None:
    assert paths.output_file(tmp_path / "a" / "b" / "m.svg", "--out", create_parents=True)
    assert not (tmp_path / "a").exists()  # checked, not created
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=r"^--out .*is a file"):
        paths.output_file(tmp_path / "f" / "m.svg", "--out", create_parents=True)


def test_output_dir_is_not_created_and_refuses_files_on_the_way(tmp_path) -> None:
    assert paths.output_dir(tmp_path / "new" / "deeper", "--out") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()
    (tmp_path / "f").write_text("x")
    for bad in (tmp_path / "f", tmp_path / "f" / "sub"):
        with pytest.raises(ConfigError, match=r"^--out "):
            paths.output_dir(bad, "--out")
    with pytest.raises(ConfigError, match=r"^--out /proc/x: cannot write"):
        paths.output_dir("/proc/x", "--out")


@given(key=st.integers(1, 30), widths=st.lists(st.integers(1, 40), max_size=15),
       room=st.integers(20, 200))
def test_column_groups_cover_every_column_in_order_and_fit(key, widths, room) -> None:
    from greenhop.cli.tables import column_groups

    groups = column_groups(key, widths, room)
    assert [i for g in groups for i in g] == list(range(len(widths)))
    for g in groups:
        assert g
        if len(g) > 1:  # only a column too wide on its own may overflow
            assert 1 + key + 3 + sum(widths[i] + 3 for i in g) <= room


def test_a_wide_summary_at_80_columns_prints_every_name_and_number_whole() -> None:
    import io

    from rich.console import Console

    from greenhop.cli.tables import print_fitted

    buffer = io.StringIO()
    console = Console(file=buffer, width=80, highlight=False, color_system=None)
    labels = [f"metric number {i}" for i in range(9)]
    rows = [(name, [f"{i * 1234.5678:,.3f}" for i in range(9)])
            for name in ("static", "forecast-feasibility", "cost-aware-greedy")]
    print_fitted(console, title="summary [kW]", key="policy", columns=labels, rows=rows)
    out = buffer.getvalue()
    assert "summary [kW] (1/" in out and "continued (2/" in out
    assert "…" not in out and all(len(line) <= 80 for line in out.splitlines())
    for name, cells in rows:
        assert out.count(name) >= 2  # the name column leads every part
        assert all(cell in out for cell in cells)
    assert all(label in out for label in labels)
