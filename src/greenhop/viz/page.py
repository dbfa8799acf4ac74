"""Figures into one self-contained HTML page: plotly.js inlined, figures as inline JSON.

Each figure is a ``<div>`` and a ``<script type="application/json">`` holding its JSON;
one small script at the end of the page draws them all, so the page needs nothing but
itself (no CDN, no files beside it) and works offline.
"""

from __future__ import annotations

import html
import json
import math

import numpy as np

from greenhop.viz.plotlyjs import plotly_js

PLOT_CONFIG = {"responsive": True, "displaylogo": False, "scrollZoom": False,
               "modeBarButtonsToRemove": ["sendDataToCloud"]}
"""Plotly's configuration on every page (no link out of the page)."""

_DRAW = """
(function(){
  var config = %s;
  document.querySelectorAll('script[type="application/json"][data-figure]').forEach(
    function(node){
      var id = node.getAttribute('data-figure');
      try {
        var fig = JSON.parse(node.textContent);
        Plotly.newPlot(id, fig.data, fig.layout, config);
      } catch (err) {  // one bad figure must not stop the others: say so in its place
        var div = document.getElementById(id);
        if (div) {
          div.className += ' figure-error';
          div.textContent = 'This figure could not be drawn: ' + err;
        }
      }
    });
})();
"""


def _plain(value):
    """``value`` with numpy types as Python ones and non-finite floats as ``None``."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                              "\u2028": "\\u2028", "\u2029": "\\u2029"})
"""JSON escapes of the characters that could end a ``<script>`` element or open a comment in
it (``</script>``, ``<!--``), and of the line separators older JavaScript refused in
strings; they occur only inside JSON strings, so escaping them keeps the JSON valid."""


def figure_json(fig: dict) -> str:
    """``fig`` as compact, strict JSON, safe inside a ``<script>`` element (no ``<``,
    ``>`` or ``&``: they are written as ``\\u003c`` etc.)."""
    text = json.dumps(_plain(fig), separators=(",", ":"), allow_nan=False)
    return text.translate(_SCRIPT_SAFE)


def figure_block(fig: dict, div_id: str) -> str:
    """The HTML of one figure: its ``<div>`` and its JSON (drawn by :func:`render_page`)."""
    ident = html.escape(div_id, quote=True)
    return (f'<div class="figure" id="{ident}"></div>'
            f'<script type="application/json" data-figure="{ident}">{figure_json(fig)}'
            "</script>")


def render_page(title: str, css: str, body: list[str]) -> str:
    """A whole page: ``body`` (HTML fragments, figures from :func:`figure_block`) with
    plotly.js inlined in the head."""
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{css}</style>",
        f"<script>{plotly_js()}</script></head><body>",
        *body,
        f"<script>{_DRAW % json.dumps(PLOT_CONFIG)}</script>",
        "</body></html>",
    ])
