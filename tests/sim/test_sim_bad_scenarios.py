"""Bad scenarios get clear errors naming the dotted path to the bad key."""

from __future__ import annotations

import pytest
import simkit

from greenhop.core.errors import ConfigError, UserError
from greenhop.sim import load_scenario, simulate


def _set(path, value):
    def edit(d):
        keys = path.split("/")
        node = d
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        last = keys[-1]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return d
    return edit


DELETE = object()


def _add_link(**link):
    def edit(d):
        d["links"].append(link)
        return d
    return edit


def _generator(**g):
    def edit(d):
        d["generator"] = {"count": 3, "work_gpu_h": [1, 2],
                          "models": [{"name": "m", "params": 1e9}], **g}
        return d
    return edit


CASES = [
    # (id, edit, expected fragment of the message)
    ("link-unknown-site", _set("links/0/b", "z"), r"links\[0\]\.b: unknown site 'z'"),
    ("site-unknown-station", _set("sites/0/pv_source", "clearsky:nowhere"),
     r"sites\[0\]\.pv_source: unknown TMY station 'nowhere'"),
    ("site-pv-source-for-wind", _set("sites/0/wind_source", "clearsky:miami"),
     r"sites\[0\]\.wind_source: source 'clearsky:miami' cannot drive wind"),
    ("link-zero-bandwidth", _set("links/0/bandwidth", "0Gbps"),
     r"links\[0\]\.bandwidth: must be > 0"),
    ("link-bad-unit", _set("links/0/bandwidth", "10 parsecs"), r"links\[0\]\.bandwidth"),
    ("link-loss-one", _set("links/0/loss", 1.0), r"links\[0\]\.loss: must be <="),
    ("link-efficiency-high", _set("links/0/efficiency", 1.5), r"links\[0\]\.efficiency"),
    ("link-self-loop", _set("links/0/b", "a"), r"links\[0\]\.b: a link must join two"),
    ("link-duplicate", _add_link(a="b", b="a", bandwidth="1Gbps"), r"links\[1\]: a second link"),
    ("job-larger-than-every-site", _set("jobs/0/gpus", 64),
     r"jobs\[0\]\.gpus: job 'j1' needs 64 GPUs but the largest site it may use has 4"),
    ("job-origin-too-small", lambda d: _set("jobs/0/gpus", 8)(
        _set("sites/1/gpu_slots", 8)(d)), r"jobs\[0\]\.origin: job 'j1' needs 8 GPUs but"),
    ("job-unknown-origin", _set("jobs/0/origin", "mars"), r"jobs\[0\]\.origin: unknown site"),
    ("job-unknown-allowed", _set("jobs/0/allowed_sites", ["a", "q"]),
     r"jobs\[0\]\.allowed_sites\[1\]: unknown site 'q'"),
    ("job-bad-mobility", _set("jobs/0/mobility", "teleport"),
     r"jobs\[0\]\.mobility: must be one of"),
    ("job-partial-share", (lambda d: _set("jobs/0/migratable_share", 1.0)(
        _set("jobs/0/mobility", "partial")(d))), r"jobs\[0\]\.migratable_share"),
    ("job-share-of-a-whole-job", _set("jobs/0/migratable_share", 0.25),
     r"jobs\[0\]\.migratable_share: only a partial job moves a share; this job is "
     r"migratable"),
    ("job-negative-work", _set("jobs/0/work_gpu_h", -1), r"jobs\[0\]\.work_gpu_h: must be > 0"),
    ("job-zero-deadline", _set("jobs/0/deadline", "0h"), r"jobs\[0\]\.deadline: must be > 0"),
    ("job-arrives-after-horizon", _set("jobs/0/arrival", "3h"), r"jobs\[0\]\.arrival"),
    ("job-unknown-preset", (lambda d: _set("jobs/0/preset", "fp128")(
        _set("jobs/0/model_params", 1e9)(_set("jobs/0/checkpoint", DELETE)(d)))),
     r"jobs\[0\]\.preset: unknown checkpoint preset"),
    ("job-checkpoint-and-params", _set("jobs/0/model_params", 1e9),
     r"jobs\[0\]\.model_params: give checkpoint, or model_params \(with a preset\), not both"),
    ("job-duplicate-name", lambda d: d["jobs"].append(dict(d["jobs"][0])) or d,
     r"jobs\[1\]\.name: job 'j1' is defined twice"),
    ("job-unknown-key", _set("jobs/0/gpu", 2), r"jobs\[0\]\.gpu: unknown key"),
    ("negative-step", _set("step", "-5min"), r"step"),
    ("zero-horizon", _set("horizon", "0h"), r"horizon: must be > 0"),
    ("horizon-not-whole-steps", _set("horizon", "7min"), r"horizon: must be a whole number"),
    ("horizon-beyond-traces", _set("sites/1/trace", {"kind": "values", "values": [1.0] * 5}),
     r"values cover fewer steps than history \+ horizon"),
    ("unknown-policy", _set("policies", ["static", "greedy"]),
     r"policies\[1\]: unknown policy 'greedy'; valid policy names: .*energy-greedy"),
    ("no-policies", _set("policies", []), r"policies: list at least one"),
    ("bad-start", _set("start", "yesterday-ish"), r"start: expected a UTC timestamp"),
    # values a parser takes but no trace or clock holds
    ("start-far-future", _set("start", "9999-06-01T00:00:00Z"),
     r"start: '9999-06-01T00:00:00Z' is outside the years 1900-2100"),
    ("start-far-past", _set("start", "1600-06-01T00:00:00Z"), r"start: .* outside the years"),
    ("horizon-centuries", _set("horizon", "100000d"), r"horizon: at most 10 years"),
    ("history-centuries", _set("history", "1e9d"), r"history: at most 10 years"),
    ("step-vanishing", _set("step", "1e-300s"), r"step: 1e-300 s makes .* steps of horizon; "
     r"at most 10,000,000 steps"),
    ("history-of-too-many-steps",
     lambda d: (_set("history", "3650d")(d), _set("step", "30s")(d),
                _set("decision_interval", "30s")(d), _set("horizon", "1d")(d))[0],
     r"history: .* at most 10,000,000 in all"),
    ("seed-too-large", _set("seed", 2**40),
     r"seed: must be a whole number from 0 to 4294967295, got 1099511627776"),
    ("generator-count-huge", _generator(count=10**11), r"generator\.count: must be <="),
    ("generator-until-past-horizon", _generator(until="24d"),
     r"generator\.until: arrivals must end within the horizon \(\d+ (h|d)\), got 24 d$"),
    ("generator-no-origins", _generator(origins=[]),
     r"generator\.origins: give at least one site"),
    ("bad-seed", _set("seed", "x"), r"seed: expected a whole number"),
    ("on-window-close", _set("on_window_close", "panic"), r"on_window_close: must be one of"),
    ("unknown-top-key", _set("horizn", "1h"), r"horizn: unknown key; valid keys here"),
    ("site-unknown-platform", _set("sites/0/gpu_platform", "TPU-v9"),
     r"sites\[0\]\.gpu_platform: unknown GPU platform"),
    ("site-no-coordinates", _set("sites/0/latitude", DELETE),
     r"sites\[0\]: site 'a' is not in the fleet"),
    # the fleet file's spelling, copied into a new site: the key, not the missing latitude
    ("site-fleet-spelling", lambda d: (_set("sites/0/latitude", DELETE)(d),
                                       _set("sites/0/latitude_deg", 45.0)(d))[0],
     r"sites\[0\]\.latitude_deg: unknown key; a scenario's \[\[sites\]\] spells it latitude "
     r"\(the fleet file's \[\[site\]\] spells it latitude_deg\)"),
    ("site-duplicate", lambda d: d["sites"].append(dict(d["sites"][0])) or d,
     r"sites\[2\]\.name: site 'a' is defined twice"),
    ("site-bad-battery", _set("sites/0/battery", {"capacity": "-5kWh", "power": "1kW"}),
     r"sites\[0\]\.battery\.capacity"),
    ("site-bad-trace-kind", _set("sites/0/trace", {"kind": "magic"}), r"sites\[0\]\.trace\.kind"),
    ("site-pue-low", _set("sites/0/pue", 0.5), r"sites\[0\]\.pue: must be >= 1"),
    ("site-idle-above-training", _set("sites/0/gpu_idle", "500W"),
     r"sites\[0\]\.gpu_idle: a GPU idle at 500 W would draw more than training at 400 W; "
     r"gpu_idle must be at most gpu_power"),
    ("site-training-below-platform-idle", lambda d: _set("sites/0/gpu_power", "20W")(
        _set("sites/0/gpu_idle", DELETE)(d)),
     r"sites\[0\]\.gpu_power: a GPU idle at \d+ W would draw more than training at 20 W"),
    ("no-jobs", _set("jobs", DELETE), r"jobs: the scenario has no jobs"),
    ("generator-no-models", _generator(models=[]), r"generator\.models: the generator needs"),
    ("generator-bad-work", _generator(work_gpu_h=[5, 1]), r"generator\.work_gpu_h"),
    ("generator-too-many-gpus", _generator(gpus=[16]), r"generator\.gpus: 16 GPUs is more"),
    ("generator-until-beyond", _generator(until="5h"), r"generator\.until"),
    ("policy-params-unknown", _set("policy_params", {"optimal": {}}),
     r"policy_params\.optimal: unknown policy"),
    # A name listed twice would count once (sites, allowed sites) or twice (an origin's
    # arrival weight) without a word: every list of names refuses it, naming both places.
    ("allowed-sites-twice", _set("jobs/0/allowed_sites", ["a", "b", "a"]),
     r"jobs\[0\]\.allowed_sites\[2\]: 'a' is listed twice \(also at \[0\]\)"),
    ("allowed-sites-empty", _set("jobs/0/allowed_sites", []),
     r"jobs\[0\]\.allowed_sites: an empty list would leave the job no site"),
    ("generator-origin-twice", _generator(origins=["b", "b"]),
     r"generator\.origins\[1\]: 'b' is listed twice \(also at \[0\]\)"),
    ("policies-twice", _set("policies", ["static", "energy-greedy", "static"]),
     r"policies\[2\]: 'static' is listed twice \(also at \[0\]\)"),
    ("zone-site-twice", _set("grid", {"zones": [{"name": "z", "sites": ["a", "a"],
                                                 "carbon": 100}]}),
     r"grid\.zones\[0\]\.sites\[1\]: 'a' is listed twice"),
    ("fleet-site-twice", lambda d: {**{k: v for k, v in d.items() if k != "sites"},
                                    "fleet": {"sites": ["madrid-es", "berlin-de",
                                                        "madrid-es"]},
                                    "links": [], "jobs": [{**d["jobs"][0],
                                                           "origin": "madrid-es"}]},
     r"fleet\.sites\[2\]: 'madrid-es' is listed twice \(also at \[0\]\)"),
]


