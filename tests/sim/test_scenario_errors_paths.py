"""Scenario errors name the key path of what is wrong ([[sites]] and [[jobs]] by index, a
list entry by its index) and why; a site without renewables runs but is warned about; a
seed outside 0 .. 2**32 - 1 is refused the same way from the file and from --seed."""

from __future__ import annotations

import math

import pytest

from greenhop.cli.main import main
from greenhop.core.errors import ConfigError
from greenhop.sim.scenario import load_scenario, parse_scenario, scenario_document
from greenhop.sim.scenario_warnings import scenario_warnings

SEED_MESSAGE = "seed: must be a whole number from 0 to 4294967295, got 5000000000"


def _doc(**site_b) -> dict:
    """Two sites on a 1 h step, 1 h of history and 2 h of run (3 steps); site b's keys."""
    sites = [{"name": "a", "latitude": 0.0, "longitude": 0.0, "gpu_slots": 2,
              "trace": {"kind": "constant", "power": "5kW"}},
             {"name": "b", "latitude": 0.0, "longitude": 9.0, "gpu_slots": 2, **site_b}]
    return {"name": "p", "start": "2023-06-01T00:00:00Z", "horizon": "2h", "step": "1h",
            "history": "1h", "policies": ["static"], "sites": sites,
            "links": [{"a": "a", "b": "b", "bandwidth": "1Gbps"}],
            "jobs": [{"name": "j1", "work_gpu_h": 1.0, "checkpoint": "1GB", "origin": "a"}]}


