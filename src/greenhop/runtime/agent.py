"""The site agent: serves this site's checkpoints over HTTP and fetches others'.

Protocol (HTTP/1.1 on TCP; JSON bodies; every path under ``/v1``):

* ``GET /v1/health`` -> ``{"ok": true, "site": ...}``
* ``GET /v1/jobs/<job>/checkpoints`` -> complete checkpoints, newest first:
  ``[{"name", "step", "finished", "size_bytes"}]``
* ``GET /v1/jobs/<job>/checkpoints/<name>/<file>`` -> the file; ``Range:
  bytes=a-`` or ``bytes=a-b`` answers ``206`` with ``Content-Range``. Only
  ``MANIFEST.json`` and files it lists are served.
* ``...<file>?chunk=C`` with ``Range: bytes=a-`` (``a`` a multiple of ``C``) ->
  the same bytes in *frames*, one per chunk of ``C`` bytes: an 8-byte
  big-endian length, the data, then the data's SHA-256 (32 bytes) computed by
  the sender as it read the chunk from disk. The receiver checks each chunk as
  it arrives.
* ``...<file>?chunk=C&hashes=N`` -> the SHA-256s (hex, JSON list) of the
  chunks covering the file's first ``N`` bytes: how a receiver re-verifies a
  partial copy left by an earlier attempt.
* ``POST /v1/jobs/<job>/fetch`` with ``{"source": URL, "checkpoint": NAME|"latest"}``
  -> this agent pulls that checkpoint from the agent at ``source`` into its own
  root (a push, seen from the source), answers the transfer summary.

Bodies are sent in blocks through one :class:`~greenhop.runtime.ratelimit.TokenBucket`
shared by every connection (the site's link); ``latency_s`` is added before
each response. The agent stops by itself after ``idle_timeout_s`` without a
request.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from greenhop.core.errors import CheckpointError, ConfigError, GreenhopError
from greenhop.runtime.ratelimit import TokenBucket
from greenhop.workload import checkpoint as ck

SEND_BLOCK_BYTES = 64 * 1024
"""Bytes written to the socket per token-bucket draw [B]."""
MIN_CHUNK_BYTES = 4 * 1024
MAX_CHUNK_BYTES = 64 * 1024 * 1024
FRAMED_TYPE = "application/x-greenhop-frames"
FRAME_OVERHEAD_BYTES = 8 + 32
"""Per-chunk framing: an 8-byte big-endian length before the data, its SHA-256 after."""
_JOB = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def check_job_name(job: str) -> str:
    """A job name is one path component of letters, digits, ``_ . -``."""
    if not isinstance(job, str) or not _JOB.match(job) or job in (".", ".."):
        raise ConfigError(f"invalid job name {job!r}: use letters, digits, '_', '.', '-' (no '/')")
    return job


class Faults:
    """Hook for fault injection on the sending side; the default does nothing.

    :meth:`on_block` sees each block before it is sent: it may change the
    bytes (return a new block) or return None to drop the connection there.
    Tests subclass it and pass the instance to :class:`SiteAgent`.
    """

    def on_block(self, name: str, file: str, offset: int, block: bytes) -> bytes | None:
        return block


class AgentStats:
    """Counters of one agent (thread-safe): body bytes sent, requests served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes_sent = 0
        self.requests = 0
        self.ranges: list[tuple[str, int]] = []

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes_sent += n


