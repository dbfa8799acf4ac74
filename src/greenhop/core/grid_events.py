"""Demand-response events: a grid operator's request to hold a site's grid import under a
limit for a while, in the shape of an OpenADR 3 event (an id, a target, an interval, an
announcement and a value).

One :class:`GridEvent` targets one site (``site``), several (``sites``, e.g. the sites of
a region) or a grid zone (``zone``, resolved to its sites by the caller). Its value is
an absolute limit on the grid import (``limit_w`` [W]), a relative reduction (``reduce``:
the share of the site's job load, measured when the event is announced, that must go;
the limit is then ``base load + (1 - reduce) x job load``), a price (``price_per_mwh``
[currency/MWh], an OpenADR price signal: the energy price at its sites for its duration,
known from its announcement on), or a price with one of the two targets.

Times are UTC seconds since the epoch (``start_unix_s``, ``announced_unix_s``);
:func:`parse_when` reads the forms a scenario, the CLI and the API accept. Every error is
a :class:`~greenhop.core.errors.ConfigError` that names the event and the field.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from greenhop.core.errors import ConfigError, UnitError
from greenhop.core.units import MAX_POWER_W, parse_duration, parse_power

FIRST_UNIX_S = datetime(1, 1, 1, tzinfo=UTC).timestamp()
LAST_UNIX_S = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
"""An event's times (start, end, announcement) fall in the years 1 to 9999 in UTC, the
years a datetime holds: each is then a time anyone can print and compare [s]."""
MAX_LIMIT_W = MAX_POWER_W
"""Largest absolute limit [W]: 1 TW, above any site's grid connection (a larger number is
a typo, and no limit at all)."""
MAX_PRICE_PER_MWH = 1e9
"""Largest price, either sign [currency/MWh]: markets cap theirs near 1e4 EUR/MWh; this
leaves room for currencies of small units, and a price x energy stays far from overflow."""


MAX_ID_CHARS = 128
"""Longest event id [characters]."""


class GridEvent(BaseModel):
    """One demand-response event (validated; see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    site: str | None = None
    sites: tuple[str, ...] = ()
    zone: str | None = None
    start_unix_s: float
    duration_s: float
    announced_unix_s: float | None = None
    limit_w: float | None = None
    reduce: float | None = None
    price_per_mwh: float | None = None

    @model_validator(mode="after")
    def _check(self) -> GridEvent:
        if not self.id.strip():
            raise ValueError("id: must not be empty")
        if not self.id.isprintable():  # control characters, lone surrogates
            raise ValueError(f"id: must be printable text, got {self.id!r}")
        if len(self.id) > MAX_ID_CHARS:  # it is repeated in every log line and note
            raise ValueError(f"id: at most {MAX_ID_CHARS} characters, got {len(self.id)}")
        targets = (self.site is not None) + bool(self.sites) + (self.zone is not None)
        if targets != 1:
            raise ValueError("give exactly one target: site, sites or zone")
        for name in ("start_unix_s", "duration_s", "announced_unix_s", "limit_w", "reduce",
                     "price_per_mwh"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"{name}: must be a finite number, got {v!r}")
        if self.duration_s <= 0:
            raise ValueError(f"the event ends at or before its start (duration "
                             f"{self.duration_s:g} s); the end must come after the start")
        if self.announced_unix_s is not None and self.announced_unix_s > self.start_unix_s:
            raise ValueError("announce: the announcement comes after the start; announce "
                             "the event at or before it")
        if self.limit_w is not None and self.reduce is not None:
            raise ValueError("give exactly one of limit (a power) or reduce (a share)")
        if self.limit_w is None and self.reduce is None and self.price_per_mwh is None:
            raise ValueError("give exactly one of limit (a power) or reduce (a share), "
                             "or a price")
        if self.limit_w is not None and self.limit_w < 0:
            raise ValueError(f"limit: must be >= 0 W, got {self.limit_w:g} W")
        if self.reduce is not None and not 0 < self.reduce <= 1:
            raise ValueError(f"reduce: must be a share in (0, 1], got {self.reduce:g}")
        return self

    @property
    def has_target(self) -> bool:
        """Whether it asks for less power (``limit`` or ``reduce``); a price-only event
        sets the energy price and nothing else."""
        return self.limit_w is not None or self.reduce is not None

    @property
    def end_unix_s(self) -> float:
        """When the event ends (exclusive) [s since the epoch]."""
        return self.start_unix_s + self.duration_s

    @property
    def announce_unix_s(self) -> float:
        """When the fleet learns of it (the start when no announcement is given) [s]."""
        return self.start_unix_s if self.announced_unix_s is None else self.announced_unix_s

    def check_priced(self, zones: dict[str, tuple[str, ...]] | None, where: str) -> None:
        """Raise a ConfigError naming ``where`` (the event's ``price``) when the event sets
        a price but the run has no ``[[grid.zones]]``: a price needs its sites' zones and
        the currency (a scenario's events and one filed live alike)."""
        if self.price_per_mwh is not None and not zones:
            raise ConfigError(f"{where}: a price event needs [[grid.zones]] (its sites' "
                              "zones and the currency)")

    def targets(self, zones: dict[str, tuple[str, ...]] | None = None, *,
                label: str | None = None) -> tuple[str, ...]:
        """The site names this event applies to (``zones``: zone name -> its sites);
        ``label`` names the event in an error instead of ``event 'ID'``."""
        if self.site is not None:
            return (self.site,)
        if self.sites:
            return tuple(self.sites)
        zones = zones or {}
        if self.zone not in zones:
            known = ", ".join(sorted(zones)) or "none defined"
            raise ConfigError(f"{label or f'event {self.id!r}'}: unknown zone {self.zone!r} "
                              f"(zones: {known})")
        return tuple(zones[self.zone])


def make_event(where: str, **fields) -> GridEvent:
    """A :class:`GridEvent` from ``fields``; errors become one-line ConfigErrors naming
    ``where`` (e.g. ``grid.events[0]`` or ``--limit``)."""
    try:
        return GridEvent(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        field, _, rest = msg.partition(": ")
        if not loc and field in _FIELD_KEY:  # "reduce: must be ..." names the user's key
            loc, msg = _FIELD_KEY[field], rest
        raise ConfigError(f"{where}{'.' + loc if loc else ''}: {msg}") from None


#: the key a user wrote for each field the model's checks name
_FIELD_KEY = {"id": "id", "announce": "announce", "limit": "limit", "reduce": "reduce",
              "start_unix_s": "start", "duration_s": "duration",
              "announced_unix_s": "announce", "limit_w": "limit", "price_per_mwh": "price"}


def _float(value: int | float, where: str) -> float:
    """``value`` as a float; an integer too large for one is a ConfigError naming ``where``."""
    try:
        return float(value)
    except OverflowError:
        raise ConfigError(f"{where}: the number {str(value)[:20]}... is out of range") from None


def counts_from_origin(text: str) -> bool:
    """Whether the time ``text`` is ``now`` or a duration after the origin (``14h``,
    ``+14h``) rather than a date: anything that does not start as one (``YYYY-``), also a
    duration of four digits such as ``1950s``."""
    text = text.strip()
    return text == "now" or text.startswith("+") or not (text[:4].isdigit()
                                                         and text[4:5] == "-")


def parse_when(value, where: str, *, origin_unix_s: float | None = None) -> float:
    """A moment [s since the epoch] from an ISO 8601 time with a zone (``2023-06-01T14:00Z``),
    a number of seconds since the epoch, or a duration after ``origin_unix_s``
    (``"14h"``, or ``"+14h"``; ``"now"``: the origin itself; scenarios count from their
    start, a live run from its current step)."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a time, got {value!r}")
    if isinstance(value, int | float):
        return _float(value, where)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ConfigError(f"{where}: {value} has no time zone; end it with Z for UTC")
        return value.timestamp()
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a time such as '2023-06-01T14:00:00Z' or a "
                          f"duration such as '+14h' (after a scenario's start; live, after "
                          f"the run's present step), got {value!r}")
    text = value.strip()
    if text == "now" and origin_unix_s is not None:
        return float(origin_unix_s)
    if counts_from_origin(text):
        if origin_unix_s is None:
            raise ConfigError(f"{where}: {value!r} is a duration; give a UTC time such as "
                              "'2023-06-01T14:00:00Z'")
        try:
            return origin_unix_s + parse_duration(text.removeprefix("+"))
        except UnitError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{where}: expected a time such as '2023-06-01T14:00:00Z', got "
                          f"{value!r}") from None
    if ts.tzinfo is None:
        raise ConfigError(f"{where}: {value!r} has no time zone; end it with Z for UTC")
    try:
        return ts.astimezone(UTC).timestamp()
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise ConfigError(f"{where}: {value!r} is out of range") from None


def parse_limit(value, where: str) -> float:
    """A power limit [W] from ``"20kW"`` or a number of watts."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a power such as '20kW', got {value!r}")
    if isinstance(value, int | float):
        return _float(value, where)
    try:
        return parse_power(str(value))
    except UnitError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def parse_share(value, where: str) -> float:
    """A share from ``0.25`` or ``"25%"``."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a share such as 0.25 or '25%', got {value!r}")
    if isinstance(value, int | float):
        return _float(value, where)
    text = str(value).strip()
    try:
        return float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise ConfigError(f"{where}: expected a share such as 0.25 or '25%', got "
                          f"{value!r}") from None


def _in_years(t: float, where: str, value) -> float:
    """``t`` [s since the epoch], refused (naming ``where``, that gave ``value``) outside
    the years 1-9999 in UTC, or not a number (a NaN or infinity from JSON)."""
    if not FIRST_UNIX_S <= t <= LAST_UNIX_S:  # False for NaN too
        raise ConfigError(f"{where}: {value!r} gives a time outside the years 1 to 9999 "
                          "in UTC")
    return t


def _within(v: float, lo: float, hi: float, where: str, unit: str) -> float:
    """``v``, refused (naming ``where``) outside ``[lo, hi]`` (NaN passes: the model
    refuses it as not finite)."""
    if v < lo or v > hi:
        # {v:.10g}: 1.0000001 TW read "got 1e+12" with :g, as if at the limit
        raise ConfigError(f"{where}: must be between {lo:g} and {hi:g} {unit}, got {v:.10g}")
    return v


def event_from_fields(where: str, data: dict, *, origin_unix_s: float | None = None
                      ) -> GridEvent:
    """An event from the human fields of a scenario table, a CLI call or an API body:
    ``id``, one of ``site | sites | zone``, ``start`` (or ``from``), ``end`` (or ``to``) or
    ``duration``, ``announce`` or ``lead`` (a duration before the start), ``limit`` or
    ``reduce``, optional ``price`` [currency/MWh]. The scenario, ``greenhop grid event``
    and the service's API all read events here: one set of checks (times in the years
    1-9999, :data:`MAX_LIMIT_W`, :data:`MAX_PRICE_PER_MWH`)."""
    allowed = {"id", "site", "sites", "zone", "start", "from", "end", "to", "duration",
               "announce", "lead", "limit", "reduce", "price"}
    extra = sorted(set(data) - allowed)
    if extra:
        raise ConfigError(f"{where}.{extra[0]}: unknown key; valid keys here: "
                          f"{', '.join(sorted(allowed))}")

    def one(*keys):
        given = [k for k in keys if data.get(k) is not None]
        if len(given) > 1:
            raise ConfigError(f"{where}: give one of {' or '.join(keys)}, not both")
        return (given[0], data[given[0]]) if given else (keys[0], None)

    k, v = one("start", "from")
    if v is None:
        raise ConfigError(f"{where}.start (or from): required key is missing")
    start = _in_years(parse_when(v, f"{where}.{k}", origin_unix_s=origin_unix_s),
                      f"{where}.{k}", v)
    k_end, end = one("end", "to")
    if end is not None and data.get("duration") is not None:
        raise ConfigError(f"{where}: give end or duration, not both")
    if end is not None:
        duration = parse_when(end, f"{where}.{k_end}", origin_unix_s=origin_unix_s) - start
        if duration <= 0:
            raise ConfigError(f"{where}.{k_end}: the event ends at or before its start "
                              f"(duration {duration:g} s); the end must come after the start")
    elif data.get("duration") is not None:
        d = data["duration"]
        try:
            duration = _float(d, f"{where}.duration") if isinstance(d, int | float) \
                and not isinstance(d, bool) else parse_duration(str(d))
        except UnitError as exc:
            raise ConfigError(f"{where}.duration: {exc}") from None
    else:
        raise ConfigError(f"{where}: give end (or to) or duration")
    # the end, however given (a huge duration, too), is a time like the start
    _in_years(start + duration, f"{where}.{k_end if end is not None else 'duration'}",
              end if end is not None else data["duration"])
    k_ann, ann = one("announce", "lead")
    announced = None
    if ann is not None:
        if k_ann == "lead":
            try:
                lead = _float(ann, f"{where}.lead") if isinstance(ann, int | float) \
                    and not isinstance(ann, bool) else parse_duration(str(ann))
            except UnitError as exc:
                raise ConfigError(f"{where}.lead: {exc}") from None
            if lead < 0:
                raise ConfigError(f"{where}.lead: must be >= 0, got {ann!r}")
            announced = start - lead
        else:
            announced = parse_when(ann, f"{where}.announce", origin_unix_s=origin_unix_s)
        _in_years(announced, f"{where}.{k_ann}", ann)
    for key in ("id", "site", "zone"):  # str() would store ['a'] or 1.5 as a name
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ConfigError(f"{where}.{key}: expected a string, got {data[key]!r}")
    fields: dict = {"id": data.get("id") or "", "start_unix_s": start,
                    "duration_s": duration, "announced_unix_s": announced}
    if data.get("site") is not None:
        fields["site"] = data["site"]
    if data.get("sites") is not None:
        s = data["sites"]
        if not isinstance(s, list | tuple) or not s or not all(isinstance(x, str) for x in s):
            raise ConfigError(f"{where}.sites: expected a non-empty list of site names, "
                              f"got {s!r}")
        for k, name in enumerate(s):  # a site twice would count its event twice
            if name in s[:k]:
                raise ConfigError(f"{where}.sites[{k}]: {name!r} is listed twice")
        fields["sites"] = tuple(s)
    if data.get("zone") is not None:
        fields["zone"] = data["zone"]
    if data.get("limit") is not None and data.get("reduce") is not None:
        raise ConfigError(f"{where}: give limit or reduce, not both")
    if data.get("limit") is not None:
        fields["limit_w"] = _within(parse_limit(data["limit"], f"{where}.limit"), 0.0,
                                    MAX_LIMIT_W, f"{where}.limit", "W")
    if data.get("reduce") is not None:
        fields["reduce"] = parse_share(data["reduce"], f"{where}.reduce")
    if data.get("price") is not None:
        p = data["price"]
        if isinstance(p, bool) or not isinstance(p, int | float):
            raise ConfigError(f"{where}.price: expected a number [currency/MWh], got {p!r}")
        fields["price_per_mwh"] = _within(_float(p, f"{where}.price"), -MAX_PRICE_PER_MWH,
                                          MAX_PRICE_PER_MWH, f"{where}.price", "per MWh")
    if data.get("id") is None:
        raise ConfigError(f"{where}.id: required key is missing")
    if not fields["id"].strip():
        raise ConfigError(f"{where}.id: must not be blank, got {fields['id']!r}")
    return make_event(where, **fields)
