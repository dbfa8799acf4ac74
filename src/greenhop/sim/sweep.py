"""Sweeps: one scenario x many seeds x policies x a parameter grid, run serially or on Ray.

A *cell* is one (grid point, seed, policy); its result is exactly the ``metrics.json``
text of ``simulate(scenario_at_point, policies=[policy], seed=seed).to_json()``, so it is
byte-identical to ``greenhop simulate`` of the same scenario. When the scenario asks for
offline bounds (``[bounds]``), one more cell per (grid point, seed) holds them
(``{kind: BoundResult.to_dict()}``).

The cells of one (grid point, seed) run together in one task: the inputs they share
(traces, routing, jobs) are deterministic, and the trace cache of the process that runs
them makes every run after the first cheap. Results are still stored cell by cell.

>>> spec = prepare_sweep("my.toml", seeds="1-20", sets=["alpha=0.05,0.1"])  # doctest: +SKIP
>>> run_sweep(spec, "sweep-out/", serial=True)                              # doctest: +SKIP
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from greenhop.core.errors import ConfigError, RuntimeFailure
from greenhop.core.names import is_valid_name
from greenhop.sim.scenario import Scenario, parse_scenario, scenario_document
from greenhop.sim.sweep_grid import (
    MAX_CELLS,
    apply_override,
    json_value,
    parse_seeds,
    parse_set,
)
from greenhop.sim.sweep_store import SweepStore

#: the pseudo-policy of a (grid point, seed)'s bounds cell
BOUNDS = "bounds"


@dataclass(frozen=True)
class Cell:
    """One unit of a sweep's result."""

    point: int
    seed: int
    policy: str  # a policy name, or BOUNDS

    @property
    def key(self) -> str:
        """File-name key: ``p000-s00001-static``."""
        return f"p{self.point:03d}-s{self.seed:05d}-{self.policy}"


@dataclass(frozen=True)
class Group:
    """The cells of one (grid point, seed) still to run: one task."""

    point: int
    seed: int
    policies: tuple[str, ...]
    bounds: bool


@dataclass
class SweepSpec:
    """A validated sweep: the scenario document, seeds, policies and the grid."""

    document: dict
    source_label: str
    base_dir: str
    scenario_name: str
    seeds: tuple[int, ...]
    policies: tuple[str, ...]
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    grid_texts: tuple[tuple[str, ...], ...]
    point_bounds: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def points(self) -> list[dict[str, Any]]:
        """Every combination of the grid's values (one empty point without a grid)."""
        keys = [k for k, _ in self.grid]
        return [dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*(v for _, v in self.grid))]

    @property
    def n_points(self) -> int:
        """How many grid points there are (1 without a grid)."""
        return math.prod(len(v) for _, v in self.grid)

    def _digits(self, point: int) -> list[int]:
        """Point ``point``'s index into each dimension's values, in ``itertools.product``'s
        order (the last dimension fastest): one point without listing them all, which made
        checking 4,096 points take 18 s and 262,144 hours."""
        digits = []
        for _, values in reversed(self.grid):
            point, i = divmod(point, len(values))
            digits.append(i)
        return digits[::-1]

    def point(self, point: int) -> dict[str, Any]:
        """Grid point ``point``: key -> value."""
        return {k: v[i] for (k, v), i in zip(self.grid, self._digits(point), strict=True)}

    def point_label(self, point: int) -> str:
        texts = [t[i] for t, i in zip(self.grid_texts, self._digits(point), strict=True)]
        return ", ".join(f"{k}={t}" for (k, _), t in zip(self.grid, texts, strict=True))

    def point_document(self, point: int) -> dict:
        """The scenario document with grid point ``point``'s overrides applied."""
        doc = copy.deepcopy(self.document)
        for key, value in self.point(point).items():
            apply_override(doc, key, copy.deepcopy(value))
        return doc

    def cells(self) -> list[Cell]:
        """Every cell, in order: grid point, seed, then the policies and the bounds cell."""
        out = []
        for p in range(self.n_points):
            for s in self.seeds:
                out.extend(Cell(p, s, pol) for pol in self.policies)
                if self.point_bounds[p]:
                    out.append(Cell(p, s, BOUNDS))
        return out

    def definition(self) -> dict:
        """What makes two sweeps the same (recorded in the manifest)."""
        text = json.dumps(self.document, sort_keys=True, default=str)
        out = {
            "scenario": self.scenario_name,
            "scenario_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "seeds": list(self.seeds),
            "policies": list(self.policies),
            "grid": [[k, [json_value(v) for v in vals]] for k, vals in self.grid],
        }
        tables = self.document.get("policies")
        files = {name: {k: t[k] for k in ("file", "class", "sha256") if k in t}
                 for name, t in (tables.items() if isinstance(tables, dict) else ())
                 if isinstance(t, dict) and "file" in t}
        if files:  # which file, at which content, each policy of a file was (a record)
            out["policy_files"] = files
        return out


