"""Parse and format human quantities at the edge; SI everywhere inside.

Accepted forms (a number, optional space, a unit; case matters for ``B``/``b``):

* sizes -> bytes: ``98GB``, ``1.5GiB``, ``500 MB``, ``2.3TB``, ``4096B``, ``8Gbit``
* rates -> bit/s: ``10Gbps``, ``250Mbit/s``, ``1Gb/s``, ``400MB/s`` (bytes per
  second, times 8), ``1.2GiB/s``
* durations -> seconds: ``2.5h``, ``90min``, ``30s``, ``50ms``, ``1d``, ``1h30min``
* powers -> watts: ``700W``, ``1.2kW``, ``5MW``
* energies -> joules: ``13.5kWh``, ``3.6MJ``, ``500Wh``
* counts -> a number: ``7e9``, ``7B``, ``175B``, ``1.5M``, ``340k``, ``1T`` (k, M, B or G, T
  = thousand, million, billion, trillion; used for parameter counts)

:func:`parse_quantity` is the entry point for options and keys: it also takes a
plain number in the SI unit (``0.04`` s) and names the option in its errors.

Prefixes are decimal (k=1e3, M=1e6, G=1e9, T=1e12, P=1e15) unless a binary
prefix is written (Ki=2^10, Mi=2^20, Gi=2^30, Ti=2^40, Pi=2^50).

Every parser refuses a result that is not finite: ``1e400GB``, and ``1e308Gbps``, whose
number is finite but overflows once scaled to bit/s.
"""

from __future__ import annotations

import math
import re

from greenhop.core.errors import UnitError

MAX_POWER_W = 1e12
"""Largest plausible power of one site, one device or one trace value [W] (1 TW, the
power of a whole continent's grid): far above any real one, low enough that a year of
sums over a fleet stays finite. Larger values are refused where they are read."""
MAX_POWER_TEXT = "1 TW"
MAX_ENERGY_J = 3.6e19
"""Largest plausible stored energy (a battery) [J] (10,000 TWh, a year at 1 TW)."""
MAX_ENERGY_TEXT = "10,000 TWh"
MAX_CARBON_G_PER_KWH = 1e5
"""Largest plausible carbon intensity [gCO2/kWh] (coal is about 1,000)."""
MAX_CARBON_TEXT = "100,000 gCO2/kWh"
MAX_SPAN_S = 10 * 365 * 86400.0
"""Longest plausible span of time a user gives [s]: ten years (a run's horizon, a
window, a restart)."""
MAX_MODEL_PARAMS = 1e15
"""Largest model a user gives [parameters]: a thousand times today's largest (1e12)."""
_CEILINGS = {"power": (MAX_POWER_W, MAX_POWER_TEXT, "W"),
             "energy": (MAX_ENERGY_J, MAX_ENERGY_TEXT, "J")}


def finite_float(value: int | float) -> float | None:
    """``value`` as a float when it is a finite one, else None: NaN, an infinity, and an
    integer past any float (1 and 400 zeros, whose ``float()`` raises OverflowError)."""
    try:
        as_float = float(value)
    except OverflowError:
        return None
    return as_float if math.isfinite(as_float) else None


def beyond_ceiling(value: float, kind: str) -> str | None:
    """Why ``value`` (a ``kind``: power [W] or energy [J]) is past its physical ceiling,
    or ``None`` when it is not: finite values so large that sums over a run overflow."""
    cap, text, unit = _CEILINGS[kind]
    if value > cap:
        return f"{value:g} {unit} is more than {text}, far above any real one; " \
               "check the value and the unit"
    return None

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z/]+)\s*$")
_COMPOUND_DURATION = re.compile(rf"\s*({_NUMBER})\s*([A-Za-z]+)")

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50,
           "Ei": 2.0**60}
_PREFIXES = {**_DECIMAL, **_BINARY}

