"""Sweeps: cells byte-identical to ``simulate``, grids, the output directory, resuming,
serial vs local Ray, bounds cells, and bad input."""

from __future__ import annotations

import json
import os
import re
import tomllib

import pandas as pd
import pytest
import sweepkit
from hypothesis import given
from hypothesis import strategies as st

from greenhop.core.errors import ConfigError
from greenhop.sim import simulate
from greenhop.sim.metrics import WORK_SHARE_FOR_GAP
from greenhop.sim.sweep import BOUNDS, Cell, prepare_sweep, run_sweep
from greenhop.sim.sweep_grid import parse_seeds, parse_set
from greenhop.sim.sweep_ray import import_ray
from greenhop.sim.sweep_store import FINAL_FILES

POLICIES = ["static", "feasibility-aware"]


def _cells(out) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((out / "cells").glob("*.json"))}


def _final(out) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in FINAL_FILES}


@pytest.fixture
def scenario(tmp_path):
    return sweepkit.write(tmp_path)


@pytest.fixture
def serial_run(scenario, tmp_path):
    spec = prepare_sweep(scenario, seeds="1-3", policies=POLICIES)
    outcome = run_sweep(spec, tmp_path / "serial", serial=True)
    return spec, outcome


# ---------------------------------------------------------------- cells


def test_serial_cells_are_byte_identical_to_simulate(scenario, serial_run):
    _, outcome = serial_run
    cells = _cells(outcome.out)
    assert len(cells) == 6 == outcome.total == outcome.ran
    for seed in (1, 2, 3):
        for pol in POLICIES:
            expected = simulate(scenario, policies=[pol], seed=seed).to_json()
            assert cells[Cell(0, seed, pol).key + ".json"] == expected
    # the seeds draw different jobs, so the comparison above could have failed
    assert cells["p000-s00001-static.json"] != cells["p000-s00002-static.json"]


def test_grid_values_reach_the_scenario_of_their_cells(scenario, tmp_path):
    spec = prepare_sweep(scenario, seeds="2", policies=["feasibility-aware"],
                         sets=["alpha=0.02,0.5", "migration.startup=30s,2h"])
    assert [p for p in spec.points] == [
        {"alpha": 0.02, "migration.startup": "30s"}, {"alpha": 0.02, "migration.startup": "2h"},
        {"alpha": 0.5, "migration.startup": "30s"}, {"alpha": 0.5, "migration.startup": "2h"}]
    outcome = run_sweep(spec, tmp_path / "grid", serial=True)
    cells = _cells(outcome.out)
    doc = tomllib.loads(scenario.read_text())
    for i, point in enumerate(spec.points):
        d = json.loads(json.dumps(doc))
        d["alpha"] = point["alpha"]
        d["migration"]["startup"] = point["migration.startup"]
        expected = simulate(d, policies=["feasibility-aware"], seed=2).to_json()
        assert cells[Cell(i, 2, "feasibility-aware").key + ".json"] == expected
    # a two-hour restart lengthens the moves; alpha decides whether the rule allows them
    m = [json.loads(cells[Cell(i, 2, "feasibility-aware").key + ".json"])["policies"]
         ["feasibility-aware"] for i in range(4)]
    assert m[2]["downtime_h"] < m[3]["downtime_h"]
    assert m[1]["migrations"] < m[3]["migrations"]
    df = pd.read_parquet(outcome.out / "cells.parquet")
    assert list(df.columns[:5]) == ["scenario", "seed", "alpha", "migration.startup", "policy"]
    assert sorted(set(df["migration.startup"])) == ["2h", "30s"]
    assert len(df) == 4


