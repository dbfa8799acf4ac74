"""The dashboard's figures: ``GET /api/v1/figures/{timeline,placement,feasibility}``, each a
Plotly figure as JSON (``{"data": [...], "layout": {...}}``) drawn by the same
:mod:`greenhop.viz` functions as the simulation report, from the run database's reader
(``request.app.state.reader``, :class:`greenhop.service.data.RunReader`).

The builders (:func:`timeline_figure`, :func:`placement_figure`, :func:`feasibility_figure`)
take the reader and are plain functions, so they are tested without a server.
"""

from __future__ import annotations

import asyncio
import html
import textwrap

from fastapi import APIRouter, Request
from fastapi.responses import Response

from greenhop import viz
from greenhop.viz.page import figure_json

router = APIRouter(prefix="/api/v1/figures", tags=["figures"])


def _empty(title: str, why: str) -> dict:
    """A figure with no data that says why (never a blank chart)."""
    layout = {"title": {"text": title, "x": 0.01, "xanchor": "left"}, "height": 220,
              "xaxis": {"visible": False}, "yaxis": {"visible": False},
              "annotations": [{"text": why, "showarrow": False, "xref": "paper",
                               "yref": "paper", "x": 0.5, "y": 0.5,
                               "font": {"size": 14, "color": "#5a6570"}}]}
    return {"data": [], "layout": layout}


def _waiting(reader) -> str:
    """Why a figure that needs the run's scenario has nothing: the run has not started, the
    file cannot be used (the reader's reason, which names it; tried again now and then), or
    it is still being read."""
    run = reader.run() or {}
    if run.get("status") in (None, "starting"):
        return "the run has not started yet"
    problem = run.get("scenario_error")
    if problem:  # plotly annotations do not wrap, and read <br> and entities
        lines = textwrap.wrap(html.escape(problem, quote=False), 90, break_long_words=False,
                              break_on_hyphens=False)
        return "<br>".join(["this figure needs the run's scenario file:", *lines])
    return "reading the run's scenario: the figure follows in a few seconds"


def _clock(reader) -> tuple[float, float, int]:
    """(start [s since the epoch], step [s], current step) of the run: the scenario's
    start, or, with its file gone, when the run was started (never the epoch)."""
    run = reader.run()
    start = run.get("start_unix_s") or run.get("started_unix_s") or 0.0
    return float(start), float(run.get("step_s") or 1.0), int(run.get("step") or 0)


def timeline_figure(reader) -> dict:
    """Per-site surplus and job load over the booked steps so far."""
    tl = reader.timeline()
    steps, sites = tl.get("steps") or [], list(tl.get("sites") or {})
    title = "surplus (renewable − base load) and job load per site"
    if tl.get("start_unix_s") is None:  # the scenario's clock: its file is not loaded
        return _empty(title, _waiting(reader))
    if not steps or not sites:
        return _empty(title, "no step booked yet: the timelines start with the first step")
    cols = {k: [[tl["sites"][s][k][i] for s in sites] for i in range(len(steps))]
            for k in ("surplus_w", "job_load_w")}
    return viz.site_timelines(sites, start_unix_s=float(tl["start_unix_s"]),
                              step_s=float(tl["step_s"]), steps=steps,
                              surplus_w=cols["surplus_w"], job_load_w=cols["job_load_w"],
                              title=title)


def placement_figure(reader) -> dict:
    """Every job's stays (step intervals) with every migration marked."""
    start, step_s, now = _clock(reader)
    sites, jobs = reader.names()
    stays = reader.placements()
    title = "job placement"
    if not stays:
        return _empty(title, "no job placed yet")
    segments, moves, last = [], [], {}
    for iv in stays:
        t0 = iv["from_step"] * step_s
        t1 = (now if iv["to_step"] is None else iv["to_step"]) * step_s
        segments.append({"job": iv["job"], "site": iv["site"], "t0_s": t0,
                         "t1_s": max(t1, t0 + step_s if iv["to_step"] is None else t1),
                         "kind": "running"})
        prev = last.get(iv["job"])
        if prev is not None and prev != iv["site"]:  # a migration ends one stay, starts the next
            moves.append({"job": iv["job"], "t_s": t0, "src": prev, "dst": iv["site"]})
        last[iv["job"]] = iv["site"]
    return viz.placement_figure(jobs, sites, start_unix_s=start, segments=segments,
                                migrations=moves, title=f"{title} (▼ = migration)")


def feasibility_figure(reader) -> dict:
    """The feasibility map (the report's and ``greenhop feasibility-map``'s windows and
    axes) with the candidate moves now: each running migratable job to each other site."""
    feas = reader.feasibility()
    si = reader.scenario_inputs()
    moves = feas.get("moves") or []
    title = "feasibility map with the candidate moves now"
    if si is None:
        return _empty(title, _waiting(reader))
    sc, inp = si
    names = list(inp.params.site_names)
    jobs = list(inp.job_names)
    series: dict[str, list[dict]] = {"feasible now": [], "not feasible now": []}
    for m in moves:
        size = m.get("checkpoint_bytes")
        rate = m.get("bandwidth_bps")
        if size is None and m["job"] in jobs:
            size = float(inp.job_move_bytes[jobs.index(m["job"])])
        if rate is None and m["src"] in names and m["dst"] in names:
            rate = float(inp.network.bandwidth_bps[names.index(m["src"]), names.index(m["dst"])])
        if size is None or rate is None or rate <= 0:
            continue
        key = "feasible now" if m["feasible"] else "not feasible now"
        series[key].append({"bytes": size, "bandwidth_bps": rate, "text": (
            f"{m['job']}: {m['src']} → {m['dst']}, downtime {m['downtime_s']:.0f} s, "
            f"window {m['window_s'] / 60:.0f} min")})
    styles = {"feasible now": {"symbol": "circle", "color": "#2e7d32"},
              "not feasible now": {"symbol": "x", "color": "#c62828"}}
    p = inp.params
    alpha = float(feas.get("alpha") or sc.alpha)
    fig = viz.feasibility_map_figure(
        series, styles=styles, alpha=alpha, write_Bps=p.write_Bps, read_Bps=p.read_Bps,
        startup_s=p.startup_s,
        title=f"Candidate moves now ({len(moves)}); feasible when downtime ≤ {alpha:g} × window")
    if not moves:
        fig["layout"]["annotations"] = [{
            "text": "no candidate move now (no running migratable job, or one site)",
            "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.95,
            "font": {"color": "#5a6570"}}]
    return fig


def _json_response(fig: dict) -> Response:
    return Response(figure_json(fig), media_type="application/json")


@router.get("/timeline", summary="Per-site surplus and job load timelines (Plotly JSON)")
async def get_timeline(request: Request) -> Response:
    return _json_response(await asyncio.to_thread(timeline_figure, request.app.state.reader))


@router.get("/placement", summary="Job placement over time with migrations (Plotly JSON)")
async def get_placement(request: Request) -> Response:
    return _json_response(await asyncio.to_thread(placement_figure, request.app.state.reader))


@router.get("/feasibility", summary="Feasibility map with the candidate moves (Plotly JSON)")
async def get_feasibility(request: Request) -> Response:
    return _json_response(await asyncio.to_thread(feasibility_figure,
                                                  request.app.state.reader))