SIZE_FORMS = "a number and a unit such as 98GB, 1.5GiB, 500MB, 4096B or 8Gbit"
RATE_FORMS = "a number and a unit such as 10Gbps, 250Mbit/s, 1Gb/s, 400MB/s or 1.2GiB/s"
DURATION_FORMS = "a number and a unit such as 2.5h, 90min, 30s, 50ms, 1d or 1h30min"
POWER_FORMS = "a number and a unit such as 700W, 1.2kW or 5MW"
ENERGY_FORMS = "a number and a unit such as 13.5kWh, 500Wh, 3.6MJ or 1000J"
COUNT_FORMS = "a number such as 7e9, or with a suffix such as 7B, 1.5M, 340k or 1T"

_DURATION_UNITS = {
    "ns": 1e-9, "us": 1e-6, "ms": 1e-3,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "w": 604800.0, "wk": 604800.0, "week": 604800.0, "weeks": 604800.0,
}


def _split(text: object, kind: str, forms: str) -> tuple[float, str]:
    if not isinstance(text, str):
        raise UnitError(f"{kind} {text!r} is not a string; expected {forms}")
    match = _QUANTITY.match(text)
    if match is None:
        raise UnitError(f"cannot parse {kind} {text!r}; expected {forms}")
    value = float(match.group(1))
    if not math.isfinite(value):
        raise UnitError(f"{kind} {text!r} is not finite; expected {forms}")
    if value < 0:
        raise UnitError(f"{kind} {text!r} is negative; expected a non-negative value, {forms}")
    return value, match.group(2)


def _finite(value: float, kind: str, text: str) -> float:
    """``value`` [SI unit of ``kind``], refused when the unit's factor made it overflow."""
    if not math.isfinite(value):
        unit = f" in {_SI_UNITS[kind]}" if _SI_UNITS[kind] else ""
        raise UnitError(f"{kind} {text!r} is too large: it overflows to infinity{unit}; "
                        f"expected {_FORMS[kind]}")
    return value


def _prefixed(unit: str, bases: dict[str, float]) -> float | None:
    """Multiplier of ``unit`` = optional prefix + one of ``bases``, or None."""
    for base, factor in bases.items():
        if unit.endswith(base):
            prefix = unit[: -len(base)]
            if prefix in _PREFIXES:
                return _PREFIXES[prefix] * factor
    return None


# Base units of information: value in bytes. Longest names first so "bit" wins over "b".
_INFO_BASES = {"bytes": 1.0, "byte": 1.0, "bits": 0.125, "bit": 0.125, "B": 1.0, "b": 0.125}


def parse_size(text: str) -> float:
    """Parse a data size such as ``"98GB"`` into bytes [B]."""
    value, unit = _split(text, "size", SIZE_FORMS)
    factor = _prefixed(unit, _INFO_BASES)
    if factor is None:
        raise UnitError(f"unknown size unit {unit!r} in {text!r}; expected {SIZE_FORMS}")
    return _finite(value * factor, "size", text)


def parse_rate(text: str) -> float:
    """Parse a data rate such as ``"10Gbps"`` or ``"400MB/s"`` into bits per second [bit/s]."""
    value, unit = _split(text, "rate", RATE_FORMS)
    factor = None
    for suffix in ("/s", "ps"):
        if unit.endswith(suffix) and len(unit) > len(suffix):
            factor = _prefixed(unit[: -len(suffix)], _INFO_BASES)
            break
    if factor is None:
        raise UnitError(f"unknown rate unit {unit!r} in {text!r}; expected {RATE_FORMS}")
    return _finite(value * factor * 8.0, "rate", text)


