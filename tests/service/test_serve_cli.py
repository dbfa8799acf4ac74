"""``greenhop run --serve``: a bad address is refused before any work starts."""

from __future__ import annotations

import socket
import subprocess

from servicekit import LIVE, free_port, greenhop_cmd


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
                  "--token-file")]
        for extra, words in cases:
            r, work = _run(tmp_path, *extra)
            assert r.returncode == 2, (extra, r.stderr)
            assert words in r.stderr and "Traceback" not in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr
            assert not (work / "run.db").exists()
