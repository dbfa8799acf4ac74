"""Scenario keys a probe found read wrongly: each is now a one-line error naming the key
(or, for a missing dataset, the command that fetches it)."""

from __future__ import annotations

import copy

import pytest

from greenhop.cli.main import main
from greenhop.core.errors import UserError
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import parse_scenario

HUGE = 10**400  # an integer past any float


def _site(name: str, slots: int = 2, **over) -> dict:
    site = {"name": name, "latitude": 40.0, "longitude": -3.0, "base_load": "1kW", "pue": 1.0,
            "gpu_platform": "A100", "gpu_slots": slots,
            "trace": {"kind": "constant", "power": "5kW"}}
    site.update(over)
    return site


BASE = {
    "name": "tiny", "start": "2023-06-01T00:00:00Z", "horizon": "1d", "step": "1h",
    "history": "1d", "policies": ["static"],
    "sites": [_site("a"), _site("b", slots=8)],
    "links": [{"a": "a", "b": "b", "bandwidth": "10Gbps"}],
    "jobs": [{"name": "j1", "arrival": "1h", "work_gpu_h": 4, "checkpoint": "10GB"}],
}


def _doc(**over) -> dict:
    d = copy.deepcopy(BASE)
    d.update(copy.deepcopy(over))
    return d


def _generator(**over) -> dict:
    g = {"count": 3, "work_gpu_h": [1, 4], "models": [{"name": "m", "params": 1e8}]}
    g.update(over)
    return g


def _refused(doc: dict, *parts: str) -> str:
    with pytest.raises(UserError) as info:
        parse_scenario(doc, "probe.toml")
    message = str(info.value)
    assert "\n" not in message
    for part in ("probe.toml", *parts):
        assert part in message, (part, message)
    return message


# -- 1. integers past any float


@pytest.mark.parametrize(("edit", "key"), [
    (lambda d: d["sites"][0].update(trace={"kind": "values", "values": [1000] * 47 + [HUGE]}),
     "sites[0].trace.values[47]"),
    (lambda d: d.update(generator=_generator(gpus=[1], gpu_weights=[HUGE])),
     "generator.gpu_weights"),
    (lambda d: d.update(generator=_generator(work_gpu_h=[1, HUGE])), "generator.work_gpu_h"),
    (lambda d: d.update(generator=_generator(
        models=[{"name": "m", "params": 1e8, "work_gpu_h": [HUGE, HUGE]}])),
     "generator.models[0].work_gpu_h"),
], ids=["values", "gpu_weights", "work_gpu_h", "model-work_gpu_h"])
def test_an_integer_past_any_float_is_a_short_error_naming_the_key(edit, key):
    doc = _doc()
    edit(doc)
    message = _refused(doc, key)
    assert "0" * 60 not in message  # the value is shortened, not printed in full


def test_huge_integers_are_one_line_and_exit_2_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "big.toml"
    values = ", ".join(["1000"] * 47 + [str(HUGE)])
    path.write_text(f"""name = "big"
start = "2023-06-01T00:00:00Z"
horizon = "1d"
step = "1h"
history = "1d"
policies = ["static"]
jobs = []
[[sites]]
name = "a"
latitude = 40.0
longitude = -3.0
gpu_slots = 2
trace = {{ kind = "values", values = [{values}] }}
""")
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "sites[0].trace.values[47]" in lines[0] and "too large" in lines[0]


@pytest.mark.parametrize(("edit", "key"), [
    (lambda d: d["sites"][0].update(gpu_slots=HUGE), "sites[0].gpu_slots"),
    (lambda d: d.update(generator=_generator(gpus=[HUGE])), "generator.gpus"),
    (lambda d: d["jobs"][0].update(gpus=HUGE), "jobs[0].gpus"),
], ids=["gpu_slots", "generator.gpus", "jobs.gpus"])
def test_a_huge_gpu_count_is_printed_shortened(edit, key):
    doc = _doc()
    edit(doc)
    message = _refused(doc, key)
    assert "0" * 60 not in message and "…" in message


# -- 2. a model's fixed GPU count against the sites jobs arrive at


