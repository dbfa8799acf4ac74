"""A self-contained HTML report of a simulation: one file that opens offline.

The figures are interactive Plotly figures from :mod:`greenhop.viz` (the components the
live dashboard uses too); plotly.js is inlined from the ``plotly`` package, so the page
loads nothing from anywhere. Styles are inline CSS.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from greenhop import viz
from greenhop.sim.metrics import (
    WORK_SHARE_FOR_GAP,
    short_of_work,
    work_reference,
    work_reference_name,
)
from greenhop.viz.ratios import Guarded, floor_for

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
.figure{border:1px solid #e3e7ea;margin:.4rem 0}
td.warn,.warn{background:#fff3e0;color:#e65100}
.warning{background:#fff3e0;border-left:4px solid #ef6c00;padding:.4rem .7rem;font-size:.9rem}
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
    ("gap_closed_time_pct", "gap closed % (time bound)", 1),
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

#: columns of figures only some scenarios compute (an offline bound, the oracle gap): shown
#: when some policy has the key at all
_OPTIONAL_PREFIXES = ("gap_closed_", "oracle_gap_closed")
#: sites the "Surplus and load per site" chart draws at most (one row each)
TIMELINE_SITES = 12
#: the mark on "saved vs static" of a policy that did less work than static
SHORT_MARK = "*"

#: shown when the scenario has grid signals (docs/grid.md)
_GRID_COLUMNS = (("job_co2_kg", "job CO2 kg (marginal)", 3),
                 ("job_co2_avg_kg", "job CO2 kg (average)", 3),
                 ("job_energy_cost", "job energy cost", 2),
                 # demand-response events (docs/grid.md), shown when the scenario has them
                 ("dr_compliance_pct", "DR event steps met %", 1),
                 ("dr_excess_kwh", "DR excess kWh", 3),
                 ("flex_kwh", "flex kWh", 2),
                 ("dr_moved_pct", "DR shed moved %", 1))
_GRID_KEYS = tuple(k for k, _, _ in _GRID_COLUMNS)
#: shown when the scenario spreads jobs over sites (docs/distributed.md)
_SPREAD_COLUMNS = (("sync_gb", "sync GB", 1), ("sync_energy_kwh", "sync kWh", 2),
                   ("worker_wait_h", "worker wait h", 1),
                   ("outer_steps_missed", "outer steps missed", 0),
                   ("worker_dropouts", "worker drop-outs", 0))
_SPREAD_KEYS = tuple(k for k, _, _ in _SPREAD_COLUMNS)


def metric_title(key: str) -> str:
    """The label a report gives the metric ``key`` (with its unit: ``job non-renewable
    kWh``), or the key itself for a metric without one."""
    for k, label, _ in (*_COLUMNS, *_GRID_COLUMNS, *_SPREAD_COLUMNS):
        if k == key:
            return label
    return key


_BARS = (("job_nr_kwh", "job non-renewable [kWh]"),
         ("saved_vs_static_pct", "saved vs static [%]"),
         ("slowdown_p90", "slowdown p90 [-]"), ("stability_cv", "stability (CV of slowdown)"),
         ("migrations", "migrations"))


def _fmt(v, digits: int) -> str:
    if v is None:
        return "–"
    if digits == 0:
        return f"{int(v):,}"
    return f"{v:,.{digits}f}"


@dataclass(frozen=True)
class Withheld(Guarded):
    """A ratio :func:`ratio_guards` withholds, with what its denominator is and the floor
    it fell under (for "withheld (...)" notes)."""

    what: str = ""
    floor: float = 0.0
    unit: str = ""

    @property
    def reason(self) -> str:
        """``withheld (static's job energy under 1 kWh)``."""
        return f"withheld ({self.what} under {self.floor:,.3g} {self.unit})"


def column_shown(metrics: dict[str, dict], key: str) -> bool:
    """Whether the comparison shows (and its footnote defines) the column of ``key``: the
    one rule of report.html and of ``greenhop simulate``'s table. Always, or, for a figure
    only some scenarios compute (an offline bound, the oracle gap, grid signals), when
    some policy has the key at all (a column of "–" then says it is undefined, and why)."""
    optional = (key.startswith(_OPTIONAL_PREFIXES) or key in _GRID_KEYS
                or key in _SPREAD_KEYS)
    return not optional or any(key in m for m in metrics.values())


def ratio_guards(result) -> dict[tuple[str, str], Withheld]:
    """The ratios of the report whose denominator is too small to read, per
    ``(policy, metric)``: shown as ``n/a (gap < x)`` with a warning instead of a number
    (by report.html and ``greenhop simulate``'s table alike).

    Denominators: static's job non-renewable energy (saved vs static), static minus the
    bound (gap closed), feasibility-aware minus oracle-window (oracle gap closed).
    """
    metrics = result.metrics_by_policy
    out: dict[tuple[str, str], Guarded] = {}
    static = metrics.get("static", {}).get("job_nr_kwh")
    nr_scale = max((m.get("job_nr_kwh") or 0.0 for m in metrics.values()), default=0.0)
    for p, m in metrics.items():
        checks = []
        if static is not None:
            checks.append(("saved_vs_static_pct", static, floor_for(nr_scale), "kWh",
                           "static's job energy"))
            for kind, bound in (result.bounds or {}).items():
                b = m.get(f"bound_{kind}_kwh", bound.get("job_nr_kwh"))
                if b is not None:
                    checks.append((f"gap_closed_{kind}_pct", static - b, floor_for(static),
                                   "kWh", "gap"))
        fa = metrics.get("feasibility-aware", {})
        if m.get("oracle_gap_kwh") is not None:
            checks.append(("oracle_gap_closed_pct", m["oracle_gap_kwh"],
                           floor_for(fa.get("job_nr_kwh")), "kWh", "gap"))
        if m.get("oracle_gap_infeasible") is not None:
            checks.append(("oracle_gap_closed_infeasible_pct", m["oracle_gap_infeasible"],
                           floor_for(fa.get("infeasible_migrations")), "moves", "gap"))
        for key, denom, floor, unit, what in checks:
            g = viz.guarded_pct(m.get(key), denom, floor=floor, unit=unit, what=what)
            if g.warn:
                out[(p, key)] = Withheld(g.value, g.text, g.warn, g.why, what, floor, unit)
    return out


def best_policy(metrics: dict[str, dict]) -> str | None:
    """The policy the comparison marks: the least job grid energy among the policies that
    did at least :data:`~greenhop.sim.metrics.WORK_SHARE_FOR_GAP` of ``static``'s work (of
    the most any policy did, without ``static``), the share the gap-closed figure asks; a
    policy that saves energy by leaving the work undone is not the best."""
    short = short_of_work(metrics)
    nr = {p: m["job_nr_kwh"] for p, m in metrics.items()
          if m.get("job_nr_kwh") is not None and p not in short}
    return min(nr, key=nr.get) if nr else None


def _table(metrics: dict[str, dict], guards) -> str:
    currency = next((m["currency"] for m in metrics.values() if "currency" in m), "")
    columns = tuple(c for c in _COLUMNS if column_shown(metrics, c[0])) + tuple(
        (k, f"{label} [{currency}]" if k == "job_energy_cost" else label, d)
        for k, label, d in _GRID_COLUMNS if column_shown(metrics, k)) + tuple(
        c for c in _SPREAD_COLUMNS if column_shown(metrics, c[0]))
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in columns)
    rows = []
    best = best_policy(metrics)
    short = short_of_work(metrics)
    for p, m in metrics.items():
        cells = []
        for k, _, d in columns:
            g = guards.get((p, k))
            if g is not None:
                cells.append(f'<td class="warn" title="{html.escape(g.why)}">'
                             f"{html.escape(g.text)}</td>")
            elif k == "saved_vs_static_pct" and p in short and m.get(k) is not None:
                cells.append(f'<td title="did less work than static">{_fmt(m[k], d)}'
                             f"{SHORT_MARK}</td>")
            else:
                cells.append(f"<td>{_fmt(m.get(k), d)}</td>")
        cls = ' class="best"' if p == best else ""
        rows.append(f"<tr{cls}><td>{html.escape(p)}</td>{''.join(cells)}</tr>")
    # The comparison grows a column per metric: scroll sideways rather than overflow.
    return f"<div class='wide'><table><tr><th>policy</th>{head}</tr>{''.join(rows)}</table></div>"


