"""A self-contained HTML report of a simulation: opens offline, no scripts, no external URLs.

Figures are drawn with matplotlib's object API (no pyplot, no global backend
change) and embedded as base64 PNG; the styles are inline CSS.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from greenhop.model import max_checkpoint_bytes

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1200px;color:#1d2630;background:#fff;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;
border-bottom:2px solid #2e7d32;padding-bottom:.2rem}
.sub{color:#5a6570;margin-top:0}
table{border-collapse:collapse;font-size:.8rem;margin:.8rem 0}
.wide{overflow-x:auto}
th,td{border:1px solid #d5dbe0;padding:.3rem .45rem;text-align:right}
th{background:#eef3ee}td:first-child,th:first-child{text-align:left}
tr.best td{background:#f1f8e9}
img{max-width:100%;height:auto;border:1px solid #e3e7ea;margin:.4rem 0}
.note{color:#5a6570;font-size:.88rem}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem;font-size:.92rem}
dt{font-weight:600}
"""

_COLUMNS = (
    ("job_nr_kwh", "job non-renewable kWh", 1),
    ("saved_vs_static_pct", "saved vs static %", 2),
    ("job_green_share", "job green share", 3),
    ("gap_closed_space_pct", "gap closed % (space bound)", 1),
    ("gap_closed_spacetime_pct", "gap closed % (space-time bound)", 1),
    ("curtailment_absorbed_kwh", "curtailment absorbed kWh", 1),
    ("jct_mean_h", "JCT mean h", 2),
    ("jct_p95_h", "JCT p95 h", 2),
    ("slowdown_p90", "slowdown p90", 2),
    ("queue_h", "queued h", 1),
    ("stability_cv", "stability CV", 3),
    ("migrations", "migrations", 0),
    ("window_closed_before_payback", "window closed before payback", 0),
    ("net_green_loss_migrations", "net green loss", 0),
    ("infeasible_migrations", "infeasible", 0),
    ("gb_moved", "GB moved", 1),
    ("network_kwh", "network kWh", 2),
    ("unfinished_jobs", "unfinished jobs", 0),
    ("non_renewable_kwh", "site grid kWh (context)", 1),
    ("oracle_gap_closed_pct", "oracle gap closed % (kWh)", 1),
    ("oracle_gap_closed_infeasible_pct", "oracle gap closed % (infeasible)", 1),
)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _fmt(v, digits: int) -> str:
    if v is None:
        return "–"
    if digits == 0:
        return f"{int(v):,}"
    return f"{v:,.{digits}f}"


def _table(metrics: dict[str, dict]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in _COLUMNS)
    rows = []
    nr = {p: m.get("job_nr_kwh") for p, m in metrics.items()}
    best = min(nr, key=lambda p: nr[p] if nr[p] is not None else np.inf)
    for p, m in metrics.items():
        cells = "".join(f"<td>{_fmt(m.get(k), d)}</td>" for k, _, d in _COLUMNS)
        cls = ' class="best"' if p == best else ""
        rows.append(f"<tr{cls}><td>{html.escape(p)}</td>{cells}</tr>")
    # The comparison grows a column per metric: scroll sideways rather than overflow.
    return f"<div class='wide'><table><tr><th>policy</th>{head}</tr>{''.join(rows)}</table></div>"


def _bars(metrics: dict[str, dict]) -> str:
    from matplotlib.figure import Figure

    keys = (("job_nr_kwh", "job non-renewable [kWh]"),
            ("saved_vs_static_pct", "saved vs static [%]"),
            ("jct_p95_h", "JCT p95 [h]"), ("stability_cv", "stability (CV of slowdown)"),
            ("migrations", "migrations"))
    names = list(metrics)
    fig = Figure(figsize=(15, 3.2))
    axes = fig.subplots(1, len(keys))
    colors = ["#607d8b", "#ef6c00", "#2e7d32", "#1565c0", "#8e24aa", "#6d4c41"]
    for ax, (k, label) in zip(axes, keys, strict=True):
        vals = [metrics[n].get(k) or 0.0 for n in names]
        ax.bar(range(len(names)), vals, color=[colors[i % len(colors)] for i in range(len(names))])
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _timelines(result, policy: str, max_sites: int = 12) -> str:
    from matplotlib.figure import Figure

    inp = result.inputs
    run = result.runs[policy]
    H = inp.history_steps
    T = inp.n_steps
    S = min(len(inp.scenario.sites), max_sites)
    days = np.arange(T) * inp.scenario.step_s / 86400.0
    fig = Figure(figsize=(14, 1.55 * S + 0.6))
    axes = np.atleast_1d(fig.subplots(S, 1, sharex=True))
    for i in range(S):
        ax = axes[i]
        surplus = inp.surplus_w[H:, i] / 1e3
        ax.fill_between(days, 0, np.maximum(surplus, 0), color="#a5d6a7", lw=0, label="surplus")
        ax.fill_between(days, np.minimum(surplus, 0), 0, color="#ffcdd2", lw=0, label="deficit")
        ax.plot(days, run.job_load_w[:, i] / 1e3, color="#1565c0", lw=0.8, label="job load")
        ax.plot(days, run.grid_w[:, i] / 1e3, color="#b71c1c", lw=0.6, alpha=0.8,
                label="grid import")
        ax.set_ylabel(inp.scenario.sites[i].name, rotation=0, ha="right", va="center",
                      fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25)
    axes[0].legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1].set_xlabel("days since start")
    fig.suptitle(f"surplus (renewable - base load), job load and grid import [kW] — {policy}",
                 fontsize=10)
    fig.tight_layout()
    return _png(fig)