def complete_checkpoints(job_dir: Path) -> list[dict[str, Any]]:
    """Checkpoints under ``job_dir`` with a valid manifest, newest first (not re-hashed)."""
    out = []
    for step, path in ck.list_checkpoints(job_dir):
        try:
            m = ck.read_manifest(path)
        except CheckpointError:
            continue
        out.append(
            {
                "name": path.name,
                "step": step,
                "finished": bool(m.get("finished")),
                "size_bytes": sum(r["size_bytes"] for r in m["files"].values()),
            }
        )
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.agent.verbose:
            super().log_message(format, *args)

    # -- helpers -------------------------------------------------------------------------------

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _touch(self) -> None:
        agent = self.server.agent
        agent.last_request_s = time.monotonic()
        with agent.stats._lock:
            agent.stats.requests += 1
        if agent.latency_s:
            time.sleep(agent.latency_s)

    # -- routes --------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._touch()
        parts = [unquote(p) for p in urlsplit(self.path).path.split("/") if p]
        try:
            if parts == ["v1", "health"]:
                return self._json(200, {"ok": True, "site": self.server.agent.name})
            if len(parts) == 4 and parts[:2] == ["v1", "jobs"] and parts[3] == "checkpoints":
                job = check_job_name(parts[2])
                return self._json(200, complete_checkpoints(self.server.agent.root / job))
            if len(parts) == 6 and parts[:2] == ["v1", "jobs"] and parts[3] == "checkpoints":
                return self._send_file(check_job_name(parts[2]), parts[4], parts[5])
        except GreenhopError as exc:
            return self._error(400, str(exc))
        return self._error(404, f"no such resource {self.path}")

    def do_POST(self) -> None:
        self._touch()
        parts = [unquote(p) for p in urlsplit(self.path).path.split("/") if p]
        if not (len(parts) == 4 and parts[:2] == ["v1", "jobs"] and parts[3] == "fetch"):
            return self._error(404, f"no such resource {self.path}")
        try:
            job = check_job_name(parts[2])
            n = int(self.headers.get("Content-Length", "0"))
            if n > 65536:
                return self._error(413, "request body too large")
            req = json.loads(self.rfile.read(n) or b"{}")
            source = req.get("source")
            if not isinstance(source, str):
                return self._error(400, "body needs 'source': the URL of the agent to pull from")
            from greenhop.runtime.transfer import pull_checkpoint

            result = pull_checkpoint(
                source, job, self.server.agent.root / job, req.get("checkpoint", "latest")
            )
            return self._json(200, result.to_json())
        except GreenhopError as exc:
            return self._error(409 if isinstance(exc, ConfigError) else 502, str(exc))
        except (ValueError, json.JSONDecodeError) as exc:
            return self._error(400, f"bad request body: {exc}")

    def _send_file(self, job: str, name: str, file: str) -> None:
        agent = self.server.agent
        if ck.parse_step_dir(name) is None:
            return self._error(404, f"{name!r} is not a checkpoint name (step-NNNNNNNNN)")
        path = agent.root / job / name
        try:
            manifest = ck.read_manifest(path)
        except CheckpointError as exc:
            return self._error(404, f"checkpoint {job}/{name} is not available: {exc}")
        if file != ck.MANIFEST and file not in manifest["files"]:
            return self._error(404, f"{file!r} is not part of checkpoint {job}/{name}")
        query = parse_qs(urlsplit(self.path).query)
        chunk = _int_param(query, "chunk")
        if chunk is not None and not (MIN_CHUNK_BYTES <= chunk <= MAX_CHUNK_BYTES):
            return self._error(400, f"chunk must be in [{MIN_CHUNK_BYTES}, {MAX_CHUNK_BYTES}] B")
        fpath = path / file
        try:
            fh = open(fpath, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            return self._error(404, f"cannot open {job}/{name}/{file}: {exc.strerror}")
        with fh:
            size = os.fstat(fh.fileno()).st_size
            upto = _int_param(query, "hashes")
            if upto is not None:
                if chunk is None or upto > size:
                    return self._error(400, "hashes=N needs chunk=C and N <= the file size")
                digests = []
                for start in range(0, upto, chunk):
                    digests.append(hashlib.sha256(fh.read(min(chunk, upto - start))).hexdigest())
                return self._json(200, digests)
            start, end = 0, size - 1
            rng = self.headers.get("Range")
            if rng:
                m = _RANGE.match(rng.strip())
                bad = not m or (int(m.group(1)) > max(0, size - 1) and size > 0)
                if not bad and chunk is not None:
                    bad = int(m.group(1)) % chunk != 0 or bool(m.group(2))
                if bad:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            length = max(0, end - start + 1)
            with agent.stats._lock:
                agent.stats.ranges.append((file, start))
            frames = -(-length // chunk) if chunk else 0
            self.send_response(206 if rng else 200)
            self.send_header("Content-Type", FRAMED_TYPE if chunk else "application/octet-stream")
            self.send_header("Content-Length", str(length + frames * FRAME_OVERHEAD_BYTES))
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            step = chunk or SEND_BLOCK_BYTES
            fd = fh.fileno()

            def load(off: int) -> tuple[bytes, bytes | None]:
                data = os.pread(fd, min(step, end + 1 - off), off)
                return data, hashlib.sha256(data).digest() if chunk else None

            # read and hash chunk i+1 in a helper thread while chunk i is on the wire
            with ThreadPoolExecutor(1, thread_name_prefix="greenhop-send") as pool:
                ahead = pool.submit(load, start) if start <= end else None
                offset = start
                while ahead is not None:
                    data, digest = ahead.result()
                    nxt = offset + len(data)
                    ahead = pool.submit(load, nxt) if data and nxt <= end else None
                    if not data:
                        self.close_connection = True
                        return None
                    if digest is not None:  # frame: length, data, SHA-256 as read from disk
                        self.wfile.write(struct.pack(">Q", len(data)))
                    if not self._send_blocks(name, file, offset, data):
                        self.close_connection = True
                        return None
                    if digest is not None:
                        self.wfile.write(digest)
                    offset = nxt
        return None

    def _send_blocks(self, name: str, file: str, offset: int, data: bytes) -> bool:
        """Send ``data`` in rate-limited blocks; False if a fault dropped the connection."""
        agent = self.server.agent
        view = memoryview(data)
        for pos in range(0, len(view), SEND_BLOCK_BYTES):
            block = agent.faults.on_block(
                name, file, offset + pos, bytes(view[pos : pos + SEND_BLOCK_BYTES])
            )
            if block is None:  # injected drop
                return False
            agent.bucket.consume(len(block))
            self.wfile.write(block)
            agent.stats.add(len(block))
        return True


def _int_param(query: dict[str, list[str]], key: str) -> int | None:
    if key not in query:
        return None
    try:
        value = int(query[key][0])
    except ValueError:
        raise ConfigError(f"query parameter {key} must be an integer") from None
    if value < 0:
        raise ConfigError(f"query parameter {key} must be >= 0")
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    agent: SiteAgent

    def handle_error(self, request, client_address) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return  # the receiver hung up (it resumes later): not an agent failure
        super().handle_error(request, client_address)


class SiteAgent:
    """One site's agent serving ``root/<job>/step-*`` over HTTP on ``host:port``.

    Args:
        root: directory holding one sub-directory per job.
        host: address to bind (loopback by default).
        port: TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
        rate_bps: link rate [bit/s] shared by all outgoing bodies; ``inf`` = unlimited.
        latency_s: delay added before each response [s].
        idle_timeout_s: stop after this long without a request [s] (None = never).
        faults: fault injection hook (tests).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_bps: float = float("inf"),
        latency_s: float = 0.0,
        idle_timeout_s: float | None = 600.0,
        faults: Faults | None = None,
        name: str = "site",
        verbose: bool = False,
    ) -> None:
        if latency_s < 0:
            raise ConfigError(f"latency must be >= 0; got {latency_s} s")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.requested_port = port
        self.bucket = TokenBucket(rate_bps)
        self.latency_s = latency_s
        self.idle_timeout_s = idle_timeout_s
        self.faults = faults or Faults()
        self.name = name
        self.verbose = verbose
        self.stats = AgentStats()
        self.last_request_s = time.monotonic()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("agent not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SiteAgent:
        """Bind and serve in background threads; return self."""
        try:
            self._server = _Server((self.host, self.requested_port), _Handler)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}; "
                "pick another --port (0 = any free port)"
            ) from None
        self._server.agent = self
        self._server.timeout = 0.5
        self.last_request_s = time.monotonic()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"greenhop-agent-{self.name}",
            daemon=True,
        )
        self._thread.start()
        if self.idle_timeout_s is not None:
            self._watchdog = threading.Thread(target=self._watch, daemon=True)
            self._watchdog.start()
        return self

    def _watch(self) -> None:
        while not self._stopped.wait(0.2):
            if time.monotonic() - self.last_request_s > self.idle_timeout_s:
                self.stop()
                return

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the agent stopped (idle timeout or :meth:`stop`); True if it did."""
        return self._stopped.wait(timeout_s)

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> SiteAgent:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
