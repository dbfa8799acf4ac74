"""The scenario's ``[forecast]`` table, window forecasts in the simulator, and the
separate channel of the true windows.

:func:`build_window_forecasts` runs the scenario's forecaster over each site's whole
surplus trace once per scenario run, with the fleet's code
(:func:`greenhop.fleet.forecasts.issue_window_forecasts`, which a live run calls on what
it has measured): at step ``k`` a policy sees the latest window forecast issued at or
before ``k``, aged by the time since its issue; no forecast reads a value after its issue
(audited, see :mod:`greenhop.fleet.forecasts`).

:class:`TrueWindows` is the other channel: the true remaining window from the traces,
handed only to a policy that declares ``sees_future`` (``oracle-window``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError, UserError
from greenhop.core.files import not_a_file_reason
from greenhop.core.readonly import readonly
from greenhop.core.units import is_whole_steps
from greenhop.fleet.forecasts import (
    ForecastSpec,
    WindowForecasts,
    issue_window_forecasts,
    site_options,
)


def check_history(horizon_s: float, history_s: float, where: str) -> None:
    """Refuse a forecast ``horizon_s`` [s] longer than the scenario's ``history_s`` [s]: no
    forecast could be issued and checked at the start. ``where`` names the key (or the
    default) in the message."""
    if horizon_s > history_s:
        raise ConfigError(
            f"{where}: {horizon_s / 3600:g} h is longer than the history "
            f"({history_s / 3600:g} h): no forecast could be issued and checked at the start; "
            "give a longer history or a shorter forecast.horizon")


def check_forecast_history(scenario) -> None:
    """For a run whose policies need window forecasts: refuse a forecast horizon longer than
    the history of ``scenario`` (a :class:`~greenhop.sim.scenario.Scenario`), naming its
    file. A ``[forecast]`` table's horizon was checked when the table was read; the default
    (24 h) is checked here, where it is known to be used (``greenhop simulate``, ``sweep``
    and ``run`` alike)."""
    from greenhop.sim.scenario import named_by_source

    try:
        check_history(scenario.forecast.horizon_s, scenario.history_s,
                      "forecast.horizon (24 h unless a [forecast] table sets it)")
    except ConfigError as exc:
        raise named_by_source(exc, scenario.source) from None


def parse_forecast(t, step_s: float, history_s: float, site_names: tuple[str, ...],
                   site_location: dict[str, tuple[float, float]],
                   base_dir: Path) -> ForecastSpec:
    """Validate the ``[forecast]`` table ``t`` (a :class:`~greenhop.sim.schema.Table`)."""
    from greenhop.forecast import FORECASTERS, create_forecaster
    from greenhop.policies.forecast_feasibility import check_quantile

    d = ForecastSpec()
    model = t.string("model", d.model)
    if model not in FORECASTERS:
        raise ConfigError(f"{t.where('model')}: unknown forecaster '{model}'; valid forecaster "
                          f"names: {', '.join(FORECASTERS.names())}")
    q = check_quantile(t.raw("quantile", d.quantile), t.where("quantile"))
    quantiles = tuple(sorted({*d.quantiles, round(q, 9)}))
    issue_every = t.duration("issue_every", max(d.issue_every_s, step_s), lo=0, lo_open=True)
    if not is_whole_steps(issue_every, step_s):
        raise ConfigError(f"{t.where('issue_every')}: must be a whole number of steps of "
                          f"{step_s:g} s, got {issue_every:g} s")
    refit = t.duration("refit_every", d.refit_every_s, lo=0, lo_open=True)
    cal = t.duration("calibration_window", d.calibration_window_s, lo=0, lo_open=True)
    horizon = t.duration("horizon", d.horizon_s, lo=0, lo_open=True)
    if horizon < step_s or not is_whole_steps(horizon, step_s):
        raise ConfigError(f"{t.where('horizon')}: must be a whole number (>= 1) of steps of "
                          f"{step_s:g} s, got {horizon:g} s")
    check_history(horizon, history_s, t.where("horizon"))
    options = {}
    if t.has("options"):
        ot = t.table("options")
        options = dict(ot.data)
    files: dict[str, Any] = {}
    if t.has("files"):
        if model != "replay":
            raise ConfigError(f"{t.where('files')}: forecast files are replayed by the "
                              f"'replay' model; set forecast.model = \"replay\" (got '{model}')")
        ft = t.table("files")
        for site, path in ft.data.items():
            where = ft.where(site)
            if site not in site_names:
                raise ConfigError(f"{where}: unknown site '{site}'; sites in this scenario: "
                                  f"{', '.join(site_names)}")
            if not isinstance(path, str) or not path.strip():
                raise ConfigError(f"{where}: expected the path of a CSV file, got {path!r}")
            files[site] = read_forecast_file(Path(path) if Path(path).is_absolute()
                                             else base_dir / path, where)
    if model == "replay":
        missing = [s for s in site_names if s not in files]
        if missing:
            raise ConfigError(f"{t.where('files')}: replay needs the issued forecasts of every "
                              f"site; missing: {', '.join(missing)} (add forecast.files."
                              f"{missing[0]} = \"path.csv\")")
    else:
        # Build the forecaster once now, so a bad option is reported with its key path.
        site = site_names[0]
        try:
            create_forecaster(model, **site_options(model, options, site_location.get(site)))
        except UserError as exc:
            raise ConfigError(f"{t.where('options')}: {exc}") from None
    t.done()
    return ForecastSpec(model, q, options, quantiles, issue_every, refit, cal, horizon, files,
                        locations=dict(site_location))


def with_policy_quantiles(spec: ForecastSpec, params: dict[str, dict]) -> ForecastSpec:
    """``spec`` also computing the level each forecast-reading policy's ``quantile``
    parameter asks for (``policy_params.forecast-feasibility.quantile = 0.25``), so that the
    policy finds its level in the forecasts; ``params`` maps policy names to their
    parameters (already validated, levels in (0, 1))."""
    from greenhop.policies import POLICIES

    asked = {round(float(p["quantile"]), 9) for name, p in params.items()
             if "quantile" in p and name in POLICIES
             and POLICIES.get(name).capabilities.window_forecasts}
    if asked <= set(spec.quantiles):
        return spec
    return replace(spec, quantiles=tuple(sorted({*spec.quantiles, *asked})))


def read_forecast_file(path: Path, where: str):
    """A long CSV of issued surplus forecasts: ``issued_at, valid_for, value`` [W] (or
    quantile columns ``q10, q50, q90``), rows in issue order; errors name ``where``."""
    from greenhop.forecast import ForecastTable

    if not path.is_file():
        raise ConfigError(f"{where}: forecast file {str(path)!r} {not_a_file_reason(path)}")
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot read {str(path)!r} as CSV: {exc}") from None
    qcols = sorted(c for c in frame.columns if c.startswith("q") and c[1:].isdigit())
    cols, qs = (qcols, [int(c[1:]) / 100 for c in qcols]) if qcols else ("value", (0.5,))
    try:
        table = ForecastTable.from_long(frame, value_cols=cols, quantiles=qs, source=str(path))
    except UserError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    _check_issue_grid(table.issue_times, f"{where}: {path}")
    return table


def _check_issue_grid(issued: pd.DatetimeIndex, where: str) -> None:
    """Refuse a gap in the issue times: the file must issue at one cadence (its shortest
    spacing) from its first issue to its last, or the run would age an old forecast past
    the leads the file covers."""
    if len(issued) < 2:
        return
    gaps_ns = np.diff(issued.as_unit("ns").asi8)
    every_ns = int(gaps_ns.min())
    off = np.flatnonzero(gaps_ns != every_ns)
    if off.size:
        i = int(off[0])
        missing = issued[i] + pd.Timedelta(every_ns, unit="ns")
        raise ConfigError(
            f"{where}: no forecast issued at {missing:%Y-%m-%d %H:%M %Z} (the file issues "
            f"every {every_ns / 6e10:g} min, then skips from {issued[i]:%Y-%m-%d %H:%M} to "
            f"{issued[i + 1]:%Y-%m-%d %H:%M}); give every issue in between")


def stale_replay_notes(spec: ForecastSpec, last_decision: pd.Timestamp) -> list[str]:
    """One sentence per site whose replayed forecasts stop at least one ``issue_every``
    before ``last_decision`` (the run's last step): the run would issue again, but the
    policy decides the rest on the file's last issue, ever older."""
    notes = []
    every = pd.Timedelta(seconds=spec.issue_every_s)
    for site, table in sorted(spec.files.items()):
        last = table.issue_times[-1]
        if last + every <= last_decision:
            notes.append(
                f"forecast.files.{site}: the issued forecasts end at {last:%Y-%m-%d %H:%M %Z}, "
                f"{(last_decision - last).total_seconds() / 3600:g} h before the run's last "
                f"step ({last_decision:%Y-%m-%d %H:%M %Z}): the policy decides the rest of the "
                "run on the last issue, ever older; give a file that covers the run")
    return notes


def build_window_forecasts(inputs, spec: ForecastSpec,
                           progress: Callable[[int, int], None] | None = None
                           ) -> WindowForecasts:
    """Issue, calibrate and align the window forecasts of every site of ``inputs`` (a
    :class:`~greenhop.sim.inputs.SimInputs`) over its whole trace, once per scenario run
    (:func:`~greenhop.fleet.forecasts.issue_window_forecasts`)."""
    return issue_window_forecasts(inputs, inputs.surplus_w, spec, inputs.scenario.seed, progress)


# --------------------------------------------------------------------- the future channel
class TrueWindows:
    """The true remaining window and surplus per site and step, from the actual traces.

    Future knowledge: handed only to a policy that declares ``sees_future`` (the
    ``oracle-window`` and ``oracle-planner`` comparison ceilings), never through the
    Observation.

    Args:
        remaining_window_s: ``[T, S]`` true remaining window [s] at each step of the run.
        surplus_w: ``[T, S]`` true surplus [W] at each step of the run (renewable less base
            demand), or ``None`` where only the windows are given.
    """

    def __init__(self, remaining_window_s: np.ndarray,
                 surplus_w: np.ndarray | None = None) -> None:
        self._rem = readonly(remaining_window_s)
        self._surplus = None
        if surplus_w is not None:
            self._surplus = readonly(np.asarray(surplus_w, dtype=float))

    def remaining_s(self, step: int) -> np.ndarray:
        """True remaining window of every site from ``step`` on [s] (0 outside a window)."""
        return self._rem[int(step)]

    def surplus_ahead_w(self, step: int, n_steps: int) -> np.ndarray:
        """True surplus [W] of every site at steps ``step .. step + n_steps - 1``,
        ``[S, n_steps]``; past the run's end the last step's surplus stands in."""
        if self._surplus is None:
            raise ConfigError("these true windows carry no surplus (pass surplus_w)")
        T = self._surplus.shape[0]
        idx = np.minimum(np.arange(int(step), int(step) + int(n_steps)), T - 1)
        return self._surplus[idx].T.copy()