def parse_duration(text: str) -> float:
    """Parse a duration such as ``"2.5h"``, ``"90min"`` or ``"1h30min"`` into seconds [s]."""
    if not isinstance(text, str):
        raise UnitError(f"duration {text!r} is not a string; expected {DURATION_FORMS}")
    parts = _COMPOUND_DURATION.findall(text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s+", "", text):
        raise UnitError(f"cannot parse duration {text!r}; expected {DURATION_FORMS}")
    total = 0.0
    for number, unit in parts:
        if unit not in _DURATION_UNITS:
            raise UnitError(
                f"unknown duration unit {unit!r} in {text!r}; expected {DURATION_FORMS}"
            )
        value = float(number)
        # "2h-30min": a sign inside a sum, which "must be non-negative" would not explain
        if number.lstrip().startswith(("+", "-")) and len(parts) > 1:
            raise UnitError(f"duration {text!r}: a part of a compound duration has a sign "
                            f"({number}{unit}); write each part as a positive amount, such "
                            "as 1h30min")
        if not math.isfinite(value) or value < 0:
            raise UnitError(
                f"duration {text!r} must be finite and non-negative; expected {DURATION_FORMS}"
            )
        total += value * _DURATION_UNITS[unit]
    return _finite(total, "duration", text)


def parse_power(text: str) -> float:
    """Parse a power such as ``"1.2kW"`` into watts [W]."""
    value, unit = _split(text, "power", POWER_FORMS)
    factor = _prefixed(unit, {"W": 1.0}) if unit.endswith("W") else None
    if factor is None or unit[:-1] in _BINARY:
        raise UnitError(f"unknown power unit {unit!r} in {text!r}; expected {POWER_FORMS}")
    return _finite(value * factor, "power", text)


def parse_energy(text: str) -> float:
    """Parse an energy such as ``"13.5kWh"`` into joules [J]."""
    value, unit = _split(text, "energy", ENERGY_FORMS)
    factor = _prefixed(unit, {"Wh": 3600.0, "J": 1.0})
    if factor is None or any(unit.startswith(p) for p in _BINARY):
        raise UnitError(f"unknown energy unit {unit!r} in {text!r}; expected {ENERGY_FORMS}")
    return _finite(value * factor, "energy", text)


_COUNT_SUFFIXES = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
_COUNT = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z]?)\s*$")


def parse_count(text: str) -> float:
    """Parse a count such as ``"7e9"``, ``"7B"`` or ``"1.5M"`` into a number [-]."""
    if not isinstance(text, str):
        raise UnitError(f"count {text!r} is not a string; expected {COUNT_FORMS}")
    match = _COUNT.match(text)
    if match is None or match.group(2) not in _COUNT_SUFFIXES:
        raise UnitError(f"cannot parse count {text!r}; expected {COUNT_FORMS}")
    value = float(match.group(1))
    if not math.isfinite(value) or value < 0:
        raise UnitError(f"count {text!r} must be finite and non-negative; expected {COUNT_FORMS}")
    return _finite(value * _COUNT_SUFFIXES[match.group(2)], "count", text)


_PARSERS = {"size": parse_size, "rate": parse_rate, "duration": parse_duration,
            "power": parse_power, "energy": parse_energy, "count": parse_count}
_FORMS = {"size": SIZE_FORMS, "rate": RATE_FORMS, "duration": DURATION_FORMS,
          "power": POWER_FORMS, "energy": ENERGY_FORMS, "count": COUNT_FORMS}
_SI_UNITS = {"size": "B", "rate": "bit/s", "duration": "s", "power": "W", "energy": "J",
             "count": ""}
_PLAIN = re.compile(rf"^\s*({_NUMBER})\s*$")


def parse_quantity(text: str, kind: str, *, option: str | None = None,
                   plain: bool = True) -> float:
    """Parse ``text`` as a quantity of ``kind`` (size, rate, duration, power, energy or
    count) into its SI unit [B, bit/s, s, W, J, -].

    This is the one parser behind every quantity option and key. A plain number
    (``"0.04"``) is taken in the SI unit when ``plain`` is true and refused otherwise.
    Every error is a :class:`UnitError` that starts with ``option`` when given, so the
    message names what the user typed it into.
    """
    if kind not in _PARSERS:
        raise ValueError(f"unknown quantity kind {kind!r}; one of {', '.join(_PARSERS)}")
    try:
        match = _PLAIN.match(text) if isinstance(text, str) else None
        if match is None or kind == "count":
            return _PARSERS[kind](text)
        value = float(match.group(1))
        unit = _SI_UNITS[kind]
        forms = _FORMS[kind]
        if not plain:
            raise UnitError(f"{kind} {text!r} needs a unit; expected {forms}")
        if not math.isfinite(value) or value < 0:
            raise UnitError(f"{kind} {text!r} must be finite and non-negative [{unit}]; "
                            f"expected a number in {unit} or {forms}")
        return value
    except UnitError as exc:
        if option is None:
            raise
        raise UnitError(f"{option}: {exc}") from None