def test_tidy_tables_and_summary_agree_with_the_cells(serial_run):
    _, outcome = serial_run
    df = pd.read_parquet(outcome.out / "cells.parquet")
    csv = pd.read_csv(outcome.out / "cells.csv")
    assert len(df) == len(csv) == 6
    assert list(df["policy"]) == POLICIES * 3
    pd.testing.assert_frame_equal(df, csv, check_dtype=False)
    for _, row in df.iterrows():
        cell = json.loads((outcome.out / "cells" / f"{Cell(0, row.seed, row.policy).key}.json")
                          .read_text())["policies"][row.policy]
        assert row["job_nr_kwh"] == cell["job_nr_kwh"]
        assert row["migrations"] == cell["migrations"]
    summary = json.loads((outcome.out / "summary.json").read_text())
    assert summary == outcome.summary
    point = summary["points"][0]
    fa = df[df.policy == "feasibility-aware"]["job_nr_kwh"].to_numpy()
    stc = df[df.policy == "static"]["job_nr_kwh"].to_numpy()
    assert point["metrics"]["static"]["job_nr_kwh"]["mean"] == pytest.approx(stc.mean())
    pair = next(e for e in point["paired"] if e["a"] == "feasibility-aware"
                and e["b"] == "static" and e["metric"] == "job_nr_kwh")
    assert pair["mean"] == pytest.approx((fa - stc).mean())
    assert pair["share_a_lt_b_pct"] == pytest.approx(100.0 * (fa < stc).mean())
    html = (outcome.out / "report.html").read_text()
    assert html.count("data-figure=") >= 5
    assert not re.search(r"<(?:script|img|link|iframe)[^>]*\s(?:src|href)\s*=", html, re.I)


def test_each_grid_point_is_compared_with_the_first_seed_by_seed(scenario, tmp_path):
    spec = prepare_sweep(scenario, seeds="1-3", policies=["static", "energy-greedy"],
                         sets=["migration.startup=30s,2h,6h"])
    outcome = run_sweep(spec, tmp_path / "grid", serial=True)
    df = pd.read_parquet(outcome.out / "cells.parquet")
    points = outcome.summary["points"]
    assert "vs_first" not in points[0]
    for p, startup in ((1, "2h"), (2, "6h")):
        by = {(e["policy"], e["metric"]): e for e in points[p]["vs_first"]}
        assert {pol for pol, _ in by} == {"static", "energy-greedy"}
        for pol in ("static", "energy-greedy"):
            rows = df[df.policy == pol].set_index(["migration.startup", "seed"])
            for m in ("job_nr_kwh", "migrations", "unfinished_jobs"):
                d = rows.loc[startup][m].to_numpy() - rows.loc["30s"][m].to_numpy()
                e = by[(pol, m)]
                assert e["n"] == 3
                assert e["mean"] == pytest.approx(d.mean())
                assert e["share_a_lt_b_pct"] == pytest.approx(100.0 * (d < 0).mean())
    # the comparison has something to find: restarts of hours cost the moving policy
    # energy and leave the static one as it was
    assert points[2]["vs_first"] and next(
        e for e in points[2]["vs_first"]
        if e["policy"] == "energy-greedy" and e["metric"] == "job_nr_kwh")["mean"] > 0
    assert next(e for e in points[2]["vs_first"]
                if e["policy"] == "static" and e["metric"] == "job_nr_kwh")["mean"] == 0
    html = (outcome.out / "report.html").read_text()
    assert html.count("Against the first grid point") == 2
    assert "migration.startup=6h − migration.startup=30s" in html
    # the frontier: static, which the restart time does not touch, is one entry; each
    # entry's place on it follows from the cells' means
    front = outcome.summary["frontier"]
    assert (front["x"], front["y"]) == ("job_nr_kwh", "slowdown_p90")
    entries = {(e["policy"], e["point"]): e for e in front["entries"]}
    assert entries[("static", 0)]["points"] == [0, 1, 2]
    assert {p for pol, p in entries if pol == "energy-greedy"} == {0, 1, 2}
    means = {}
    for (pol, p), e in entries.items():
        rows = df[(df.policy == pol) & (df["migration.startup"] == ("30s", "2h", "6h")[p])]
        means[(pol, p)] = (rows.job_nr_kwh.mean(), rows.slowdown_p90.mean())
        assert e["x"]["mean"] == pytest.approx(means[(pol, p)][0])
    for k, e in entries.items():
        beaten = [o for o in means if means[o][0] <= means[k][0] and means[o][1] <= means[k][1]
                  and means[o] != means[k]]
        assert e["on_front"] == (not beaten)
    assert "Energy against slowdown" in html and 'id="fig-frontier"' in html