def _error(doc: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_scenario(doc)
    return str(exc.value)


def test_an_infinite_work_names_the_job_key():
    doc = _doc(trace={"kind": "constant", "power": "5kW"})
    doc["jobs"][0]["work_gpu_h"] = math.inf
    assert _error(doc) == "jobs[0].work_gpu_h: must be a finite number, got inf"


@pytest.mark.parametrize(("section", "key"), [("links", "efficiency"), ("jobs", "gpus"),
                                              ("sites", "throughput")])
def test_an_infinite_number_anywhere_names_its_key(section, key):
    doc = _doc(trace={"kind": "constant", "power": "5kW"})
    doc[section][0][key] = math.inf
    # "must be a finite number, got inf" (or "expected a whole number, got inf")
    assert _error(doc).startswith(f"{section}[0].{key}: ") and _error(doc).endswith("got inf")


@pytest.mark.parametrize(("values", "where", "why"), [
    ([1.0, math.nan, 2.0], 1, "is NaN"),
    ([math.inf, 1.0, 1.0], 0, "is infinite"),
    ([1.0, 1.0, -5.0], 2, "is negative (-5.0)"),
    ([1.0, "x", 1.0], 1, "is not a number ('x')"),
    ([1.0] * 150 + [math.nan], 150, "is NaN"),
], ids=["nan", "inf", "negative", "text", "nan-at-150"])
def test_a_bad_trace_value_is_named_by_its_index_and_why(values, where, why):
    assert _error(_doc(trace={"kind": "values", "values": values})) == (
        f"sites[1].trace.values[{where}]: {why}; each value is a non-negative power in W")


def test_a_short_trace_is_named_by_the_site_index_when_the_file_is_read():
    assert _error(_doc(trace={"kind": "values", "values": [1.0, 2.0]})).startswith(
        "sites[1].trace.values: 2 values cover fewer steps than history + horizon (3 steps")


@pytest.mark.parametrize(("key", "text"), [
    ("pv_kwp", "sites[1].pv_kwp: 50 kWp needs a weather source, but no pv_source is set"),
    ("wind_kw", "sites[1].wind_kw: 50 kW needs a weather source, but no wind_source is set"),
])
def test_capacity_without_a_weather_source_names_the_key(key, text):
    assert _error(_doc(**{key: 50.0})).startswith(text)


def test_a_site_without_renewables_runs_with_a_warning_naming_it():
    (note,) = scenario_warnings(parse_scenario(_doc()))
    assert note.startswith("sites[1] (site 'b') has no renewable source (no trace, and neither "
                           "pv_kwp nor wind_kw above 0)")
    assert scenario_warnings(parse_scenario(_doc(trace={"kind": "solar", "peak": "1kW"}))) == []
    sourced = _doc(pv_kwp=10.0, pv_source="tmy:greensboro")
    assert scenario_warnings(parse_scenario(sourced)) == []


@pytest.mark.parametrize("trace", [{"kind": "constant", "power": "0W"},
                                   {"kind": "solar", "peak": "0kW"},
                                   {"kind": "values", "values": [0, 0, 0]}])
def test_a_trace_that_is_zero_at_every_step_is_warned_about(trace):
    (note,) = scenario_warnings(parse_scenario(_doc(trace=trace)))
    assert note == ("sites[1].trace (site 'b') is zero at every step: the site never has a "
                    "surplus and runs on the grid alone")
    some = {**trace, "values": [0, 1, 0]} if trace["kind"] == "values" else None
    if some is not None:
        assert scenario_warnings(parse_scenario(_doc(trace=some))) == []


def test_with_seed_refuses_a_seed_the_file_would_refuse():
    sc = load_scenario("edge-fleet")
    assert sc.with_seed(2**32 - 1).seed == 2**32 - 1
    with pytest.raises(ConfigError, match=SEED_MESSAGE):
        sc.with_seed(5_000_000_000)
    with pytest.raises(ConfigError, match=SEED_MESSAGE):
        load_scenario({**scenario_document("edge-fleet")[0], "seed": 5_000_000_000})


@pytest.mark.parametrize("command", ["simulate", "bound"])
def test_a_seed_out_of_range_from_the_command_line_is_one_line_and_exit_2(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        main([command, "edge-fleet", "--seed", "5000000000"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: --{SEED_MESSAGE}"  # the option


@pytest.mark.parametrize(("start", "duration", "outside"), [
    ("2023-05-31T20:00:00Z", "4h", True),   # ends exactly at the run's start
    ("2023-06-01T02:00:00Z", "1h", True),   # begins exactly at the run's end
    ("2023-06-09T00:00:00Z", "3h", True),   # a week late: a typo in the date
    ("2023-05-31T23:00:00Z", "2h", False),  # overlaps the first hour
    ("1h", "30min", False),                 # inside, as an offset from the start
])
def test_a_grid_event_wholly_outside_the_run_is_warned_about(start, duration, outside):
    doc = _doc(trace={"kind": "solar", "peak": "1kW"})
    doc["grid"] = {"events": [{"id": "e1", "site": "a", "start": start, "duration": duration,
                               "limit": "10kW"}]}
    notes = scenario_warnings(parse_scenario(doc))
    if outside:
        (note,) = notes
        assert note.startswith("grid event 'e1' (") and "wholly outside the run (2023-06-01T" \
            "00:00Z to 2023-06-01T02:00Z): it limits nothing" in note
    else:
        assert notes == []


def test_every_job_pinned_is_warned_about_where_a_policy_only_migrates():
    doc = _doc(trace={"kind": "solar", "peak": "1kW"})
    doc["jobs"][0]["mobility"] = "pinned"
    doc["policies"] = ["static", "energy-greedy", "threshold"]
    (note,) = scenario_warnings(parse_scenario(doc))
    assert note.startswith("every job of scenario 'p' is pinned: none can move between sites, "
                           "so every policy that only migrates (energy-greedy) equals static")
    doc["policies"] = ["static", "threshold"]  # nothing only migrates: nothing to say
    assert scenario_warnings(parse_scenario(doc)) == []
    doc["policies"] = ["static", "energy-greedy"]
    doc["jobs"].append({"name": "j2", "work_gpu_h": 1.0, "checkpoint": "1GB", "origin": "b"})
    assert scenario_warnings(parse_scenario(doc)) == []  # j2 may move


@pytest.mark.parametrize(("deadline", "late"), [("1min", "1 min"), ("59min", "59 min"),
                                                 ("1h", None), ("2h", None)])
def test_a_deadline_before_the_ideal_run_could_end_is_warned_about(deadline, late):
    """2 reference GPU-h on 2 GPUs at throughput 1: 1 h at the least."""
    doc = _doc(trace={"kind": "solar", "peak": "1kW"})
    doc["jobs"][0].update(work_gpu_h=2.0, gpus=2, deadline=deadline)
    notes = scenario_warnings(parse_scenario(doc))
    if late:
        (note,) = notes
        assert note == (f"job 'j1' cannot meet its deadline: 1 h of work on 2 GPUs at the "
                        f"fastest site it may use, {late} from its arrival to its "
                        "deadline; every policy misses it, so its miss compares nothing")
    else:
        assert notes == []


def test_a_job_arriving_after_the_run_names_both_times_as_durations():
    doc = _doc(trace={"kind": "solar", "peak": "1kW"})
    doc["jobs"][0]["arrival"] = "3h"
    assert _error(doc) == ("jobs[0].arrival: job 'j1' arrives at 3 h, at or after the run's "
                           "end (horizon 2 h)")


def test_a_battery_out_of_range_is_shown_as_written_and_a_fleet_sites_one_can_be_left_out():
    doc = {"name": "bat", "horizon": "2h", "step": "1h", "history": "1h",
           "policies": ["static"], "fleet": {"sites": ["greensboro-nc"]},
           "sites": [{"name": "greensboro-nc",
                      "battery": {"capacity": "0kWh", "power": "10kW"}}],
           "jobs": [{"name": "j1", "work_gpu_h": 1.0, "checkpoint": "1GB"}]}
    assert _error(doc) == ("sites[0].battery.capacity: must be > 0 J, got '0kWh'; battery = "
                           "{} leaves the fleet site's battery out")
    doc["sites"][0]["battery"] = {}
    (site,) = parse_scenario(doc).sites
    assert site.spec.battery is None
    own = _doc(trace={"kind": "solar", "peak": "1kW"}, battery={"capacity": 0, "power": "1kW"})
    assert _error(own) == "sites[1].battery.capacity: must be > 0 J, got 0.0 J"  # no fleet's


@pytest.mark.parametrize(("where", "value", "text"), [
    (("links", 0, "bandwidth"), 10, "links[0]: bandwidth below 100 kbit/s; a plain number is "
     'read in bit/s: write the unit, e.g. bandwidth = "10Gbps"'),
    (("jobs", 0, "checkpoint"), 4.8, "job 'j1': checkpoint below 1 kB; a plain number is "
     'read in B: write the unit, e.g. checkpoint = "98GB"'),
    (("sites", 0, "base_load"), 4, "site 'a': base_load below 10 W; a plain number is read "
     'in W: write the unit, e.g. base_load = "4kW"'),
])
def test_a_plain_number_far_below_any_real_quantity_is_warned_about(where, value, text):
    """`bandwidth = 10` ran as a 10 bit/s link (a move that never ended) without a word."""
    doc = _doc(trace={"kind": "constant", "power": "5kW"})
    table, index, key = where
    doc[table][index][key] = value
    assert scenario_warnings(parse_scenario(doc)) == [text]
    doc[table][index][key] = value * {"bandwidth": 1e9, "checkpoint": 1e9,
                                      "base_load": 1e3}[key]  # the same, meant: no note
    assert scenario_warnings(parse_scenario(doc)) == []
