"""What a sweep runs: seed lists, ``--set`` parameter grids, overrides of a scenario document.

``--seeds 1-20`` or ``1,3,5-8`` (:func:`parse_seeds`); ``--set key=v1,v2`` with a dotted
key into the scenario's TOML table and values that are TOML literals or else plain
strings (:func:`parse_set`); :func:`apply_override` writes one value into a copy of the
document for :func:`~greenhop.sim.scenario.parse_scenario` to validate.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections import Counter
from typing import Any

from greenhop.core import units
from greenhop.core.errors import ConfigError

#: keys the sweep's own options set (``--seeds``, ``--policies``), not ``--set``
RESERVED_KEYS = ("seed", "policies")
_RANGE = re.compile(r"^\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?$")  # ASCII digits only
_PART = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]+\])*)$")
_INDEX = re.compile(r"\[([^\[\]]+)\]")


MAX_SEED = 2**32 - 1
"""The largest seed (a scenario's ``seed`` and numpy's generators take it)."""
MAX_SEEDS = 100_000
"""The most seeds one sweep may list."""
MAX_CELLS = 1_000_000
"""The most cells (seeds x policies x grid points) one sweep may hold: its cell list, manifest
and tables are built in memory before the first cell runs."""


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"1-20"`` or ``"1,3,5-8"`` -> sorted distinct seeds (each >= 0)."""
    seeds: list[int] = []
    if not text or not text.strip():
        raise ConfigError("--seeds: give seeds such as 1-20 or 1,3,5-8")
    for part in text.split(","):
        m = _RANGE.match(part)
        if m is None:
            raise ConfigError(f"--seeds: cannot read {part.strip()!r} in {text!r}; write whole "
                              "numbers and ranges such as 1-20 or 1,3,5-8")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ConfigError(f"--seeds: range {part.strip()!r} runs backwards; write "
                              f"{hi}-{lo}")
        if hi > MAX_SEED:
            raise ConfigError(f"--seeds: seed {hi} is over {MAX_SEED} (2**32 - 1, the "
                              "largest a random generator takes here)")
        if len(seeds) + hi - lo + 1 > MAX_SEEDS:
            raise ConfigError(f"--seeds: {text!r} lists more than {MAX_SEEDS:,} seeds")
        seeds.extend(range(lo, hi + 1))
    if len(set(seeds)) != len(seeds):
        dup = min(s for s, n in Counter(seeds).items() if n > 1)
        raise ConfigError(f"--seeds: seed {dup} is listed twice in {text!r}")
    return tuple(sorted(seeds))


def _split_values(text: str) -> list[str]:
    """Split on commas outside brackets, braces and quotes (TOML arrays stay whole)."""
    out, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return [v.strip() for v in out]


def parse_value(text: str) -> Any:
    """A TOML literal (``0.1``, ``true``, ``"x"``, ``[1, 2]``), else the text as a string
    (``30s`` stays ``"30s"`` for the scenario parser to read with its units)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def json_value(v: Any) -> Any:
    """``v`` as plain JSON for the manifest and ``summary.json``: what JSON lacks as text
    (``inf``, ``nan``: TOML literals a grid may hold, e.g. ``max_slowdown=3,inf``; dates)."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, list | tuple):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    return json.loads(json.dumps(v, default=str))


