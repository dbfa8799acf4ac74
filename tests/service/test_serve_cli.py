"""``greenhop run --serve`` and ``greenhop serve``: a bad address or token file is refused
before any work starts, naming the option at fault."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
from servicekit import LIVE, free_port, greenhop_cmd, memory_run

from greenhop.cli.main import main


def _run(tmp_path, *extra):
    work = tmp_path / "run"
    r = subprocess.run(greenhop_cmd("run", str(LIVE), "--workdir", str(work), *extra),
                       capture_output=True, text=True, timeout=120)
    return r, work


def test_a_bad_serve_address_ends_the_command_before_the_run(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = [(("--serve", "localhost"), "--serve 'localhost': expected HOST:PORT"),
                 (("--serve", "127.0.0.1:99999"), "expected HOST:PORT"),
                 (("--serve", f"127.0.0.1:{port}"), f"cannot listen on 127.0.0.1:{port}"),
                 (("--serve-token-file", str(tmp_path / "t")), "goes with --serve"),
                 (("--serve", f"127.0.0.1:{free_port()}", "--serve-token-file",
                   str(tmp_path / "t")),
                  f"--serve-token-file {tmp_path / 't'}: no such file"),
                 # a host that is no address, or none of this machine, is the host's fault
                 (("--serve", f"999.0.0.1:{free_port()}"), "--serve '999.0.0.1': not an address"),
                 (("--serve", f"192.0.2.1:{free_port()}"),
                  "--serve '192.0.2.1': not an address of this machine")]
        for extra, words in cases:
            r, work = _run(tmp_path, *extra)
            assert r.returncode == 2, (extra, r.stderr)
            assert words in r.stderr and "Traceback" not in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr
            assert not (work / "run.db").exists()


def test_greenhop_serve_names_the_option_at_fault(tmp_path, capsys):
    db = tmp_path / "run.db"
    memory_run(db)
    fifo = tmp_path / "token.fifo"
    os.mkfifo(fifo)  # reading it would block for ever
    cases = [(("--host", "", "--port", str(free_port())), "--host: empty value"),
             (("--host", "not a host", "--port", str(free_port())),
              "--host 'not a host': not an address"),
             (("--port", str(free_port()), "--token-file", str(fifo)),
              f"--token-file {fifo}: not a regular file")]
    for extra, words in cases:
        with pytest.raises(SystemExit) as info:
            main(["serve", "--db", str(db), *extra])
        err = capsys.readouterr().err
        assert info.value.code == 2 and words in err, (extra, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_a_stop_ends_the_open_event_streams_without_an_error_in_the_log(tmp_path):
    """SIGTERM with a dashboard's event stream open: the stream held the shutdown for its
    grace period and was then cancelled with "ERROR: Cancel 1 running task(s), timeout
    graceful shutdown exceeded" (at the end of every `run --serve` log). Each stream now
    ends as soon as the server stops."""
    import os
    import signal
    import threading
    import time

    import httpx

    db = tmp_path / "run.db"
    assert memory_run(db)["status"] == "done"
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(greenhop_cmd("serve", "--db", str(db), "--port", str(port)),
                                stdout=fh, stderr=subprocess.STDOUT, env=dict(os.environ))
    got = []

    def listen():
        with httpx.stream("GET", f"http://127.0.0.1:{port}/api/v1/events/stream",
                          timeout=30) as r:
            for line in r.iter_lines():
                got.append(line)

    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v1/run", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the service did not answer"
                time.sleep(0.2)
        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        while not any(line.startswith("id:") for line in got):  # the stream is open
            assert time.monotonic() < deadline, got
            time.sleep(0.05)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert time.monotonic() - t0 < 1.5, "the open stream held the shutdown"
        reader.join(5)
        assert not reader.is_alive()  # the client saw its stream end
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "ERROR" not in text and "Cancel" not in text, text
