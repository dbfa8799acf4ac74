"""Bad input a second probe of every command found: Click's own usage errors, pipes where a
file is read or written, a site with more GPUs than an integer holds, and certificates made
again over a run's. Each is exit code 2 and one line saying what and where, before any work
starts, and nothing already stored is changed."""

from __future__ import annotations

import contextlib
import os
import threading

import pytest
from clikit import one_line_error, run, two_site_scenario

SUNNY_B = '{ kind = "solar", peak = "4kW" }'


@pytest.fixture
def fifo(tmp_path):
    """A named pipe. A command that opens it to read blocks until a writer comes: from 5 s
    on a writer opens and closes it twice a second, so such a command fails the test
    instead of hanging."""
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    done = threading.Event()

    def unblock():
        done.wait(5.0)
        while not done.wait(0.5):
            with contextlib.suppress(OSError):  # OSError: nobody is reading it now
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    yield path
    done.set()
    thread.join()


# --- Click's usage errors are one line naming the command ---------------------------------

@pytest.mark.parametrize(("argv", "names"), [
    (("windows", "--site", "madrid-es", "--year", "nan"), ("greenhop windows", "--year")),
    (("sites", "--json=true"), ("greenhop sites", "--json")),
    (("feasibility", "-c"), ("greenhop feasibility", "-c")),
    (("feasibility", "-c", "98GB", "-w", "2h"), ("greenhop feasibility", "--bandwidth")),
    (("simulate", "--no-such-option"), ("greenhop simulate", "--no-such-option")),
    (("scenarios", "show", "default", "extra"), ("greenhop scenarios show", "extra")),
    (("no-such-command",), ("greenhop", "no-such-command")),
    (("workload", "run", "mlp", "--ckpt-dir", "x", "--steps", "-1"),
     ("greenhop workload run", "--steps")),
])
def test_a_usage_error_is_one_line_naming_the_command(capsys, argv, names) -> None:
    code, _, err = run(capsys, *argv)
    line = one_line_error(code, err, *names)
    assert "╭" not in line and "--help" in line


def test_a_bare_group_still_shows_its_help(capsys) -> None:
    code, out, err = run(capsys, "data")
    assert code == 2 and "Traceback" not in err and "fetch" in out + err


# --- a FIFO where a file is written or read is refused, not opened -------------------------

def test_an_image_out_that_is_a_pipe_is_refused(capsys, fifo) -> None:
    code, _, err = run(capsys, "feasibility-map", "--out", str(fifo))
    one_line_error(code, err, "--out", str(fifo), "not a regular file")


@pytest.mark.parametrize("argv", [
    ("status", "--db", "{fifo}"),
    ("replay", "{fifo}", "--no-sim"),
    ("serve", "--db", "{fifo}"),
    ("grid", "event", "--site", "a", "--from", "+1h", "--to", "+2h", "--limit", "1kW",
     "--db", "{fifo}"),
])
def test_a_run_database_that_is_a_pipe_is_refused(capsys, fifo, argv) -> None:
    code, _, err = run(capsys, *(a.format(fifo=fifo) for a in argv))
    one_line_error(code, err, str(fifo), "not a regular file")


# --- a scenario's GPU count that overflows the simulator's integers ------------------------

def test_a_site_with_more_gpus_than_an_integer_holds_is_refused(capsys, tmp_path) -> None:
    text = two_site_scenario("big", b_longitude=90.0, b_trace=SUNNY_B)
    path = tmp_path / "big.toml"
    path.write_text(text.replace("gpu_slots = 4", "gpu_slots = 100000000000000000000", 1))
    code, _, err = run(capsys, "simulate", str(path), "--out", str(tmp_path / "o"))
    one_line_error(code, err, str(path), "sites[0].gpu_slots", "must be <= 1e+06")
    assert not (tmp_path / "o").exists()


# --- agent tls keeps a run's certificates ---------------------------------------------------

def test_agent_tls_again_into_the_same_folder_keeps_the_certificates(capsys, tmp_path) -> None:
    out = tmp_path / "tls"
    code, _, err = run(capsys, "agent", "tls", str(out), "--site", "a")
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for site in ("a", "b"):  # the CA is made anew either way
        code, _, err = run(capsys, "agent", "tls", str(out), "--site", site)
        one_line_error(code, err, "OUT", str(out), "ca.pem")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_agent_tls_refuses_a_host_name_that_is_not_ascii(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "agent", "tls", str(tmp_path / "tls"), "--site", "a",
                       "--host", "bücher.example")
    one_line_error(code, err, "--host", "bücher.example")
    assert not (tmp_path / "tls").exists()


# --- a FIFO where a scenario, fleet, trace or price file is read is named as such ----------

@pytest.mark.parametrize("argv", [
    ("simulate", "{fifo}", "--out", "{out}"),
    ("sites", "--fleet", "{fifo}"),
])
def test_a_scenario_or_fleet_that_is_a_pipe_is_named_as_one(capsys, fifo, tmp_path, argv) -> None:
    code, _, err = run(capsys, *(a.format(fifo=fifo, out=tmp_path / "out") for a in argv))
    line = one_line_error(code, err, str(fifo), "is a pipe or a device, not a file")
    assert "does not exist" not in line
    assert not (tmp_path / "out").exists()


def test_a_trace_or_price_file_that_is_a_pipe_is_named_as_one(fifo) -> None:
    from greenhop.core.errors import TraceError
    from greenhop.traces.grid_signals import read_nl_day_ahead
    from greenhop.traces.user_trace import read_trace

    with pytest.raises(TraceError, match="is a pipe or a device, not a file"):
        read_trace(fifo, column="power", unit="W")
    with pytest.raises(TraceError, match="is a pipe or a device, not a file"):
        read_nl_day_ahead(fifo)