# ---------------------------------------------------------------- the directory


def test_resume_runs_only_the_missing_cells(serial_run):
    spec, outcome = serial_run
    out = outcome.out
    first_final = _final(out)
    gone = ["p000-s00002-static.json", "p000-s00003-feasibility-aware.json"]
    for name in gone:
        (out / "cells" / name).unlink()
    kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in (out / "cells").glob("*.json")}
    again = run_sweep(spec, out, serial=True)
    assert (again.ran, again.reused) == (2, 4)
    for p in (out / "cells").glob("*.json"):
        if p.name in kept:
            assert (p.stat().st_ino, p.stat().st_mtime_ns) == kept[p.name], p.name
    assert set(_cells(out)) == set(kept) | set(gone)
    assert _final(out) == first_final


def _edited(edit):
    """A cell of the serial run's with its metrics changed by ``edit(metrics)``."""
    def damage(path):
        doc = json.loads(path.read_text())
        edit(doc["policies"]["feasibility-aware"])
        return json.dumps(doc).encode()
    return damage


@pytest.mark.parametrize("damage", [
    b"garbage{", b"", b'{"policies": 5}', b"[1, 2]", b'{"policies": {"other-policy": {}}}',
    b'{"policies": {"feasibility-aware": {}}}',
    # a metric missing (before: one seed fewer in its statistics, without a word) or held
    # as text (before: the statistics stopped with a traceback and the final files went)
    _edited(lambda m: m.pop("slowdown_p90")),
    _edited(lambda m: m.update(job_nr_kwh=str(m["job_nr_kwh"]))),
    _edited(lambda m: m.update(migrations=True)),
    # null where greenhop always writes a number (before: accepted, then a TypeError in
    # metrics.compare on every resume, the sweep never finishing)
    _edited(lambda m: m.update(job_nr_kwh=None)),
    _edited(lambda m: m.update(non_renewable_kwh=None)),
    _edited(lambda m: m.pop("infeasible_migrations")),
    # another seed's cell copied over this one's (it would count seed 1 twice)
    lambda path: (path.parent / "p000-s00001-feasibility-aware.json").read_bytes(),
])
def test_an_unreadable_stored_cell_is_kept_aside_and_runs_again(serial_run, damage):
    spec, outcome = serial_run
    out = outcome.out
    first = _cells(out)
    name = "p000-s00002-feasibility-aware.json"
    if callable(damage):
        damage = damage(out / "cells" / name)
    (out / "cells" / name).write_bytes(damage)
    again = run_sweep(spec, out, serial=True)
    assert (again.ran, again.reused) == (1, 5)
    assert again.set_aside == (out / "cells" / (name + ".unreadable"),)
    assert again.set_aside[0].read_bytes() == damage  # kept, not deleted
    assert _cells(out) == first  # the cell ran again, byte for byte as before


def test_a_cell_damaged_twice_keeps_both_damaged_copies(serial_run):
    spec, outcome = serial_run
    out = outcome.out
    name = "p000-s00001-static.json"
    for damage in (b"first", b"second"):
        (out / "cells" / name).write_bytes(damage)
        run_sweep(spec, out, serial=True)
    assert (out / "cells" / (name + ".unreadable")).read_bytes() == b"first"
    assert (out / "cells" / (name + ".unreadable.2")).read_bytes() == b"second"


def test_a_second_sweep_into_a_directory_being_written_is_refused(serial_run, scenario):
    from greenhop.sim.sweep_store import SweepStore

    spec, outcome = serial_run
    writing = SweepStore(outcome.out)
    writing.lock()  # another sweep holds the folder
    before = _cells(outcome.out)
    other = prepare_sweep(scenario, seeds="1-4", policies=POLICIES)
    for s, force in ((spec, False), (other, True)):
        with pytest.raises(ConfigError, match="another sweep is writing here"):
            run_sweep(s, outcome.out, serial=True, force=force)
    assert _cells(outcome.out) == before  # the forced one deleted nothing
    writing.unlock()  # that sweep ends: the folder is free again
    assert run_sweep(spec, outcome.out, serial=True).reused == 6


