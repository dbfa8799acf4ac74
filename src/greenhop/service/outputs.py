"""Finished simulation and sweep outputs served beside (or instead of) a live run.

``greenhop serve --outputs DIR`` names folders written by ``greenhop simulate --out``
(``metrics.json`` and ``report.html``), by ``greenhop run`` (its work directory:
``metrics.json`` with a ``live`` section) or by ``greenhop sweep --out`` (``summary.json`` and
``report.html``). :func:`scan_outputs` checks them before the service starts;
:func:`outputs_router` serves them under ``/api/v1/outputs`` (docs/service.md).

Requests address an output by its *name* only (the folder's name, made unique); a name is
looked up in the table built at start-up, and the files served are the fixed ones of that
folder, so nothing a client sends ever becomes part of a path on disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenhop.core.errors import ConfigError
from greenhop.sim.sweep_store import MANIFEST, REPORT, SIMULATION_METRICS, SUMMARY

# the names the simulation and the sweep write (one place: greenhop.sim.sweep_store)
SIMULATION_FILE, SWEEP_FILE, SWEEP_MANIFEST, REPORT_FILE = (
    SIMULATION_METRICS, SUMMARY, MANIFEST, REPORT)
NO_RUN = "no live run attached: this service was started with --outputs only (add --db)"
"""The answer of the run endpoints when no run database is attached."""


@dataclass(frozen=True)
class Output:
    """One served output folder.

    Attributes:
        name: unique name in URLs (the folder's name, with ``-2``, ``-3``, ... on a clash).
        kind: ``simulation``, ``live`` (a live run's work directory) or ``sweep``.
        path: the folder (resolved).
        data_file: ``metrics.json`` or ``summary.json`` inside it.
    """

    name: str
    kind: str
    path: Path
    data_file: Path

    def document(self) -> dict:
        """The folder's metrics or summary, parsed (raises OutputGone when unreadable, or
        when it became a link leading outside the folder)."""
        real = file_inside(self.path, self.data_file.name)
        try:
            if real is None:
                raise ValueError(f"{self.data_file.name} is gone or leads outside its folder")
            return _json_object(real)
        except ValueError as exc:
            raise OutputGone(f"output {self.name!r}: {exc}") from None

    def report(self) -> Path | None:
        """The HTML report, or None when the folder has none (``--no-report``) or its
        ``report.html`` leads outside the folder (a link)."""
        return file_inside(self.path, REPORT_FILE)

    def why_no_report(self) -> str:
        """Why :meth:`report` is None, in a few words."""
        if not self.path.is_dir():
            return f"its folder {self.path} is gone"
        if self.kind == "live":
            return "a live run writes none"
        return f"no {REPORT_FILE} in its folder (written with --no-report?)"

    def entry(self) -> dict[str, Any]:
        """The listing's row: name, kind, path, policies, scenario name, report."""
        try:
            doc = self.document()
        except OutputGone:
            doc = {}
        return {"name": self.name, "kind": self.kind, "path": str(self.path),
                "policies": _policies(self.kind, doc), "scenario": _scenario(self.kind, doc),
                "report": self.report() is not None}


class OutputGone(LookupError):
    """An output's file vanished or broke after the service started."""


METRICS_KINDS = ("simulation", "live")
"""Kinds of output whose data file is a ``metrics.json``."""


def _policies(kind: str, doc: dict) -> list[str]:
    pols = doc.get("policies")
    if kind in METRICS_KINDS:
        return sorted(pols) if isinstance(pols, dict) else []
    return [str(p) for p in pols] if isinstance(pols, list) else []


def _scenario(kind: str, doc: dict) -> str | None:
    sc = doc.get("scenario")
    if kind in METRICS_KINDS:
        sc = sc.get("name") if isinstance(sc, dict) else None
    return sc if isinstance(sc, str) else None


def file_inside(folder: Path, name: str) -> Path | None:
    """``folder / name`` resolved, when it is a file in ``folder`` itself (not a link
    leading elsewhere); None otherwise. Only such files are served."""
    try:
        real = (folder / name).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a loop of links
        return None
    return real if real.parent == folder and real.is_file() else None


def _json_object(path: Path) -> dict:
    """The JSON object in ``path``; ValueError saying why it cannot be had."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name} cannot be read as JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{path.name} cannot be read as JSON (nested too deeply)") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path.name} is not a JSON object")
    return doc


def _load(path: Path, option: str, shown: Path) -> dict:
    try:
        return _json_object(path)
    except ValueError as exc:
        raise ConfigError(f"{option} {shown}: {exc}") from None


def inspect_output(folder: str | Path, option: str = "--outputs") -> tuple[str, Path, Path]:
    """``(kind, resolved folder, data file)`` of a greenhop output folder; a ConfigError
    naming ``option`` and the path otherwise."""
    shown = Path(folder)
    if not shown.exists():
        raise ConfigError(f"{option} {shown}: no such directory")
    if not shown.is_dir():
        raise ConfigError(f"{option} {shown}: is a file; pass the folder that "
                          "`greenhop simulate --out` or `greenhop sweep --out` wrote")
    path = shown.resolve()
    for name in (SIMULATION_FILE, SWEEP_FILE):
        if (path / name).exists() and file_inside(path, name) is None:
            raise ConfigError(f"{option} {shown}: {name} is not a plain file in this folder "
                              "(a directory, or a link leading outside it)")
    sim, sweep = path / SIMULATION_FILE, path / SWEEP_FILE
    if sim.is_file():
        doc = _load(sim, option, shown)
        if not isinstance(doc.get("policies"), dict) or not isinstance(doc.get("scenario"), dict):
            raise ConfigError(f"{option} {shown}: {SIMULATION_FILE} is not greenhop's "
                              "(no 'policies' and 'scenario' tables)")
        # a live run's metrics.json is the simulator's format plus its "live" section
        return ("live" if isinstance(doc.get("live"), dict) else "simulation"), path, sim
    if sweep.is_file():
        doc = _load(sweep, option, shown)
        if not isinstance(doc.get("policies"), list) or not isinstance(doc.get("points"), list):
            raise ConfigError(f"{option} {shown}: {SWEEP_FILE} is not a greenhop sweep "
                              "summary (no 'policies' and 'points')")
        return "sweep", path, sweep
    if (path / SWEEP_MANIFEST).is_file():
        raise ConfigError(f"{option} {shown}: a sweep that has not finished (no {SWEEP_FILE} "
                          "yet); run the same `greenhop sweep` again to complete it")
    raise ConfigError(f"{option} {shown}: not a greenhop output (no {SIMULATION_FILE} of "
                      f"`greenhop simulate --out`, no {SWEEP_FILE} of `greenhop sweep --out`)")


def scan_outputs(folders, option: str = "--outputs") -> list[Output]:
    """Check every folder (in order) and name them uniquely; the first bad one raises."""
    found: list[Output] = []
    taken: set[str] = set()
    seen: set[Path] = set()
    for folder in folders:
        kind, path, data = inspect_output(folder, option)
        if path in seen:
            continue  # the same folder twice is served once
        seen.add(path)
        base = path.name or "output"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        found.append(Output(name, kind, path, data))
    return found


class NoRunReader:
    """Stands in for :class:`~greenhop.service.data.RunReader` when no run database is
    attached: every view answers 404 :data:`NO_RUN` (the run endpoints, the dashboard's
    figures, ``/metrics``, the operator actions)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def no_run(*args, **kwargs):
            from fastapi import HTTPException

            raise HTTPException(404, NO_RUN)

        no_run.__name__ = name
        return no_run


def outputs_page(outputs: list[Output]) -> str:
    """The page at ``/`` without a run database: says no live run is attached and lists the
    served outputs with links to their reports and data (plain HTML, no script: nothing
    polls the run's endpoints, which answer 404 here)."""
    from html import escape
    from urllib.parse import quote

    rows = []
    for o in outputs:
        e = o.entry()
        base = f"/api/v1/outputs/{quote(o.name, safe='')}"
        report = (f'<a href="{base}/report">report</a>' if e["report"] else
                  escape(f"no report ({o.why_no_report()})"))
        data = SIMULATION_FILE if o.kind in METRICS_KINDS else SWEEP_FILE
        rows.append(
            f'<tr data-output="{escape(o.name)}"><td>{escape(o.name)}</td><td>{escape(o.kind)}'
            f'</td><td>{escape(e["scenario"] or "–")}</td>'
            f'<td>{escape(", ".join(e["policies"]) or "–")}</td><td>{report}</td>'
            f'<td><a href="{base}">{data}</a></td><td>{escape(e["path"])}</td></tr>')
    table = ('<table id="outputs"><thead><tr><th>output</th><th>kind</th><th>scenario</th>'
             "<th>policies</th><th>report</th><th>data</th><th>folder</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>" if rows else
             '<p class="note">No outputs served.</p>')
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>greenhop — outputs</title>", '<link rel="icon" href="data:,">',
        '<link rel="stylesheet" href="/static/dashboard.css"></head><body>',
        "<header><h1>greenhop outputs</h1>",
        f'<p class="note" id="no-run">{escape(NO_RUN)}.</p></header>',
        "<section><h2>Outputs</h2>", table,
        '<p class="note">The list is also at <a href="/api/v1/outputs">/api/v1/outputs</a>.'
        "</p></section></body></html>"])


