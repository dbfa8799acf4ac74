"""The scenario's ``policies``: a list of names, or one ``[policies.NAME]`` table per policy.

The list form names registered policies (``policies = ["static", "threshold"]``). The
table form also brings your own, with parameters, in the order written::

    [policies.static]

    [policies.my-rule]
    file = "my_policy.py"      # relative to the scenario file
    class = "MyPolicy"         # a greenhop.policies.PolicyBase subclass in it
    alpha = 0.05               # every other key is a parameter of the policy

A built-in's table holds only parameters (as ``[policy_params.NAME]`` does). An
optional ``sha256`` pins the file's content (``greenhop sweep --policy-file`` writes it,
so every worker loads exactly the file the sweep started with).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from greenhop.core.errors import ConfigError
from greenhop.policies.plugins import PolicyFile, file_sha256, load_policy_file
from greenhop.sim.schema import Table, first_repeat

#: the policies a scenario compares when it names none
DEFAULT_POLICIES = ("static", "energy-greedy", "feasibility-aware", "threshold")
#: keys of a ``[policies.NAME]`` table that are not parameters of the policy
_OWN_KEYS = ("file", "class", "sha256")


def check_params(name: str, params: dict[str, Any], where: str) -> None:
    """Build policy ``name`` once with ``params``, so an unknown or bad parameter is one
    line naming its key at ``where``."""
    from greenhop.policies import POLICIES, make_policy
    from greenhop.policies.base import accepted_parameters

    names, var_kw = accepted_parameters(POLICIES.get(name))
    unknown = sorted(set(params) - names)
    if unknown and not var_kw:
        valid = ", ".join(sorted(names)) or "none"
        raise ConfigError(f"{where}.{unknown[0]}: unknown parameter of policy '{name}'; its "
                          f"parameters: {valid}")
    try:
        make_policy(name, **params)
    except ConfigError as exc:
        msg = str(exc).removeprefix(f"{name}: ")
        if msg.startswith(where):
            raise ConfigError(msg) from None
        # "quantile: must be ..." names one of the parameters: where.quantile: must be ...
        sep = "." if msg.split(":", 1)[0] in params else ": "
        raise ConfigError(f"{where}{sep}{msg}") from None


def check_policy_names(names, option: str | None = None) -> None:
    """Raise ConfigError naming the first of ``names`` that is not a registered policy or
    that is listed twice (one column of the comparison per policy): at its place in the
    scenario's ``policies`` list, or, with ``option``, as that command-line option."""
    from greenhop.policies import POLICIES

    names = list(names)

    def where(i: int) -> str:
        return f"policies[{i}]" if option is None else option

    twice = first_repeat(names) or (-1, -1)
    for i, p in enumerate(names):
        if p not in POLICIES:
            if p in POLICIES.unavailable:  # installed, but its package does not load
                raise ConfigError(f"{where(i)}: {POLICIES.unavailable[p]}")
            raise ConfigError(f"{where(i)}: unknown policy '{p}'; valid policy names: "
                              f"{', '.join(POLICIES.names())}")
        if i == twice[0]:
            raise ConfigError(f"{where(i)}: '{p}' is listed twice (also at [{twice[1]}]); "
                              "list each once")


def parse_policies(t: Table, base_dir: Path) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The policies to compare and the parameters their tables give; loads (and registers)
    the policies the tables bring in files.

    Raises:
        ConfigError: naming the key: an unknown policy, a missing file or class, a file
            that does not load, a name that shadows a built-in, an unknown parameter.
    """
    from greenhop.policies import POLICIES

    if not isinstance(t.raw("policies", None), dict):
        names = t.strings("policies", list(DEFAULT_POLICIES))
        check_policy_names(names)
    else:
        pt = t.table("policies")
        names, params = [], {}
        for name in list(pt.data):
            sub = pt.table(name)
            where = sub.path
            own = {k: sub.data[k] for k in _OWN_KEYS if k in sub.data}
            rest = {k: v for k, v in sub.data.items() if k not in _OWN_KEYS}
            if "file" in own or "class" in own:
                _load(own, name, where, base_dir)
            elif "sha256" in own:
                raise ConfigError(f"{where}.sha256: pins a file; give `file` and `class` too")
            elif name not in POLICIES:
                raise ConfigError(f"{where}: unknown policy '{name}'; bring your own with "
                                  "`file` and `class`, or use one of: "
                                  f"{', '.join(POLICIES.names())}")
            check_params(name, rest, where)
            names.append(name)
            if rest:
                params[name] = rest
        if not names:
            raise ConfigError("policies: list at least one policy, e.g. [policies.static]")
        return names, params
    if not names:
        raise ConfigError("policies: list at least one policy, e.g. ['static']")
    return names, {}


def _load(own: dict, name: str, where: str, base_dir: Path) -> None:
    file, cls, sha = own.get("file"), own.get("class"), own.get("sha256")
    if not isinstance(file, str) or not file.strip():
        raise ConfigError(f"{where}.file: expected the path of a .py file (relative to the "
                          f"scenario file), got {file!r}")
    if not isinstance(cls, str) or not cls.isidentifier():
        raise ConfigError(f"{where}.class: expected the name of the policy class in {file}, "
                          f"got {cls!r}")
    if sha is not None:
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha.strip()):
            raise ConfigError(f"{where}.sha256: expected the file's SHA-256 as 64 hex digits, "
                              f"got {sha!r}")
        sha = sha.strip().lower()  # as some tools print it (upper case): the same digest
    path = Path(file).expanduser()
    path = (path if path.is_absolute() else Path(base_dir) / path).resolve()
    load_policy_file(PolicyFile(path, cls, name), where, sha256=sha)


def add_policy_files(document: dict, names: list[str], refs: list[PolicyFile]) -> dict:
    """A copy of a scenario document that also compares the policies of ``refs`` (already
    loaded as ``names``), each as a ``[policies.NAME]`` table with its absolute path and
    SHA-256: what a sweep's workers load. The document's other policies stay as they are."""
    doc = copy.deepcopy(document)
    current = doc.get("policies", list(DEFAULT_POLICIES))
    table = dict(current) if isinstance(current, dict) else {p: {} for p in current}
    for name, ref in zip(names, refs, strict=True):
        entry = dict(table.get(name, {}))
        entry.update({"file": str(ref.path), "class": ref.class_name,
                      "sha256": file_sha256(ref.path)})
        table[name] = entry
    doc["policies"] = table
    return doc