def test_the_same_sweep_forced_again_resumes(serial_run):
    """--force replaces a *different* sweep; the same command with --force (a forced
    sweep killed, then re-run as it was) keeps the cells already computed."""
    spec, outcome = serial_run
    (outcome.out / "cells" / "p000-s00002-static.json").unlink()
    again = run_sweep(spec, outcome.out, serial=True, force=True)
    assert (again.ran, again.reused) == (1, 5)
    assert not (outcome.out / ".discarded").exists()


def test_a_damaged_manifest_or_a_file_for_a_folder_is_one_clear_error(serial_run, scenario):
    spec, outcome = serial_run
    out = outcome.out
    manifest = (out / "manifest.json").read_bytes()
    for doc in ({"greenhop_sweep": 1, "definition": 3}, {"definition": [1]}):
        (out / "manifest.json").write_text(json.dumps(doc))
        with pytest.raises(ConfigError, match="not a sweep manifest"):
            run_sweep(spec, out, serial=True)
    (out / "manifest.json").write_bytes(manifest)
    folder = out.parent / "manifest-a-folder"
    (folder / "manifest.json").mkdir(parents=True)
    with pytest.raises(ConfigError, match="is not a file where the sweep keeps its manifest"):
        run_sweep(spec, folder, serial=True)
    other = out.parent / "cells-a-file"
    other.mkdir()
    (other / "cells").write_text("not a folder")
    with pytest.raises(ConfigError, match="is a file where the sweep keeps its cells"):
        run_sweep(spec, other, serial=True)


def test_final_files_exist_only_once_every_cell_is_in(scenario, tmp_path):
    spec = prepare_sweep(scenario, seeds="1-3", policies=POLICIES)
    out = tmp_path / "partial"

    class Stop(Exception):
        pass

    def progress(done, total):
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        run_sweep(spec, out, serial=True, progress=progress)
    assert len(_cells(out)) == 3
    assert (out / "manifest.json").is_file()
    assert not any((out / name).exists() for name in FINAL_FILES)
    done = run_sweep(spec, out, serial=True)
    assert (done.ran, done.reused) == (3, 3)
    assert all((out / name).is_file() for name in FINAL_FILES)


def test_another_definition_is_refused_and_force_starts_afresh(serial_run, scenario):
    _, outcome = serial_run
    other = prepare_sweep(scenario, seeds="1-4", policies=POLICIES)
    with pytest.raises(ConfigError, match=r"holds a different sweep \(it differs in seeds\)"):
        run_sweep(other, outcome.out, serial=True)
    assert len(_cells(outcome.out)) == 6  # nothing lost
    redone = run_sweep(other, outcome.out, serial=True, force=True)
    assert (redone.ran, redone.reused) == (8, 0)
    assert len(_cells(outcome.out)) == 8
    assert not (outcome.out / ".discarded").exists()  # dropped once the new sweep finished


def test_the_python_api_refuses_an_output_that_is_a_file(scenario, tmp_path):
    """``run_sweep(spec, "afile")`` raised a bare FileExistsError (the CLI's own check
    said it in one line)."""
    spec = prepare_sweep(scenario, seeds="1", policies=["static"])
    afile = tmp_path / "afile"
    afile.write_text("mine")
    with pytest.raises(ConfigError, match="afile: is not a folder"):
        run_sweep(spec, afile, serial=True)
    assert afile.read_text() == "mine"