def _parse_point(doc: dict, label: str, base_dir: Path, what: str | None) -> Scenario:
    """Parse one point's document; an error names ``what`` made it (the ``--set`` values),
    or the scenario file where ``what`` is ``None``."""
    if what is None:
        return parse_scenario(doc, label, base_dir)
    try:
        return parse_scenario(doc, label, base_dir, name_source=False)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def prepare_sweep(scenario: str | Path | dict | None, *, seeds: str | Iterable[int],
                  policies: Iterable[str] | None = None,
                  sets: Iterable[str] = (), policy_files: Iterable = (),
                  checked: Callable[[int, int], None] | None = None) -> SweepSpec:
    """Validate a sweep before anything runs: the scenario, the seeds, the policies and
    every grid point (each ``--set`` value alone, then every combination).

    ``policy_files`` (:class:`~greenhop.policies.plugins.PolicyFile`) join the scenario's
    policies as ``[policies.NAME]`` tables with their path and SHA-256, so every worker
    loads the same file (:mod:`greenhop.sim.policy_table`).

    ``checked(done, total)`` is told how many grid points are checked, every
    :data:`CHECK_EVERY` (a point is a scenario read: about 10 ms, minutes for a grid of
    tens of thousands).

    Raises:
        ConfigError: one line naming the option, the key and the value at fault.
    """
    from greenhop.sim.policy_table import check_policy_names

    seed_list = parse_seeds(seeds) if isinstance(seeds, str) else tuple(sorted(set(seeds)))
    if not seed_list:
        raise ConfigError("--seeds: give at least one seed, e.g. 1-20")
    doc, label, base_dir = scenario_document(scenario)
    base_dir = Path(base_dir).resolve()
    refs = list(policy_files)
    if refs:
        from greenhop.policies.plugins import load_policy_file
        from greenhop.sim.policy_table import add_policy_files

        doc = add_policy_files(doc, [load_policy_file(r) for r in refs], refs)
    base = _parse_point(copy.deepcopy(doc), label, base_dir, None)
    grid: list[tuple[str, tuple[Any, ...]]] = []
    texts: list[tuple[str, ...]] = []
    for s in sets:
        key, values, vtexts = parse_set(s)
        if any(k == key for k, _ in grid):
            raise ConfigError(f"--set {key}: the key is given twice; list its values once, "
                              "comma-separated")
        for v, t in zip(values, vtexts, strict=True):
            one = copy.deepcopy(doc)
            try:
                apply_override(one, key, v)
            except ConfigError as exc:
                raise ConfigError(f"{exc} (value {t})") from None
            try:
                _parse_point(one, label, base_dir, f"--set {key}={t}")
            except ConfigError:
                # with other keys set, a value may be valid only beside one of theirs
                # (horizon=3d with generator.until=2d): its combinations decide, below
                if len(sets) == 1:
                    raise
        grid.append((key, values))
        texts.append(vtexts)
    names = tuple(policies) if policies is not None else base.policies
    if not names:
        raise ConfigError("--policies: give at least one policy name")
    check_policy_names(names, option="--policies")
    if BOUNDS in names:  # its cells would overwrite the bounds' (same file name)
        raise ConfigError(f"--policies: {BOUNDS!r} names the sweep's bounds cells; give the "
                          "policy another name (--policy-file NAME=FILE:CLASS)")
    n_points = math.prod(len(values) for _, values in grid)
    n_cells = len(seed_list) * n_points * len(names)
    if n_cells > MAX_CELLS:
        raise ConfigError(
            f"--seeds x --policies x --set: {len(seed_list):,} seeds x {len(names)} policies x "
            f"{n_points:,} grid points = {n_cells:,} cells, over the {MAX_CELLS:,} one sweep "
            "may hold; split it into several sweeps (each its own --out)")
    spec = SweepSpec(doc, label, str(base_dir), base.name, seed_list, tuple(names),
                     tuple(grid), tuple(texts))
    bounds = []
    for p in range(spec.n_points):
        sc = _parse_point(spec.point_document(p), label, base_dir,
                          f"--set {spec.point_label(p)}" if grid else None)
        bounds.append(tuple(getattr(sc, "bounds", ()) or ()))
        if checked is not None and ((p + 1) % CHECK_EVERY == 0 or p + 1 == spec.n_points):
            checked(p + 1, spec.n_points)
    spec.point_bounds = tuple(bounds)
    return spec


