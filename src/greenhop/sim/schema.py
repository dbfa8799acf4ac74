"""Reading nested scenario tables with errors that name the dotted path to the bad key.

Every accessor raises :class:`~greenhop.core.errors.ConfigError` saying where
(``links[2].bandwidth``), what was wrong, and what is expected; :meth:`Table.done`
rejects keys nobody read (typos), listing the valid ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from greenhop.core.errors import ConfigError, UserError, shown
from greenhop.core.units import (
    beyond_ceiling,
    parse_duration,
    parse_energy,
    parse_power,
    parse_rate,
    parse_size,
)

_MISSING = object()


def join(path: str, key: str | int) -> str:
    """``path`` extended by a key (``a.b``) or an index (``a[2]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def first_repeat(values) -> tuple[int, int] | None:
    """``(i, j)``: the first value of ``values`` listed before (at ``j < i``), or ``None``."""
    seen: dict = {}
    for i, v in enumerate(values):
        if v in seen:
            return i, seen[v]
        seen[v] = i
    return None


class Table:
    """A dict read key by key, remembering which keys were used."""

    def __init__(self, data: Any, path: str = "") -> None:
        if not isinstance(data, dict):
            where = path or "scenario"
            raise ConfigError(f"{where}: expected a table of keys, got {type(data).__name__}")
        self.data = data
        self.path = path
        self.used: set[str] = set()
        self.allowed: set[str] = set()

    def where(self, key: str | int) -> str:
        return join(self.path, key)

    def _misplaced(self, key: str) -> str:
        """Where ``key`` is instead, when a table inside this one has it: in TOML a key
        written after a ``[table]`` header belongs to that table (the usual slip: the
        top-level keys under an early ``[fleet]``)."""
        for name, value in self.data.items():
            if isinstance(value, dict) and key in value:
                return (f"; it is written under [{join(self.path, name)}] "
                        f"({join(self.path, name)}.{key}): in TOML, keys after a [table] "
                        "header belong to that table, so move it above the first one")
        return ""

    def has(self, key: str) -> bool:
        self.allowed.add(key)
        return key in self.data

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self.allowed.add(key)
        if key not in self.data:
            if default is _MISSING:
                raise ConfigError(f"{self.where(key)}: required key is missing"
                                  + self._misplaced(key))
            return default
        self.used.add(key)
        return self.data[key]

    def _convert(self, key: str, default: Any, fn: Callable[[Any], Any], expect: str) -> Any:
        if key not in self.data:
            return self.raw(key, default)
        value = self.raw(key)
        try:
            return fn(value)
        except UserError as exc:
            raise ConfigError(f"{self.where(key)}: {exc}") from None
        except (TypeError, ValueError):
            raise ConfigError(
                f"{self.where(key)}: expected {expect}, got {value!r}") from None
        except OverflowError:  # float() of an integer past any float (1 and 400 zeros)
            raise ConfigError(f"{self.where(key)}: the number {str(value)[:20]}... is too "
                              f"large; expected {expect}") from None

    def number(self, key: str, default: Any = _MISSING, *, lo: float | None = None,
               hi: float | None = None, lo_open: bool = False, integer: bool = False) -> Any:
        """A finite number within bounds."""

        def conv(v):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise TypeError
            if integer and (not isinstance(v, int) and not float(v).is_integer()):
                raise TypeError
            return int(v) if integer else float(v)

        kind = "a whole number" if integer else "a number"
        value = self._convert(key, default, conv, kind)
        if key not in self.data:
            return value
        if isinstance(value, float) and math.isinf(value):  # TOML's inf: no key means it
            raise ConfigError(f"{self.where(key)}: must be a finite number, got {value!r}")
        self._bounds(key, value, lo, hi, lo_open)
        return value

    def _bounds(self, key, value, lo, hi, lo_open, unit=""):
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError(f"{self.where(key)}: must be a number, got NaN")
        raw = self.data.get(key)
        # a quantity written with its unit ("0kWh") is shown as written, not in base units
        got = shown(raw) if unit and isinstance(raw, str) else f"{shown(value)}{unit}"
        if lo is not None and (value < lo or (lo_open and value == lo)):
            op = ">" if lo_open else ">="
            raise ConfigError(f"{self.where(key)}: must be {op} {lo:g}{unit}, got {got}")
        if hi is not None and value > hi:
            raise ConfigError(f"{self.where(key)}: must be <= {hi:g}{unit}, got {got}")

    def _quantity(self, key, default, parser, kind, unit, lo, lo_open, allow_number,
                  ceiling=None):
        def conv(v):
            if allow_number and isinstance(v, int | float) and not isinstance(v, bool):
                return float(v)
            if not isinstance(v, str):
                raise TypeError
            return parser(v)

        value = self._convert(key, default, conv, f"{kind} such as {allow_number or ''}")
        if key not in self.data:
            return value
        self._bounds(key, value, lo, None, lo_open, f" {unit}")
        # finite, but sums over a run would overflow (a site of 1e307 W)
        why = ceiling and beyond_ceiling(value, ceiling)
        if why:
            raise ConfigError(f"{self.where(key)}: {why}")
        return value

    def duration(self, key, default=_MISSING, *, lo=0.0, lo_open=False):
        """A duration string (``"5min"``) [s]."""
        return self._quantity(key, default, parse_duration, "a duration", "s", lo, lo_open,
                              "'5min' or '2.5h'")

    def power(self, key, default=_MISSING, *, lo=0.0, lo_open=False):
        """A power string (``"5kW"``) or a number in W [W]."""
        return self._quantity(key, default, parse_power, "a power", "W", lo, lo_open, "'5kW'",
                              "power")

    def energy(self, key, default=_MISSING, *, lo=0.0, lo_open=False):
        """An energy string (``"200kWh"``) or a number in J [J]."""
        return self._quantity(key, default, parse_energy, "an energy", "J", lo, lo_open,
                              "'200kWh'", "energy")

    def rate(self, key, default=_MISSING, *, lo=0.0, lo_open=False):
        """A data rate string (``"10Gbps"``) or a number in bit/s [bit/s]."""
        return self._quantity(key, default, parse_rate, "a rate", "bit/s", lo, lo_open,
                              "'10Gbps'")

    def size(self, key, default=_MISSING, *, lo=0.0, lo_open=False):
        """A data size string (``"98GB"``) or a number in bytes [B]."""
        return self._quantity(key, default, parse_size, "a size", "B", lo, lo_open, "'98GB'")

    def string(self, key: str, default: Any = _MISSING, *,
               choices: tuple[str, ...] | None = None) -> Any:
        if key not in self.data:
            return self.raw(key, default)
        value = self.raw(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.where(key)}: expected a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            raise ConfigError(
                f"{self.where(key)}: must be one of {', '.join(choices)}, got {value!r}")
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        if key not in self.data:
            return self.raw(key, default)
        value = self.raw(key)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.where(key)}: expected true or false, got {value!r}")
        return value

    def strings(self, key: str, default: Any = _MISSING, *, unique: bool = False) -> Any:
        """A list of strings; with ``unique``, a value listed twice is refused (a name
        listed twice would silently count once, or twice, depending on the key)."""
        if key not in self.data:
            return self.raw(key, default)
        value = self.raw(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.where(key)}: expected a list of strings, got {value!r}")
        twice = first_repeat(value) if unique else None
        if twice is not None:
            raise ConfigError(f"{self.where(key)}[{twice[0]}]: {value[twice[0]]!r} is listed "
                              f"twice (also at [{twice[1]}]); list each once")
        return list(value)

    def table(self, key: str, default: Any = _MISSING) -> Any:
        if key not in self.data:
            return self.raw(key, default)
        return Table(self.raw(key), self.where(key))

    def tables(self, key: str) -> list[Table]:
        value = self.raw(key, [])
        if not isinstance(value, list):
            raise ConfigError(f"{self.where(key)}: expected a list of tables, got {value!r}")
        return [Table(v, join(self.where(key), i)) for i, v in enumerate(value)]

    def done(self) -> None:
        """Reject keys that were never read (typos), listing the valid ones."""
        extra = sorted(set(self.data) - self.allowed)
        if extra:
            valid = ", ".join(sorted(self.allowed))
            raise ConfigError(
                f"{self.where(extra[0])}: unknown key; valid keys here: {valid}")
