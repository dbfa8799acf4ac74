"""``greenhop grid event``: an event is checked against the run's scenario and stored in the
run's database; bad input is one line on stderr with exit code 2 and stores nothing."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from clikit import run

from greenhop.runtime.store import Store

LIVE = Path(__file__).resolve().parents[2] / "src/greenhop/data/scenarios/live-3site.toml"


def live_run_db(path: Path, status: str = "live", step: int = 0,
                scenario: Path = LIVE) -> Path:
    """A run database as a live run of ``scenario`` (the 3-site one) leaves it at ``step``."""
    st = Store.open(path, create=True)
    sha = hashlib.sha256(scenario.read_bytes()).hexdigest()  # the file as the run started it
    with st.tx():
        st.con.execute(
            "INSERT INTO run (id, scenario, scenario_sha256, policy, time_scale, status, step, "
            "n_steps, started_unix_s, updated_unix_s) VALUES (1, ?, ?, 'static', 3600, ?, ?, "
            "48, ?, ?)", (str(scenario), sha, status, step, time.time(), time.time()))
    st.close()
    return path


@pytest.fixture(scope="module")
def live_db(tmp_path_factory):
    return live_run_db(tmp_path_factory.mktemp("grid") / "run.db")


def stored(db):
    st = Store.open(db)
    try:
        return st.grid_events()
    finally:
        st.close()


def test_an_event_is_stored_with_its_times_on_the_runs_clock(capsys, live_db):
    code, out, err = run(capsys, "grid", "event", "--site", "tokyo-jp", "--from", "+1h",
                         "--to", "+3h", "--limit", "30kW", "--id", "peak", "--db",
                         str(live_db))
    assert code == 0, err
    row = json.loads(out)
    start = 1685577600.0  # the scenario's start, 2023-06-01T00:00Z: the run is at step 0
    assert row["body"]["start_unix_s"] == start + 3600 and row["body"]["duration_s"] == 7200
    assert row["body"]["announced_unix_s"] == start and row["body"]["limit_w"] == 30000
    assert [r["id"] for r in stored(live_db) if r["applied_step"] is None] == ["peak"]


@pytest.mark.parametrize(("args", "message"), [
    (["--site", "tokyo-jp", "--from", "+3h", "--to", "+1h", "--limit", "30kW"],
     "--to: the event ends at or before its start"),
    (["--site", "tokyo-jp", "--from", "+1h", "--to", "+2h", "--reduce", "2"],
     "--reduce: must be a share in (0, 1], got 2"),
    (["--site", "tokyo-jp", "--from", "+1h", "--to", "+2h", "--reduce", "25%", "--announce",
      "+90min"], "--announce: the announcement comes after the start"),
    (["--site", "atlantis", "--from", "+1h", "--to", "+2h", "--limit", "30kW"],
     "unknown site 'atlantis'"),
    (["--zone", "XX", "--from", "+1h", "--to", "+2h", "--limit", "30kW"],
     "unknown zone 'XX'"),
    (["--site", "tokyo-jp", "--from", "+1h", "--to", "+2h", "--limit", "1kW"],
     "below its base load"),
    (["--site", "tokyo-jp", "--from", "+1h", "--to", "+2h", "--limit", "lots"],
     "--limit: cannot parse power 'lots'"),
    (["--site", "tokyo-jp", "--from", "+1h", "--to", "+2h"], "--limit"),
    (["--site", "tokyo-jp", "--from", "tomorrow", "--to", "+2h", "--limit", "30kW"],
     "--from: "),
    # wholly past: the real reason, not "the announcement comes after the start"
    (["--site", "tokyo-jp", "--from", "2020-01-01T00:00:00Z", "--to", "2020-01-01T03:00:00Z",
      "--limit", "30kW"], "--to: the event ends before the run's present (step 0)"),
    # the option that puts it past the run is named
    (["--site", "tokyo-jp", "--from", "+100h", "--to", "+101h", "--limit", "30kW"],
     "--from: the event starts after the run ends"),
])
def test_bad_events_exit_2_with_one_line_and_store_nothing(capsys, live_db, args, message):
    before = stored(live_db)
    code, _out, err = run(capsys, "grid", "event", *args, "--db", str(live_db))
    assert code == 2
    assert message in err and err.strip().count("\n") == 0, err
    assert stored(live_db) == before


def test_times_count_from_the_runs_current_step_and_a_finished_run_refuses(capsys, tmp_path):
    db = live_run_db(tmp_path / "run.db", step=8)  # 2 h in (15-minute steps)
    code, out, err = run(capsys, "grid", "event", "--site", "madrid-es", "--site",
                         "tokyo-jp", "--from", "+30min", "--to", "2023-06-01T05:00:00Z",
                         "--reduce", "25%", "--announce", "now", "--db", str(db))
    assert code == 0, err
    body = json.loads(out)["body"]
    assert body["start_unix_s"] == 1685577600.0 + 2.5 * 3600 and body["reduce"] == 0.25
    assert body["sites"] == ["madrid-es", "tokyo-jp"]
    code, _out, err = run(capsys, "grid", "event", "--site", "madrid-es", "--from", "+1h",
                          "--to", "+2h", "--limit", "40kW", "--db",
                          str(live_run_db(tmp_path / "done.db", status="done")))
    assert code == 2 and "the run is finished" in err


def test_a_missing_database_is_a_one_line_error(capsys, tmp_path):
    code, _out, err = run(capsys, "grid", "event", "--site", "a", "--from", "+1h", "--to",
                          "+2h", "--limit", "1kW", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "no run database here" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "+3h", "--to", "+30min", "--limit", "20kW"], "--to: the event ends at or before"),
    (["--from", "+1h", "--to", "+2h", "--limit", "20kWh"], "--limit: unknown power unit 'kWh'"),
])
def test_the_options_are_checked_before_the_database(capsys, tmp_path, args, message):
    """A reversed interval or an energy given for a power were never reported where the
    database was wrong too: only 'no run database here' was, then the next mistake."""
    code, _out, err = run(capsys, "grid", "event", "--site", "a", *args, "--db",
                          str(tmp_path / "none.db"))
    assert code == 2 and message in err and "no run database" not in err, err


@pytest.mark.parametrize(("event", "message"), [
    ('start = "2h"\nend = "1h"\nlimit = "30kW"', "grid.events[0].end: the event ends at or before"),
    ('start = "2h"\nduration = "1h"\nlimit = "1kW"', "below its base load"),
    ('zone = "atlantis"\nstart = "2h"\nduration = "1h"\nlimit = "30kW"', "unknown zone"),
])
def test_a_scenario_with_a_bad_event_exits_2_with_one_line(capsys, tmp_path, event, message):
    toml = LIVE.read_text() + (
        "\n[[grid.events]]\nid = \"bad\"\n" + ("" if "zone" in event else
                                                'site = "tokyo-jp"\n') + event + "\n")
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    code, _out, err = run(capsys, "simulate", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and message in err and err.strip().count("\n") == 0, err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_a_price_alone_is_an_event(capsys, tmp_path):
    """A price signal with no cap or shed share is an event, as in a scenario's
    `[[grid.events]]` (docs/grid.md: it asks for less power, sets a price, or both), and
    as there it needs the scenario's [[grid.zones]] (it was taken without them)."""
    db = live_run_db(tmp_path / "plain.db")
    code, _, err = run(capsys, "grid", "event", "--site", "madrid-es", "--from", "+1h",
                       "--to", "+2h", "--price", "500", "--db", str(db))
    assert code == 2 and "--price: a price event needs [[grid.zones]]" in err, err
    assert stored(db) == []
    zoned = tmp_path / "zoned.toml"
    zoned.write_text(LIVE.read_text() + """
[grid]
currency = "EUR"

[[grid.zones]]
name = "z"
sites = ["madrid-es", "tokyo-jp", "greensboro-nc"]
price = "nl-day-ahead"
""")
    db = live_run_db(tmp_path / "run.db", scenario=zoned)
    code, out, err = run(capsys, "grid", "event", "--site", "madrid-es", "--from", "+1h",
                         "--to", "+2h", "--price", "500", "--db", str(db))
    assert code == 0, err
    body = json.loads(out)["body"]
    assert body["price_per_mwh"] == 500 and body.get("limit_w") is None
    assert [r["id"] for r in stored(db)] == [json.loads(out)["id"]]



def test_now_is_the_first_step_whose_start_can_still_take_the_event_up(capsys, tmp_path):
    """The controller takes events up at the start of a step. Once it has done so for the
    step the run is at (and decided it), an event `--from now` filed later in that step
    acts from the next one: it was dated at the step's start, and the step, booked before
    the event was taken up, counted as a miss."""
    db = live_run_db(tmp_path / "run.db", step=4)
    start = 1685577600.0
    times = []
    for decided in (3, 4):  # step 4 not yet begun; step 4 taken up and decided
        st = Store.open(db)
        with st.tx():
            st.con.execute("UPDATE run SET decided_step = ? WHERE id = 1", (decided,))
        st.close()
        code, out, err = run(capsys, "grid", "event", "--site", "tokyo-jp", "--from", "now",
                             "--to", "+1h", "--limit", "30kW", "--id", f"d{decided}",
                             "--db", str(db))
        assert code == 0, err
        body = json.loads(out)["body"]
        times.append((body["start_unix_s"], body["announced_unix_s"]))
    assert times == [(start + 4 * 900, start + 4 * 900), (start + 5 * 900, start + 5 * 900)]
