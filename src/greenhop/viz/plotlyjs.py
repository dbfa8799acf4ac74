"""The plotly.js bundle that ships inside the ``plotly`` Python package (no CDN)."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from greenhop.core.errors import ConfigError


def plotly_js_path() -> Path:
    """Path of ``plotly.min.js`` inside the installed ``plotly`` package."""
    try:
        root = resources.files("plotly")
    except ModuleNotFoundError as exc:  # a dependency, but say what to install if missing
        raise ConfigError("the interactive figures need the 'plotly' package "
                          "(pip install plotly)") from exc
    path = Path(str(root)) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise ConfigError(f"plotly.min.js is missing from the plotly package ({path}); "
                          "reinstall plotly")
    return path


@functools.cache
def plotly_js() -> str:
    """The text of ``plotly.min.js`` (read once per process)."""
    return plotly_js_path().read_text(encoding="utf-8")
