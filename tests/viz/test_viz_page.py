"""The HTML page of figures: its inline figure JSON is strict JSON that no string can break
out of, and one figure that cannot be drawn leaves the others drawn."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from greenhop.viz.page import figure_block, figure_json, render_page

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chromekit

TRICKY = ["a<!--b", "c</script>d", "<script>x</script>", "&amp;", "e\u2028f\u2029g", "h>i"]


@pytest.mark.parametrize("text", TRICKY)
def test_figure_json_is_strict_json_safe_inside_a_script_element(text):
    """``<!--`` was written ``<\\!--``: not a JSON escape, so JSON.parse (and Python's
    json.loads) refused the whole figure."""
    out = figure_json({"data": [{"type": "scatter", "name": text}],
                       "layout": {"xaxis": {"ticktext": [text, "ok"]}}})
    assert json.loads(out)["data"][0]["name"] == text
    assert json.loads(out)["layout"]["xaxis"]["ticktext"] == [text, "ok"]
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in out, bad


def _figure(name: str) -> dict:
    return {"data": [{"type": "bar", "x": [name, "b"], "y": [1, 2]}],
            "layout": {"title": {"text": name}}}


@pytest.mark.slow
def test_every_figure_draws_and_a_broken_one_says_so_in_its_place(tmp_path):
    broken = ('<div class="figure" id="fig-bad"></div>'
              '<script type="application/json" data-figure="fig-bad">{not json</script>')
    page = tmp_path / "page.html"
    page.write_text(render_page("t", "", [
        figure_block(_figure("a<!--b"), "fig-1"), broken,
        figure_block(_figure("c</script>d"), "fig-2")]), encoding="utf-8")
    drv = chromekit.driver(tmp_path, height=1200)
    try:
        drv.get(page.resolve().as_uri())
        drawn = drv.execute_script(
            "return ['fig-1', 'fig-bad', 'fig-2'].map(id => "
            "!!document.querySelector('#' + id + '.js-plotly-plot'));")
        note = drv.execute_script("return document.getElementById('fig-bad').textContent;")
        titles = drv.execute_script(
            "return ['fig-1', 'fig-2'].map(id => document.getElementById(id).layout.title.text);")
        errors = chromekit.console_errors(drv)
    finally:
        drv.quit()
    assert drawn == [True, False, True]
    assert note.startswith("This figure could not be drawn")
    assert titles == ["a<!--b", "c</script>d"]
    assert errors == []
