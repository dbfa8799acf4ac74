"""The site agent: serves this site's checkpoints over HTTP(S) and fetches others'.

An ASGI application (Starlette) served by uvicorn. Protocol (HTTP/1.1; JSON
bodies; every path under ``/v1``; every request needs ``Authorization: Bearer
<run token>`` when the agent has a token, else 401 whatever the path):

* ``GET /v1/health`` -> ``{"ok": true, "site", "pid", "started_unix_s"}``
* ``GET /v1/jobs/<job>/checkpoints`` -> complete checkpoints, newest first:
  ``[{"name", "step", "finished", "size_bytes", "manifest_sha256"}]``
* ``GET /v1/jobs/<job>/checkpoints/<name>/<file>`` -> the file; ``Range:
  bytes=a-`` or ``bytes=a-b`` answers ``206`` with ``Content-Range`` (``416`` past
  the end or with ``b < a``). Only ``MANIFEST.json`` and files it lists are served; a
  listed file that is missing or a symlink is ``404``, one that is not the size the
  manifest says ``409`` (corrupt at rest: the receiver skips the checkpoint).
* ``...<file>?chunk=C`` with ``Range: bytes=a-`` (``a`` a multiple of ``C``) ->
  the same bytes in *frames*, one per chunk of ``C`` bytes: an 8-byte
  big-endian length, the data, then the SHA-256 (32 bytes) of the file's bytes
  from its start to the end of this chunk (a *prefix digest*), computed by the
  sender as it read the file from disk. The receiver checks each chunk as it
  arrives against its own running SHA-256 of the file, so one pass at each end
  checks every chunk and, at the last, the whole file.
* ``...<file>?chunk=C&hashes=N`` -> the prefix digests (hex, JSON list) at the
  end of each chunk covering the file's first ``N`` bytes: how a receiver
  re-verifies a partial copy left by an earlier attempt.
* ``POST /v1/jobs/<job>/fetch`` with ``{"source": URL, "checkpoint": NAME|"latest",
  "accept": [manifest SHA-256, ...]}`` -> this agent pulls that checkpoint from the
  agent at ``source`` into its own root (a push, seen from the source) and answers
  the transfer summary. ``source`` must be one of the run's agents (``PUT
  /v1/peers``); ``accept`` lists the manifests the controller recorded, and any
  other checkpoint is refused (and logged). Pulls of one job run one at a time (a
  second waits for the first, then finds its checkpoint there: ``"skipped": true``).
* ``PUT /v1/peers`` with ``{"urls": [...]}``: the agents of this run (the only
  sources ``fetch`` pulls from once set; an agent with a token pulls from none
  until the controller sets them).

Limits: requests in flight (``max_requests``, 503 beyond), file streams
(``max_streams``) and pulls (``max_fetches``) at once, request bodies
(``max_body_bytes``, 413; read within ``body_timeout_s``, else 408), idle
keep-alive connections closed after ``keepalive_s``; a malformed
``Content-Length`` is refused by the HTTP parser. Bodies are sent in blocks through
one :class:`~greenhop.runtime.ratelimit.TokenBucket` shared by every connection
(the site's link) without blocking the event loop; ``latency_s`` is added before
each response. The agent stops by itself after ``idle_timeout_s`` without a
request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from greenhop.core.errors import CheckpointError, ConfigError, GreenhopError
from greenhop.core.names import check_name
from greenhop.runtime.auth import Credentials, is_loopback, token_matches
from greenhop.runtime.ratelimit import TokenBucket
from greenhop.workload import checkpoint as ck

SEND_BLOCK_BYTES = 64 * 1024
"""Bytes sent per token-bucket draw on a rate-limited link [B]."""
FAST_BLOCK_BYTES = 1024 * 1024
"""Largest write on a rate-limited link [B] (an unlimited one gets a whole chunk per write)."""
MIN_CHUNK_BYTES = 4 * 1024
MAX_CHUNK_BYTES = 64 * 1024 * 1024
FRAMED_TYPE = "application/x-greenhop-frames"
FRAME_OVERHEAD_BYTES = 8 + 32
"""Per-chunk framing: an 8-byte big-endian length before the data, its SHA-256 after."""
_RANGE = re.compile(r"bytes=([0-9]+)-([0-9]*)", re.ASCII)

log = logging.getLogger("greenhop.agent")


def check_job_name(job: str) -> str:
    """A job name is one path component (:func:`greenhop.core.names.check_name`)."""
    return check_name("job", job)


def agent_url_parts(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an agent URL (``http`` without a scheme, the scheme's
    port without one); anything else, a port out of range or not a number included, is a
    ConfigError naming the URL."""
    try:  # urlsplit itself refuses a malformed IPv6 host ("http://[::1")
        parts = urlsplit(url if "//" in url else f"http://{url}")
    except ValueError as exc:
        raise ConfigError(f"agent URL {url!r} is malformed ({exc}); it must look like "
                          "https://host:port") from None
    try:
        port = parts.port
    except ValueError:  # "Port out of range 0-65535", or not a number
        port = 0
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ConfigError(f"agent URL {url!r} must look like https://host:port (a port "
                          "from 1 to 65535)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        # an agent serves at its root: a path (/../x) would be dropped without a word
        raise ConfigError(f"agent URL {url!r} must look like https://host:port, without a "
                          "path, query or fragment")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def normalize_url(url: str) -> str:
    """``scheme://host:port`` of an agent URL (what peers are compared by)."""
    scheme, host, port = agent_url_parts(url)
    return f"{scheme}://{host}:{port}"


class Faults:
    """Hook for fault injection on the sending side; the default does nothing.

    :meth:`on_block` sees each block before it is sent: it may change the
    bytes (return a new block) or return None to drop the connection there.
    Tests subclass it and pass the instance to :class:`SiteAgent`.
    """

    def on_block(self, name: str, file: str, offset: int, block: bytes) -> bytes | None:
        return block


class AgentStats:
    """Counters of one agent (thread-safe): body bytes sent, requests served, refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes_sent = 0
        self.requests = 0
        self.unauthorized = 0
        self.busy = 0
        self.ranges: list[tuple[str, int]] = []
        self.refused: list[str] = []

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes_sent += n


def complete_checkpoints(job_dir: Path) -> list[dict[str, Any]]:
    """Checkpoints under ``job_dir`` with a valid manifest, newest first (not re-hashed)."""
    out = []
    for step, path in ck.list_checkpoints(job_dir):
        try:
            raw = (path / ck.MANIFEST).read_bytes()
            m = ck.parse_manifest(raw, str(path / ck.MANIFEST))
        except (CheckpointError, OSError):
            continue
        out.append(
            {
                "name": path.name,
                "step": step,
                "finished": bool(m.get("finished")),
                "size_bytes": sum(r["size_bytes"] for r in m["files"].values()),
                "manifest_sha256": hashlib.sha256(raw).hexdigest(),
            }
        )
    return out


def _int_param(query: dict[str, list[str]], key: str) -> int | None:
    if key not in query:
        return None
    raw = query[key][0]
    if not raw.isascii() or not raw.isdigit():
        raise ConfigError(f"query parameter {key} must be a non-negative integer")
    return int(raw)


class _Drop(Exception):
    """An injected fault: drop the connection mid-body."""


class _BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(status: int, body: Any, headers: dict[str, str] | None = None):
    from starlette.responses import JSONResponse

    return JSONResponse(body, status_code=status, headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None):
    return _json(status, {"error": message}, headers)


# ------------------------------------------------------------------------------ middleware


class _Guard:
    """Outermost ASGI layer: token, requests in flight, body size, latency, idle clock."""

    def __init__(self, app, agent: SiteAgent) -> None:
        self.app = app
        self.agent = agent

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        agent = self.agent
        agent.last_request_s = time.monotonic()
        headers = {k.lower(): v for k, v in scope["headers"]}
        if agent.token is not None:
            auth = headers.get(b"authorization")
            if not token_matches(auth.decode("latin-1") if auth else None, agent.token):
                with agent.stats._lock:
                    agent.stats.unauthorized += 1
                why = ("the token given is not this agent's (the run's token)" if auth else
                       "this agent needs the run's token (Authorization: Bearer ...)")
                resp = _error(401, why, {"WWW-Authenticate": "Bearer"})
                return await resp(scope, receive, send)
        length = headers.get(b"content-length")
        if length is not None and int(length) > agent.max_body_bytes:  # h11 checked the digits
            return await _error(413, f"request body larger than {agent.max_body_bytes} B")(
                scope, receive, send)
        if agent.inflight >= agent.max_requests and scope["path"] != "/v1/health":
            with agent.stats._lock:
                agent.stats.busy += 1
            return await _error(503, "agent busy; retry later", {"Retry-After": "1"})(
                scope, receive, send)
        agent.inflight += 1
        with agent.stats._lock:
            agent.stats.requests += 1
        try:
            if agent.latency_s:
                await asyncio.sleep(agent.latency_s)
            with contextlib.suppress(_Drop):
                await self.app(scope, receive, send)
        finally:
            agent.inflight -= 1


async def _read_json(request, agent: SiteAgent) -> Any:
    """The request's JSON body, at most ``max_body_bytes``, read within ``body_timeout_s``."""
    buf = bytearray()

    async def read() -> None:
        async for piece in request.stream():
            buf.extend(piece)
            if len(buf) > agent.max_body_bytes:
                raise _BadBody(413, f"request body larger than {agent.max_body_bytes} B")

    try:
        await asyncio.wait_for(read(), agent.body_timeout_s)
    except TimeoutError:
        raise _BadBody(408, f"request body not received within {agent.body_timeout_s:g} s") \
            from None
    try:
        return json.loads(bytes(buf) or b"{}")
    except ValueError as exc:
        raise _BadBody(400, f"bad request body: {exc}") from None


def _first_problem(exc) -> str:
    """A pydantic ``ValidationError`` in one line: its first problem and where it is, e.g.
    ``Input should be a valid list at urls`` (pydantic's own text spans lines)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the body"
    more = exc.error_count() - 1
    return f"{first['msg']} at {where}" + (f" (and {more} more)" if more else "")


# ------------------------------------------------------------------------------ routes


def build_app(agent: SiteAgent):
    """The agent's ASGI application (routes wrapped in :class:`_Guard`)."""
    import anyio
    from pydantic import BaseModel, ConfigDict, ValidationError
    from starlette.applications import Starlette
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    class FetchRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        source: str
        checkpoint: str = "latest"
        accept: list[str] | None = None

    class PeersRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        urls: list[str]

    streams = anyio.CapacityLimiter(agent.max_streams)
    disk = anyio.CapacityLimiter(max(4, agent.max_streams))

    async def health(request):
        return _json(200, {"ok": True, "site": agent.name, "pid": os.getpid(),
                           "started_unix_s": agent.started_unix_s})

    async def checkpoints(request):
        try:
            job = check_job_name(request.path_params["job"])
        except ConfigError as exc:
            return _error(400, str(exc))
        found = await anyio.to_thread.run_sync(complete_checkpoints, agent.root / job,
                                               limiter=disk)
        return _json(200, found)

    async def peers(request):
        try:
            req = PeersRequest.model_validate(await _read_json(request, agent))
            urls = {normalize_url(u) for u in req.urls}
        except _BadBody as exc:
            return _error(exc.status, str(exc))
        except ValidationError as exc:
            return _error(400, f"bad peers: {_first_problem(exc)}")
        except ConfigError as exc:
            return _error(400, f"bad peers: {exc}")
        agent.peers = urls
        log.info("peers set: %s", sorted(urls))
        return _json(200, {"peers": sorted(urls)})

    async def fetch(request):
        try:
            job = check_job_name(request.path_params["job"])
            req = FetchRequest.model_validate(await _read_json(request, agent))
            source = normalize_url(req.source)
        except _BadBody as exc:
            return _error(exc.status, str(exc))
        except ValidationError as exc:
            return _error(400, f"bad request body: {_first_problem(exc)}")
        except ConfigError as exc:
            return _error(400, str(exc))
        if agent.peers is not None and source not in agent.peers:
            agent.refuse(f"fetch of {job} from {source}: not one of this run's agents")
            return _error(403, f"{source} is not one of this run's agents; refusing to pull "
                               "from it (set the agents it may pull from with `greenhop "
                               "transfer peers URL --peer SOURCE`)")
        if agent.fetch_slots.locked():
            return _error(503, "too many pulls under way; retry later", {"Retry-After": "1"})
        from greenhop.runtime.transfer import ForeignCheckpoint, pull_checkpoint

        def pull():
            return pull_checkpoint(source, job, agent.root / job, req.checkpoint,
                                   accept=req.accept, credentials=agent.client_credentials)

        # one pull of a job at a time: two share its staging directory (.incoming-<name>)
        # and broke each other; the second waits, then finds the checkpoint there
        # (skipped). pull_checkpoint's file lock already keeps pulls apart, across
        # processes too; this one makes the second wait here, not in a fetch slot's thread
        lock = agent.fetch_locks.setdefault(job, asyncio.Lock())
        async with lock, agent.fetch_slots:
            try:
                result = await anyio.to_thread.run_sync(pull)
            except GreenhopError as exc:
                if isinstance(exc, ForeignCheckpoint) or "never recorded" in str(exc):
                    agent.refuse(f"fetch of {job} from {source}: {exc}")
                return _error(409 if isinstance(exc, ConfigError) else 502, str(exc))
        return _json(200, result.to_json())

    async def send_file(request):
        try:
            job = check_job_name(request.path_params["job"])
            query = parse_qs(request.url.query)
            chunk = _int_param(query, "chunk")
            upto = _int_param(query, "hashes")
        except ConfigError as exc:
            return _error(400, str(exc))
        name, file = request.path_params["name"], request.path_params["file"]
        if ck.parse_step_dir(name) is None:
            return _error(404, f"{name!r} is not a checkpoint name (step-NNNNNNNNN)")
        path = agent.root / job / name
        try:
            manifest = await anyio.to_thread.run_sync(ck.read_manifest, path, limiter=disk)
        except CheckpointError as exc:
            return _error(404, f"checkpoint {job}/{name} is not available: {exc}")
        if file != ck.MANIFEST and file not in manifest["files"]:
            return _error(404, f"{file!r} is not part of checkpoint {job}/{name}")
        if chunk is not None and not (MIN_CHUNK_BYTES <= chunk <= MAX_CHUNK_BYTES):
            return _error(400, f"chunk must be in [{MIN_CHUNK_BYTES}, {MAX_CHUNK_BYTES}] B")
        try:
            fd = os.open(path / file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            return _error(404, f"cannot open {job}/{name}/{file}: {exc.strerror}")
        handed_over = False
        try:
            size = os.fstat(fd).st_size
            want = manifest["files"].get(file, {}).get("size_bytes", size)
            if size != want:  # 409, distinct from 404: the receiver skips this checkpoint
                return _error(409, f"{job}/{name}/{file} is {size} B but its manifest says "
                                   f"{want} B: corrupt at rest")
            if upto is not None:
                if chunk is None or upto > size:
                    return _error(400, "hashes=N needs chunk=C and N <= the file size")

                def digests() -> list[str]:
                    return [d.hex() for d in prefix_digests(fd, chunk, upto)]

                return _json(200, await anyio.to_thread.run_sync(digests, limiter=disk))
            start, end = 0, size - 1
            rng = request.headers.get("range")
            if rng:
                m = _RANGE.fullmatch(rng.strip())
                bad = not m or (int(m.group(1)) > max(0, size - 1) and size > 0)
                if not bad and m.group(2) and int(m.group(2)) < int(m.group(1)):
                    bad = True  # inverted (bytes=5-2): RFC 9110 says unsatisfiable
                if not bad and chunk is not None:
                    bad = int(m.group(1)) % chunk != 0 or bool(m.group(2))
                if bad:
                    return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            length = max(0, end - start + 1)
            if streams.available_tokens < 1:
                return _error(503, "too many downloads under way; retry later",
                              {"Retry-After": "1"})
            with agent.stats._lock:
                agent.stats.ranges.append((file, start))
            frames = -(-length // chunk) if chunk else 0
            headers = {"Content-Length": str(length + frames * FRAME_OVERHEAD_BYTES),
                       "Accept-Ranges": "bytes"}
            if rng:
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            body = _body(agent, fd, name, file, start, end, chunk, streams, disk)
            handed_over = True
            return StreamingResponse(body, status_code=206 if rng else 200, headers=headers,
                                     media_type=FRAMED_TYPE if chunk else
                                     "application/octet-stream")
        finally:
            if not handed_over:
                os.close(fd)

    routes = [
        Route("/v1/health", health, methods=["GET"]),
        Route("/v1/peers", peers, methods=["PUT"]),
        Route("/v1/jobs/{job}/checkpoints", checkpoints, methods=["GET"]),
        Route("/v1/jobs/{job}/fetch", fetch, methods=["POST"]),
        Route("/v1/jobs/{job}/checkpoints/{name}/{file}", send_file, methods=["GET"]),
    ]
    return _Guard(Starlette(routes=routes), agent)


ROUTES = (
    ("GET", "/v1/health"),
    ("PUT", "/v1/peers"),
    ("GET", "/v1/jobs/{job}/checkpoints"),
    ("POST", "/v1/jobs/{job}/fetch"),
    ("GET", "/v1/jobs/{job}/checkpoints/{name}/{file}"),
)
"""Every route of the agent (method, path template)."""


def prefix_digests(fd: int, chunk: int, upto: int) -> list[bytes]:
    """SHA-256 of the file's bytes ``[0, e)`` for each chunk end ``e`` up to ``upto`` [B]
    (one pass over the file)."""
    h = hashlib.sha256()
    out = []
    for s in range(0, upto, chunk):
        h.update(os.pread(fd, min(chunk, upto - s), s))
        out.append(h.copy().digest())
    return out


def _hash_prefix(fd: int, upto: int) -> Any:
    """A running SHA-256 over the file's first ``upto`` bytes (a resumed range starts
    there). This re-reads and re-hashes the prefix once per resumed request (about 1 s
    per GB on one core); the common, unbroken pull starts at 0 and pays nothing."""
    h = hashlib.sha256()
    for s in range(0, upto, 8 * 1024 * 1024):
        h.update(os.pread(fd, min(8 * 1024 * 1024, upto - s), s))
    return h


async def _body(agent: SiteAgent, fd: int, name: str, file: str, start: int, end: int,
                chunk: int | None, streams, disk):
    """The response body: chunk ``i+1`` is read (and hashed) in a worker thread while chunk
    ``i`` goes out through the token bucket."""
    import anyio

    plain = type(agent.faults) is Faults
    if not plain:  # fault injection sees the blocks the tests expect
        block_bytes = SEND_BLOCK_BYTES
    elif agent.bucket.unlimited:  # a whole chunk per write: no slicing, fewer wake-ups
        block_bytes = MAX_CHUNK_BYTES
    else:  # an eighth of the bucket per write: fewer wake-ups, the rate stays smooth
        block_bytes = int(min(FAST_BLOCK_BYTES, max(SEND_BLOCK_BYTES,
                                                    agent.bucket.burst_bytes / 8)))
    step = chunk or max(min(block_bytes, FAST_BLOCK_BYTES), 4 * 1024 * 1024)
    running = None  # the file's SHA-256 from byte 0: made by the first read (a thread)

    def load(off: int) -> tuple[bytes, bytes | None]:
        nonlocal running
        data = os.pread(fd, min(step, end + 1 - off), off)
        if not chunk:
            return data, None
        if running is None:
            running = _hash_prefix(fd, off)
        running.update(data)
        return data, running.copy().digest()

    async def read(off: int):
        return await anyio.to_thread.run_sync(load, off, limiter=disk)

    async with streams:
        ahead = asyncio.ensure_future(read(start)) if start <= end else None
        try:
            offset = start
            while ahead is not None:
                data, digest = await ahead
                nxt = offset + len(data)
                ahead = asyncio.ensure_future(read(nxt)) if data and nxt <= end else None
                if not data:
                    raise _Drop
                if digest is not None:  # frame: length, data, SHA-256 as read from disk
                    yield struct.pack(">Q", len(data))
                view = memoryview(data)
                for pos in range(0, len(view), block_bytes):
                    # bytes as read: h11 passes one bytes object on without a copy
                    block = data if len(data) <= block_bytes else bytes(
                        view[pos: pos + block_bytes])
                    if not plain:
                        block = agent.faults.on_block(name, file, offset + pos, block)
                        if block is None:  # injected drop
                            raise _Drop
                    wait_s = agent.bucket.reserve(len(block))
                    if wait_s > 0:
                        await asyncio.sleep(wait_s)
                    yield block
                    agent.stats.add(len(block))
                if digest is not None:
                    yield digest
                offset = nxt
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(BaseException):
                    await ahead
            os.close(fd)


# ------------------------------------------------------------------------------ the server


class SiteAgent:
    """One site's agent serving ``root/<job>/step-*`` over HTTP(S) on ``host:port``.

    Args:
        root: directory holding one sub-directory per job.
        host: address to bind (loopback by default; any other needs ``tls`` and ``token``).
        port: TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
        rate_bps: link rate [bit/s] shared by all outgoing bodies; ``inf`` = unlimited.
        latency_s: delay added before each response [s].
        idle_timeout_s: stop after this long without a request [s] (None = never).
        faults: fault injection hook (tests).
        token: the run's secret; None serves without authentication (loopback only).
        tls: ``(cert_file, key_file)`` to serve HTTPS.
        ca_file: the run's CA (PEM), to verify the agents this one pulls from.
        max_requests, max_streams, max_fetches: requests in flight, file bodies being
            sent, pulls under way at once (beyond: 503).
        max_body_bytes: largest request body [B]; body_timeout_s: time to receive it [s];
        keepalive_s: idle keep-alive connections are closed after this [s].
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
        token: str | None = None,
        tls: tuple[str, str] | None = None,
        ca_file: str | None = None,
        max_requests: int = 64,
        max_streams: int = 16,
        max_fetches: int = 4,
        max_body_bytes: int = 64 * 1024,
        body_timeout_s: float = 10.0,
        keepalive_s: float = 5.0,
    ) -> None:
        if latency_s < 0:
            raise ConfigError(f"latency must be >= 0; got {latency_s} s")
        if not is_loopback(host) and (token is None or tls is None):
            raise ConfigError(f"--host {host}: an agent reachable beyond this machine needs "
                              "--token-file and --tls-cert/--tls-key")
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
        self.token = token
        self.tls = tls
        self.client_credentials = Credentials(token, ca_file)
        self.peers: set[str] | None = set() if token is not None else None
        self.max_requests = max_requests
        self.max_streams = max_streams
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.keepalive_s = keepalive_s
        self.max_fetches = max_fetches
        self.fetch_slots: asyncio.Semaphore | None = None  # made on the server's loop
        self.fetch_locks: dict[str, asyncio.Lock] = {}  # per job: its pulls one at a time
        self.inflight = 0
        self.stats = AgentStats()
        self.started_unix_s = time.time()
        self.last_request_s = time.monotonic()
        self._server = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._stopped = threading.Event()
        self._started = threading.Event()

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("agent not started")
        return self._sock.getsockname()[1]

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def refuse(self, what: str) -> None:
        """Record (and log to stderr) a refused request."""
        with self.stats._lock:
            self.stats.refused.append(what)
        print(f"greenhop agent {self.name}: refused {what}", file=sys.stderr, flush=True)

    def start(self) -> SiteAgent:
        """Bind and serve in a background thread (its own event loop); return self."""
        import uvicorn

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP named: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
        # protocol says TCP, and a frame's small writes (length, digest) otherwise waited
        # for the peer's delayed ACK: 40 ms per small file (benchmarks/README.md, (b))
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}; "
                "pick another --port (0 = any free port)"
            ) from None
        sock.listen(1024)
        self._sock = sock
        kw = {}
        if self.tls is not None:
            kw.update(ssl_certfile=self.tls[0], ssl_keyfile=self.tls[1])
        config = uvicorn.Config(
            build_app(self), log_level="info" if self.verbose else "critical",
            access_log=self.verbose, timeout_keep_alive=max(1, math.ceil(self.keepalive_s)),
            limit_concurrency=max(1024, 4 * self.max_requests), lifespan="off",
            h11_max_incomplete_event_size=16 * 1024, server_header=False, **kw)
        try:
            config.load()
        except (OSError, ValueError) as exc:
            sock.close()
            if self.tls is None:
                raise ConfigError(f"cannot start the agent of {self.name}: {exc}") from None
            raise ConfigError(
                f"cannot use the TLS certificate {self.tls[0]} (--tls-cert) with the key "
                f"{self.tls[1]} (--tls-key): {exc}; both must be PEM files, the key the "
                "certificate's own") from None
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"greenhop-agent-{self.name}",
                                        daemon=True)
        self._thread.start()
        if not self._started.wait(30) or self._stopped.is_set():
            raise ConfigError(f"the agent of {self.name} did not start")
        self.last_request_s = time.monotonic()
        if self.idle_timeout_s is not None:
            self._watchdog = threading.Thread(target=self._watch, daemon=True)
            self._watchdog.start()
        return self

    def _serve(self) -> None:
        async def main() -> None:
            self.fetch_slots = asyncio.Semaphore(self.max_fetches)
            task = asyncio.ensure_future(self._server.serve(sockets=[self._sock]))
            while not self._server.started and not task.done():
                await asyncio.sleep(0.005)
            self._started.set()
            await task

        try:
            asyncio.run(main())
        finally:
            self._started.set()
            self._stopped.set()

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
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._stopped.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()

    def __enter__(self) -> SiteAgent:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