def test_a_forced_sweep_that_fails_loses_nothing_of_the_one_it_replaces(serial_run, scenario):
    spec, outcome = serial_run
    out = outcome.out
    before = {**{f"cells/{k}": v.encode() for k, v in _cells(out).items()}, **_final(out),
              "manifest.json": (out / "manifest.json").read_bytes()}
    other = prepare_sweep(scenario, seeds="1-4", policies=POLICIES)

    class Crash(Exception):
        pass

    def crash_after_two(done, total):
        if done == 2:
            raise Crash

    for _ in range(2):  # forced twice: the second time resumes the first forced sweep
        with pytest.raises(Crash):
            run_sweep(other, out, serial=True, force=True, progress=crash_after_two)
        kept = out / ".discarded"
        assert {str(p.relative_to(kept)): p.read_bytes() for p in kept.rglob("*")
                if p.is_file() and p.parent.name != "meta"} == before
        assert len(_cells(out)) == 2 and not any((out / n).exists() for n in FINAL_FILES)
    # asking for the sweep set aside says where it is (it said only "pass --force")
    with pytest.raises(ConfigError, match=r"the sweep asked for is in .*\.discarded, set "
                                          r"aside by a --force that did not finish"):
        run_sweep(spec, out, serial=True)
    done = run_sweep(other, out, serial=True)  # resumed without --force: it finishes
    assert (done.ran, done.reused) == (6, 2) and len(_cells(out)) == 8
    assert not (out / ".discarded").exists()


# ---------------------------------------------------------------- Ray


def test_local_ray_gives_the_serial_cells_and_files(serial_run, tmp_path):
    ray = import_ray()  # before anything imports ray: sets the environment it reads
    spec, serial = serial_run
    ray_out = run_sweep(spec, tmp_path / "ray", workers=2)
    assert _cells(ray_out.out) == _cells(serial.out)
    assert _final(ray_out.out) == _final(serial.out)
    meta = json.loads((ray_out.out / "meta" / "p000-s00001-static.json").read_text())
    assert meta["node_id"] and meta["pid"] > 0
    assert meta["nice"] == os.nice(0)  # workers run at the command's priority, not Ray's 15
    assert not ray.is_initialized()  # the local instance was shut down


# ---------------------------------------------------------------- bounds


@pytest.mark.parametrize("damage", [
    '{"junk": 1}', "{}", '{"space": null, "spacetime": 5}',
    '{"space": {"job_nr_kwh": "x", "work_gpu_h": 1, "static_job_nr_kwh": 2, '
    '"status": "Optimal"}}',
])
def test_a_damaged_bounds_cell_is_kept_aside_and_solved_again(tmp_path, damage):
    # before: a bounds cell of any JSON object was used, and stopped the statistics with a
    # traceback on every re-run (or counted one seed fewer, without a word)
    path = sweepkit.write(tmp_path, bounds=True)
    spec = prepare_sweep(path, seeds="1-2", policies=["static"])
    out = tmp_path / "b"
    first = run_sweep(spec, out, serial=True).summary
    name = Cell(0, 2, BOUNDS).key + ".json"
    (out / "cells" / name).write_text(damage)
    again = run_sweep(spec, out, serial=True)
    assert again.set_aside == (out / "cells" / (name + ".unreadable"),)
    assert (again.ran, again.reused) == (1, 3)
    assert _timeless(json.dumps(again.summary, sort_keys=True)) == \
        _timeless(json.dumps(first, sort_keys=True))


def _timeless(text):
    """``text`` with the solver's wall times (they differ run to run) set to 0."""
    return re.sub(r'"solve_s": [0-9.e+-]+', '"solve_s": 0', text)


