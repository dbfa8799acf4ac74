"""``simulate(scenario)``: run every policy of a scenario and compare them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from greenhop.fleet.forecasts import WindowForecasts
from greenhop.policies import POLICIES, make_policy
from greenhop.sim.attribution import BaseOnly, base_only_dispatch
from greenhop.sim.engine import Engine, RunResult
from greenhop.sim.forecasts import build_window_forecasts, check_forecast_history
from greenhop.sim.inputs import SimInputs, build_inputs
from greenhop.sim.metrics import compare, run_metrics
from greenhop.sim.scenario import Scenario, load_scenario
from greenhop.sim.sweep_store import REPORT, SIMULATION_METRICS


@dataclass
class SimulationResult:
    """Runs of every policy of one scenario.

    Attributes:
        scenario: the validated scenario.
        inputs: the policy-independent arrays (traces, routing, jobs).
        runs: per policy, the raw :class:`~greenhop.sim.engine.RunResult`.
        metrics_by_policy: per policy, the metrics dict written to ``metrics.json``.
        window_forecasts: the window forecasts the run computed (only when a policy used
            them, e.g. ``forecast-feasibility``), else ``None``.
        base_only: the sites dispatched with base load only (the job-attributable reference).
        bounds: per bound kind the scenario asked for (``[bounds]``), its
            :meth:`~greenhop.sim.bounds.BoundResult.to_dict`.
    """

    scenario: Scenario
    inputs: SimInputs
    runs: dict[str, RunResult]
    metrics_by_policy: dict[str, dict]
    window_forecasts: WindowForecasts | None = None
    base_only: BaseOnly | None = None
    bounds: dict[str, dict] | None = None

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per policy, one column per metric."""
        df = pd.DataFrame.from_dict(self.metrics_by_policy, orient="index")
        df.index.name = "policy"
        return df

    def to_json(self) -> str:
        """``metrics.json``: ``{"policies": {NAME: {...}}, "scenario": {...}}`` (and
        ``"bounds": {KIND: {...}}`` when the scenario asks for bounds), sorted keys.

        Byte-identical for the same scenario and seed.
        """
        sc = self.scenario
        doc = {
            "policies": self.metrics_by_policy,
            "scenario": {
                "name": sc.name, "start": sc.start.isoformat(), "horizon_h": sc.horizon_s / 3600,
                "step_s": sc.step_s, "seed": sc.seed, "sites": len(sc.sites),
                "links": len(sc.links), "jobs": len(self.inputs.jobs),
            },
        }
        if self.bounds:
            doc["bounds"] = self.bounds
        if self.window_forecasts is not None:
            fc = sc.forecast
            doc["scenario"]["forecast"] = {
                "model": self.window_forecasts.name, "quantile": fc.quantile,
                "quantiles": list(fc.quantiles), "issue_every_s": fc.issue_every_s,
                "horizon_s": fc.horizon_s,
            }
        return json.dumps(doc, sort_keys=True, indent=2, allow_nan=False) + "\n"

    def write(self, out_dir: str | Path, *, report: bool = True) -> dict[str, Path]:
        """Write ``metrics.json`` (and ``report.html``) into ``out_dir``, replacing what an
        earlier run wrote there (without ``report``, its ``report.html`` is removed);
        returns the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"metrics": out / SIMULATION_METRICS}
        paths["metrics"].write_text(self.to_json(), encoding="utf-8")
        if report:
            from greenhop.sim.report import write_report

            paths["report"] = write_report(self, out / REPORT)
        else:  # an earlier run's report beside these metrics would contradict them
            (out / REPORT).unlink(missing_ok=True)
        return paths


def policy_params(sc, name: str) -> dict:
    """The parameters policy ``name`` gets in scenario ``sc``: its ``policy_params`` table,
    with the scenario's ``alpha`` for a policy that takes one and the ``[forecast]``
    quantile for one that reads window forecasts (unless the table sets them). The
    simulator and a live run build their policies with these, so both decide alike."""
    params = dict(sc.policy_params.get(name, {}))
    if name not in POLICIES:
        return params  # make_policy names the unknown policy
    factory = POLICIES.get(name)
    if _takes(factory, "alpha"):
        params.setdefault("alpha", sc.alpha)
    if factory.capabilities.window_forecasts:
        if not _takes(factory, "quantile"):
            from greenhop.core.errors import ConfigError

            raise ConfigError(f"policy '{name}' declares window_forecasts=True, so it is "
                              "built with the forecast quantile it reads: give its __init__ "
                              "a `quantile` parameter (docs/policies.md)")
        params.setdefault("quantile", sc.forecast.quantile)
    return params


def _takes(factory, parameter: str) -> bool:
    """Whether ``factory(parameter=...)`` is accepted: named in its signature, or passed on
    through ``**kwargs`` to a base class that names it."""
    from greenhop.policies.base import accepted_parameters

    return parameter in accepted_parameters(factory)[0]


def simulate(
    scenario: str | Path | dict | Scenario | None = None,
    *,
    policies: list[str] | tuple[str, ...] | None = None,
    seed: int | None = None,
    record: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> SimulationResult:
    """Run ``scenario`` (a TOML path, a dict, a :class:`Scenario`, or ``None`` for the default)
    under each of its policies (or ``policies``); ``seed`` overrides the scenario's seed.

    ``progress(policy, steps_done, steps_total)`` is called as the runs advance (steps
    summed over all policies).
    ``record=True`` keeps per-step flows and job progress for inspection.

    The scenario's ``alpha`` is handed to every policy that takes an ``alpha`` (unless its
    ``policy_params`` say otherwise), so one key sets the rule and the metric that checks it.
    When the scenario has a ``[bounds]`` table, the offline bounds are solved after the
    policies (:mod:`greenhop.sim.bounds`) and every policy gets its gap closed.
    """
    sc = load_scenario(scenario)
    if seed is not None:
        sc = sc.with_seed(seed)
    if policies is not None:
        sc = sc.with_policies(policies)
    names = list(sc.policies)
    # every policy made before any runs: a bad option, or forecasts the history cannot
    # give, is refused before the traces are read and the other policies run
    made = {name: make_policy(name, **policy_params(sc, name)) for name in names}
    if any(p.capabilities.window_forecasts for p in made.values()):
        check_forecast_history(sc)
    inputs = build_inputs(sc)
    base_only = base_only_dispatch(inputs)
    runs: dict[str, RunResult] = {}
    metrics: dict[str, dict] = {}
    total = sc.n_steps * len(names)
    forecasts: WindowForecasts | None = None
    for i, name in enumerate(names):
        policy = made[name]
        # the instance's: a policy's options may ask for forecasts (horizon-planner's window)
        needs_fc = policy.capabilities.window_forecasts
        hook = None
        if progress is not None:
            base = i * sc.n_steps

            def hook(done: int, name=name, base=base) -> None:
                progress(name, base + done, total)

            hook(0)
        if needs_fc and forecasts is None:
            # Once per run: every forecast the forecaster would have issued, audited for
            # leakage, shared by every policy that needs them.
            fc_hook = None
            if progress is not None:
                def fc_hook(k: int, n: int, name=name, base=base) -> None:
                    progress(f"{name} (window forecasts, site {min(k + 1, n)}/{n})", base,
                             total)
            forecasts = build_window_forecasts(inputs, sc.forecast, fc_hook)
        res = Engine(inputs, policy, record=record, on_progress=hook,
                     window_forecasts=forecasts if needs_fc else None).run()
        runs[name] = res
        metrics[name] = run_metrics(inputs, res, base_only)
    result = SimulationResult(sc, inputs, runs, compare(metrics), forecasts, base_only)
    if sc.bounds:
        from greenhop.sim.bounds import compute_bound

        solved = {}
        for kind in sc.bounds:
            if progress is not None:
                progress(f"bound {kind}", total, total)
            solved[kind] = compute_bound(inputs, kind, static=runs.get("static"),
                                         deadlines=sc.bounds_deadlines)
        apply_bounds(result, solved)
    return result


def apply_bounds(result: SimulationResult, solved: dict) -> SimulationResult:
    """Attach solved bounds (``{kind: BoundResult}``) to ``result``: its ``bounds`` block,
    each policy's ``bound_<kind>_kwh`` (the bound priced at that policy's own work,
    :meth:`~greenhop.sim.bounds.BoundResult.for_run`, a true lower bound on its
    ``job_nr_kwh``) and the gaps closed (:func:`~greenhop.sim.metrics.compare`)."""
    from greenhop.sim.bounds import rounded_down

    result.bounds = {kind: b.to_dict() for kind, b in solved.items()}
    for name, m in result.metrics_by_policy.items():
        for kind, b in solved.items():
            own = b.for_run(result.inputs, result.runs[name])
            m[f"bound_{kind}_kwh"] = rounded_down(own)
    compare(result.metrics_by_policy, result.bounds)
    return result
