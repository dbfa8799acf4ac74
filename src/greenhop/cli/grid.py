"""``greenhop grid event``: send a demand-response event to a live run; ``greenhop grid
list``: the events filed with a run and what became of each.

The event is checked against the run's scenario and stored in the run's database; the
controller takes it up at the start of its next step and holds the site's grid import
under the limit from the event's start (docs/grid.md, "Demand response").
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from greenhop.cli import paths

grid_app = typer.Typer(help="Grid coordination of a live run: demand-response events.",
                       no_args_is_help=True)


@grid_app.command("event")
def event_command(
    site: list[str] = typer.Option(
        [], "--site", help="A site the event targets (repeat for several)."),
    zone: str | None = typer.Option(None, "--zone", help="A grid zone the event targets "
                                    "(its sites, from the scenario's grid zones)."),
    start: str = typer.Option(..., "--from", help="Start: a UTC time on the run's clock "
                              "(2023-06-01T14:00:00Z) or a duration after the run's "
                              "current step (+30min)."),
    end: str = typer.Option(..., "--to", help="End, in the same forms as --from."),
    limit: str | None = typer.Option(None, "--limit", help="Cap on each site's grid "
                                     "import during the event, e.g. 20kW."),
    reduce: str | None = typer.Option(None, "--reduce", help="Instead of --limit: the share "
                                      "of each site's job load to shed, e.g. 25%."),
    announce: str | None = typer.Option(None, "--announce", help="When the event is known "
                                        "(same forms as --from; default: now)."),
    event_id: str | None = typer.Option(None, "--id", help="The event's id (default: one "
                                        "is made up)."),
    price: float | None = typer.Option(None, "--price", help="A price signal that comes "
                                       "with it, in currency per MWh (stored; a live run's "
                                       "weights do not use it)."),
    db: Path = typer.Option(Path("greenhop-run") / "run.db", "--db",
                            help="The run database of the live run."),
) -> None:
    """Send a demand-response event to a live run (stored in its database; the controller
    applies it at its next step). Prints the stored event as JSON."""
    import time

    from greenhop.core.errors import ConfigError
    from greenhop.core.grid_events import counts_from_origin, event_from_fields
    from greenhop.runtime.store import Store
    from greenhop.service.grid_events import file_event

    if site and zone:
        raise ConfigError("--site and --zone: give one target, not both")
    if not site and not zone:
        raise ConfigError("give the target: --site S (repeat for several) or --zone Z")
    fields: dict = {"id": event_id, "from": start, "to": end,
                    "announce": announce, "limit": limit, "reduce": reduce,
                    "price": price}
    if zone:
        fields["zone"] = zone
    elif len(site) == 1:
        fields["site"] = site[0]
    else:
        fields["sites"] = list(site)
    if limit is None and reduce is None and price is None:
        raise ConfigError("give --limit (e.g. 20kW), --reduce (e.g. 25%) or --price (per MWh), "
                          "or a price with either")
    given = {k: v for k, v in fields.items() if v is not None}
    times = ("from", "to", "announce")
    if len({counts_from_origin(given[k]) for k in times if k in given}) > 1:
        # some times count from the run's present, which only the database gives: their
        # order is checked there; the other options are checked here all the same
        checked = {**{k: v for k, v in given.items() if k not in times},
                   "from": "+0s", "to": "+1h"}
    else:
        checked = given
    try:  # the options before the database (units, the order of the times): the same
        # checks file_event makes, on the wall clock where the run's is not yet read
        event_from_fields("event", {"id": "check", **checked}, origin_unix_s=time.time())
    except ConfigError as exc:
        raise ConfigError(_as_options(str(exc))) from None
    store = Store.open(paths.regular_file(db, "--db"))
    try:
        row = file_event(store, given, where="event")
    except ConfigError as exc:  # the checks name the event's fields: name the options
        raise ConfigError(_as_options(str(exc))) from None
    finally:
        store.close()
    typer.echo(json.dumps(row))


@grid_app.command("list")
def list_command(
    db: Path = typer.Option(Path("greenhop-run") / "run.db", "--db",
                            help="The run database of the live (or finished) run."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the API's "
                                 "GET /api/v1/grid/events)."),
) -> None:
    """List the demand-response events filed with a run, in the order filed: target, times
    (UTC), limit or share shed, and each one's state: pending (taken up at the controller's
    next step), taken up (at step N), or ignored, with the reason."""
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Column, Table

    from greenhop.service.data import RunReader

    rows = RunReader(paths.regular_file(db, "--db")).grid_events()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    con = Console(highlight=False)
    if not rows:
        con.print(f"no grid events filed with the run of {db}")
        return

    def utc(x) -> str:
        if x is None:
            return "–"
        if isinstance(x, int | float):
            return f"{datetime.fromtimestamp(x, UTC):%Y-%m-%d %H:%M}Z"
        return str(x)

    t = Table(Column("id", overflow="fold"), Column("target", overflow="fold"), "from", "to",
              "announced", "limit / shed", "filed (wall clock)", Column("state", overflow="fold"),
              title=f"grid events of {db}")
    for r in rows:
        ev = r["event"]
        target = (f"zone {ev['zone']}" if ev.get("zone") else ev.get("site")
                  or ", ".join(ev.get("sites") or []))
        cap = (f"{ev['limit_w'] / 1e3:,.1f} kW" if ev.get("limit_w") is not None
               else f"{ev['reduce'] * 100:g}%" if ev.get("reduce") is not None
               else "price only")
        start = ev.get("start_unix_s")
        end = None if start is None else start + float(ev.get("duration_s") or 0)
        state = r["state"] + (f" (step {r['taken_up_step']})" if r["state"] == "taken up"
                              else f": {r['error'].removesuffix('; ignored')}" if r["error"]
                              else "")
        t.add_row(r["id"], target, utc(start), utc(end), utc(ev.get("announced_unix_s")), cap,
                  utc(r["filed_unix_s"]), state)
    con.print(t)


#: the option that gave each field of the event
_OPTION = {"from": "--from", "start": "--from", "to": "--to", "end": "--to",
           "duration": "--to", "limit": "--limit", "reduce": "--reduce",
           "announce": "--announce", "site": "--site", "sites": "--site", "zone": "--zone",
           "id": "--id", "price": "--price"}


def _as_options(message: str) -> str:
    """``event.limit: ...`` as ``--limit: ...``: the user typed options, not fields."""
    import re

    return re.sub(r"\bevent\.(\w+)(\[\d+\])?",
                  lambda m: _OPTION.get(m.group(1), m.group(0)), message)


def register(app: typer.Typer) -> None:
    app.add_typer(grid_app, name="grid")