def _comparison_note(metrics: dict[str, dict]) -> str:
    """What the highlighted row and the :data:`SHORT_MARK` on "saved vs static" mean."""
    text = ("Highlighted: the least job non-renewable energy among the policies that did at "
            f"least {WORK_SHARE_FOR_GAP:.0%} of static's work (a policy that leaves work "
            "undone saves energy it did not earn).")
    short = short_of_work(metrics)
    if short:
        ref = work_reference(metrics)
        whose = work_reference_name(metrics)
        did = "; ".join(f"{html.escape(p)}: {metrics[p]['work_done_gpu_h']:,.1f} GPU-h"
                        for p in metrics if p in short)
        text += (f" {SHORT_MARK} on saved vs static: the policy did less than "
                 f"{WORK_SHARE_FOR_GAP:.0%} of {whose} ({ref:,.1f} GPU-h; {did}), so "
                 "part of what it saves is work left undone.")
    return f'<p class="note">{text}</p>'


def _gap_sentence(metrics: dict[str, dict]) -> str:
    """The gap-closed columns' definition, when they are shown."""
    if not any(column_shown(metrics, k) for k, _, _ in _COLUMNS
               if k.startswith("gap_closed_")):
        return ""
    return ("Gap closed = share of static's gap to an offline bound (linear program, perfect "
            "foresight, free migration) that the policy closes: 100 x (static \u2212 policy) "
            "/ (static \u2212 bound), with the bound priced at the policy's own work (each "
            "policy's bound_space_kwh, bound_spacetime_kwh in metrics.json; the bounds below are "
            "priced at static's work, so they do not give these percentages by hand; "
            "docs/bounds.md); "
            "\u2013 where it is not defined (why: below). ")