def parse_set(text: str) -> tuple[str, tuple[Any, ...], tuple[str, ...]]:
    """``"key=v1,v2"`` -> ``(key, values, texts)`` (the values parsed, the texts as given)."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: write key=value[,value...], e.g. alpha=0.05,0.1 or "
                          "migration.startup=30s,120s")
    if key.split(".")[0].split("[")[0] in RESERVED_KEYS:
        parts = key.split(".")
        if parts[0] == "policies" and len(parts) >= 3:  # a policy's parameter
            raise ConfigError(f"--set {key}: a policy's parameter is gridded as "
                              f"policy_params.{'.'.join(parts[1:])}, also one its "
                              f"[policies.{parts[1]}] table sets (the grid's values "
                              "replace it)")
        opt = "--seeds" if key.startswith("seed") else "--policies"
        raise ConfigError(f"--set {key}: set this with {opt}, not --set")
    texts = _split_values(rest)
    if not rest.strip() or any(not t for t in texts):
        raise ConfigError(f"--set {text!r}: a value is empty; write key=value[,value...]")
    _path(key)  # syntax check
    values = tuple(parse_value(t) for t in texts)
    seen: dict[Any, str] = {}
    for v, t in zip(values, texts, strict=True):
        same = seen.setdefault(_canonical(v), t)
        if same != t or texts.count(t) > 1:
            also = "" if same == t else f" ({t} is {same})"
            raise ConfigError(f"--set {key}: a value is listed twice in {rest!r}{also}")
    return key, values, tuple(texts)


_QUANTITY_PARSERS = (units.parse_duration, units.parse_size, units.parse_rate,
                     units.parse_power, units.parse_energy, units.parse_count)


def _canonical(value: Any) -> Any:
    """What ``value`` means, for telling two ``--set`` values apart: a number as a float, a
    quantity (``60s``, ``1min``) as its SI value (a scenario reads a bare number where a
    quantity goes in SI units: ``30`` is ``30s``), anything else as JSON text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        for parse in _QUANTITY_PARSERS:
            try:
                return float(parse(value))
            except (units.UnitError, ValueError, TypeError):
                continue
    return json.dumps(json_value(value), sort_keys=True)


def _path(key: str) -> list[str | int]:
    """``links[0].bandwidth`` -> ``["links", 0, "bandwidth"]`` (a bracket holds an index
    or the ``name`` of a table in the array: ``sites[madrid-es].gpu_slots``)."""
    steps: list[str | int] = []
    for part in key.split("."):
        m = _PART.match(part.strip())
        if m is None:
            raise ConfigError(f"--set {key}: cannot read the key; write dotted names such as "
                              "migration.startup or links[0].bandwidth")
        steps.append(m.group(1))
        for idx in _INDEX.findall(m.group(2)):
            steps.append(int(idx) if idx.isdigit() else f"[{idx}]")
    return steps


def _dotted(steps: list) -> str:
    """``steps`` written back as a key: ``links[0].bandwidth``, ``sites[madrid-es]``."""
    out = ""
    for step in steps:
        if isinstance(step, int):
            out += f"[{step}]"
        elif step.startswith("["):
            out += step
        else:
            out += ("." if out else "") + step
    return out


def apply_override(doc: dict, key: str, value: Any) -> None:
    """Set ``key`` (dotted) to ``value`` in ``doc`` in place, creating missing tables.

    Raises ConfigError when the path goes through something that is not a table, or an
    array index / name that does not exist. Unknown final keys are left to the scenario
    parser, which rejects them with the list of valid keys.
    """
    steps = _path(key)
    tables = doc.get("policies")
    if (len(steps) >= 3 and steps[0] == "policy_params" and isinstance(tables, dict)
            and isinstance(tables.get(steps[1]), dict) and steps[2] in tables[steps[1]]):
        # a parameter the scenario's [policies.NAME] table sets: the grid value replaces it
        # there (written in both tables, the scenario would be refused as setting it twice)
        steps = ["policies", *steps[1:]]
    node: Any = doc
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        where = key if last else _dotted(steps[: i + 1])
        if isinstance(step, int) or (isinstance(step, str) and step.startswith("[")):
            if not isinstance(node, list):
                table = _dotted(steps[:i])
                hint = (" (its sites come from [fleet], not from [[sites]] tables)"
                        if steps[:i] == ["sites"] and "fleet" in doc else "")
                raise ConfigError(f"--set {key}: {table} is not an array of tables in this "
                                  f"scenario{hint}")
            if isinstance(step, int):
                if step >= len(node):
                    raise ConfigError(f"--set {key}: index {step} is out of range (the array "
                                      f"has {len(node)} entries)")
                pos = step
            else:
                name = step[1:-1]
                hits = [j for j, e in enumerate(node)
                        if isinstance(e, dict) and e.get("name") == name]
                if not hits:
                    raise ConfigError(f"--set {key}: no entry named {name!r} in this array")
                pos = hits[0]
            if last:
                node[pos] = value
            else:
                node = node[pos]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {where} is not a table")
        if last:
            node[step] = value
        else:
            if step not in node:
                node[step] = {}
            node = node[step]