@pytest.mark.parametrize(("edit", "message"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_scenario_is_refused_with_its_path(edit, message):
    d = edit(simkit.micro())
    with pytest.raises(UserError, match=message):
        simulate(d)


def test_there_are_at_least_twenty_cases():
    assert len(CASES) >= 20


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_scenario(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("horizon = [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_scenario(bad)


def test_bad_policy_parameter_is_a_config_error():
    d = simkit.micro(policy_params={"feasibility-aware": {"alpha_": 0.2}},
                     policies=["feasibility-aware"])
    with pytest.raises(ConfigError, match="feasibility-aware"):
        simulate(d)


@pytest.mark.parametrize("name", ["../../escape", "job-a\n", "job/1", ".hidden", "j\u0661"])
def test_job_and_site_names_are_one_safe_path_component(name):
    d = simkit.micro()
    d["jobs"][0]["name"] = name
    with pytest.raises(ConfigError, match=r"jobs\[0\]\.name: invalid job name"):
        load_scenario(d)
    d = simkit.micro()
    d["sites"][1]["name"] = name
    with pytest.raises(ConfigError, match=r"sites\[1\]\.name: invalid site name"):
        load_scenario(d)


def test_an_error_names_the_scenario_file_before_the_key(tmp_path):
    from greenhop.sim.scenario import packaged_scenarios, parse_scenario, scenario_document

    path = tmp_path / "mine.toml"
    path.write_text('name = "x"\nhorizon = "1d"\nhorizon_typo = 3\n')
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert str(err.value).startswith(f"{path}: ")
    # a packaged scenario by its name, not its installed path
    doc, label, base = scenario_document("caiso-curtailment")
    assert label == str(packaged_scenarios()["caiso-curtailment"])
    doc["alpha"] = -1.0
    with pytest.raises(ConfigError, match=r"^caiso-curtailment: alpha"):
        parse_scenario(doc, label, base)
    with pytest.raises(ConfigError, match=r"^alpha"):   # the caller names it instead
        parse_scenario(doc, label, base, name_source=False)
    with pytest.raises(ConfigError, match=r"^alpha"):   # a dict has no file to name
        load_scenario(doc)


def test_errors_found_when_the_arrays_are_built_name_the_file(tmp_path):
    """A trace shorter than the run is found after the file is read; the message names the
    file all the same, as the reader's errors do."""
    path = tmp_path / "short.toml"
    path.write_text("""name = "short"
start = "2023-06-01T00:00:00Z"
horizon = "2h"
step = "5min"
history = "0h"
policies = ["static"]

[[sites]]
name = "a"
latitude = 0.0
longitude = 0.0
gpu_slots = 4
base_load = "1kW"
trace = { kind = "values", values = [1.0, 2.0] }

[[jobs]]
name = "j1"
arrival = "0s"
work_gpu_h = 1.0
checkpoint = "1GB"
""", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        simulate(path)
    assert str(err.value).startswith(f"{path}: sites[0].trace.values: 2 values cover fewer")