def _guard_warning(guards) -> str:
    if not guards:
        return ""
    labels = {k: label for k, label, _ in _COLUMNS}
    items = "; ".join(f"{html.escape(p)}, {html.escape(labels.get(k, k))}: "
                      f"{html.escape(g.why)}" for (p, k), g in guards.items())
    return (f'<p class="warning">&#9888; Ratios not shown (tiny denominator): {items}. '
            "Read the energies themselves instead.</p>")


def _bars(metrics: dict[str, dict], guards) -> str:
    fig, omitted = viz.policy_bars(metrics, _BARS,
                                   withheld={k: g.why for k, g in guards.items()})
    parts = [] if fig is None else [viz.figure_block(fig, "fig-bars")]
    # a panel left out because its values were withheld (a tiny denominator) says so: they
    # are not zero or undefined
    labels = dict((label, key) for key, label in _BARS)
    reasons: dict[str, list[str]] = {}
    for label in omitted:
        g = next((g for (_, k), g in guards.items() if k == labels.get(label)), None)
        reason = ("Not drawn (zero or undefined for every policy)" if g is None
                  else f"Not drawn, {g.reason}")
        reasons.setdefault(reason, []).append(label)
    for reason, names in reasons.items():
        parts.append(f'<p class="note">{html.escape(reason)}: '
                     + html.escape(", ".join(names)) + ".</p>")
    return "".join(parts)


def _start_unix_s(result) -> float:
    return float(result.scenario.start.timestamp())


def _timelines(result, policy: str) -> str:
    inp = result.inputs
    run = result.runs[policy]
    H = inp.history_steps
    fig = viz.site_timelines(
        inp.scenario.site_names, start_unix_s=_start_unix_s(result),
        step_s=inp.scenario.step_s, surplus_w=inp.surplus_w[H:H + inp.n_steps],
        job_load_w=run.job_load_w, grid_w=run.grid_w, max_sites=TIMELINE_SITES,
        title=f"surplus (renewable − base load), grid import and job load — {policy}")
    return viz.figure_block(fig, "fig-timelines")


def _sites_not_drawn(result) -> str:
    """Which sites the per-site chart leaves out (it draws :data:`TIMELINE_SITES`)."""
    rest = list(result.scenario.site_names)[TIMELINE_SITES:]
    if not rest:
        return ""
    return (f'<p class="note">{len(rest)} more site{"s" if len(rest) > 1 else ""} not drawn '
            f"(the chart shows the first {TIMELINE_SITES}): "
            + html.escape(", ".join(rest)) + ".</p>")


def _placement(result, policy: str) -> str:
    inp = result.inputs
    run = result.runs[policy]
    sites = inp.scenario.site_names
    jobs = [inp.jobs[j].name for j in range(len(inp.jobs))]
    segments = [{"job": jobs[j], "site": sites[s] if s >= 0 else None, "t0_s": t0,
                 "t1_s": t1, "kind": kind} for j, s, t0, t1, kind in run.segments]
    moves = [{"job": jobs[m["job"]], "t_s": m["start_s"], "src": sites[m["src"]],
              "dst": sites[m["dst"]] + (" (aborted)" if m["aborted"] else "")}
             for m in run.migrations]
    fig = viz.placement_figure(jobs, sites, start_unix_s=_start_unix_s(result),
                               segments=segments, migrations=moves,
                               title=f"job placement — {policy} (▼ = migration start)")
    return viz.figure_block(fig, "fig-placement")