def is_whole_steps(duration_s: float, step_s: float) -> bool:
    """Whether ``duration_s`` [s] is a whole number of steps of ``step_s`` [s] (to 1e-9 of
    a step: durations parsed from text such as '7.5min' are not exact)."""
    ratio = duration_s / step_s
    return abs(ratio - round(ratio)) <= 1e-9


def _scaled(value: float, steps: list[tuple[float, str]], digits: int) -> str:
    """``value`` in the largest unit of ``steps`` it reaches, to ``digits`` significant digits.

    A value that rounds up to the next unit (999.96 GB at 3 digits) is written in that
    unit ("1 TB"), never in exponent form ("1e+03 GB").
    """
    for i, (factor, unit) in enumerate(steps):
        if abs(value) >= factor or i == len(steps) - 1:
            text = f"{value / factor:.{digits}g}"
            if "e+" in text and i > 0:
                factor, unit = steps[i - 1]
                text = f"{value / factor:.{digits}g}"
            return f"{text} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_size(size_bytes: float, digits: int = 3) -> str:
    """Format bytes with a decimal prefix: ``98e9 -> "98 GB"``."""
    steps = [(1e18, "EB"), (1e15, "PB"), (1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"),
             (1.0, "B")]
    return _scaled(float(size_bytes), steps, digits)


def format_params(count: float, digits: int = 4) -> str:
    """Format a parameter count with the prefix model sizes are named by:
    ``7e9 -> "7 B"``, ``1e6 -> "1 M"``, ``1.5e12 -> "1.5 T"``."""
    steps = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"), (1.0, "")]
    return _scaled(float(count), steps, digits).rstrip()


def format_rate(rate_bps: float, digits: int = 3) -> str:
    """Format bit/s with a decimal prefix: ``1e9 -> "1 Gbit/s"``."""
    if math.isinf(rate_bps):
        return "unlimited"
    steps = [(1e15, "Pbit/s"), (1e12, "Tbit/s"), (1e9, "Gbit/s"), (1e6, "Mbit/s"),
             (1e3, "kbit/s"), (1.0, "bit/s")]
    return _scaled(float(rate_bps), steps, digits)


def format_power(power_w: float, digits: int = 3) -> str:
    """Format watts: ``1200 -> "1.2 kW"``."""
    steps = [(1e9, "GW"), (1e6, "MW"), (1e3, "kW"), (1.0, "W")]
    return _scaled(float(power_w), steps, digits)


def format_energy(energy_j: float, digits: int = 3) -> str:
    """Format joules as Wh multiples: ``3.6e6 -> "1 kWh"``."""
    steps = [(3.6e12, "GWh"), (3.6e9, "MWh"), (3.6e6, "kWh"), (3.6e3, "Wh"), (1.0, "J")]
    return _scaled(float(energy_j), steps, digits)


def format_duration(duration_s: float) -> str:
    """Format seconds for people: ``784 -> "13 min 4 s"``, ``9000 -> "2 h 30 min"``."""
    if math.isinf(duration_s):
        return "never" if duration_s > 0 else "-inf"
    if math.isnan(duration_s):
        return "n/a"
    sign = "-" if duration_s < 0 else ""
    s = abs(float(duration_s))
    if s == 0:
        return "0 s"
    if s < 1 and "e" not in (ms := f"{s * 1000:.3g}"):
        return f"{sign}{ms} ms"
    if s < 60:
        return f"{sign}{s:.3g} s"
    if round(s) < 3600:
        minutes, seconds = divmod(round(s), 60)
        return f"{sign}{minutes} min {seconds} s" if seconds else f"{sign}{minutes} min"
    if round(s / 60) < 48 * 60:
        hours, rest = divmod(round(s / 60), 60)
        return f"{sign}{hours} h {rest} min" if rest else f"{sign}{hours} h"
    return f"{sign}{s / 86400:.3g} d"