def _gantt(result, policy: str, max_jobs: int = 60) -> str:
    from matplotlib.figure import Figure

    inp = result.inputs
    run = result.runs[policy]
    names = inp.scenario.site_names
    cmap = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
            "#666666", "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6"]
    jobs = sorted({seg[0] for seg in run.segments})[:max_jobs]
    row = {j: k for k, j in enumerate(jobs)}
    fig = Figure(figsize=(14, 0.16 * len(jobs) + 1.6))
    ax = fig.subplots()
    for j, s, t0, t1, kind in run.segments:
        if j not in row:
            continue
        y = row[j]
        x0, w = t0 / 86400.0, (t1 - t0) / 86400.0
        if kind == "running":
            ax.broken_barh([(x0, w)], (y - 0.4, 0.8), color=cmap[s % len(cmap)], lw=0)
        elif kind == "suspended":
            ax.broken_barh([(x0, w)], (y - 0.15, 0.3), color="#cfd8dc", lw=0)
        else:
            ax.broken_barh([(x0, w)], (y - 0.4, 0.8), color="#000000", lw=0)
    for m in run.migrations:
        if m["job"] in row and m["end_s"] is not None:
            y = row[m["job"]]
            ax.plot([m["start_s"] / 86400.0], [y], marker="v", ms=3.5, color="black")
    handles = []
    from matplotlib.patches import Patch

    for i, n in enumerate(names[:len(cmap)]):
        handles.append(Patch(color=cmap[i % len(cmap)], label=n))
    handles.append(Patch(color="#000000", label="migrating / restoring"))
    handles.append(Patch(color="#cfd8dc", label="suspended"))
    ax.legend(handles=handles, fontsize=7, ncol=5, loc="upper center",
              bbox_to_anchor=(0.5, -0.08 if len(jobs) > 20 else -0.2))
    ax.set_yticks(range(len(jobs)), [inp.jobs[j].name for j in jobs], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("days since start")
    ax.set_title(f"job placement — {policy} (▼ = migration start; first {len(jobs)} jobs)",
                 fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _feasibility_map(result) -> str:
    from matplotlib.figure import Figure

    sc = result.scenario
    bw = np.logspace(8, 11, 200)
    fig = Figure(figsize=(8.5, 5.8))
    ax = fig.subplots()
    for w_h, style in ((1.0, ":"), (2.5, "--"), (6.0, "-."), (9.5, "-")):
        smax = max_checkpoint_bytes(bw, w_h * 3600.0, alpha=sc.alpha, write_Bps=sc.write_Bps,
                                    read_Bps=sc.read_Bps, startup_s=sc.startup_s)
        ax.plot(bw / 1e9, np.where(smax > 0, smax, np.nan) / 1e9, style, color="#2e7d32",
                label=f"boundary, window {w_h:g} h")
    markers = {"energy-greedy": ("x", "#ef6c00"), "feasibility-aware": ("o", "#1565c0")}
    for policy, run in result.runs.items():
        moves = [m for m in run.migrations if m["end_s"] is not None and not m["aborted"]]
        if not moves:
            continue
        mk, col = markers.get(policy, ("s", "#6d4c41"))
        x = np.array([m["bandwidth_bps"] for m in moves]) / 1e9
        y = np.array([m["bytes"] for m in moves]) / 1e9
        jitter = np.exp(np.random.default_rng(0).normal(0, 0.04, x.size))
        ax.scatter(x * jitter, y, marker=mk, s=14, alpha=0.45, color=col,
                   facecolors="none" if mk == "o" else None,
                   label=f"{policy}: {len(moves)} migrations")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("path bandwidth [Gbit/s]")
    ax.set_ylabel("checkpoint moved [GB]")
    ax.set_title(f"feasibility domain (downtime <= {sc.alpha:g} x window): feasible below "
                 "each boundary", fontsize=10)
    ax.grid(which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return _png(fig)


def _forecast_note(result) -> str:
    """What the forecast and oracle columns mean, when those policies ran."""
    runs = result.runs
    parts = []
    if "oracle-window" in runs:
        parts.append("oracle-window is fed the true future window from the traces: it sees "
                     "the future and is a ceiling for comparison, not a deployable policy.")
    if "forecast-feasibility" in runs:
        fc = result.scenario.forecast
        m = result.metrics_by_policy.get("forecast-feasibility", {})
        parts.append(f"forecast-feasibility decides on the p{round(fc.quantile * 100):d} of "
                     f"window forecasts ({html.escape(fc.model)}, issued every "
                     f"{fc.issue_every_s / 60:g} min, only those issued at or before each "
                     "decision).")
        if m.get("oracle_gap_kwh") is not None:
            closed = m.get("oracle_gap_closed_pct")
            parts.append(
                "Oracle gap closed = share of the job non-renewable energy between "
                f"feasibility-aware and oracle-window ({m['oracle_gap_kwh']:,.1f} kWh) that "
                "forecast-feasibility recovers: "
                + ("undefined (no gap)" if closed is None else f"{closed:.1f}%")
                + "; the same share of the gap in infeasible migrations: "
                + ("undefined (no gap)" if m.get("oracle_gap_closed_infeasible_pct") is None
                   else f"{m['oracle_gap_closed_infeasible_pct']:.1f}%") + ".")
    if not parts:
        return ""
    return f'<p class="note">{" ".join(parts)}</p>'


def _bounds_note(result) -> str:
    """The offline bounds the scenario asked for, and why a policy has no gap."""
    if not result.bounds:
        return ""
    items = []
    for kind, b in result.bounds.items():
        value = "–" if b.get("job_nr_kwh") is None else f"{b['job_nr_kwh']:,.1f} kWh"
        items.append(f"{html.escape(kind)}: {value} for {b['work_gpu_h']:,.0f} GPU-h of work "
                     f"({html.escape(str(b['status']))}, solved in {b['solve_s']:.1f} s)")
    whys = [f"{html.escape(p)} ({html.escape(k)}): {html.escape(m[f'gap_closed_{k}_why'])}"
            for p, m in result.metrics_by_policy.items() for k in result.bounds
            if m.get(f"gap_closed_{k}_why")]
    text = "Offline bounds on job non-renewable energy: " + "; ".join(items) + "."
    if whys:
        text += " No gap closed: " + "; ".join(whys) + "."
    return f'<p class="note">{text}</p>'


def render_report(result) -> str:
    """The report of ``result`` (a :class:`~greenhop.sim.api.SimulationResult`) as HTML text."""
    sc = result.scenario
    metrics = result.metrics_by_policy
    focus = next((p for p in ("feasibility-aware", "energy-greedy") if p in result.runs),
                 next(iter(result.runs)))
    info = {
        "scenario": sc.name, "start (UTC)": sc.start.isoformat(),
        "horizon": f"{sc.horizon_s / 86400:g} days in steps of {sc.step_s / 60:g} min",
        "sites": ", ".join(sc.site_names), "WAN links": str(len(sc.links)),
        "jobs": str(len(result.inputs.jobs)), "seed": str(sc.seed),
        "window": f"surplus >= {sc.window_threshold_w / 1e3:g} kW; alpha = {sc.alpha:g}",
    }
    dl = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in info.items())
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>greenhop report — {html.escape(sc.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>greenhop simulation report — {html.escape(sc.name)}</h1>",
        '<p class="sub">Which migration policy uses the least non-renewable energy, '
        "and at what cost in completion time and stability?</p>",
        f"<dl>{dl}</dl>",
        "<h2>Policy comparison</h2>", _table(metrics), _bars(metrics),
        '<p class="note">Job non-renewable = grid energy the jobs cause: the sites\' grid '
        "energy with the jobs minus the same sites' grid energy with base load only "
        f"({next(iter(metrics.values()))['base_only_nr_kwh']:,.1f} kWh, not movable; the "
        "site totals are the last column, for context). Gap closed = share of static's gap "
        "to an offline bound (linear program, perfect foresight, free migration) that the "
        "policy closes; \u2013 when the policy did less work than the bound requires. "
        "Stability = coefficient of variation of the job slowdown. Window closed before "
        "payback = the destination's window closed during the move or before it paid back "
        "its energy; net green loss = moves whose green energy gained over the stay was "
        "less than the move cost. Definitions: docs/simulator.md.</p>",
        _bounds_note(result),
        _forecast_note(result),
        "<h2>Surplus and load per site</h2>", _timelines(result, focus),
        "<h2>Job placement</h2>", _gantt(result, focus),
        "<h2>Feasibility map with the actual migrations</h2>", _feasibility_map(result),
        '<p class="note">Boundaries from greenhop.model.max_checkpoint_bytes with the '
        "scenario's write/read rates and restart time at 80% link efficiency. Points are the "
        "migrations made (bytes moved vs the nominal bottleneck bandwidth of their path).</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(result, path: str | Path) -> Path:
    """Write :func:`render_report` to ``path``; returns the path."""
    p = Path(path)
    p.write_text(render_report(result), encoding="utf-8")
    return p