def test_bounds_cell_per_seed_and_gap_closed(tmp_path):
    path = sweepkit.write(tmp_path, bounds=True)
    spec = prepare_sweep(path, seeds="1-2", policies=["static", "energy-greedy"])
    outcome = run_sweep(spec, tmp_path / "b", serial=True)
    cells = _cells(outcome.out)
    assert sorted(cells) == [f"p000-s0000{s}-{p}.json" for s in (1, 2)
                             for p in ("bounds", "energy-greedy", "static")]
    bounds = json.loads(cells[Cell(0, 1, BOUNDS).key + ".json"])
    assert set(bounds) == {"space", "spacetime"}

    def timeless(text):  # solve_s is the solver's wall time: it differs run to run
        return re.sub(r'"solve_s": [0-9.e+-]+', '"solve_s": 0', text)

    for pol in ("static", "energy-greedy"):
        expected = simulate(path, policies=[pol], seed=1).to_json()
        assert timeless(cells[Cell(0, 1, pol).key + ".json"]) == timeless(expected)
    df = pd.read_parquet(outcome.out / "cells.parquet")
    assert set(df["policy"]) == {"static", "energy-greedy", "bound:space", "bound:spacetime"}
    eg = df[(df.policy == "energy-greedy") & (df.seed == 1)].iloc[0]
    st_ = df[(df.policy == "static") & (df.seed == 1)].iloc[0]
    b = bounds["space"]
    # the bound priced at energy-greedy's own work is a lower bound on its job grid energy
    assert eg["bound_space_kwh"] <= eg["job_nr_kwh"] + 1e-6
    if eg["work_done_gpu_h"] >= b["work_gpu_h"] * WORK_SHARE_FOR_GAP:
        expected_gap = 100 * (st_.job_nr_kwh - eg.job_nr_kwh) / (st_.job_nr_kwh
                                                                 - eg["bound_space_kwh"])
        assert eg["gap_closed_space_pct"] == pytest.approx(expected_gap, abs=0.01)
    else:
        assert pd.isna(eg["gap_closed_space_pct"])
    gaps = outcome.summary["points"][0]["gap_closed"]["energy-greedy"]["gap_closed_space_pct"]
    assert [e["seed"] for e in gaps["per_seed"]] == [1, 2]
    assert all((e["value"] is None) == (e["reason"] is not None) for e in gaps["per_seed"])


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kw", "message"), [
    ({"sets": ["alpah=0.1"]}, r"--set alpah=0\.1: alpah: unknown key"),
    ({"sets": ["migration.startup=30s,30parsecs"]},
     r"--set migration\.startup=30parsecs: migration\.startup"),
    ({"sets": ["alpha=0.1,2"]}, r"--set alpha=2: alpha"),
    ({"sets": ["links[3].bandwidth=1Gbps"]}, r"--set links\[3\]\.bandwidth: index 3 is out"),
    ({"sets": ["sites[c].gpu_slots=2"]}, r"no entry named 'c'"),
    ({"sets": ["seed=1,2"]}, r"--set seed: set this with --seeds"),
    ({"sets": ["alpha"]}, r"write key=value"),
    ({"sets": ["alpha=0.1", "alpha=0.2"]}, r"the key is given twice"),
    ({"policies": ["static", "greedy"]}, r"unknown policy 'greedy'"),
    ({"seeds": "3-1"}, r"runs backwards"),
    ({"seeds": "1,x"}, r"cannot read 'x'"),
])
def test_bad_input_is_one_line_naming_key_and_value(scenario, kw, message):
    args = {"seeds": "1-2", **kw}
    with pytest.raises(ConfigError, match=message) as info:
        prepare_sweep(scenario, **args)
    assert "\n" not in str(info.value)


def test_a_site_key_on_a_fleet_scenario_says_where_its_sites_come_from():
    # the default scenario has no [[sites]] tables: its sites come from the fleet
    with pytest.raises(ConfigError, match=r"--set sites\[madrid-es\]\.gpu_slots: sites is "
                                          r"not an array of tables in this scenario \(its "
                                          r"sites come from \[fleet\]"):
        prepare_sweep("default", seeds="1", sets=["sites[madrid-es].gpu_slots=8"])
    with pytest.raises(ConfigError, match=r"--set alpha\[0\]: alpha is not an array"):
        prepare_sweep("default", seeds="1", sets=["alpha[0]=1"])


def test_unknown_scenario_names_the_packaged_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"not a packaged scenario; packaged scenarios: .*"
                                          r"default"):
        prepare_sweep(str(tmp_path / "nope.toml"), seeds="1")


