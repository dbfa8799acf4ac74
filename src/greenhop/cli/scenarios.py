"""``greenhop scenarios``: list the packaged scenarios; ``greenhop scenarios show NAME``;
``greenhop scenarios check FILE`` reads one without running it.

Every name listed here also works in place of a file: ``greenhop simulate NAME``.
"""

from __future__ import annotations

import re

import typer
from rich.console import Console

from greenhop.core.errors import ConfigError, GreenhopError

scenarios_app = typer.Typer(
    help="List the scenarios packaged with greenhop (each runs with `greenhop simulate "
         "NAME`); `show NAME` prints one as TOML; `check FILE` reads one without running "
         "it.", invoke_without_command=True)


def first_comment_sentence(text: str) -> str:
    """The first sentence of the file's first comment paragraph ('' when there is none)."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            body = line.lstrip("#").strip()
            if not body:
                if lines:
                    break
                continue
            lines.append(body)
        elif lines or line:
            break
    para = " ".join(lines)
    match = re.match(r"(.+?[.])(\s|$)", para)
    return (match.group(1) if match else para).strip()


def _horizon(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds / 3600:.3g} h"


def _row(name: str, path) -> tuple[str, str, str, str, str]:
    from greenhop.sim.scenario import parse_scenario, scenario_document

    doc, label, base = scenario_document(path)
    text = path.read_text(encoding="utf-8")
    description = doc.get("description") if isinstance(doc.get("description"), str) else ""
    description = description or first_comment_sentence(text)
    try:
        sc = parse_scenario(doc, label, base)
    except GreenhopError as exc:  # still list it, with what is wrong
        return name, "?", "?", "?", f"(invalid: {exc})"
    jobs = len(sc.explicit_jobs) + (sc.generator.count if sc.generator else 0)
    return name, str(len(sc.sites)), str(jobs), _horizon(sc.horizon_s), description


@scenarios_app.callback()
def list_scenarios(ctx: typer.Context) -> None:
    """List the packaged scenarios, one line each: name, sites, jobs, horizon, description
    (cut to the terminal width; names never are)."""
    if ctx.invoked_subcommand is not None:
        return
    from greenhop.sim.scenario import packaged_scenarios

    rows = [_row(name, path) for name, path in packaged_scenarios().items()]
    header = ("name", "sites", "jobs", "horizon", "description")
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(4)]
    console = Console(highlight=False, soft_wrap=True)
    room = max(console.width - sum(widths) - 2 * 4, 20)

    def line(r: tuple[str, ...]) -> str:
        desc = r[4] if len(r[4]) <= room else r[4][: room - 1].rstrip() + "…"
        return "  ".join([r[0].ljust(widths[0]), *(v.rjust(w) for v, w in
                                                   zip(r[1:4], widths[1:], strict=True)), desc])

    console.print(line(header), style="bold", markup=False)
    for r in rows:
        console.print(line(r), markup=False)
    console.print("run one with `greenhop simulate NAME`; print it with `greenhop scenarios "
                  "show NAME`", markup=False)


@scenarios_app.command("show")
def show(name: str = typer.Argument(..., help="A packaged scenario's name, e.g. default.")
         ) -> None:
    """Print a packaged scenario's TOML file as it is (copy it to start your own)."""
    from greenhop.sim.scenario import packaged_scenarios

    packaged = packaged_scenarios()
    if name not in packaged:
        raise ConfigError(f"unknown scenario {name!r}; packaged scenarios: "
                          f"{', '.join(packaged)}")
    typer.echo(packaged[name].read_text(encoding="utf-8"), nl=False)


@scenarios_app.command("check")
def check(scenario: str = typer.Argument(
        ..., help="A scenario TOML file, or a packaged scenario's name.")) -> None:
    """Read a scenario as `greenhop simulate` does (every key, its trace files and the
    traces it builds) without running a policy: its first mistake is one line and exit
    code 2; a valid one gets a summary and the warnings simulate would print."""
    from greenhop.cli.simulate import warn
    from greenhop.core.units import format_duration
    from greenhop.sim.inputs import build_inputs
    from greenhop.sim.scenario import load_scenario

    sc = load_scenario(scenario)
    build_inputs(sc)  # the traces, which a span the data does not cover stops
    jobs = sc.jobs()
    gpus = sum(site.spec.gpu_slots for site in sc.sites)
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"{scenario}: valid: scenario '{sc.name}', {len(sc.sites)} sites "
              f"({', '.join(site.name for site in sc.sites)}; {gpus} GPUs), "
              f"{len(sc.links)} links, {len(jobs)} jobs "
              f"({sum(j.work_gpu_h for j in jobs):,.0f} GPU-h), "
              f"{format_duration(sc.horizon_s)} from {sc.start:%Y-%m-%d %H:%M} UTC in steps "
              f"of {format_duration(sc.step_s)}, policies {', '.join(sc.policies)}",
              markup=False)
    warn(Console(stderr=True, highlight=False), sc)


def register(app: typer.Typer) -> None:
    """Add ``greenhop scenarios`` to ``app``."""
    app.add_typer(scenarios_app, name="scenarios")
