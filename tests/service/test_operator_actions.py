"""Operator actions in the controller: drain, pin, pause, applied at a logged step, replayable
(the real controller on simulated processes, the live 3-site scenario)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from servicekit import memory_run, rows

from greenhop.fleet import admission
from greenhop.fleet.operator import apply_operator
from greenhop.fleet.state import FleetState


def _events(db, kind):
    return [{**r, "body": json.loads(r["body"])} for r in
            rows(db, "SELECT * FROM events WHERE kind = ? ORDER BY seq", kind)]


def _site_of(db, name):
    sites = [r["name"] for r in rows(db, "SELECT name FROM sites ORDER BY idx")]
    return sites.index(name)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    db = tmp_path_factory.mktemp("plain") / "run.db"
    assert memory_run(db)["status"] == "done"
    return db


@pytest.fixture(scope="module")
def drained(tmp_path_factory):
    db = tmp_path_factory.mktemp("drain") / "run.db"
    assert memory_run(db, {12: [("drain", "tokyo-jp")]})["status"] == "done"
    return db


def test_drain_moves_the_jobs_off_the_site_when_feasible_and_nothing_goes_there(drained, plain):
    ops = _events(drained, "operator")
    assert [(e["step"], e["body"]["action"], e["body"]["target"]) for e in ops] == [
        (12, "drain", "tokyo-jp")]
    act = rows(drained, "SELECT * FROM operator_actions")
    assert [(a["kind"], a["target"], a["applied_step"]) for a in act] == [
        ("drain", "tokyo-jp", 12)]
    moves = _events(drained, "migrate")
    by_op = [m for m in moves if m["body"].get("by") == "operator"]
    # every job on the drained site leaves it, once a destination's window makes it feasible
    assert by_op and {m["body"]["src"] for m in by_op} == {"tokyo-jp"}
    assert all(m["step"] >= 12 for m in by_op)
    after = [m for m in moves + _events(drained, "place") if m["step"] >= 12]
    assert all(m["body"]["dst"] != "tokyo-jp" for m in after)
    tokyo = _site_of(drained, "tokyo-jp")
    assert all(j["site"] != tokyo for j in rows(drained, "SELECT * FROM jobs"))
    # without the drain the same jobs end their run on tokyo
    assert any(j["site"] == tokyo for j in rows(plain, "SELECT * FROM jobs"))


def test_pin_keeps_a_job_where_it_is(tmp_path, plain):
    moved = {m["job"] for m in _events(plain, "migrate")}
    assert "job-b" in moved  # the policy moves it in a plain run
    db = tmp_path / "run.db"
    assert memory_run(db, {0: [("pin", "job-b")]})["status"] == "done"
    assert "job-b" not in {m["job"] for m in _events(db, "migrate")}
    led = json.loads(rows(db, "SELECT ledger FROM run")[0]["ledger"])
    assert led["fleet"]["operator"]["pinned"][1] is True
    assert led["fleet"]["counters"]["rejected_actions"] >= 1  # the policy asked, refused


def test_pause_stops_the_policy_but_queued_jobs_are_still_placed(tmp_path):
    db = tmp_path / "run.db"
    assert memory_run(db, {0: [("pause", None)], 16: [("resume", None)]})["status"] == "done"
    decisions = [e["step"] for e in _events(db, "decision")]
    assert decisions and min(decisions) >= 16
    placed = {e["job"]: e["step"] for e in _events(db, "place")}
    assert placed["job-c"] == 4 and placed["job-d"] == 8  # arrivals placed while paused


def test_replay_reproduces_the_decisions_of_a_run_with_operator_actions(drained, tmp_path):
    from test_controller_kit import inputs

    from greenhop.policies import make_policy
    from greenhop.runtime.event_log import read_events
    from greenhop.runtime.ledger import Ledger
    from greenhop.runtime.replay import replay_decisions

    sc, inp = inputs()
    res = replay_decisions(Ledger(inp), make_policy(sc.policies[0]), read_events(drained))
    assert res["decisions"] >= 5 and res["mismatches"] == []


def test_operator_fields_survive_the_snapshot_a_resumed_controller_reads():
    from test_controller_kit import inputs

    _, inp = inputs()
    st = FleetState(inp)
    apply_operator(st, "drain", 1)
    apply_operator(st, "pin", 2)
    apply_operator(st, "pause", None)
    back = FleetState(inp)
    back.load_json(json.loads(json.dumps(st.to_json())))
    assert back.drained.tolist() == [False, True, False]
    assert back.pinned.tolist() == [False, False, True, False] and back.paused
    old = st.to_json()
    del old["operator"]  # a snapshot written before operator actions
    fresh = FleetState(inp)
    fresh.load_json(old)
    assert not fresh.drained.any() and not fresh.pinned.any() and not fresh.paused


def test_an_unknown_action_or_target_is_refused():
    from test_controller_kit import inputs

    from greenhop.core.errors import ConfigError

    st = FleetState(inputs()[1])
    with pytest.raises(ConfigError, match="reboot"):
        apply_operator(st, "reboot", 0)
    with pytest.raises(ConfigError, match="site number 9"):
        apply_operator(st, "drain", 9)


@settings(max_examples=60, deadline=None)
@given(hst.integers(0, 3), hst.integers(0, 2), hst.lists(hst.booleans(), min_size=3,
                                                         max_size=3),
       hst.lists(hst.booleans(), min_size=4, max_size=4))
def test_admission_never_places_or_migrates_onto_a_drained_site_nor_moves_a_pinned_job(
        j, d, drained, pinned):
    from test_controller_kit import inputs

    from greenhop.core.observation import QUEUED, RUNNING

    inp = inputs()[1]
    drained, pinned = np.array(drained), np.array(pinned)
    occ = np.zeros(3, dtype=np.int64)
    running = np.full(4, RUNNING, dtype=np.int8)
    site = np.array([(d + 1) % 3] * 4)
    ok = admission.can_migrate(inp, running, site, occ, j, d, drained=drained, pinned=pinned)
    assert not ok or (not drained[d] and not pinned[j])
    assert ok == (admission.can_migrate(inp, running, site, occ, j, d)
                  and not drained[d] and not pinned[j])
    assert not admission.can_suspend(running, j, pinned=pinned) or not pinned[j]
    queued = np.full(4, QUEUED, dtype=np.int8)
    assert not admission.can_place(inp, queued, occ, j, d, drained=drained) or not drained[d]
    s = admission.arrival_site(inp, occ, j, drained=drained)
    assert s == -1 or not drained[s]


def test_greenhop_replay_names_the_operators_actions_and_does_not_blame_the_policy(
        drained, plain, capsys):
    """The drain moves jobs the simulator never moves: the replay says an operator acted,
    when and how, and exits 0 when the policy's own decisions replay the same (it exited
    1 with "different migrations" and no word of the drain); a run without operator
    actions still exits 1 on a difference (here: none, exit 0)."""
    from greenhop.cli.main import main

    def replay(db):
        with pytest.raises(SystemExit) as exit_:
            main(["replay", str(db)])
        return exit_.value.code, " ".join(capsys.readouterr().out.split())

    code, out = replay(drained)
    assert "0 mismatches" in out and "different migrations from" in out, out
    assert ("note: an operator acted during the run: drain tokyo-jp (step 12); the simulator "
            "knows none of it") in out
    assert code == 0
    # the drain's moves are in the table too, by the operator
    drain_moves = [(m["step"], m["job"]) for m in _events(drained, "migrate")
                   if m["body"].get("by") == "operator"]
    cells = " ".join(out.replace("│", " ").split())
    assert drain_moves
    for step, job in drain_moves:
        assert f"{step} {job} tokyo-jp madrid-es operator" in cells, out
    code, out = replay(plain)
    assert code == 0 and "note:" not in out and "the same migrations" in out
    assert "operator" not in out