def test_seed_lists():
    assert parse_seeds("1-5") == (1, 2, 3, 4, 5)
    assert parse_seeds("1,3,5-8") == (1, 3, 5, 6, 7, 8)
    assert parse_seeds(" 7 ") == (7,)
    # "\uff10": a full-width zero, which int() would read as 0 (a seed is ASCII digits)
    for bad in ("", "1-", "-1", "1,,2", "a-b", "1-3,2", "1.5", "\uff10", "1-\u0663"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)
    # a seed no generator takes, and a list no machine holds, are refused before any cell
    with pytest.raises(ConfigError, match="--seeds: seed 99999999999999999999 is over"):
        parse_seeds("99999999999999999999")
    with pytest.raises(ConfigError, match="more than 100,000 seeds"):
        parse_seeds("1-200000")
    assert parse_seeds(f"{2**32 - 1}") == (2**32 - 1,)


def test_values_valid_only_together_are_checked_in_their_combinations(scenario):
    """--set horizon=20h --set generator.until=12h was refused ("arrivals must end within the
    horizon") though the two together are valid: each value was checked alone against the
    unchanged scenario, so a packaged scenario could not be shortened from the command
    line. A combination that is invalid is still refused, naming both values."""
    spec = prepare_sweep(scenario, seeds="1", policies=["static"],
                         sets=["horizon=20h", "generator.until=12h"])
    assert spec.points == [{"horizon": "20h", "generator.until": "12h"}]
    with pytest.raises(ConfigError, match=r"--set horizon=20h, generator\.until=30h: "
                                          r"generator\.until: arrivals must end within"):
        prepare_sweep(scenario, seeds="1", policies=["static"],
                      sets=["horizon=20h", "generator.until=12h,30h"])
    with pytest.raises(ConfigError, match=r"--set horizon=1h: generator\.until"):
        prepare_sweep(scenario, seeds="1", policies=["static"], sets=["horizon=1h"])


def test_set_values_are_toml_literals_or_strings():
    assert parse_set("alpha=0.02,0.1,1") == ("alpha", (0.02, 0.1, 1), ("0.02", "0.1", "1"))
    key, values, _ = parse_set('policy_params.feasibility-aware.min_dwell_s=0,3600')
    assert key == "policy_params.feasibility-aware.min_dwell_s" and values == (0, 3600)
    assert parse_set("migration.startup=30s,120s")[1] == ("30s", "120s")
    assert parse_set('x=[1, 2],true,"a,b"')[1] == ([1, 2], True, "a,b")


def test_a_parameter_the_scenarios_policies_table_sets_can_be_gridded(tmp_path):
    """`[policies.feasibility-aware] min_dwell_s = 1800` (the docs' own way to give it):
    `--set policy_params.feasibility-aware.min_dwell_s=600,3600` was refused as set twice,
    and `--set policies.feasibility-aware.min_dwell_s=...` sent back to it."""
    import tomllib

    from greenhop.sim.sweep_grid import apply_override

    path = sweepkit.write(tmp_path)
    text = path.read_text().replace(
        'policies = ["static", "energy-greedy", "feasibility-aware"]\n',
        '[policies.static]\n[policies.feasibility-aware]\nmin_dwell_s = 1800.0\n')
    path.write_text(text)
    spec = prepare_sweep(path, seeds="1", policies=["feasibility-aware"],
                         sets=["policy_params.feasibility-aware.min_dwell_s=600,3600"])
    assert spec.n_points == 2
    doc = tomllib.loads(text)
    apply_override(doc, "policy_params.feasibility-aware.min_dwell_s", 600)
    assert doc["policies"]["feasibility-aware"]["min_dwell_s"] == 600  # replaced there
    assert "policy_params" not in doc


@pytest.mark.parametrize(("text", "message"), [
    ("seed=1,2", "--set seed: set this with --seeds"),
    ("policies=static", "--set policies: set this with --policies"),
    # a policy's parameter: the key that grids it (it pointed at --policies, which cannot)
    ("policies.mine.k=1,2", "--set policies.mine.k: a policy's parameter is gridded as "
                            "policy_params.mine.k"),
])
def test_a_set_key_owned_by_another_option_names_the_right_one(text, message):
    with pytest.raises(ConfigError) as exc:
        parse_set(text)
    assert message in str(exc.value)


