"""Run the service on uvicorn: in the foreground (``greenhop serve``) or as a child process
beside a live run (``greenhop run --serve HOST:PORT``), so that HTTP clients never compete
with the controller's loop for the interpreter."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from greenhop.core.errors import ConfigError

GRACEFUL_S = 2.0
"""How long open streams may take to close on shutdown [s]."""


def parse_address(text: str, option: str = "--serve") -> tuple[str, int]:
    """``"HOST:PORT"`` -> ``(host, port)``; a ConfigError names the option."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{option} {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def base_url(host: str, port: int) -> str:
    """``http://HOST:PORT/``, an IPv6 address in brackets (``http://[::1]:8080/``)."""
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def check_port(host: str, port: int, option: str = "--port",
               host_option: str = "--host") -> None:
    """Refuse, before any work starts, an address this process cannot listen on: a host
    that is not an address of this machine names ``host_option``, a taken port
    ``option``."""
    if not host.strip():
        raise ConfigError(f"{host_option}: empty address; give one, e.g. 127.0.0.1 (or "
                          "0.0.0.0 for every interface)")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except socket.gaierror as exc:
            raise ConfigError(f"{host_option} {host!r}: not an address ({exc.strerror}); "
                              "give one of this machine, e.g. 127.0.0.1") from None
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"{host_option} {host!r}: not an address of this machine "
                                  "(e.g. 127.0.0.1, or 0.0.0.0 for every interface)") from None
            raise ConfigError(f"{option}: cannot listen on {host}:{port} ({exc.strerror}); "
                              "pick another port") from None


def serve(db: Path | None, host: str, port: int, token: str | None = None, *,
          outputs=None, log_level: str = "warning", nice: int = 0) -> None:
    """Serve ``db`` (and finished ``outputs``, see :mod:`greenhop.service.outputs`) on
    ``host:port`` until interrupted (blocks); ``nice`` lowers this process's CPU priority
    (beside a live run, the controller comes first)."""
    import uvicorn

    if nice > 0:
        os.nice(nice)

    from greenhop.service.app import create_app

    app = create_app(db, token=token, outputs=outputs)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                           access_log=False,
                                           timeout_graceful_shutdown=GRACEFUL_S))
    app.state.server = server  # its should_exit ends the event streams (app.stream)
    server.run()


CHILD_NICE = 10
"""CPU niceness of a service started beside a live run: the controller's loop comes first."""


def start_child(db: Path, host: str, port: int, token_file: Path | None = None,
                *, log: Path | None = None, wait_s: float = 60.0,
                nice: int = CHILD_NICE) -> subprocess.Popen:
    """``greenhop serve`` as a child process at a lower CPU priority; returns once it
    answers (or raises). Like the run's agents it gets SIGKILL when its parent dies (even by
    ``kill -9``), so it never outlives the run holding the port the same command needs to
    resume."""
    from greenhop.runtime.executor import deathsig

    cmd = [sys.executable, "-m", "greenhop", "serve", "--db", str(db), "--host", host,
           "--port", str(port), "--nice", str(nice)]
    if token_file is not None:
        cmd += ["--token-file", str(token_file)]
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=dict(os.environ),
                                preexec_fn=deathsig(signal.SIGKILL))
    finally:
        if log is not None:
            out.close()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"--serve {host}:{port}: the service exited with code "
                              f"{proc.returncode}" + (f"; see {log}" if log else ""))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    stop_child(proc)
    raise ConfigError(f"--serve {host}:{port}: the service did not answer within {wait_s:g} s")


LINGER_S = 1.0
"""How long a child service outlives its run [s]: event streams deliver the last events."""


def stop_child(proc: subprocess.Popen, timeout_s: float = 10.0,
               linger_s: float = LINGER_S) -> None:
    """Stop a child started by :func:`start_child` after ``linger_s`` (SIGTERM, then
    SIGKILL)."""
    if proc.poll() is None and linger_s > 0:
        time.sleep(linger_s)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