def outputs_router(outputs: list[Output]):  # -> fastapi.APIRouter
    """``GET /api/v1/outputs``, ``/api/v1/outputs/{name}`` and ``.../{name}/report``."""
    from fastapi import APIRouter, HTTPException
    from fastapi.responses import FileResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool

    from greenhop.service.data import json_bytes

    by_name = {o.name: o for o in outputs}
    router = APIRouter(prefix="/api/v1/outputs", tags=["outputs"])

    def _get(name: str) -> Output:
        out = by_name.get(name)
        if out is None:
            names = ", ".join(by_name) or "none (start the service with --outputs DIR)"
            raise HTTPException(404, f"unknown output {name!r}; outputs served: {names}")
        return out

    @router.get("", summary="Finished simulation and sweep outputs served")
    async def list_outputs():
        return JSONResponse(await run_in_threadpool(lambda: [o.entry() for o in outputs]))

    @router.get("/{name}", summary="An output's metrics.json (simulation) or summary.json "
                "(sweep)")
    async def get_output(name: str):
        out = _get(name)
        try:
            doc = await run_in_threadpool(out.document)
        except OutputGone as exc:
            raise HTTPException(404, str(exc)) from None
        return Response(json_bytes(doc), media_type="application/json")

    @router.get("/{name}/report", summary="An output's self-contained HTML report")
    async def get_report(name: str):
        out = _get(name)
        page = await run_in_threadpool(out.report)
        if page is None:
            raise HTTPException(404, f"output {name!r} has no report: {out.why_no_report()}")
        return FileResponse(page, media_type="text/html; charset=utf-8")

    return router
