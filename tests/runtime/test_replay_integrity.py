"""``greenhop replay`` checks the log's order and coherence as the writer makes it: ``seq``
by one, power steps rising, a decision right after its power event, ``accepted`` among the
actions and matching the events logged for it. A line deleted, repeated, moved or edited is
a one-line error naming the file and line, exit code 2, never a mismatch blamed on the
policy or the simulator; a partial last line that was dropped is named."""

from __future__ import annotations

import copy
import json

import pytest
from test_controller_kit import LIVE, finished_run, inputs

from greenhop.cli.main import main
from greenhop.core.errors import ConfigError
from greenhop.policies import make_policy
from greenhop.runtime.event_log import read_events
from greenhop.runtime.ledger import Ledger
from greenhop.runtime.replay import partial_last_line, replay_decisions
from greenhop.runtime.store import Store


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``(run.db, events.jsonl, its events)`` of a finished run of a scenario copy."""
    _sc, db, jsonl = finished_run(tmp_path_factory.mktemp("run"))
    return db, jsonl, [json.loads(line) for line in jsonl.read_text().splitlines()]


def _replay(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(["replay", *map(str, args)])
    cap = capsys.readouterr()
    return exc.value.code, cap.out, " ".join(cap.err.split())


def _write(tmp_path, events):
    p = tmp_path / "events.jsonl"
    p.write_text("".join(json.dumps(e) + "\n" for e in events))
    return p


def _decision_with(events, kind):
    """Index of the first decision that accepted an action of ``kind``."""
    return next(i for i, e in enumerate(events) if e["kind"] == "decision"
                and any(a[0] == kind for a in e["body"]["accepted"]))


def _refused(capsys, bad, line, *what, sim=False):
    code, out, err = _replay(capsys, bad, *(() if sim else ("--no-sim",)))
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith(f"error: {bad}:{line}: "), err
    assert all(w in err for w in what), err
    assert "the log was edited or damaged" in err and "Traceback" not in err, err
    assert "simulator" not in err and "mismatch" not in err, err


def test_the_log_as_written_replays(run, capsys):
    db, jsonl, _ = run
    for log in (db, jsonl):
        code, out, err = _replay(capsys, log, "--no-sim")
        assert code == 0 and "0 mismatches" in out and "error" not in err, (out, err)


def test_an_edited_accepted_placement_is_refused(run, tmp_path, capsys):
    events = copy.deepcopy(run[2])
    i = _decision_with(events, "place")
    entry = events[i]["body"]["accepted"][0]
    sites = events[0]["body"]["sites"]
    other = next(s for s in sites if s != entry[3])
    entry[2] = entry[3] = other
    _refused(capsys, _write(tmp_path, events), i + 1, "decision accepted[0] place",
             f"-> {other}, but the event logged for it", sim=True)


def test_accepted_actions_not_among_the_actions_are_refused(run, tmp_path, capsys):
    events = copy.deepcopy(run[2])
    i = _decision_with(events, "migrate")
    events[i]["body"]["actions"] = []
    _refused(capsys, _write(tmp_path, events), i + 1, "migrate",
             "not among the decision's actions")


@pytest.mark.parametrize("sim", [False, True])
def test_a_deleted_decision_is_a_missing_seq_not_a_simulator_difference(
        run, tmp_path, capsys, sim):
    events = copy.deepcopy(run[2])
    i = _decision_with(events, "migrate")
    seq = events[i]["seq"]
    del events[i]
    _refused(capsys, _write(tmp_path, events), i + 1,
             f"seq {seq + 1} after seq {seq - 1}: event {seq} is missing", sim=sim)


def test_a_repeated_decision_line_is_refused(run, tmp_path, capsys):
    events = copy.deepcopy(run[2])
    i = _decision_with(events, "migrate")
    events.insert(i, dict(events[i]))
    _refused(capsys, _write(tmp_path, events), i + 2,
             f"seq {events[i]['seq']} again")


@pytest.mark.parametrize("far", [False, True])
def test_moved_lines_are_out_of_order_naming_where(run, tmp_path, capsys, far):
    events = copy.deepcopy(run[2])
    dec = [i for i, e in enumerate(events) if e["kind"] == "decision"]
    a, b = (dec[0], dec[1]) if far else (10, 11)
    events[a], events[b] = events[b], events[a]
    bad = _write(tmp_path, events)
    _refused(capsys, bad, a + 1, f"seq {events[a]['seq']} after seq {events[a - 1]['seq']}",
             f"events out of order (seq {events[b]['seq']} is at {bad}:{b + 1})")


def test_a_decision_moved_to_another_step_is_refused(run, tmp_path, capsys):
    events = copy.deepcopy(run[2])
    i = _decision_with(events, "migrate")
    events[i]["step"] += 1
    _refused(capsys, _write(tmp_path, events), i + 1,
             f"decision of step {events[i]['step']} not right after the power event")


def test_a_filtered_log_checks_order_but_allows_gaps(run):
    """The controller replays its power and decision events only: seq rises with gaps."""
    db, _, _ = run
    sc, inp = inputs(LIVE)
    st = Store.open(db, read_only=True)
    try:
        ev = list(st.events(("power", "decision")))
    finally:
        st.close()

    def replay(events):
        return replay_decisions(Ledger(inp), make_policy(sc.policies[0]), events)

    assert replay(ev)["mismatches"] == []
    i = next(k for k, e in enumerate(ev) if e["kind"] == "decision")
    with pytest.raises(ConfigError, match="not right after the power event"):
        replay(ev[:i - 1] + ev[i:])  # its power event gone
    with pytest.raises(ConfigError, match=r"seq \d+ after seq \d+: events out of order"):
        replay([*ev[:i], ev[i + 1], ev[i], *ev[i + 2:]])
    with pytest.raises(ConfigError, match="without a seq number"):
        replay([{k: v for k, v in e.items() if k != "seq"} for e in ev])


def test_a_partial_last_line_without_a_newline_is_named(run, tmp_path, capsys):
    _, jsonl, _ = run
    text = jsonl.read_text()
    lines = text.splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:40])
    assert partial_last_line(cut) == len(lines)
    events = read_events(cut)  # the reader drops it
    assert len(events) == len(lines) - 1
    whole = tmp_path / "whole.jsonl"
    whole.write_text(text.rstrip("\n"))  # a whole last event, only the newline missing
    for p in (jsonl, whole, cut.with_name("none.jsonl")):
        assert partial_last_line(p) is None
    code, _out, err = _replay(capsys, cut, "--no-sim")
    text = " ".join(err.split())
    assert code == 0 and f"{cut}:{len(lines)}: a partial last line" in text, err
    assert "was dropped, not replayed" in text