def _feasibility_map(result) -> str:
    sc = result.scenario
    jobs = result.inputs.jobs
    sites = sc.site_names
    series = {}
    for policy, run in result.runs.items():
        moves = [m for m in run.migrations if m["end_s"] is not None and not m["aborted"]]
        if moves:
            series[policy] = [{"bytes": m["bytes"], "bandwidth_bps": m["bandwidth_bps"],
                               "text": f"{jobs[m['job']].name}: {sites[m['src']]} → "
                                       f"{sites[m['dst']]}"} for m in moves]
    if not series:
        return ('<p class="note">No chart: no policy made a migration ('
                + html.escape(", ".join(result.runs)) + "), so there is nothing to place on "
                "the feasibility map. <code>greenhop feasibility-map</code> draws its "
                "boundaries alone.</p>")
    fig = viz.feasibility_map_figure(
        series, styles=viz.policy_styles(list(result.runs)), alpha=sc.alpha,
        write_Bps=sc.write_Bps, read_Bps=sc.read_Bps, startup_s=sc.startup_s)
    return (viz.figure_block(fig, "fig-feasibility")
            + '<p class="note">Boundaries from greenhop.model.plot.map_boundaries (the '
            "function, default windows and axes of <code>greenhop feasibility-map</code>) "
            "with the scenario's alpha, write/read rates and restart time at the default link "
            "efficiency. Points are the migrations made: checkpoint bytes moved against the "
            "nominal bottleneck bandwidth of their path; one marker per policy, larger where "
            "several migrations share a point. Each policy's markers are set a few percent "
            "apart along the size axis (up to about 10%), so that two policies' moves at one "
            "place both show: the hover gives the true size, and a point drawn next to a "
            "boundary may lie on its other side.</p>")


def _forecast_note(result, guards) -> str:
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
            def share(key: str) -> str:
                g = guards.get(("forecast-feasibility", key))
                if g is not None:
                    return f'<span class="warn">{html.escape(g.text)}</span>'
                return ("undefined (no gap)" if m.get(key) is None else f"{m[key]:.1f}%")

            parts.append(
                "Oracle gap closed = share of the job non-renewable energy between "
                f"feasibility-aware and oracle-window ({m['oracle_gap_kwh']:,.1f} kWh) that "
                "forecast-feasibility recovers: " + share("oracle_gap_closed_pct")
                + "; the same share of the gap in infeasible migrations: "
                + share("oracle_gap_closed_infeasible_pct") + ".")
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
    guards = ratio_guards(result)
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
    body = [
        f"<h1>greenhop simulation report — {html.escape(sc.name)}</h1>",
        '<p class="sub">Which migration policy uses the least non-renewable energy, '
        "and at what cost in completion time and stability?</p>",
        f"<dl>{dl}</dl>",
        "<h2>Policy comparison</h2>", _guard_warning(guards), _table(metrics, guards),
        _comparison_note(metrics),
        _bars(metrics, guards),
        '<p class="note">Job non-renewable = grid energy the jobs cause: the sites\' grid '
        "energy with the jobs minus the same sites' grid energy with base load only "
        f"({next(iter(metrics.values()))['base_only_nr_kwh']:,.1f} kWh, not movable; the "
        "site totals are the column site grid kWh (context)). " + _gap_sentence(metrics) + "A "
        "ratio whose denominator is below 5% of the energies it compares (or 1 kWh) reads "
        "n/a with a warning. "
        "Stability = coefficient of variation of the job slowdown. Window closed before "
        "payback = the destination's window closed during the move or before it paid back "
        "its energy; net green loss = moves whose green energy gained over the stay was "
        "less than the move cost. Definitions: docs/simulator.md.</p>",
        _bounds_note(result),
        _forecast_note(result, guards),
        f"<h2>Surplus and load per site — {html.escape(focus)}</h2>",
        '<p class="note">Drag to zoom (all sites share the time axis), double-click to '
        "reset; the jobs' load has its own axis on the right.</p>",
        _timelines(result, focus), _sites_not_drawn(result),
        f"<h2>Job placement — {html.escape(focus)}</h2>", _placement(result, focus),
        "<h2>Feasibility map with the actual migrations</h2>", _feasibility_map(result),
    ]
    return viz.render_page(f"greenhop report — {sc.name}", _CSS, body)


def write_report(result, path: str | Path) -> Path:
    """Write :func:`render_report` to ``path`` (a temporary file, then renamed, so a
    failure leaves any earlier report whole); returns the path."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(render_report(result), encoding="utf-8")
    tmp.replace(p)
    return p
