"""The ``--site NAME`` or ``--trace FILE --column NAME --unit UNIT`` choice that ``greenhop
windows`` and ``greenhop forecast backtest`` share: one help text and one set of rules."""

from __future__ import annotations

from greenhop.core.errors import ConfigError

COLUMN_HELP = "Value column of --trace."
UNIT_HELP = "Unit of --column: W, kW, MW, GW, or energy per interval Wh, kWh, MWh."


def check_site_or_trace(site, trace, column, unit, *, trace_only: dict | None = None) -> None:
    """Refuse anything but exactly one of ``--site`` and ``--trace`` (with ``--column`` and
    ``--unit``), and an option of ``--trace`` given with ``--site`` (``trace_only``: more
    such options, by name, with their given value or ``None``)."""
    if (site is None) == (trace is None):
        raise ConfigError("give exactly one of --site NAME or --trace FILE (with --column and "
                          "--unit)")
    if trace is None:
        for option, given in {"--column": column, "--unit": unit, **(trace_only or {})}.items():
            if given is not None:
                raise ConfigError(f"{option} goes with --trace FILE, not --site")
    elif column is None or unit is None:
        raise ConfigError("--trace needs --column NAME and --unit UNIT (e.g. --unit kW)")
