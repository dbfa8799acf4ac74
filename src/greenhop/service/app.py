"""The HTTP service over a run database: REST under ``/api/v1``, server-sent events,
Prometheus ``/metrics``, the dashboard page, and (with a token) operator actions.

``create_app(db_path, token=...)`` builds the FastAPI app (``greenhop serve`` runs it on
uvicorn). Reads never write; the write endpoints exist only when a token is configured,
and each one records a request in the run's ``operator_actions`` table (with an event);
the controller applies it at the start of its next step (docs/service.md).
"""


import asyncio
import hmac
import json
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlsplit

from greenhop.fleet.operator import OPERATOR_KINDS
from greenhop.runtime.store import owner_alive, run_status
from greenhop.runtime.store_errors import StoreError
from greenhop.service.data import RunReader, json_bytes
from greenhop.service.feed import EventFeed

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted [B] (413 beyond)."""
VIEW_TTL_S = 0.5
"""How long a read view is shared between clients before the database is read again [s]."""
SSE_POLL_S = 0.25
"""How often the event stream looks for new events [s]."""
STOP_CHECK_S = 0.25
"""How often an open event stream looks whether the server is stopping [s]."""
SSE_PING_S = 15.0
"""A comment line after this long without events keeps proxies from closing the stream [s]."""
STATIC = Path(__file__).resolve().parent / "static"
GZIP_MIN_BYTES = 1024
"""Answers shorter than this are sent uncompressed [B]."""
MAX_VIEWS = 256
"""Read views kept at once; past it, the expired ones are dropped (the events view is keyed
by the client's ``after`` and ``limit``)."""
MAX_EVENT_ID = 2**63 - 1
"""Largest event id a client may ask after (SQLite's INTEGER)."""
GRID_EVENT_EXAMPLE = '{"site": "madrid-es", "from": "+30min", "to": "+2h", "reduce": "25%"}'
"""A grid event body that fits any run of the packaged scenarios (a ``limit`` must be at or
above the site's base load, which differs per scenario)."""


def _is_text(s: str) -> bool:
    """Whether UTF-8 can carry ``s`` (a lone surrogate, from a ``\\ud800`` escape, it
    cannot)."""
    try:
        s.encode()
    except UnicodeEncodeError:
        return False
    return True


def not_text_at(doc) -> str | None:
    """Where (``.key``, ``[i]``; ``""``: the document itself) a string of a parsed JSON
    document, key or value, is not text (:func:`_is_text`), or None when none is. Such a string
    can be stored but not sent back: the answer would fail after the write."""
    todo = [("", doc)]
    while todo:  # iterative: the parser allows deeper nesting than this stack would
        where, v = todo.pop()
        if isinstance(v, str) and not _is_text(v):
            return where
        if isinstance(v, dict):
            for k, x in v.items():
                if not _is_text(k):
                    return f"{where}.{k!r}"  # repr escapes the surrogate
                todo.append((f"{where}.{k}", x))
        elif isinstance(v, list):
            todo.extend((f"{where}[{i}]", x) for i, x in enumerate(v))
    return None


def unreadable(exc: Exception) -> str:
    """The 503 detail of a run database that cannot be used any more."""
    return f"the run database cannot be read ({exc}); check the --db file"


def _tidy_header(name: bytes, value: bytes) -> bytes:
    """``value`` of the response header ``name``: ``Allow`` with ``HEAD`` after ``GET``,
    ``Location`` relative (path and query; one leading slash, so no other host), any other
    as it is."""
    name = name.lower()
    if name == b"allow":
        methods = [m.strip() for m in value.decode("latin-1").split(",")]
        if "GET" in methods and "HEAD" not in methods:
            methods.insert(methods.index("GET") + 1, "HEAD")
        return ", ".join(methods).encode("latin-1")
    if name == b"location":
        parts = urlsplit(value.decode("latin-1"))
        if parts.scheme or parts.netloc:
            path = "/" + parts.path.lstrip("/")  # "//host/x" would name a host again
            return (path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
    return value


def plotly_js_path() -> Path | None:
    """``plotly.min.js`` as shipped inside the ``plotly`` Python package (None if absent)."""
    try:
        import plotly
    except ImportError:
        return None
    p = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    return p if p.is_file() else None


def _operator_paths() -> list[str]:
    """The path of each operator action's endpoint under ``/api/v1``, in the order of
    ``OPERATOR_KINDS``."""
    return [f"/sites/{{name}}/{kind}" if what == "site" else
            f"/jobs/{{name}}/{kind}" if what == "job" else f"/policy/{kind}"
            for kind, what in OPERATOR_KINDS.items()]


def create_app(db_path, *, token: str | None = None, outputs=None):  # -> fastapi.FastAPI
    """The FastAPI app serving the run database ``db_path`` (see the module docstring) and
    the finished ``outputs`` (:class:`greenhop.service.outputs.Output`, from
    :func:`~greenhop.service.outputs.scan_outputs`); ``db_path`` None: outputs only, and
    the run's endpoints answer 404."""
    try:
        from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
        from fastapi.exceptions import RequestValidationError
        from fastapi.responses import (
            FileResponse,
            JSONResponse,
            PlainTextResponse,
            Response,
            StreamingResponse,
        )
        from fastapi.staticfiles import StaticFiles
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from starlette.concurrency import run_in_threadpool
    except ImportError as exc:  # pragma: no cover - the service's dependencies are declared
        from greenhop.core.errors import ConfigError

        raise ConfigError(f"greenhop serve needs FastAPI, uvicorn and prometheus-client "
                          f"({exc.name} is missing); install greenhop with its service "
                          "dependencies") from None
    from greenhop.service.metrics import RunCollector
    from greenhop.service.outputs import NoRunReader, outputs_router

    if token is not None:
        from greenhop.runtime.auth import check_token

        token = check_token(token, "the operator token")
    if db_path is None:
        reader = NoRunReader()
    else:
        reader = RunReader(db_path)
        reader.scenario_inputs()  # seconds of work, in the background: start it now
    # No Swagger or ReDoc pages: they load their scripts from a CDN, and the service
    # must work offline; the description itself is at /openapi.json.
    app = FastAPI(title="greenhop", version="1", docs_url=None, redoc_url=None,
                  description="A live greenhop run: sites, jobs, migrations, events, metrics, "
                              "and (with a token) operator actions.")
    app.state.reader = reader
    app.state.token = token
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunCollector(reader))
    api = APIRouter(prefix="/api/v1")
    feed = EventFeed(reader, SSE_POLL_S, ping_s=SSE_PING_S)

    class LimitBody:
        """Refuse a declared body over :data:`MAX_BODY_BYTES` before reading it (plain ASGI:
        a streaming response passes through untouched)."""

        def __init__(self, inner) -> None:
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                size = dict(scope["headers"]).get(b"content-length")
                if size is not None and (not size.isdigit() or int(size) > MAX_BODY_BYTES):
                    resp = JSONResponse(
                        {"detail": f"request body over {MAX_BODY_BYTES // 1024} KiB"},
                        status_code=413)
                    await resp(scope, receive, send)
                    return
            await self.inner(scope, receive, send)

    # Compressed answers for clients that ask (a report page carries its 4.8 MB plotting
    # library inline; about a third of that gzipped). Innermost, so the header fixes below
    # see its headers; it leaves the event stream uncompressed, unbuffered.
    from starlette.middleware.gzip import GZipMiddleware

    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES)
    app.add_middleware(LimitBody)

    class HeadAsGet:
        """Answer ``HEAD`` like ``GET`` without the body (FastAPI routes take only the
        methods they name; monitors probe with HEAD). The response ends right after its
        headers: a stream's body never ends, and would hold the connection for ever."""

        def __init__(self, inner) -> None:
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http" or scope["method"] != "HEAD":
                await self.inner(scope, receive, send)
                return
            ended = False

            async def headers_only(message):
                nonlocal ended
                if ended or message["type"] != "http.response.start":
                    return  # the body is dropped
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                # the server now tells the app that the client is gone: a stream stops
                ended = True

            await self.inner({**scope, "method": "GET"}, receive, headers_only)

    app.add_middleware(HeadAsGet)

    class TidyHeaders:
        """Two header fixes on every answer. A 405's ``Allow`` names ``HEAD`` beside ``GET``
        (:class:`HeadAsGet` serves it, but the routes name GET only). A redirect's
        ``Location`` is relative (path and query): Starlette's trailing-slash redirect
        builds an absolute URL from the request's ``Host`` header, which a client sets."""

        def __init__(self, inner) -> None:
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                await self.inner(scope, receive, send)
                return

            async def tidy(message):
                if message["type"] == "http.response.start" and (
                        message["status"] == 405 or 300 <= message["status"] < 400):
                    message = {**message, "headers": [
                        (k, _tidy_header(k, v)) for k, v in message["headers"]]}
                await send(message)

            await self.inner(scope, receive, tidy)

    app.add_middleware(TidyHeaders)

    async def unreadable_database(request: Request, exc: Exception):
        # the file was deleted, replaced (by another schema: StoreError) or damaged while
        # serving: say so, in JSON
        return JSONResponse({"detail": unreadable(exc)}, status_code=503)

    async def internal_error(request: Request, exc: Exception):
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the "
                             "service's log"}, status_code=500)

    async def invalid_request(request: Request, exc: RequestValidationError):
        # one line naming the parameter, as every other 4xx of the API (FastAPI's own
        # answer is a list of objects)
        first = exc.errors()[0] if exc.errors() else {}
        kind, *name = [str(p) for p in first.get("loc", ("request",))] or ["request"]
        where = {"query": "query parameter ", "path": "path parameter "}.get(
            kind, f"{kind} ") + ".".join(name)
        got = first.get("input")
        said = f", got {str(got)[:40]!r}" if got is not None else ""
        return JSONResponse({"detail": f"{where.strip()}: {first.get('msg', 'invalid')}"
                             f"{said}"}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(sqlite3.DatabaseError, unreadable_database)
    app.add_exception_handler(StoreError, unreadable_database)
    app.add_exception_handler(Exception, internal_error)

    # ---------------------------------------------------------------- reads
    async def _call(fn, *args):
        # anyio's worker pool (40 threads): blocking SQLite reads stay off the event loop
        return await run_in_threadpool(fn, *args)

    views: dict[tuple, tuple[float, bytes]] = {}
    app.state.views = views  # at most MAX_VIEWS entries

    async def _view(fn, *args, strip: tuple[str, ...] = ()) -> Response:
        """``fn(*args)`` as JSON, shared by every client for :data:`VIEW_TTL_S` (fifty
        dashboards polling cost the run's database one read per view and period)."""
        key = (fn.__name__, *args)
        hit = views.get(key)
        now = time.monotonic()
        if hit is None or now - hit[0] > VIEW_TTL_S:
            data = await _call(fn, *args)
            for item in data if strip and isinstance(data, list) else ():
                for k in strip:
                    item.pop(k, None)
            hit = (now, json_bytes(data))
            if len(views) >= MAX_VIEWS:  # clients choose keys: keep only fresh views
                for k in [k for k, v in views.items() if now - v[0] > VIEW_TTL_S]:
                    del views[k]
                if len(views) >= MAX_VIEWS:
                    views.clear()
            views[key] = hit
        return Response(hit[1], media_type="application/json")

    @api.get("/run", summary="The run: scenario, policy, status, step, sites, jobs")
    async def get_run():
        return await _view(reader.run)

    @api.get("/sites", summary="Per site: surplus now, window, drained, forecast, jobs")
    async def get_sites():
        return await _view(reader.sites)

    @api.get("/jobs", summary="Per job: phase, site, step, progress, pinned")
    async def get_jobs():
        return await _view(reader.jobs)

    @api.get("/migrations", summary="Migrations: phase, bytes moved, ETA")
    async def get_migrations():
        return await _view(reader.migrations, strip=("phase_unix_s",))

    @api.get("/events", summary="Events after an id, in order (paged)")
    async def get_events(after: int = Query(0, ge=0, le=MAX_EVENT_ID),
                         limit: int = Query(500, ge=1, le=5000)):
        return await _view(reader.events, after, limit)

    @api.get("/timeline", summary="Per booked step and site: renewable, surplus, job load")
    async def get_timeline():
        return await _view(reader.timeline)

    @api.get("/placements", summary="Where each job stayed, step intervals")
    async def get_placements():
        return await _view(reader.placements)

    @api.get("/grid/events", summary="Demand-response events filed: pending, taken up or "
             "ignored (and why)")
    async def get_grid_events():
        return await _view(reader.grid_events)

    @api.get("/feasibility", summary="Candidate moves now with the feasibility model")
    async def get_feasibility():
        return await _view(reader.feasibility)

    @api.get("/events/stream", summary="Server-sent events: every new event, in order")
    async def stream(request: Request, after: int = Query(0, ge=0, le=MAX_EVENT_ID)):
        if db_path is None:
            reader.events(after)  # 404: no run attached (before the stream starts)
        last = (request.headers.get("last-event-id") or "").strip()
        # ASCII digits only ("²".isdigit() is true, int("²") fails), and no more of them
        # than an id has (int() refuses over 4300 digits); anything else: `after`
        start = (int(last) if last.isascii() and last.isdigit()
                 and len(last) <= len(str(MAX_EVENT_ID)) and int(last) <= MAX_EVENT_ID
                 else after)

        def stopping() -> bool:
            server = getattr(request.app.state, "server", None)
            return bool(getattr(server, "should_exit", False))

        async def gen():
            yield "retry: 1000\n\n"
            # the response cancels this generator when the client goes away; it ends
            # itself when the server stops (a stream left open held the shutdown for
            # GRACEFUL_S, then was cancelled with an ERROR line in the log)
            messages = feed.messages(start).__aiter__()
            nxt = None
            try:
                while True:
                    nxt = asyncio.ensure_future(messages.__anext__())
                    while not nxt.done():
                        await asyncio.wait({nxt}, timeout=STOP_CHECK_S)
                        if stopping() and not nxt.done():
                            return
                    try:
                        msg = nxt.result()
                    except StopAsyncIteration:
                        return
                    yield msg
            finally:  # stopped, or the client went away: the pending read goes too
                if nxt is not None and not nxt.done():
                    nxt.cancel()

        return StreamingResponse(gen(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    # ---------------------------------------------------------------- writes
    if token is not None:
        def _authorize(request: Request) -> None:
            got = request.headers.get("authorization", "")
            scheme, _, cred = got.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                    cred.strip().encode(), token.strip().encode()):
                raise HTTPException(401, "missing or wrong token: send "
                                    "'Authorization: Bearer <token>' with the token of "
                                    "--token-file", headers={"WWW-Authenticate": "Bearer"})

        def _store():
            """The run database, to write to; one that cannot be opened any more (gone,
            replaced by another schema version) is the server's state, not the
            request's: 503."""
            from greenhop.core.errors import ConfigError
            from greenhop.runtime.store import Store

            try:
                return Store.open(reader.path)
            except (ConfigError, StoreError) as exc:
                raise HTTPException(503, unreadable(exc)) from None

        async def _json_object(request: Request, example: str) -> dict:
            """The request body as a JSON object (an empty body: ``{}``); every string in
            it is text (:func:`not_text_at`), so that it can be stored and echoed."""
            # read in chunks, stopping past the limit: a chunked body declares no length
            # for LimitBody to refuse up front, and was read whole (50 MB) before the 413
            from starlette.requests import ClientDisconnect

            chunks, size = [], 0
            try:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise HTTPException(413, f"request body over {MAX_BODY_BYTES // 1024}"
                                            " KiB")
                    chunks.append(chunk)
            except ClientDisconnect:  # gone mid-body: nothing to do, and no traceback to log
                raise HTTPException(400, "the client closed the connection before the body "
                                    "ended") from None
            raw = b"".join(chunks)
            if not raw.strip():
                return {}
            try:
                doc = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise HTTPException(422, f"request body: not valid JSON ({exc})") from None
            except RecursionError:
                raise HTTPException(422, "request body: not valid JSON (nested too "
                                    "deeply)") from None
            if not isinstance(doc, dict):
                raise HTTPException(422, f"request body: expected a JSON object, e.g. "
                                    f"{example}")
            where = not_text_at(doc)
            if where is not None:
                raise HTTPException(422, f"request body{where}: not printable text (a lone "
                                    "surrogate, e.g. from a \\ud800 escape); send Unicode "
                                    "text")
            return doc

        async def _body(request: Request) -> dict:
            doc = await _json_object(request, '{"note": "maintenance"}')
            note = doc.get("note")
            if note is not None and not isinstance(note, str):
                raise HTTPException(422, "request body: 'note' must be a string")
            unknown = sorted(set(doc) - {"note"})
            if unknown:
                raise HTTPException(422, f"request body: unknown key {unknown[0]!r} (only "
                                    "'note' is read)")
            return doc

        def _applies(status: str) -> str:
            """When a request accepted on a run recorded ``status`` takes effect: a run
            whose controller is not running (stopped, failed, or killed) keeps it queued."""
            if status == "live" and owner_alive(reader.path):
                return "at the start of the controller's next step"
            shown = run_status(status, False)
            return (f"when the run is resumed (its controller is not running: status "
                    f"{shown}); `greenhop run` with this --db resumes it")

        def _request(kind: str, target: str | None, note: str | None) -> dict:
            status = reader.status()
            if status is None:
                raise HTTPException(409, "the run has not started yet")
            if status == "done":
                raise HTTPException(409, f"the run is finished (status {status}); operator "
                                    "actions apply to a live run")
            what = OPERATOR_KINDS[kind]
            if what is not None:
                sites, jobs = reader.names()
                names = sites if what == "site" else jobs
                if target not in names:
                    raise HTTPException(404, f"unknown {what} {target!r}; {what}s of this "
                                        f"run: {', '.join(names)}")
            st = _store()
            try:
                row = st.request_operator(kind, target, note)
            finally:
                st.close()
            return {"accepted": True, "action": row, "applies": _applies(status)}

        def _action(kind: str, with_target: bool):
            async def endpoint(request: Request, name: str | None = None):
                _authorize(request)
                note = (await _body(request)).get("note")
                return JSONResponse(await _call(_request, kind, name, note), status_code=202)
            return endpoint

        for (kind, what), path in zip(OPERATOR_KINDS.items(), _operator_paths(), strict=True):
            api.add_api_route(path, _action(kind, what is not None), methods=["POST"],
                              status_code=202, summary=f"Operator action: {kind}")

        def _grid_event(doc: dict) -> dict:
            from greenhop.core.errors import ConfigError as BadEvent
            from greenhop.service.grid_events import ScenarioGone, file_event

            status = reader.status()
            if status is None:
                raise HTTPException(409, "the run has not started yet")
            if status == "done":
                raise HTTPException(409, f"the run is finished (status {status}); events "
                                    "apply to a live run")
            st = _store()
            try:
                row = file_event(st, doc, where="request body")
            except ScenarioGone as exc:
                raise HTTPException(409, str(exc)) from None
            except BadEvent as exc:
                raise HTTPException(422, str(exc)) from None
            finally:
                st.close()
            return {"accepted": True, "event": row, "applies": _applies(status)}

        async def post_grid_event(request: Request):
            """File a demand-response event (OpenADR-shaped JSON: ``site``, ``sites`` or
            ``zone``; ``from``/``to`` or ``duration``; ``announce`` or ``lead``; ``limit``
            or ``reduce``; optional ``id`` and ``price``), as ``greenhop grid event``."""
            _authorize(request)
            doc = await _json_object(request, GRID_EVENT_EXAMPLE)
            return JSONResponse(await _call(_grid_event, doc), status_code=202)

        api.add_api_route("/grid/events", post_grid_event, methods=["POST"], status_code=202,
                          summary="Demand-response event for the live run")
    else:
        how = ("start greenhop serve with --token-file to take them" if db_path is not None
               else "they act on a live run: start greenhop serve with --db RUN.db and "
                    "--token-file")

        async def writes_off(request: Request, name: str | None = None):
            raise HTTPException(404, "operator actions and grid events are off on this "
                                f"server: it was started without a token; {how}")

        for path in [*_operator_paths(), "/grid/events"]:
            api.add_api_route(path, writes_off, methods=["POST"], include_in_schema=False)

    app.include_router(api)
    outputs = list(outputs or ())
    app.include_router(outputs_router(outputs))

    # ---------------------------------------------------------------- metrics, page
    @app.get("/metrics", include_in_schema=False)
    async def metrics():
        body = await _call(generate_latest, registry)
        return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)

    try:
        from greenhop.service import figures
    except ImportError:  # the dashboard's figures are optional
        figures = None
    if figures is not None:
        app.include_router(figures.router)

    @app.get("/static/plotly.min.js", include_in_schema=False)
    async def plotly_js():
        p = plotly_js_path()
        if p is None:
            raise HTTPException(404, "plotly is not installed")
        return FileResponse(p, media_type="application/javascript")

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        # no icon, and no 404 either: the reports served under /api/v1/outputs link
        # nothing (self-contained), so browsers ask for this one
        return Response(status_code=204)

    @app.get("/", include_in_schema=False)
    async def index():
        if db_path is None:  # no run to show: the outputs' list, not the run's dashboard
            from fastapi.responses import HTMLResponse

            from greenhop.service.outputs import outputs_page

            return HTMLResponse(await _call(outputs_page, outputs))
        page = STATIC / "index.html"
        if not page.is_file():
            raise HTTPException(404, "no dashboard page in this installation; the API is "
                                "under /api/v1 (see /openapi.json)")
        return FileResponse(page, media_type="text/html")

    return app
