"""``greenhop compare`` on odd values and odd paths: numbers beyond a float, NaN and
infinities, yes/no values, a difference from zero, a stopped live run, a pipe or a device."""

from __future__ import annotations

import json
import os
import sys

import pytest
from clikit import one_line_error, run


def _write(path, metrics: dict, **extra) -> str:
    path.write_text(json.dumps({"policies": {"static": metrics}, **extra}))
    return str(path)


def test_an_integer_beyond_a_float_is_a_one_line_error(tmp_path, capsys):
    a = _write(tmp_path / "a.json", {"job_nr_kwh": 10 ** 400})
    b = _write(tmp_path / "b.json", {"job_nr_kwh": 1.0})
    code, _out, err = run(capsys, "compare", a, b)
    one_line_error(code, err, a, "policies.static.job_nr_kwh", "401 digits", "out of range")


def test_json_output_is_valid_with_nan_infinity_and_a_zero_baseline(tmp_path, capsys):
    a = tmp_path / "a.json"
    a.write_text('{"policies": {"static": {"x": NaN, "y": Infinity, "unfinished_jobs": 4, '
                 '"z": 0, "flag": true, "job_nr_kwh": 3}}}')
    b = _write(tmp_path / "b.json", {"x": 1.0, "y": 1.0, "unfinished_jobs": 0, "z": 0,
                                     "flag": False, "job_nr_kwh": 2})
    code, out, _err = run(capsys, "compare", str(a), b, "--json")
    assert code == 0
    rows = {r["metric"]: r for r in json.loads(out, parse_constant=pytest.fail)}
    assert rows["x"]["a"] is None and rows["y"]["a"] is None and rows["x"]["diff_pct"] is None
    assert rows["unfinished_jobs"] == {"policy": "static", "metric": "unfinished_jobs",
                                       "a": 4, "b": 0, "diff_pct": None}
    assert rows["z"]["diff_pct"] == 0.0 and rows["job_nr_kwh"]["diff_pct"] == 50.0
    assert rows["flag"]["a"] is True and rows["flag"]["diff_pct"] is None


def test_the_table_marks_a_difference_from_zero_apart_from_no_difference(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    a = _write(tmp_path / "a.json", {"unfinished_jobs": 4, "migrations": 0, "ok": True})
    b = _write(tmp_path / "b.json", {"unfinished_jobs": 0, "migrations": 0, "ok": True})
    code, out, _err = run(capsys, "compare", a, b)
    assert code == 0
    lines = {ln.split()[1]: ln for ln in out.splitlines() if ln.startswith("│")}
    assert "n/a (B = 0)" in lines["unfinished_jobs"]
    assert "+0.0%" in lines["migrations"] and "n/a" not in lines["migrations"]
    # a yes/no is text, not the number 1
    assert "true" in lines["ok"] and "same" in lines["ok"] and "+0.0%" not in lines["ok"]


def test_piped_the_table_keeps_every_digit_it_shows(tmp_path, capsys, monkeypatch):
    """Piped (80 columns), cells were cut ("2.701e…", "feasibility-aw…"), and kWh read
    4.8e+04 beside 4.815e+04."""
    monkeypatch.delenv("COLUMNS", raising=False)
    name = "feasibility-aware-with-a-long-name"
    metrics = {"job_nr_kwh": 48150.0, "window_closed_before_payback": 3}
    a = tmp_path / "a.json"
    a.write_text(json.dumps({"policies": {name: metrics}}))
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"policies": {name: {**metrics, "job_nr_kwh": 48000.0}}}))
    code, out, _err = run(capsys, "compare", str(a), str(b))
    assert code == 0 and "…" not in out
    row = next(ln for ln in out.splitlines() if "job_nr_kwh" in ln)
    assert "48,150" in row and "48,000" in row and "+0.3%" in row, row


def test_a_stopped_live_run_is_noted_on_one_line(tmp_path, capsys):
    a = _write(tmp_path / "a.json", {"job_nr_kwh": 1.0},
               live={"status": "stopped", "step": 10},
               scenario={"horizon_h": 12.0, "step_s": 900.0})
    b = _write(tmp_path / "b.json", {"job_nr_kwh": 1.0}, live={"status": "done", "step": 48})
    code, _out, err = run(capsys, "compare", a, b)
    assert code == 0
    notes = [ln for ln in err.splitlines() if ln.startswith("note:")]
    assert notes == [f"note: {a} is a live run that ended stopped after 10 of 48 steps; its "
                     "figures cover the steps it booked only"]


@pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs")
def test_a_pipe_or_a_device_is_refused_at_once(tmp_path, capsys):
    b = _write(tmp_path / "b.json", {"job_nr_kwh": 1.0})
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        code, _out, err = run(capsys, "compare", path, b)
        one_line_error(code, err, path, "not a regular file")


def test_an_event_log_given_as_a_metrics_json_is_named_as_one(tmp_path, capsys):
    """An events.jsonl said 'not valid JSON (Extra data ...); a metrics.json cut off or
    edited?'; it is named as the event log it is."""
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps({"seq": i, "step": i, "kind": "power", "body": {}})
                           + "\n" for i in range(3)))
    b = _write(tmp_path / "b.json", {"x": 1.0})
    code, _out, err = run(capsys, "compare", str(log), b)
    one_line_error(code, err, f"{log}: an event log (JSON lines), not a metrics.json")
