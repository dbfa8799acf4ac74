"""Interactive plotting components (Plotly figure specifications) shared by the simulation
and sweep reports and the live dashboard; Plotly's JavaScript ships inside the package.

Every function here returns a plain, JSON-ready Plotly figure ``{"data": [...],
"layout": {...}}`` built from arrays and dicts (no simulator or runtime objects), so the
report (:mod:`greenhop.sim.report`) and the service (``greenhop.service.figures``) draw
the same figures from their own data. :mod:`greenhop.viz.page` turns figures into one
self-contained HTML page with plotly.js inlined.
"""

from greenhop.viz.compare import frontier_figure, interval_figure, policy_bars
from greenhop.viz.feasibility import feasibility_map_figure
from greenhop.viz.page import figure_block, render_page
from greenhop.viz.placement import placement_figure
from greenhop.viz.ratios import guarded_pct
from greenhop.viz.style import policy_styles
from greenhop.viz.timeline import site_timelines

__all__ = ["feasibility_map_figure", "figure_block", "frontier_figure", "guarded_pct",
           "interval_figure", "placement_figure", "policy_bars", "policy_styles",
           "render_page", "site_timelines"]
