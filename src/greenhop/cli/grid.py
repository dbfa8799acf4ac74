"""``greenhop grid event``: send a demand-response event to a live run.

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
