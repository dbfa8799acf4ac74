"""Job placement over time: one row per job (every job, however many), its stays as bars
coloured by site, moves in black, suspensions in grey, each migration marked."""

from __future__ import annotations

from greenhop.viz import style
from greenhop.viz.timeline import date_text

_MOVING = ("migrating", "resuming")


def _row_px(n_jobs: int) -> float:
    """Row height [px]: readable for tens of jobs, still whole for thousands."""
    return 14.0 if n_jobs <= 60 else max(2.0, min(10.0, 2400.0 / n_jobs))


def placement_figure(jobs, sites, *, start_unix_s: float, segments, migrations=(),
                     title: str = "job placement") -> dict:
    """Placement of ``jobs`` (names, top to bottom) on ``sites`` (names) as a Plotly figure.

    Args:
        start_unix_s: the time the segment times count from [s since the epoch, UTC].
        segments: dicts ``{"job", "site" (name or None), "t0_s", "t1_s", "kind"}`` with
            times [s] since ``start_unix_s``; ``kind`` is ``running``, ``suspended``,
            ``migrating`` or ``resuming``.
        migrations: dicts ``{"job", "t_s", "src", "dst"}`` (``t_s`` [s] since start), one
            marker each.
    """
    jobs = list(jobs)
    sites = list(sites)
    site_index = {s: i for i, s in enumerate(sites)}
    groups: dict[str, dict] = {}

    def group(key: str, name: str, color: str, width: float) -> dict:
        if key not in groups:
            groups[key] = {"type": "bar", "orientation": "h", "name": name, "y": [], "x": [],
                           "base": [], "hovertext": [], "hoverinfo": "text", "width": width,
                           "marker": {"color": color, "line": {"width": 0}}}
        return groups[key]

    for site in sites:  # legend in the sites' order, even for a site no job used
        group(f"site:{site}", site, style.site_color(site_index[site]), 0.8)
    for seg in segments:
        kind = seg.get("kind") or "running"
        t0, t1 = float(seg["t0_s"]), float(seg["t1_s"])
        if t1 <= t0:
            continue
        site = seg.get("site")
        if kind in _MOVING:
            g = group("moving", "migrating / restoring", style.MIGRATING, 0.8)
        elif kind == "suspended":
            g = group("suspended", "suspended", style.SUSPENDED, 0.35)
        else:
            g = group(f"site:{site}", str(site), style.site_color(site_index.get(site, 0)), 0.8)
        g["y"].append(seg["job"])
        g["base"].append(date_text(start_unix_s + t0))
        g["x"].append(round((t1 - t0) * 1e3))  # bar length on a date axis [ms]
        g["hovertext"].append(f"{seg['job']}: {kind} at {site}<br>{date_text(start_unix_s + t0)}"
                              f" + {(t1 - t0) / 3600:.2f} h")
    data = list(groups.values())
    migrations = list(migrations)
    if migrations:
        data.append({
            "type": "scatter", "mode": "markers", "name": f"migration ({len(migrations)})",
            "x": [date_text(start_unix_s + float(m["t_s"])) for m in migrations],
            "y": [m["job"] for m in migrations],
            "hovertext": [f"{m['job']}: {m['src']} → {m['dst']}" for m in migrations],
            "hoverinfo": "text",
            "marker": {"symbol": "triangle-down", "size": 7, "color": "#000000"}})
    row = _row_px(len(jobs))
    layout = style.base_layout(
        f"{title} — {len(jobs)} jobs (drag to zoom, double-click to reset)",
        height=int(170 + row * max(len(jobs), 1)), barmode="overlay", bargap=0.15,
        uirevision="placement",
        xaxis={"type": "date", "title": {"text": "time [UTC]"}, "gridcolor": "#eceff1"},
        yaxis={"type": "category", "categoryorder": "array", "categoryarray": jobs,
               "autorange": "reversed", "showticklabels": row >= 9, "tickfont": {"size": 9},
               "title": {"text": "job" if row >= 9 else f"{len(jobs)} jobs (hover for names)"}},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1.0,
                "xanchor": "right"})
    return {"data": data, "layout": layout}