CHECK_EVERY = 100
"""Grid points checked between two calls of ``prepare_sweep``'s ``checked``."""


# ---------------------------------------------------------------- one task


def group_cells(document: dict, source_label: str, base_dir: str, seed: int,
                policies: tuple[str, ...], bounds: bool) -> Iterator[tuple[str, str, dict]]:
    """:func:`_group_cells`, whose failure (a policy that raised, say) names the seed: the
    sweep stops at the first, and the seed is what reproduces it with ``simulate``."""
    try:
        yield from _group_cells(document, source_label, base_dir, seed, policies, bounds)
    except RuntimeFailure as exc:
        try:
            named = type(exc)(f"seed {seed}: {exc}")
        except TypeError:  # a subclass with another signature keeps its own message
            raise exc from None
        raise named from exc


def _group_cells(document: dict, source_label: str, base_dir: str, seed: int,
                 policies: tuple[str, ...], bounds: bool) -> Iterator[tuple[str, str, dict]]:
    """Run the cells of one (grid point, seed), yielding ``(policy or BOUNDS, text, meta)``
    as each finishes (``meta``: where and how long it ran).

    Without bounds each cell is ``simulate(scenario, policies=[policy], seed=seed)``.
    With bounds, ``simulate`` would solve the same linear programs once per policy (they
    depend on the seed's inputs and its ``static`` run only), so they are solved once
    here, after ``static``, and each cell is completed with them exactly as ``simulate``
    completes its result (:func:`greenhop.sim.metrics.compare` with the bounds, then
    ``to_json``).
    """
    from greenhop.sim.api import simulate

    sc = parse_scenario(copy.deepcopy(document), source_label, Path(base_dir))

    def cell(name: str, text: str, wall_s: float) -> tuple[str, str, dict]:
        meta = {"node_id": _node_id(), "host": socket.gethostname(), "pid": os.getpid(),
                "nice": os.nice(0), "wall_s": round(wall_s, 3), "finished_at": time.time()}
        return name, text, meta

    if not sc.bounds:
        for name in policies:
            t0 = time.perf_counter()
            text = simulate(sc, policies=[name], seed=seed).to_json()
            yield cell(name, text, time.perf_counter() - t0)
        return

    from greenhop.sim.api import apply_bounds

    bare = replace(sc, bounds=())

    def complete(res) -> str:
        return apply_bounds(res, solved).to_json()

    t0 = time.perf_counter()
    static = simulate(bare, policies=["static"], seed=seed)
    static_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    solved = _solve_bounds(sc, static)
    if bounds:
        # the seed in each kind: a cell copied over another seed's is told apart
        doc = {kind: {**b.to_dict(), "seed": seed} for kind, b in solved.items()}
        yield cell(BOUNDS, json.dumps(doc, sort_keys=True, indent=2, allow_nan=False) + "\n",
                   time.perf_counter() - t0)
    if "static" in policies:
        yield cell("static", complete(static), static_s)
    for name in policies:
        if name != "static":
            t0 = time.perf_counter()
            res = simulate(bare, policies=[name], seed=seed)
            yield cell(name, complete(res), time.perf_counter() - t0)


def _solve_bounds(sc: Scenario, static_result) -> dict:
    """``{kind: BoundResult}`` of the scenario's bounds on ``static_result``'s inputs, with
    its ``static`` run as the reference."""
    from greenhop.sim.bounds import compute_bound

    return {kind: compute_bound(static_result.inputs, kind,
                                static=static_result.runs["static"],
                                deadlines=sc.bounds_deadlines)
            for kind in sc.bounds}


def _node_id() -> str | None:
    """The Ray node id when running inside a Ray worker, else ``None``."""
    import sys

    if "ray" not in sys.modules:
        return None
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:  # pragma: no cover - outside a Ray worker
        return None


