"""``greenhop compare``: two metrics.json side by side (a live run and a simulation,
say), each metric of A against B as a percentage; what cannot be compared (a metric in
one file only, files of different scenarios, a live run that did not finish) is noted
on stderr.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from greenhop.cli import paths
from greenhop.core.errors import ConfigError

err = Console(stderr=True, highlight=False)


def _read_metrics(p: Path) -> dict:
    """The document of a metrics.json ``p``; exit 2 (a one-line error) when it is missing,
    not a regular file (a FIFO or a device would never end), not JSON or not a metrics.json."""
    if not p.exists():
        raise ConfigError(f"{p}: no such metrics.json; `greenhop run` and "
                          "`greenhop simulate --out DIR` write one")
    paths.regular_file(p, "metrics.json")  # a pipe or a device would never end
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory; give the path of a metrics.json")
    try:
        doc = json.loads(p.read_text())
        pol = doc["policies"]
    except json.JSONDecodeError as exc:  # cut off or not JSON: say where
        if exc.msg == "Extra data" and _is_event_line(p):
            raise ConfigError(f"{p}: an event log (JSON lines), not a metrics.json; pass the "
                              "metrics.json beside it (greenhop replay reads event logs)"
                              ) from None
        raise ConfigError(f"{p}: not valid JSON ({exc}); a metrics.json cut off or "
                          "edited?") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError):
        pol = None
    # a sweep's summary.json has a list of names here; metrics.json a table per policy
    if (not isinstance(pol, dict) or not pol
            or not all(isinstance(m, dict) for m in pol.values())):
        raise ConfigError(f"{p}: not a greenhop metrics.json (needs "
                          '{"policies": {NAME: {...}}})')
    return doc


def _is_event_line(p: Path) -> bool:
    """Whether the first line of ``p`` is a greenhop event (an events.jsonl given as a
    metrics.json)."""
    try:
        with p.open(encoding="utf-8") as fh:
            first = json.loads(fh.readline())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(first, dict) and {"kind", "step", "body"} <= set(first)


def _partial_note(p: Path, doc: dict) -> str | None:
    """A note when ``doc`` is a live run that did not finish (``live.status`` not done):
    its figures cover the steps it booked only."""
    live = doc.get("live")
    if not isinstance(live, dict) or live.get("status") in (None, "done"):
        return None
    step, sc = live.get("step"), doc.get("scenario")
    try:  # the horizon's steps, when the file records them
        of = f" of {round(float(sc['horizon_h']) * 3600 / float(sc['step_s']))}"
    except (TypeError, ValueError, KeyError, ZeroDivisionError, OverflowError):
        of = ""
    steps = f" after {step}{of} steps" if isinstance(step, int) else ""
    return (f"note: {p} is a live run that ended {live['status']}{steps}; its figures cover "
            "the steps it booked only")


SCENARIO_KEYS = ("name", "start", "horizon_h", "step_s", "seed", "sites", "links", "jobs")
"""What a metrics.json records of its scenario (``"scenario"``), compared by ``compare``."""


def _scenario_note(a: Path, b: Path, docs: list[dict]) -> str | None:
    """A note when the two metrics.json record different scenarios (any of
    :data:`SCENARIO_KEYS` both record differs): their figures are of unlike runs."""
    sa, sb = (d.get("scenario") for d in docs)
    if not (isinstance(sa, dict) and isinstance(sb, dict)):
        return None
    diffs = [f"{k} {sa[k]!r} vs {sb[k]!r}" for k in SCENARIO_KEYS
             if k in sa and k in sb and sa[k] != sb[k]]
    if not diffs:
        return None
    return (f"note: {a} and {b} are of different scenarios ({', '.join(diffs)}); the "
            "table compares unlike runs")


def _value(p: Path, policy: str, key: str, v: float | bool) -> float | bool | None:
    """A metric as compared: the number (None when NaN or infinite) or bool itself; exit 2
    on an integer too large for a float."""
    if isinstance(v, bool):
        return v
    try:
        x = float(v)
    except OverflowError:
        raise ConfigError(f"{p}: policies.{policy}.{key}: the integer {str(v)[:12]}... "
                          f"({len(str(abs(v)))} digits) is out of range") from None
    return v if math.isfinite(x) else None


def _diff_pct(a: float | bool | None, b: float | bool | None) -> float | None:
    """``100 x (a - b) / |b|`` [%]; None for yes/no values, a value that is not finite or
    a difference from ``b = 0`` (no percentage of zero)."""
    if isinstance(a, bool) or a is None or b is None:
        return None
    if a == b:
        return 0.0
    if not b:
        return None
    a, b = float(a), float(b)
    d = 100.0 * (a - b) / abs(b)
    if not math.isfinite(d):  # a - b, or 100 x it, past the largest float: divide first
        d = 100.0 * (a / abs(b) - math.copysign(1.0, b))
    return d if math.isfinite(d) else None


def _diff_mark(a, b, diff: float | None) -> str:
    """The "A vs B" cell: ``+x.x%``, ``n/a (B = 0)`` for a difference from a zero B (no
    percentage), ``n/a`` when either is not finite, ``same`` / ``differs`` for yes/no."""
    if isinstance(a, bool):
        return "same" if a == b else "differs"
    if diff is not None:
        return f"{diff:+.1f}%"
    return "n/a (B = 0)" if a is not None and b == 0 else "n/a"


def _cell(v: float | bool) -> str:
    """A value as the table shows it (the file's own, NaN and infinities included), 4
    significant digits in the sweep tables' format: kWh with thousands separators, never
    cut to 4.8e+04 beside 4.815e+04."""
    from greenhop.sim.sweep_report import number

    return str(v).lower() if isinstance(v, bool) else number(float(v), 4)


def compare_command(
    a: Path = typer.Argument(..., help="metrics.json of a run or a simulation."),
    b: Path = typer.Argument(..., help="metrics.json to compare with."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (diff_pct null where no "
                                 "percentage is defined; NaN and infinities as null)."),
) -> None:
    """Show two metrics.json side by side (a live run and a simulation, say). "A vs B" is
    100 x (A - B) / |B|; "n/a (B = 0)" marks a difference from a zero B, "n/a" a value that
    is not a finite number; yes/no metrics read "same" or "differs". Metrics in one file
    only, or a number in one and not in the other, are named on stderr ("note: not
    compared: ..."). Files of different scenarios are noted (their name, start, horizon,
    step, seed or sizes differ), and so is a live run that did not finish: its figures
    cover the steps it booked."""
    files = (a, b)
    full = [_read_metrics(p) for p in files]
    docs = [d["policies"] for d in full]
    for note in [_scenario_note(a, b, full),
                 *(_partial_note(p, d) for p, d in zip(files, full, strict=True))]:
        if note:
            err.print(note, soft_wrap=True)
    common = [n for n in docs[0] if n in docs[1]]
    pairs = [(n, n) for n in common] or [(next(iter(docs[0])), next(iter(docs[1])))]
    if not common:
        err.print(f"note: no policy is in both files; comparing {a}'s {pairs[0][0]!r} with "
                  f"{b}'s {pairs[0][1]!r}")
    rows, shown, left = [], [], []
    for na, nb in pairs:
        ma, mb = docs[0][na], docs[1][nb]
        left += [f"{k} (only in {b})" for k in mb if k not in ma]
        for k in ma:
            if k not in mb:
                left.append(f"{k} (only in {a})")
                continue
            if not all(isinstance(v, int | float) for v in (ma[k], mb[k])):
                if any(isinstance(v, int | float) for v in (ma[k], mb[k])):
                    left.append(f"{k} (a number in one file only)")
                continue
            va, vb = _value(a, na, k, ma[k]), _value(b, nb, k, mb[k])
            if isinstance(va, bool) != isinstance(vb, bool):
                left.append(f"{k} (yes/no in one file, a number in the other)")
                continue
            diff = _diff_pct(va, vb)
            rows.append({"policy": na if na == nb else f"{na} | {nb}", "metric": k,
                         "a": va, "b": vb, "diff_pct": diff})
            shown.append((_cell(ma[k]), _cell(mb[k]), _diff_mark(va, vb, diff)))
    if left:  # said, not dropped without a word: a metric renamed or retyped shows here
        err.print(f"note: not compared: {', '.join(left[:8])}"
                  + (f" and {len(left) - 8} more" if len(left) > 8 else ""), soft_wrap=True)
    if not rows:
        raise ConfigError(f"{a} and {b} have no numeric metric in common for "
                          f"{', '.join(sorted({f'{x} | {y}' if x != y else x for x, y in pairs}))}")
    if as_json:
        typer.echo(json.dumps(rows, indent=2, allow_nan=False))
        return
    pols = sorted({r["policy"] for r in rows})
    t = Table(title=f"policy {pols[0]}: A = {a}, B = {b}" if len(pols) == 1 else
              f"A = {a}, B = {b}")
    if len(pols) > 1:
        t.add_column("policy", no_wrap=True)
    t.add_column("metric", no_wrap=True)
    for col in ("A", "B", "A vs B"):
        t.add_column(col, justify="right", no_wrap=True)
    for r, cells in zip(rows, shown, strict=True):
        t.add_row(*([r["policy"]] if len(pols) > 1 else []), r["metric"], *cells)
    console = Console(highlight=False)
    if not console.is_terminal and console.width < 160:  # piped: cells were cut to "2.7e…"
        console = Console(highlight=False, width=160)
    console.print(t)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
