"""Scenario warnings: what a valid scenario seems to ask for but cannot do (it still runs).

:func:`scenario_warnings` gives one sentence for each; ``greenhop simulate`` prints them.
"""

from __future__ import annotations

import pandas as pd

from greenhop.core.units import format_duration
from greenhop.sim.forecasts import stale_replay_notes
from greenhop.sim.scenario import Scenario


def scenario_warnings(scenario: Scenario) -> list[str]:
    """What ``scenario`` seems to ask for but cannot do; it still runs. One sentence each.

    A policy whose only action is migration, on a fleet without links, can never move a
    job, so it does exactly what ``static`` does: comparing them measures nothing. (One
    that also suspends, rescales or places jobs still acts.) Nor can one where every job is
    pinned. A deadline before a job's ideal run could end is missed by every policy. A site
    without any renewable
    source never has a surplus; a replayed forecast file that stops before the run ends
    leaves the policy deciding on an ever older forecast. A demand-response event wholly
    outside the run limits nothing. A link, checkpoint or base load far below any real one
    is a plain number read in SI base units.
    """
    from greenhop.policies import POLICIES

    def only_migrates(name: str) -> bool:
        c = POLICIES.get(name).capabilities
        return c.migrates and not (c.suspends or c.scales or c.places)

    notes = []
    migrating = [name for name in scenario.policies if name in POLICIES and only_migrates(name)]
    if migrating and not scenario.links:
        where = "one site" if len(scenario.sites) == 1 else "no links"
        notes.append(f"scenario '{scenario.name}' has {where}: no job can move between "
                     f"sites, so every policy that only migrates ({', '.join(migrating)}) "
                     "equals static; add [[links]] to compare them")
    elif migrating and scenario.jobs() and all(j.mobility == "pinned" for j in scenario.jobs()):
        notes.append(f"every job of scenario '{scenario.name}' is pinned: none can move "
                     f"between sites, so every policy that only migrates "
                     f"({', '.join(migrating)}) equals static; make some jobs migratable "
                     "(mobility, or the generator's [generator.mobility]) to compare them")
    notes.extend(_deadlines_out_of_reach(scenario))
    notes.extend(scenario.notes)
    notes.extend(_events_outside_run(scenario))
    notes.extend(_unit_slips(scenario))
    if scenario.forecast.model == "replay":
        last_step = scenario.start + pd.Timedelta(seconds=scenario.horizon_s - scenario.step_s)
        notes.extend(stale_replay_notes(scenario.forecast, last_step))
    return notes


def _deadlines_out_of_reach(scenario: Scenario) -> list[str]:
    """A note naming the jobs whose deadline comes before even their ideal run could end:
    their work on their most GPUs at the fastest site they may use, from their arrival,
    counted as if GPUs scaled perfectly. Every policy counts such a job as a deadline miss,
    so the misses compare nothing; a deadline in seconds where hours were meant is the
    usual cause."""
    fastest = {s.name: s.throughput for s in scenario.sites}
    late = []
    for job in scenario.jobs():
        if job.deadline_s is None:
            continue
        sites = job.allowed_sites or tuple(fastest)
        rate = job.gpu_range[1] * max(fastest[name] for name in sites)  # reference GPUs
        ideal_s = job.work_gpu_h * 3600.0 / rate
        if job.arrival_s + ideal_s > job.deadline_s + 1e-6:
            late.append((job, ideal_s))
    if not late:
        return []
    job, ideal_s = late[0]
    gpus = job.gpu_range[1]
    more = f" (and {len(late) - 1} more)" if len(late) > 1 else ""
    return [f"job '{job.name}'{more} cannot meet its deadline: {format_duration(ideal_s)} "
            f"of work on {gpus} GPU{'s' if gpus > 1 else ''} at the fastest site it may use, "
            f"{format_duration(job.deadline_s - job.arrival_s)} from its arrival to its "
            "deadline; every policy misses it, so its miss compares nothing"]


#: per key: (smallest plausible value, its SI base unit, the floor as written, how to
#: write a value): one below its floor is almost always a plain number read in the base
#: unit ("bandwidth = 10" is 10 bit/s), which the parser accepts
_FLOORS = {
    "bandwidth": (1e5, "bit/s", "100 kbit/s", '"10Gbps"'),
    "checkpoint": (1e3, "B", "1 kB", '"98GB"'),
    "base_load": (10.0, "W", "10 W", '"4kW"'),
}


def _unit_slips(scenario: Scenario) -> list[str]:
    """A note for each kind of quantity given far below any real one (a link under 100
    kbit/s, a checkpoint under 1 kB, a base load under 10 W but above 0): a plain number is
    read in SI base units, so ``bandwidth = 10`` meant 10 Gbit/s and runs as 10 bit/s."""
    found = {
        "bandwidth": [f"links[{i}]" for i, link in enumerate(scenario.links)
                      if link.bandwidth_bps < _FLOORS["bandwidth"][0]],
        "checkpoint": [f"job '{j.name}'" for j in scenario.jobs()
                       if j.checkpoint_bytes < _FLOORS["checkpoint"][0]],
        "base_load": [f"site '{s.name}'" for s in scenario.sites
                      if 0 < s.spec.base_load_w < _FLOORS["base_load"][0]],
    }
    notes = []
    for key, where in found.items():
        if where:
            _, unit, floor, example = _FLOORS[key]
            more = f" (and {len(where) - 1} more)" if len(where) > 1 else ""
            notes.append(f"{where[0]}{more}: {key} below {floor}; a plain number is read in "
                         f"{unit}: write the unit, e.g. {key} = {example}")
    return notes


def _events_outside_run(scenario: Scenario) -> list[str]:
    """A note for each demand-response event that ends at or before the run's start or
    begins at or after its end: it asks for a limit the run never meets (a typo in a date
    or a duration is the usual cause), and it counts as no event in the metrics."""
    t0 = scenario.start.timestamp()
    t1 = t0 + scenario.horizon_s
    return [f"grid event {ev.id!r} ({_utc(ev.start_unix_s)} to "
            f"{_utc(ev.start_unix_s + ev.duration_s)}) lies wholly outside the run "
            f"({_utc(t0)} to {_utc(t1)}): it limits nothing"
            for ev in scenario.grid_events
            if ev.start_unix_s + ev.duration_s <= t0 or ev.start_unix_s >= t1]


def _utc(unix_s: float) -> str:
    """``unix_s`` [s] as an ISO UTC time to the minute, e.g. ``2023-06-01T14:00Z``."""
    return pd.Timestamp(unix_s, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%MZ")
