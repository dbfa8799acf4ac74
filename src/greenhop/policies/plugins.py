"""Your own policies: loaded from a Python file or from an installed package.

One loader, three ways in:

* a file: ``--policy-file my_policy.py:MyPolicy`` on ``greenhop simulate | sweep | run``
  (``NAME=my_policy.py:MyPolicy`` registers it under another name);
* a scenario table: ``[policies.NAME]`` with ``file`` and ``class`` (read by
  :mod:`greenhop.sim.policy_table`);
* an installed package declaring an entry point in the group ``greenhop.policies``
  (``my-rule = "mypkg.rules:MyRule"``): the entry point's name is the policy name. The
  registry discovers these at its first lookup.

The class must subclass :class:`~greenhop.policies.base.PolicyBase`, implement ``decide``
and declare ``capabilities``. Once loaded it is registered in
:data:`~greenhop.policies.base.POLICIES` like a built-in, so every mechanism builds it
by name. A name may not shadow a built-in policy. Every mistake is one
:class:`~greenhop.core.errors.ConfigError` line naming the file (and line) or the entry
point. See docs/policies.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
import sys
import traceback
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from greenhop.core.errors import ConfigError
from greenhop.core.names import check_name
from greenhop.core.registry import Registry
from greenhop.policies.base import POLICIES, Capabilities, PolicyBase

ENTRY_POINT_GROUP = "greenhop.policies"
"""The entry point group installed packages declare their policies in."""

#: per registry: policy name -> where the loaded policy came from (file:class or entry point)
_ORIGINS: weakref.WeakKeyDictionary[Registry, dict[str, str]] = weakref.WeakKeyDictionary()
#: loaded files by (resolved path, content digest): loading the same file twice gives the
#: same classes, and a changed file is loaded afresh
_MODULES: dict[tuple[str, str], ModuleType] = {}

_SPEC = re.compile(r"(?:(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)=)?(?P<file>.+):(?P<cls>[^:]+)")


@dataclass(frozen=True)
class PolicyFile:
    """A policy class in a Python file.

    Attributes:
        path: the file (absolute once resolved against its base directory).
        class_name: the class in it.
        name: the policy name to register (``None``: the class's own ``name``).
    """

    path: Path
    class_name: str
    name: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path}:{self.class_name}"


def parse_policy_file(text: str, where: str = "--policy-file",
                      base_dir: Path | None = None) -> PolicyFile:
    """``[NAME=]FILE.py:CLASS`` as a :class:`PolicyFile`, ``FILE`` resolved against
    ``base_dir`` (default: the working directory)."""
    m = _SPEC.fullmatch(text.strip())
    if m is None or not m["cls"].isidentifier():
        raise ConfigError(f"{where} {text}: write FILE.py:CLASS (or NAME=FILE.py:CLASS), "
                          "e.g. my_policy.py:MyPolicy")
    path = Path(m["file"]).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    return PolicyFile(path.resolve(), m["cls"], m["name"])


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _import_file(path: Path, where: str) -> ModuleType:
    """Execute the Python file ``path`` as a module of its own (once per content)."""
    if not path.exists():
        raise ConfigError(f"{where}: {path}: no such file")
    if not path.is_file():
        raise ConfigError(f"{where}: {path}: is not a file; give the path of a .py file")
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: {path}: cannot read it ({exc.strerror})") from None
    key = (str(path), hashlib.sha256(source).hexdigest())
    if key in _MODULES:
        return _MODULES[key]
    stem = re.sub(r"\W", "_", path.stem)
    modname = f"greenhop_policy_file_{stem}_{key[1][:12]}"
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{where}: {path}: cannot be loaded as Python; give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module  # dataclasses and pickling look the module up here
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(modname, None)
        raise ConfigError(f"{where}: {exc.filename or path}:{exc.lineno}: syntax error: "
                          f"{exc.msg}") from None
    except (Exception, SystemExit) as exc:  # exit() at import would end greenhop silently
        sys.modules.pop(modname, None)
        # the innermost line of the user's file on the way to the error
        lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__)
                 if Path(f.filename) == path]
        at = f"{path}:{lines[-1]}" if lines else str(path)
        raise ConfigError(f"{where}: {at}: {type(exc).__name__} while loading it: "
                          f"{exc}") from None
    _MODULES[key] = module
    return module


def check_policy_class(obj: object, what: str, where: str) -> type[PolicyBase]:
    """``obj`` if it is a usable policy class, else a :class:`ConfigError` saying why."""
    if not (inspect.isclass(obj) and issubclass(obj, PolicyBase)) or obj is PolicyBase:
        kind = ("PolicyBase itself" if obj is PolicyBase
                else "a class" if inspect.isclass(obj) else type(obj).__name__)
        raise ConfigError(f"{where}: {what} is {kind}, not a subclass of "
                          "greenhop.policies.PolicyBase; write `class ...(PolicyBase)` with a "
                          "decide(observation) method (docs/policies.md)")
    if obj.decide is PolicyBase.decide:
        raise ConfigError(f"{where}: {what} does not implement decide(observation)")
    if not isinstance(obj.capabilities, Capabilities):
        raise ConfigError(f"{where}: {what}.capabilities must be a "
                          f"greenhop.policies.Capabilities, got {obj.capabilities!r}")
    return obj


def load_class(ref: PolicyFile, where: str = "--policy-file") -> type[PolicyBase]:
    """The policy class ``ref`` names, checked (see :func:`check_policy_class`)."""
    module = _import_file(ref.path, where)
    if not hasattr(module, ref.class_name):
        found = sorted(n for n, v in vars(module).items()
                       if inspect.isclass(v) and issubclass(v, PolicyBase) and v is not PolicyBase
                       and v.__module__ == module.__name__)
        hint = (f"policy classes in it: {', '.join(found)}" if found
                else "it defines no PolicyBase subclass")
        raise ConfigError(f"{where}: {ref.path} has no class '{ref.class_name}'; {hint}")
    return check_policy_class(getattr(module, ref.class_name), f"{ref.path}:{ref.class_name}",
                              where)


def plugin_origin(name: str, registry: Registry = POLICIES) -> str | None:
    """Where the loaded policy ``name`` came from, ``None`` for a built-in or unknown one."""
    return _ORIGINS.get(registry, {}).get(name)


def register_class(cls: type[PolicyBase], origin: str, *, name: str | None = None,
                   where: str, registry: Registry = POLICIES) -> str:
    """Register ``cls`` as ``name`` (default: ``cls.name``); returns the name.

    Registering the same origin again is a no-op (a changed file replaces its earlier
    class); a name taken by a built-in or by another plugin is a :class:`ConfigError`.
    """
    name = name or cls.name
    if name == PolicyBase.name:
        raise ConfigError(f"{where}: {origin} has no policy name; set `name = \"my-rule\"` "
                          "on the class or give one (NAME=FILE.py:CLASS, or the [policies.NAME] "
                          "table's NAME)")
    check_name("policy", name, where)
    origins = _ORIGINS.setdefault(registry, {})
    if name in registry:
        if origins.get(name) != origin:
            taken = origins.get(name)
            if taken is None:
                raise ConfigError(f"{where}: policy name '{name}' is a built-in policy; give "
                                  f"yours another name (set `name` on the class, or "
                                  f"NAME=FILE.py:CLASS)")
            raise ConfigError(f"{where}: policy name '{name}' is already taken by {taken}; "
                              "give this one another name")
        if registry.get(name) is cls or getattr(registry.get(name), "__bases__", ()) == (cls,):
            return name
        registry.unregister(name)  # the same file, changed since: its new class counts
    else:
        # a policy's name is also a folder name (sweep cells, live outputs): on a file
        # system that ignores case, 'Static' and 'static' would be one folder
        twin = next((n for n in registry.names() if n.lower() == name.lower()), None)
        if twin is not None:
            raise ConfigError(f"{where}: policy name '{name}' differs from the policy "
                              f"'{twin}' only in case; give yours another name")
    factory = cls if name == cls.name else type(cls.__name__, (cls,), {
        "name": name, "__module__": cls.__module__, "__doc__": cls.__doc__})
    registry.register(name)(factory)
    origins[name] = origin
    return name


def load_policy_file(ref: PolicyFile, where: str = "--policy-file", *,
                     sha256: str | None = None, registry: Registry = POLICIES) -> str:
    """Load ``ref`` and register its class; returns the policy name.

    ``sha256``, when given, must match the file (a sweep's workers load exactly the file
    the sweep was started with).
    """
    if sha256 is not None and ref.path.is_file() and file_sha256(ref.path) != sha256.lower():
        raise ConfigError(f"{where}: {ref.path} is not the file its sha256 pins (its SHA-256 "
                          "differs: changed since the sweep or run wrote the pin, or a pin "
                          "of another file); start again with the file as it is now, or "
                          "fix the pin")
    cls = load_class(ref, where)
    return register_class(cls, ref.label, name=ref.name, where=where, registry=registry)


def forget(name: str, registry: Registry = POLICIES) -> None:
    """Unregister the loaded policy ``name`` (built-ins stay)."""
    origins = _ORIGINS.get(registry, {})
    if name in origins:
        del origins[name]
        registry.unregister(name)


def load_entry_points(registry: Registry = POLICIES, entry_points=None, *,
                      strict: bool = True) -> list[str]:
    """Register every policy installed packages declare in :data:`ENTRY_POINT_GROUP`;
    returns their names. ``entry_points`` defaults to the installed ones
    (``importlib.metadata``). An entry point that cannot be loaded is a ConfigError naming
    it and its package; with ``strict=False`` (the registry's discovery) it is recorded in
    ``registry.unavailable`` instead, so one broken package fails only the commands that
    ask for its policy."""
    if entry_points is None:
        from importlib.metadata import entry_points as installed

        entry_points = installed(group=ENTRY_POINT_GROUP)
    names = []
    for ep in entry_points:
        dist = getattr(ep, "dist", None)
        pkg = f" of {dist.name} {dist.version}" if dist is not None else ""
        where = f"installed policy '{ep.name}' (entry point {ep.value!r}{pkg})"
        try:
            try:
                obj = ep.load()
            except (Exception, SystemExit) as exc:  # exit() at import would end greenhop
                raise ConfigError(f"{where}: cannot be imported: {type(exc).__name__}: "
                                  f"{exc}; fix or uninstall that package") from None
            cls = check_policy_class(obj, ep.value, where)
            names.append(register_class(cls, f"entry point {ep.value}{pkg}", name=ep.name,
                                        where=where, registry=registry))
        except ConfigError as exc:
            if strict:
                raise
            registry.unavailable[ep.name] = str(exc)
    return names
