"""The field demonstration of demand response, in simulation.

Each site of a region is asked for 25 % less power for 3 h, announced 1 h ahead: Europe
(``madrid-es``, ``berlin-de``) at its evening peak, 16:00-19:00 UTC, and North America
(``greensboro-nc``, ``miami-fl``, ``sand-point-ak``) at its own, 21:00-24:00 UTC, on the
packaged ``default`` scenario. Per seed (the generated jobs), :func:`field_run` runs
``static`` without events (the reference for deadline misses) and each policy with them,
and :func:`field_checks` says whether every event step was met and no job missed a
deadline that static without events did not also miss. The misses the events caused are
those the same policy without events did not have; each is a job the enforcement shed
(moved or suspended) or one it never touched (the events changed the fleet's state, and
the policy's later choices made the difference).

``benchmarks/bench_dr_field.py`` runs it over 20 seeds; docs/grid.md has the numbers.
"""

from __future__ import annotations

import copy

import numpy as np

from greenhop.policies import make_policy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import parse_scenario, scenario_document

#: the events of the demonstration (``[[grid.events]]`` tables)
FIELD_EVENTS = (
    {"id": "eu-peak", "sites": ["madrid-es", "berlin-de"], "start": "2023-06-06T16:00:00Z",
     "duration": "3h", "lead": "1h", "reduce": "25%"},
    {"id": "na-peak", "sites": ["greensboro-nc", "miami-fl", "sand-point-ak"],
     "start": "2023-06-06T21:00:00Z", "duration": "3h", "lead": "1h", "reduce": "25%"},
)
METRICS = ("dr_compliance_pct", "dr_excess_kwh", "flex_kwh", "dr_moved", "dr_suspended",
           "dr_moved_pct", "dr_best_effort", "deadline_misses", "job_nr_kwh")


def field_document(seed: int, *, events: bool = True, horizon: str | None = None,
                   until: str | None = None, count: int | None = None,
                   history: str | None = None) -> tuple[dict, str, object]:
    """The ``default`` scenario's document for ``seed``, with the events (or without),
    and optionally a shorter horizon, job arrival span, job count and history (tests)."""
    doc, label, base = scenario_document("default")
    doc = copy.deepcopy(doc)
    doc.pop("bounds", None)
    doc["seed"] = int(seed)
    for key, value in (("horizon", horizon), ("history", history)):
        if value is not None:
            doc[key] = value
    if until is not None:
        doc["generator"]["until"] = until
    if count is not None:
        doc["generator"]["count"] = int(count)
    if events:
        doc.setdefault("grid", {})["events"] = [dict(e) for e in FIELD_EVENTS]
    return doc, label, base


def _missed(inp, res) -> set[int]:
    """Jobs that missed their deadline within the horizon."""
    horizon = inp.n_steps * float(inp.params.step_s)
    fin = res.job_finish_s
    dl = inp.job_deadline_s
    late = np.where(np.isnan(fin), dl < horizon, fin > dl + 1e-9)
    arrived = inp.job_arrival_s < horizon
    return set(np.flatnonzero(late & arrived).tolist())


def field_run(seed: int, policies=("static", "feasibility-aware"), **kw) -> dict:
    """One seed: ``{"reference": {...}, "<policy>": {metrics, "extra_misses": n,
    "event_misses": n}}``: ``extra_misses`` are deadline misses that static without
    events did not have, ``event_misses`` those the same policy without events did not
    have (what the events cost)."""
    doc, label, base = field_document(seed, events=False, **kw)
    inp = build_inputs(parse_scenario(doc, label, base))
    own = {name: _missed(inp, Engine(inp, make_policy(name)).run())
           for name in dict.fromkeys(("static", *policies))}
    ref_missed = own["static"]
    out = {"reference": {"deadline_misses": len(ref_missed)}}
    doc, label, base = field_document(seed, events=True, **kw)
    inp = build_inputs(parse_scenario(doc, label, base))
    for name in policies:
        eng = Engine(inp, make_policy(name))
        res = eng.run()
        m = run_metrics(inp, res)
        row = {k: m.get(k) for k in METRICS}
        missed = _missed(inp, res)
        row["extra_misses"] = len(missed - ref_missed)
        caused = sorted(missed - own[name])
        shed = {int(r["job"]) for r in (eng.core.state.dr or {}).get("shed", ())}
        row["event_misses"] = len(caused)
        # a job the enforcement moved or suspended, or one it never touched (the events
        # changed the fleet's state and the policy's later choices)
        row["event_missed_jobs"] = caused
        row["event_misses_shed"] = sum(j in shed for j in caused)
        row["missed_jobs"] = sorted(missed)
        out[name] = row
    if "static" in policies:  # misses static with the same events did not have
        for name in policies:
            out[name]["vs_static_misses"] = len(set(out[name]["missed_jobs"])
                                                - set(out["static"]["missed_jobs"]))
    return out


def field_checks(run: dict) -> list[str]:
    """What one seed's run fails of the demonstration's claims (empty: all met): every
    event step met (or the event marked best effort), no deadline miss that static
    without events did not also have."""
    bad = []
    for name, row in run.items():
        if name == "reference":
            continue
        if row["dr_compliance_pct"] != 100.0 and not row["dr_best_effort"]:
            bad.append(f"{name}: {row['dr_compliance_pct']} % of event steps met")
        if row["extra_misses"]:
            bad.append(f"{name}: {row['extra_misses']} deadline misses static did not have")
    return bad