@pytest.mark.parametrize(("text", "also"), [
    ("alpha=0.1,0.10", "0.10 is 0.1"),  # the same number written twice
    ("migration.startup=60s,1min", "1min is 60s"),  # the same quantity in two units
    ("window_threshold=1kW,0.5kW,1000W", "1000W is 1kW"),
    ("alpha=0.1,0.1", None),
    # a bare number is read in SI units where a quantity goes: 30 is 30s (ran twice)
    ("migration.startup=30s,30", "30 is 30s"),
    ("window_threshold=1000,1kW", "1kW is 1000"),
])
def test_a_set_value_that_means_one_already_listed_is_refused(text, also):
    # two grid points that are one would run the same cells twice under two labels
    with pytest.raises(ConfigError, match="a value is listed twice") as exc:
        parse_set(text)
    assert also is None or f"({also})" in str(exc.value)
    assert parse_set("migration.startup=60s,2min")[1] == ("60s", "2min")


def test_a_sweep_over_the_cell_cap_is_refused_before_it_is_built(scenario):
    # 100,000 seeds x 11 grid points: each list is allowed, their product is not
    alphas = ",".join(f"0.{i:02d}" for i in range(1, 12))
    with pytest.raises(ConfigError, match=r"100,000 seeds x 1 policies x 11 grid points = "
                                          r"1,100,000 cells, over the 1,000,000"):
        prepare_sweep(scenario, seeds="1-100000", policies=["static"], sets=[f"alpha={alphas}"])
    assert len(prepare_sweep(scenario, seeds="1-90000", policies=["static"],
                             sets=[f"alpha={alphas}"]).seeds) == 90_000


@given(st.lists(st.integers(0, 500), min_size=1, max_size=30, unique=True))
def test_property_seed_lists_round_trip(seeds):
    assert parse_seeds(",".join(map(str, seeds))) == tuple(sorted(seeds))
    lo, hi = min(seeds), max(seeds)
    assert parse_seeds(f"{lo}-{hi}") == tuple(range(lo, hi + 1))


def test_alpha_on_the_grid_reaches_the_policy_too(scenario, tmp_path):
    # a one-hour restart: feasible within alpha = 1 of the steady site's window, not 0.001
    spec = prepare_sweep(scenario, seeds="1", policies=["feasibility-aware"],
                         sets=["alpha=0.001,1", "migration.startup=1h"])
    outcome = run_sweep(spec, tmp_path / "alpha", serial=True)
    moves = [json.loads((outcome.out / "cells" / f"{Cell(p, 1, 'feasibility-aware').key}.json")
                        .read_text())["policies"]["feasibility-aware"]["migrations"]
             for p in range(2)]
    assert moves[0] == 0 < moves[1]


def test_a_scenario_name_that_is_a_path_is_no_default_output_folder(tmp_path, monkeypatch):
    path = sweepkit.write(tmp_path)
    path.write_text(path.read_text().replace('name = "sweep-small"',
                                             'name = "x/../../escaped"'))
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    spec = prepare_sweep(str(path), seeds="1", policies=("static",))
    with pytest.raises(ConfigError, match=r"cannot name the default output folder .*give --out"):
        run_sweep(spec, serial=True)
    assert not (tmp_path / "escaped").exists() and list(work.iterdir()) == []
    outcome = run_sweep(spec, work / "out", serial=True)  # with --out it runs
    assert outcome.summary["scenario"] == "x/../../escaped"


def test_a_changed_scenario_is_named_with_what_the_digest_covers(serial_run, scenario):
    """The scenario digest also covers `--set` values and the contents of policy files,
    so its difference says so (a changed `--policy-file` read as an unchanged scenario)."""
    _, outcome = serial_run
    scenario.write_text(scenario.read_text().replace('startup = "60s"', 'startup = "90s"'))
    other = prepare_sweep(scenario, seeds="1-3", policies=POLICIES)
    with pytest.raises(ConfigError, match=r"it differs in scenario_sha256: the scenario's "
                       r"text, its --set values or the contents of a policy file it loads"):
        run_sweep(other, outcome.out, serial=True)
    assert len(_cells(outcome.out)) == 6  # nothing lost
