"""Packaged scenarios: name resolution, the ``caiso`` trace kind, ``[bounds]``, per-model job
mixes, and the properties that make the feasibility rule bind in the two constrained ones."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenhop.core.errors import ConfigError, TraceError
from greenhop.sim import simulate
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import (
    DEFAULT_BOUND_KINDS,
    load_scenario,
    packaged_scenarios,
    parse_scenario,
    scenario_document,
)
from greenhop.traces.caiso import read_caiso_curtailment
from greenhop.traces.windows import find_windows

NEW = ("caiso-curtailment", "scarce-llm")


def caiso_site(name: str = "c", **trace) -> dict:
    t = {"kind": "caiso", "column": "total", "share": 1e-4, "offset": "0h"}
    t.update(trace)
    return {"name": name, "latitude": 37.5, "longitude": -122.0, "gpu_slots": 4,
            "base_load": "2kW", "pue": 1.25, "trace": t}


def tiny(**over) -> dict:
    """Two CAISO sites, one link, one job, two days of 2016-07."""
    d = {"name": "tiny", "start": "2016-07-02T00:00:00Z", "horizon": "2d", "history": "1d",
         "policies": ["static"],
         "sites": [caiso_site("a"), caiso_site("b", column="wind", offset="30d2h")],
         "links": [{"a": "a", "b": "b", "bandwidth": "10Gbps"}],
         "jobs": [{"name": "j", "work_gpu_h": 2, "checkpoint": "1GB", "origin": "a"}]}
    d.update(over)
    return copy.deepcopy(d)


# ------------------------------------------------------------------ names


def test_packaged_scenarios_are_found_by_name():
    packaged = packaged_scenarios()
    assert {"default", *NEW} <= set(packaged)
    assert all(p.suffix == ".toml" and p.is_file() for p in packaged.values())
    assert list(packaged) == sorted(packaged)
    for name in NEW:
        sc = load_scenario(name)
        assert sc.name == name and sc.source == str(packaged[name])
    assert load_scenario().name == "default"
    # the CLI hands over a Path: a name works there too
    assert load_scenario(Path("scarce-llm")).name == "scarce-llm"


def test_an_existing_file_wins_over_a_packaged_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    doc, _, _ = scenario_document("scarce-llm")
    (tmp_path / "scarce-llm").write_text('name = "mine"\n' + "horizon = \"1h\"\n"
                                         "jobs = []\n[[sites]]\n" +
                                         'name = "x"\nlatitude = 0.0\nlongitude = 0.0\n'
                                         'trace = { kind = "constant", power = "1kW" }\n',
                                         encoding="utf-8")
    assert load_scenario("scarce-llm").name == "mine"
    assert doc["name"] == "scarce-llm"


def test_an_unknown_name_lists_the_packaged_ones():
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_scenario("caiso")
    msg = str(info.value)
    assert "\n" not in msg
    for name in packaged_scenarios():
        assert name in msg


def test_scenario_document_gives_the_dict_a_sweep_overrides():
    doc, label, base = scenario_document("caiso-curtailment")
    assert label.endswith("caiso-curtailment.toml") and base.is_dir()
    doc["horizon"] = "1d"
    doc["generator"]["until"] = "12h"
    doc["seed"] = 7
    sc = parse_scenario(doc, label, base)
    assert sc.horizon_s == 86400 and sc.seed == 7 and sc.source == label
    assert scenario_document(doc)[0] is doc and scenario_document(doc)[1] == "<dict>"


# ------------------------------------------------------------------ [bounds]


def test_bounds_table_is_parsed_and_checked():
    assert load_scenario(tiny()).bounds == () and not load_scenario(tiny()).bounds_deadlines
    sc = load_scenario(tiny(bounds={"kinds": ["spacetime"], "deadlines": True}))
    assert sc.bounds == ("spacetime",) and sc.bounds_deadlines
    assert load_scenario(tiny(bounds={})).bounds == DEFAULT_BOUND_KINDS
    for name in NEW:
        assert load_scenario(name).bounds == ("space", "spacetime")
    for bounds, match in [
        ({"kinds": ["space", "when"]}, r"bounds\.kinds\[1\]: unknown bound 'when'; valid "
                                       r"bounds: space, spacetime, time"),
        ({"kinds": ["space", "space"]},
         r"bounds\.kinds\[1\]: 'space' is listed twice \(also at \[0\]\)"),
        ({"kinds": "space"}, r"bounds\.kinds: expected a list of strings"),
        ({"deadlines": "yes"}, r"bounds\.deadlines: expected true or false"),
        ({"kind": ["space"]}, r"bounds\.kind: unknown key"),
    ]:
        with pytest.raises(ConfigError, match=match):
            load_scenario(tiny(bounds=bounds))


# ------------------------------------------------------------------ the caiso trace kind


@pytest.mark.parametrize(("trace", "match"), [
    ({"column": "hydro"}, r"sites\[0\]\.trace\.column: must be one of total, solar, wind"),
    ({"share": 0}, r"sites\[0\]\.trace\.share: must be > 0"),
    ({"share": 2}, r"sites\[0\]\.trace\.share: must be <= 1"),
    ({"share": "1%"}, r"sites\[0\]\.trace\.share: expected a number"),
    ({"offset": "soon"}, r"sites\[0\]\.trace\.offset: cannot parse duration"),
    ({"cover_base_load": 1}, r"sites\[0\]\.trace\.cover_base_load: expected true or false"),
    ({"power": "1kW"}, r"sites\[0\]\.trace\.power: unknown key; valid keys here: column, "
                       r"cover_base_load, kind, offset, share"),
    ({"offset": "400d"}, r"sites\[0\]\.trace\.offset: site 'a' needs CAISO hours 2017-08-05 "
                         r"00:00 to 2017-08-08 00:00 UTC .* covers 2016-06-30 07:00 to "
                         r"2017-05-11 07:00 UTC; choose an offset between 0d and 311d7h, or "
                         r"move start"),
])
def test_caiso_trace_errors_name_the_key(trace, match):
    doc = tiny()
    doc["sites"][0]["trace"].update(trace)
    with pytest.raises(ConfigError, match=match):
        load_scenario(doc)


def test_a_share_without_share_is_reported():
    doc = tiny()
    del doc["sites"][0]["trace"]["share"]
    with pytest.raises(ConfigError, match=r"sites\[0\]\.trace\.share: required key is missing"):
        load_scenario(doc)


def test_a_span_longer_than_the_series_says_so():
    with pytest.raises(ConfigError, match="shorten history \\+ horizon"):
        load_scenario(tiny(horizon="400d"))


def test_build_time_out_of_range_raises_with_the_covered_range():
    sc = load_scenario(tiny())
    late = replace(sc, start=pd.Timestamp("2017-05-10T00:00Z"), jobs_cache=None)
    with pytest.raises(TraceError, match=r"sites\[a\]\.trace\.offset: .* covers 2016-06-30 "
                                         r"07:00 to 2017-05-11 07:00 UTC"):
        build_inputs(late)


def test_caiso_power_is_share_times_the_shifted_hour_held_over_each_step():
    sc = load_scenario(tiny(sites=[caiso_site("a"), caiso_site("b", column="wind",
                                                                offset="30d2h",
                                                                cover_base_load=True)]))
    inp = build_inputs(sc)
    df = read_caiso_curtailment()
    for i, (col, off, base) in enumerate([("total_w", 0, 0.0),
                                          ("wind_w", (30 * 24 + 2) * 3600, 2000.0 * 1.25)]):
        shifted = inp.index + pd.Timedelta(seconds=off)
        hours = shifted.floor("h")
        expect = 1e-4 * df[col].reindex(hours).fillna(0.0).to_numpy() + base
        np.testing.assert_allclose(inp.renewable_w[:, i], expect, rtol=1e-12)
    # the step is 5 min: each hourly value holds for 12 steps
    assert np.all(inp.renewable_w[:12, 0] == inp.renewable_w[0, 0])
    # with the base load covered, the surplus is exactly the curtailment share
    np.testing.assert_allclose(inp.surplus_w[:, 1], inp.renewable_w[:, 1] - 2500.0)
    assert (inp.surplus_w[:, 1] >= -1e-9).all()


def test_a_missing_hour_of_the_reports_is_no_curtailment():
    # 2016-07-28 (Pacific) is missing from the reports: hours 07:00 UTC 28th - 07:00 29th
    sc = load_scenario(tiny(start="2016-07-28T00:00:00Z", history="0s", horizon="1d",
                            sites=[caiso_site("a", cover_base_load=True),
                                   caiso_site("b")]))
    inp = build_inputs(sc)
    gap = (inp.index >= pd.Timestamp("2016-07-28T07:00Z"))
    assert (inp.surplus_w[gap, 0] == 0).all()
    assert np.isfinite(inp.renewable_w).all()


# ------------------------------------------------------------------ per-model job mixes


def _gen_doc(**model_over) -> dict:
    doc = tiny(horizon="2d", jobs=[])
    doc["sites"][1]["gpu_slots"] = 8
    models = [{"name": "small", "checkpoint": "1GB", "weight": 0.7},
              {"name": "big", "checkpoint": "100GB", "weight": 0.3, **model_over}]
    doc["generator"] = {"count": 60, "until": "1d", "work_gpu_h": [1, 10], "gpus": [1, 2],
                        "models": models}
    return doc


def test_models_may_fix_gpus_and_work_without_changing_the_other_jobs():
    plain = load_scenario(_gen_doc()).jobs()
    fixed = load_scenario(_gen_doc(gpus=8, work_gpu_h=[100, 400])).jobs()
    assert len(plain) == len(fixed) == 60
    n_big = 0
    for p, f in zip(plain, fixed, strict=True):
        assert p.arrival_s == f.arrival_s and p.checkpoint_bytes == f.checkpoint_bytes
        if f.checkpoint_bytes == 100e9:
            n_big += 1
            assert f.gpus == 8 and f.origin == "b"  # only 'b' has 8 slots
            assert 100 <= f.work_gpu_h <= 400
        else:
            assert (p.gpus, p.origin, p.work_gpu_h) == (f.gpus, f.origin, f.work_gpu_h)
    assert 5 < n_big < 40


def test_model_gpus_beyond_every_site_is_an_error():
    with pytest.raises(ConfigError, match=r"generator\.models\[1\]\.gpus: 16 GPUs is more than "
                                          r"the largest site has \(8 slots\)"):
        load_scenario(_gen_doc(gpus=16))
    with pytest.raises(ConfigError, match=r"generator\.models\[0\]\.work_gpu_h: expected "
                                          r"\[min, max\]"):
        doc = _gen_doc()
        doc["generator"]["models"][0]["work_gpu_h"] = [5, 1]
        load_scenario(doc)


# ------------------------------------------------------------------ the packaged scenarios


def _windows_h(sc, inp) -> list[np.ndarray]:
    H = sc.history_steps
    out = []
    for i in range(len(sc.sites)):
        sur = pd.Series(inp.surplus_w[H:, i], index=inp.index[H:])
        w = find_windows(sur, sc.window_threshold_w, 0.0, sc.step_s)
        out.append(w["duration_s"].to_numpy() / 3600.0)
    return out


def _ideal_job_kwh(sc) -> float:
    by = {s.name: s for s in sc.sites}
    return sum(j.work_gpu_h / by[j.origin].throughput * by[j.origin].gpu_power_w
               * by[j.origin].spec.pue for j in sc.jobs()) / 1e3


@pytest.fixture(scope="module")
def caiso():
    sc = load_scenario("caiso-curtailment")
    return sc, build_inputs(sc)


@pytest.fixture(scope="module")
def scarce():
    sc = load_scenario("scarce-llm")
    return sc, build_inputs(sc)


def test_caiso_scenario_windows_are_caisos_and_differ_between_sites(caiso):
    sc, inp = caiso
    assert all(s.trace.kind == "caiso" and s.trace.cover_base_load for s in sc.sites)
    # any curtailment is a window: the threshold is below share x 1 MW at every site
    assert all(sc.window_threshold_w < s.trace.share * 1e6 for s in sc.sites)
    per_site = _windows_h(sc, inp)
    pooled = np.concatenate(per_site)
    assert 3.8 <= pooled.mean() <= 5.0  # CAISO over the whole series: 4.41 h
    assert 1.5 <= np.median(pooled) <= 3.0  # 2 h
    means = [w.mean() for w in per_site]
    assert max(means) > 2 * min(means)  # July's windows are short, March's long
    assert len({(s.trace.offset_s, s.trace.column) for s in sc.sites}) == len(sc.sites)


def test_caiso_scenario_jobs_links_and_platforms(caiso):
    sc, _ = caiso
    ck = np.array([m.checkpoint_bytes for m in sc.generator.models])
    assert ck.min() == pytest.approx(1e9, rel=0.05) and ck.max() > 100e9
    singles = sum(m.weight for m in sc.generator.models if m.gpus is None)
    assert singles / sum(m.weight for m in sc.generator.models) >= 0.8
    assert sc.generator.gpus == (1,)
    bw = [link.bandwidth_bps for link in sc.links]
    assert min(bw) == 1e9 and max(bw) == 100e9
    assert all(0.005 <= link.rtt_s <= 0.15 for link in sc.links)
    assert len({s.gpu_power_w for s in sc.sites}) >= 3


def test_scarce_llm_surplus_is_one_to_three_times_the_jobs_energy(scarce):
    sc, inp = scarce
    H = sc.history_steps
    surplus_kwh = np.clip(inp.surplus_w[H:], 0, None).sum() * sc.step_s / 3.6e6
    for seed in (1, 2, 3):
        ratio = surplus_kwh / _ideal_job_kwh(sc.with_seed(seed))
        assert 1.0 <= ratio <= 3.0, (seed, ratio)


def test_scarce_llm_windows_checkpoints_and_links(scarce):
    sc, inp = scarce
    for name, w in zip(sc.site_names, _windows_h(sc, inp), strict=True):
        assert 2.5 <= w.mean() <= 9.5, (name, w.mean())
    ck = [j.checkpoint_bytes for j in sc.jobs()]
    assert min(ck) >= 100e9 and max(ck) <= 1e12 and max(ck) > 900e9
    assert all(1e9 <= link.bandwidth_bps <= 10e9 for link in sc.links)
    assert all(link.loss > 0 for link in sc.links)
    assert all(s.spec.battery is None for s in sc.sites)


@pytest.mark.parametrize("name", NEW)
def test_a_short_run_of_each_new_scenario(name):
    doc, label, base = scenario_document(name)
    doc["horizon"] = "2d"
    doc["history"] = "2d"
    doc["forecast"]["horizon"] = "24h"
    doc["generator"]["until"] = "1d"
    doc["generator"]["count"] = 12
    doc.pop("bounds")
    result = simulate(parse_scenario(doc, label, base))
    m = result.metrics_by_policy
    assert list(m) == list(doc["policies"])
    assert m["static"]["migrations"] == 0
    assert all(v["jobs"] == 12 for v in m.values())
    for v in m.values():
        assert v["non_renewable_kwh"] >= 0 and v["renewable_kwh"] >= 0