# ---------------------------------------------------------------- the sweep


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did."""

    out: Path
    total: int
    ran: int
    reused: int
    paths: dict[str, Path]
    summary: dict
    set_aside: tuple[Path, ...] = ()   # stored cells that were unreadable, run again


def plan(spec: SweepSpec, done: set[str]) -> list[Group]:
    """The groups still to run (a group holds only its missing cells)."""
    groups = []
    for p in range(spec.n_points):
        for s in spec.seeds:
            todo = tuple(pol for pol in spec.policies if Cell(p, s, pol).key not in done)
            want_b = bool(spec.point_bounds[p]) and Cell(p, s, BOUNDS).key not in done
            if todo or want_b:
                groups.append(Group(p, s, todo, want_b))
    return groups


def _serial_results(spec: SweepSpec, groups: list[Group]
                    ) -> Iterator[tuple[Group, str, str, dict]]:
    for g in groups:
        for name, text, meta in group_cells(spec.point_document(g.point), spec.source_label,
                                            spec.base_dir, g.seed, g.policies, g.bounds):
            yield g, name, text, meta


def default_out(scenario_name: str) -> str:
    """``sweep-NAME``, the output folder of a sweep without ``--out``; a scenario name that
    is not one safe path component (``x/../../elsewhere``) is refused, so a sweep never
    writes outside the folder it was started in unless told to."""
    if not is_valid_name(scenario_name):
        raise ConfigError(f"name: the scenario's name {scenario_name!r} cannot name the "
                          "default output folder sweep-NAME (1-64 ASCII letters, digits, "
                          "'_', '.', '-', no '..'); give --out")
    return f"sweep-{scenario_name}"


def run_sweep(spec: SweepSpec, out: str | Path | None = None, *, serial: bool = False,
              address: str | None = None, workers: int | None = None, force: bool = False,
              progress: Callable[[int, int], None] | None = None,
              on_set_aside: Callable[[Path], None] | None = None) -> SweepOutcome:
    """Run the missing cells of ``spec`` into ``out`` and write the final files.

    ``serial`` runs in this process; otherwise on Ray (a local instance on all cores, or
    the cluster at ``address``), with at most ``workers`` tasks at once.
    ``progress(cells_done, cells_total)`` follows the cells; ``on_set_aside(path)`` is
    told of each stored cell set aside as unreadable (``path``: where it is kept) before
    anything runs, so a sweep that fails later has said so.
    """
    store = SweepStore(out or default_out(spec.scenario_name))
    definition = spec.definition()
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: must be >= 1, got {workers}")
    store.check(definition, force=force)
    store.lock()
    try:
        return _run_locked(spec, store, definition, serial=serial, address=address,
                           workers=workers, force=force, progress=progress,
                           on_set_aside=on_set_aside)
    finally:
        store.unlock()


def _run_locked(spec: SweepSpec, store: SweepStore, definition: dict, *, serial: bool,
                address: str | None, workers: int | None, force: bool,
                progress: Callable[[int, int], None] | None,
                on_set_aside: Callable[[Path], None] | None) -> SweepOutcome:
    """:func:`run_sweep` once the directory is held."""
    replacing = store.replaces(definition, force=force)
    cells = spec.cells()
    set_aside: list[Path] = []
    if not replacing:  # a damaged cell file is moved aside (kept) and its cell runs again
        policy_of = {c.key: spec.point_bounds[c.point] if c.policy == BOUNDS else c.policy
                     for c in cells}
        set_aside = store.set_aside_unreadable(store.done_keys() & set(policy_of),
                                               policy_of.get, on_set_aside)
    done = set() if replacing else store.done_keys() & {c.key for c in cells}
    groups = plan(spec, done)
    total = len(cells)
    count = [len(done)]

    def on_cell(cell: Cell) -> None:
        count[0] += 1
        if progress is not None:
            progress(count[0], total)

    if progress is not None:
        progress(count[0], total)
    def store_all(results: Iterable[tuple[Group, str, str, dict]]) -> None:
        for g, name, text, meta in results:
            cell = Cell(g.point, g.seed, name)
            store.write_cell(cell.key, text, meta)
            on_cell(cell)

    if not groups:
        store.claim(definition, force=force)
    elif serial:
        store.claim(definition, force=force)
        store_all(_serial_results(spec, groups))
    else:
        from greenhop.sim.sweep_ray import RayRunner

        with RayRunner(address=address, workers=workers) as runner:
            store.claim(definition, force=force)  # only once the cluster answered
            store_all(runner.run(spec, groups))
    missing = [c.key for c in cells if c.key not in store.done_keys()]
    if missing:  # pragma: no cover - every group returns all its cells or raises
        raise RuntimeError(f"sweep incomplete: {len(missing)} cells missing, e.g. {missing[0]}")
    from greenhop.sim.sweep_summary import write_final

    paths, summary = write_final(spec, store)
    store.drop_set_aside()
    return SweepOutcome(store.out, total, total - len(done), len(done), paths, summary,
                        tuple(set_aside))