def test_model_gpus_beyond_every_origin_is_an_error_not_cut_to_the_slots():
    gen = _generator(origins=["a"], models=[{"name": "m", "params": 1e8, "gpus": 4}])
    _refused(_doc(generator=gen), "generator.models[0].gpus", "4 GPUs", "2 slots",
             "generator.origins")


def test_generator_gpus_beyond_every_origin_is_an_error_not_cut_to_the_slots():
    _refused(_doc(generator=_generator(origins=["a"], gpus=[4])), "generator.gpus",
             "4 GPUs", "2 slots", "generator.origins")


def test_model_gpus_that_an_origin_holds_keep_their_count():
    gen = _generator(origins=["a", "b"], models=[{"name": "m", "params": 1e8, "gpus": 4}])
    sc = parse_scenario(_doc(generator=gen))
    jobs = sc.jobs()[len(sc.explicit_jobs):]
    assert len(jobs) == 3 and all(j.gpus == 4 and j.origin == "b" for j in jobs)


# -- 3. a trace and the site's own PV / wind


@pytest.mark.parametrize("extra", [{"pv_kwp": 100, "pv_source": "tmy:greensboro"},
                                   {"pv_source": "tmy:greensboro"},
                                   {"wind_kw": 50, "wind_source": "tmy:sand_point"}])
def test_a_trace_with_pv_or_wind_capacity_is_refused(extra):
    doc = _doc()
    doc["sites"][0].update(extra)
    _refused(doc, f"sites[0].{next(iter(extra))}", "'constant' trace", "ignored")


# -- 4. history in whole steps


@pytest.mark.parametrize("history", ["90min", "30min"])
def test_a_history_of_part_steps_is_refused(history):
    _refused(_doc(history=history), "history: must be a whole number of steps of 3600 s")


def test_a_history_of_whole_steps_is_read():
    assert parse_scenario(_doc(history="2h")).history_s == 7200.0


# -- 5. a CAISO span after the series


def test_a_caiso_start_after_the_series_says_to_move_start_before_its_end():
    doc = _doc()
    doc["sites"][0]["trace"] = {"kind": "caiso", "column": "total", "share": 1e-4}
    message = _refused(doc, "sites[0].trace.offset", "move start to 2017-05-10 07:00 UTC or "
                       "earlier")
    assert "shorten" not in message


def test_a_caiso_span_longer_than_the_series_still_says_to_shorten_it():
    doc = _doc(start="2016-07-01T00:00:00Z", horizon="400d")
    doc["sites"][0]["trace"] = {"kind": "caiso", "column": "total", "share": 1e-4}
    _refused(doc, "sites[0].trace.offset", "shorten history + horizon")


# -- 8. a dataset that is not in the cache


def test_a_missing_dataset_says_to_fetch_it_not_to_move_start(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENHOP_CACHE_DIR", str(tmp_path / "cache"))
    doc = _doc()
    doc["sites"][0] = _site("a", pv_kwp=10, pv_source="solcast2022_global:Berlin")
    del doc["sites"][0]["trace"]
    sc = parse_scenario(doc, "probe.toml")
    with pytest.raises(UserError) as info:
        build_inputs(sc)
    message = str(info.value)
    assert "greenhop data fetch solcast2022_global" in message
    assert "site 'a'" in message and "pv_source" in message
    assert "move start" not in message and "do not cover" not in message


# -- 11. start, and a site without a fleet


@pytest.mark.parametrize("start", [1685577600, "", "  ", True])
def test_a_start_that_is_no_text_or_empty_asks_for_a_utc_timestamp(start):
    message = _refused(_doc(start=start),
                       "start: expected a UTC timestamp like 2023-06-01T00:00:00Z")
    assert "time zone" not in message


def test_a_site_without_coordinates_and_no_fleet_table_says_so():
    doc = _doc()
    del doc["sites"][0]["latitude"]
    _refused(doc, "sites[0]", "no [fleet] table is given", "latitude and longitude")


# -- 12. an explicit job's work


def test_an_explicit_job_work_past_the_generator_ceiling_is_refused():
    doc = _doc()
    doc["jobs"][0]["work_gpu_h"] = 1e15
    _refused(doc, "jobs[0].work_gpu_h", "<= 1e+12")
    doc["jobs"][0]["work_gpu_h"] = 1e12
    assert parse_scenario(doc).explicit_jobs[0].work_gpu_h == 1e12
