"""``greenhop replay`` on a log of another shape, or with a scenario file changed since the
run: one line naming the file and the line (or the event), exit code 2, never a traceback
or a silent "mismatch"; text output says where a decision diverged."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from test_controller_kit import finished_run

from greenhop.cli.main import main
from greenhop.cli.replay import _first_difference


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``(scenario copy, run.db, events.jsonl)`` of a finished run of the copy."""
    return finished_run(tmp_path_factory.mktemp("run"))


def _replay(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(["replay", *map(str, args)])
    cap = capsys.readouterr()
    return exc.value.code, cap.out, " ".join(cap.err.split())


def _first(events, kind, cond=lambda e: True):
    return next(i for i, e in enumerate(events) if e["kind"] == kind and cond(e))


EDITS = {
    "power body not a list": ("power", lambda e: e.update(body={"renewable_w": "abc"}),
                              "power body: renewable_w: Input should be a valid list"),
    "power body empty": ("power", lambda e: e.update(body={}),
                         "power body: renewable_w: Field required"),
    "power of one site for three": ("power", lambda e: e["body"].update(renewable_w=[1.0]),
                                    "renewable_w has 1 values for 3 sites"),
    "decision without obs": ("decision", lambda e: e["body"].pop("obs"),
                             "decision body: obs: Field required"),
    "obs.phase of two jobs": ("decision", lambda e: e["body"]["obs"].update(phase=[1, 1]),
                              "obs.phase has 2 values, the run 4"),
    "accepted of two names": ("decision", lambda e: e["body"].update(
        accepted=[["migrate", "job-b"]]), "decision body: accepted.0"),
    "decision step past the run": ("decision", lambda e: e.update(step=1000000),
                                   "decision at step 1000000, outside the run's steps"),
    "run-start without scenario": ("run-start", lambda e: e["body"].pop("scenario"),
                                   "run-start body: scenario: Field required"),
    "run-start without policy": ("run-start", lambda e: e["body"].pop("policy"),
                                 "run-start body: policy: Field required"),
    "scenario a number": ("run-start", lambda e: e["body"].update(scenario=123),
                          "run-start body: scenario: Input should be a valid string"),
}


@pytest.mark.parametrize("case", list(EDITS))
def test_an_edited_log_is_file_line_what_and_exit_2(run, tmp_path, capsys, case):
    _, _, jsonl = run
    kind, edit, message = EDITS[case]
    events = [json.loads(line) for line in jsonl.read_text().splitlines()]
    i = _first(events, kind)
    edit(events[i])
    bad = tmp_path / "events.jsonl"
    bad.write_text("".join(json.dumps(e) + "\n" for e in events))
    code, _, err = _replay(capsys, bad, "--no-sim")
    assert code == 2, err
    assert err.startswith(f"error: {bad}:{i + 1}: {kind} ") and message in err, err
    assert "Traceback" not in err


def test_an_event_body_that_is_not_json_in_the_database_names_the_event(run, tmp_path, capsys):
    _, db, _ = run
    bad = tmp_path / "run.db"
    shutil.copy(db, bad)
    con = sqlite3.connect(bad)
    seq, kind = con.execute("SELECT seq, kind FROM events WHERE kind = 'power' "
                            "ORDER BY seq LIMIT 1").fetchone()
    con.execute("UPDATE events SET body = '{bad' WHERE seq = ?", (seq,))
    con.commit()
    con.close()
    code, _, err = _replay(capsys, bad, "--no-sim")
    assert code == 2 and f"{bad}: event {seq} ({kind}): the body is not JSON" in err, err


def test_a_scenario_changed_since_the_run_is_refused_not_blamed_on_the_policy(
        run, tmp_path, capsys):
    sc, db, _ = run
    original = sc.read_bytes()
    try:
        sc.write_text(sc.read_text().replace('window_threshold = "1kW"',
                                             'window_threshold = "150kW"'))
        assert sc.read_bytes() != original
        code, out, err = _replay(capsys, db, "--no-sim")
    finally:
        sc.write_bytes(original)
    assert code == 2 and out == "", (out, err)
    assert f"{sc}: this scenario file has other contents than when the run was started" in err
    code, out, err = _replay(capsys, db, "--no-sim")  # restored: the same decisions
    assert code == 0 and "0 mismatches" in out, (out, err)


def test_another_scenario_given_on_purpose_is_replayed_with_a_warning_and_the_divergence(
        run, tmp_path, capsys):
    sc, db, _ = run
    other = tmp_path / "other.toml"
    other.write_text(sc.read_text().replace('window_threshold = "1kW"',
                                            'window_threshold = "150kW"'))
    code, out, err = _replay(capsys, db, "--scenario", other)
    assert f"warning: --scenario {other} is not the file the run was started with" in err
    assert code == 1
    # where the decisions diverged: the step, what was logged and what the policy says now
    lines = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("step ")]
    assert lines and all(" logged [" in ln and ", replayed [" in ln for ln in lines), out
    assert len(lines) <= 5
    # a simulator difference is its first differing entry and the counts, not the list
    assert "different migrations from #1" in " ".join(out.split()), out


def test_the_first_difference_of_two_migration_lists():
    a = [[4, "job-b", "madrid-es", "tokyo-jp"], [8, "job-c", "x", "y"]]
    assert _first_difference(a, a[:1]) == (
        'different migrations from #2: live [8, "job-c", "x", "y"], simulator none '
        "(2 live, 1 simulated; --json lists them)")
    assert _first_difference(a, [a[0], [9, "job-c", "x", "y"]]).startswith(
        'different migrations from #2: live [8, "job-c", "x", "y"], simulator [9,')
