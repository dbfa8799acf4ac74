"""Colours and marker symbols: one look for every figure of the reports and the dashboard."""

from __future__ import annotations

SITE_COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
               "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6", "#666666")
"""Qualitative palette for sites (cycled past 12)."""

SURPLUS = "#81c784"
DEFICIT = "#ef9a9a"
JOB_LOAD = "#1565c0"
GRID = "#b71c1c"
MIGRATING = "#000000"
SUSPENDED = "#b0bec5"
FONT = {"family": "-apple-system, Segoe UI, Helvetica, Arial, sans-serif", "size": 12,
        "color": "#1d2630"}

# The built-in policies keep one symbol and colour everywhere; each symbol is distinct so
# that two policies never share a marker (forecast-feasibility and oracle-window were
# once drawn alike).
_KNOWN = {
    "static": ("square", "#607d8b"),
    "energy-greedy": ("x", "#ef6c00"),
    "feasibility-aware": ("circle", "#1565c0"),
    "forecast-feasibility": ("diamond", "#8e24aa"),
    "oracle-window": ("star", "#2e7d32"),
    "threshold": ("triangle-up", "#6d4c41"),
    "network-aware": ("triangle-down", "#00838f"),
    "cost-aware-greedy": ("pentagon", "#c62828"),
    "horizon-planner": ("hexagon", "#283593"),
    "curtail-threshold": ("triangle-left", "#9e9d24"),
    "wait-awhile": ("triangle-right", "#ad1457"),
}
_SPARE_SYMBOLS = ("cross", "hourglass", "bowtie", "star-triangle-up", "square-x",
                  "hexagram", "star-square", "diamond-tall", "octagon", "circle-x")
_SPARE_COLORS = ("#455a64", "#f9a825", "#5d4037", "#0277bd", "#558b2f", "#d81b60")


def policy_styles(policies) -> dict[str, dict]:
    """``{policy: {"symbol", "color"}}`` with a distinct symbol for every policy given."""
    out: dict[str, dict] = {}
    used = {_KNOWN[p][0] for p in policies if p in _KNOWN}
    filled = [s for s in (*_SPARE_SYMBOLS, *(k[0] for k in _KNOWN.values())) if s not in used]
    spare = filled + [f"{s}-open" for s in filled]
    for i, p in enumerate(policies):
        if p in _KNOWN:
            symbol, color = _KNOWN[p]
        else:
            symbol = spare.pop(0) if spare else "circle-open-dot"
            color = _SPARE_COLORS[i % len(_SPARE_COLORS)]
        out[p] = {"symbol": symbol, "color": color}
    return out


def site_color(index: int) -> str:
    """The colour of the site at ``index`` (its position in the scenario)."""
    return SITE_COLORS[index % len(SITE_COLORS)]


def base_layout(title: str, **extra) -> dict:
    """The layout every figure starts from."""
    layout = {"title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
              "font": FONT, "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
              "margin": {"l": 70, "r": 70, "t": 60, "b": 50}, "hovermode": "closest",
              "legend": {"orientation": "h", "y": -0.08, "yanchor": "top"}}
    layout.update(extra)
    return layout
