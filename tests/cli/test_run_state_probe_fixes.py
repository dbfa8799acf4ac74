"""``greenhop status | replay | compare`` on what a run has not written yet or on files of
another kind: a run still starting is named with its controller's pid (exit 1: the same
command works in a moment), a metrics.json given to replay is named as such, and two
metrics.json of different scenarios are noted."""

from __future__ import annotations

import json
import os

import pytest

from greenhop.cli.main import main
from greenhop.core.filelock import try_lock
from greenhop.runtime.store import Store
from greenhop.runtime.workdir import LOCK_NAME


def _cli(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(map(str, args)))
    cap = capsys.readouterr()
    return exc.value.code, cap.out, " ".join(cap.err.split())


@pytest.fixture
def starting(tmp_path):
    """A work directory whose lock a controller (pid 4242, as it records itself) holds,
    with nothing of its run written yet; yields the directory, releases it after."""
    work = tmp_path / "work"
    work.mkdir()
    fd = try_lock(work / LOCK_NAME)
    assert fd is not None
    os.pwrite(fd, b"4242\n", 0)
    try:
        yield work
    finally:
        os.close(fd)


def _made_without_run(work):
    """The database as a starting controller has made it: its tables, no run yet."""
    Store.open(work / "run.db", create=True).close()


@pytest.mark.parametrize("made", ["nothing", "empty file", "tables only"])
@pytest.mark.parametrize("argv", [("status", "--db", "{work}/run.db"),
                                  ("replay", "{work}/run.db", "--no-sim"),
                                  ("replay", "{work}/events.jsonl", "--no-sim")])
def test_status_and_replay_of_a_starting_run_say_so(starting, capsys, made, argv):
    if made == "empty file":
        (starting / "run.db").write_bytes(b"")
    elif made == "tables only":
        _made_without_run(starting)
    code, out, err = _cli(capsys, *(a.format(work=starting) for a in argv))
    assert code == 1 and out == "", (out, err)
    assert err == (f"error: a run is starting in {starting} (controller pid 4242); try "
                   "again in a moment"), err


def test_without_a_controller_the_missing_database_is_said_as_before(tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    (work / LOCK_NAME).write_text("4242\n")  # left by a run that ended: not held
    code, _, err = _cli(capsys, "status", "--db", work / "run.db")
    assert code == 2 and "no run database here" in err, err
    _made_without_run(work)
    code, _, err = _cli(capsys, "replay", work / "run.db", "--no-sim")
    assert code == 2 and "no run-start event; this is not a greenhop run log" in err, err


METRICS = {"policies": {"static": {"jobs": 4, "renewable_kwh": 10.0}},
           "scenario": {"name": "live-3site", "start": "2023-06-01T00:00:00+00:00",
                        "horizon_h": 4.0, "step_s": 900.0, "seed": 1, "sites": 3,
                        "links": 3, "jobs": 4}}


@pytest.mark.parametrize("indent", [2, None])
def test_replay_of_a_metrics_json_names_it(tmp_path, capsys, indent):
    p = tmp_path / "metrics.json"
    p.write_text(json.dumps(METRICS, indent=indent) + "\n")
    code, out, err = _cli(capsys, "replay", p)
    assert code == 2 and out == "", (out, err)
    assert err == (f"error: {p}: not an event log (this looks like a metrics.json); pass "
                   "run.db or events.jsonl"), err


def _metrics(tmp_path, stem, **scenario):
    p = tmp_path / f"{stem}.json"
    p.write_text(json.dumps({**METRICS, "scenario": {**METRICS["scenario"], **scenario}}))
    return p


def test_compare_notes_two_files_of_different_scenarios(tmp_path, capsys):
    a = _metrics(tmp_path, "a")
    b = _metrics(tmp_path, "b", name="other-2site", horizon_h=3.0)
    code, out, err = _cli(capsys, "compare", a, b)
    assert code in (0, None) and "renewable_kwh" in out, err
    assert (f"note: {a} and {b} are of different scenarios (name 'live-3site' vs "
            "'other-2site', horizon_h 4.0 vs 3.0); the table compares unlike runs") in err, err


def test_compare_of_one_scenario_has_no_scenario_note(tmp_path, capsys):
    a, b = _metrics(tmp_path, "a"), _metrics(tmp_path, "b")
    bare = tmp_path / "bare.json"  # a file that records no scenario: nothing to compare
    bare.write_text(json.dumps({"policies": METRICS["policies"]}))
    for x, y in ((a, b), (a, bare)):
        code, _, err = _cli(capsys, "compare", x, y)
        assert code in (0, None) and "different scenarios" not in err, err
