"""The policy interface and the registry policies are chosen from.

A policy subclasses :class:`PolicyBase` and implements one method,
``decide(observation) -> list[Action]``: no I/O, no clock, nothing after
``observation.now_s``. It may keep private state between calls (dwell timers, running
statistics), so the mechanism builds a fresh policy per run with :func:`make_policy`.
What a policy can do and needs is declared, typed, in its :class:`Capabilities`
(class attribute ``capabilities``), never probed by the mechanism.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from greenhop.core.errors import shown
from greenhop.core.observation import (
    MIGRATING,
    QUEUED,
    Action,
    Migrate,
    Observation,
    Place,
    Resume,
    Scale,
    Suspend,
    starts_at_origin_only,
)
from greenhop.core.registry import Registry


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a policy does and what it needs from the mechanism (declared, not probed).

    Attributes:
        migrates: may return :class:`~greenhop.core.observation.Migrate`.
        suspends: may return ``Suspend`` / ``Resume`` (temporal shifting).
        scales: may change a job's GPU count.
        places: may return ``Place`` for queued jobs.
        passive: never acts, so the mechanism may skip calling ``decide``.
        window_forecasts: reads ``Observation.window_forecast_q_s``; the simulator computes
            the window forecasts for a run only when a policy of the run declares this
            (such a policy takes a ``quantile`` parameter, default the scenario's).
        sees_future: needs the true future windows; the mechanism calls
            :meth:`PolicyBase.bind_true_windows` before the run (simulator only: a live
            mechanism refuses such a policy).
    """

    migrates: bool = False
    suspends: bool = False
    scales: bool = False
    places: bool = False
    passive: bool = False
    window_forecasts: bool = False
    sees_future: bool = False

    def __post_init__(self) -> None:
        acts = [w for w in ("migrates", "suspends", "scales", "places") if getattr(self, w)]
        if self.passive and acts:  # decide is never called: the actions would never come
            raise ValueError(f"Capabilities(passive=True, {acts[0]}=True): a passive policy "
                             f"never acts, so its decide is not called; drop passive=True or "
                             f"{acts[0]}=True")

    def verbs(self) -> str:
        """The actions as a short phrase for listings, e.g. ``"migrates, suspends"``."""
        words = [w for w, on in (("migrates", self.migrates), ("suspends", self.suspends),
                                 ("scales", self.scales), ("places", self.places)) if on]
        return ", ".join(words) or "never acts"


class PolicyBase:
    """Base class of every policy (built-in and third-party).

    Class attributes:
        name: the registered name.
        summary: one line for ``greenhop policies``.
        source: where the rule comes from (a citation, or ``"greenhop"``).
        capabilities: :class:`Capabilities`.
    """

    name: ClassVar[str] = "unnamed"
    summary: ClassVar[str] = ""
    source: ClassVar[str] = "greenhop"
    capabilities: ClassVar[Capabilities] = Capabilities()

    def decide(self, observation: Observation) -> list[Action]:
        """The actions to take now (an empty list: keep everything as it is)."""
        raise NotImplementedError(f"policy '{self.name}' does not implement decide()")

    def bind_true_windows(self, source) -> None:
        """Receive the true future windows (only called when ``capabilities.sees_future``)."""
        raise NotImplementedError(f"policy '{self.name}' does not use the true windows")

    def counters(self) -> dict[str, float]:
        """Run counters the policy wants in the metrics (e.g. ``planner_fallbacks``)."""
        return {}


@runtime_checkable
class Policy(Protocol):
    """Decides what to do given what is known now (structural type of :class:`PolicyBase`)."""

    name: str
    capabilities: Capabilities

    def decide(self, observation: Observation) -> list[Action]: ...


def _discover_installed(registry: Registry[Policy]) -> None:
    """Register the policies installed packages declare (entry point group
    ``greenhop.policies``), once, at the registry's first lookup; one that cannot be
    loaded is kept in ``registry.unavailable`` with why, for the commands that ask for it
    (and ``greenhop policies``), not raised to every command."""
    from greenhop.policies.plugins import load_entry_points

    load_entry_points(registry, strict=False)


POLICIES: Registry[Policy] = Registry("policy", discover=_discover_installed)
"""Policies by name: ``POLICIES.create("feasibility-aware", alpha=0.1)``; installed plugins
(:mod:`greenhop.policies.plugins`) join at the first lookup."""


def accepted_parameters(factory) -> tuple[set[str], bool]:
    """The keyword parameters ``factory`` (a policy class or function) takes, following
    ``**kwargs`` up its base classes (a subclass that passes them on takes its bases'
    names), and whether it takes any name at all (``**kwargs`` that reach no base)."""
    names: set[str] = set()
    for cls in getattr(factory, "__mro__", (factory,)):
        init = cls.__init__ if isinstance(cls, type) else cls
        if init is object.__init__:
            return names, False
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
            return names, True
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                  and p.name != "self"}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names, False
    return names, True


def make_policy(name: str, **params) -> Policy:
    """A fresh policy called ``name``; unknown names and parameters raise ConfigError, and
    so does a value its constructor cannot take (a text where it wants a number, say).

    Bad parameters are a ConfigError (exit code 2): a name the constructor's signature does
    not take, a ConfigError the constructor raises (the ``number_param`` helpers), and a
    ``TypeError`` / ``ValueError`` / ``OverflowError`` from a built-in policy's
    constructor. Any other exception from a constructor (every one from the code of your
    own policy, ``SystemExit`` included) is your code failing: a
    :class:`~greenhop.core.errors.PolicyFailure` (exit code 1) naming the policy, the
    exception and the line of your file that raised (the original is its cause)."""
    from greenhop.core.errors import ConfigError, PolicyFailure

    factory = POLICIES.get(name)
    try:
        return factory(**params)
    except ConfigError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        # raised by the call itself (no frame of the constructor ran): the signature refused
        # the parameters; else by a built-in's constructor, which checks its values
        if exc.__traceback__.tb_next is None or _builtin(factory):
            raise ConfigError(f"policy '{name}': bad parameters {sorted(params)}: "
                              f"{exc}") from None
        failed = exc
    except (Exception, SystemExit) as exc:  # exit() in __init__ would end greenhop silently
        failed = exc
    given = f" with {params}" if params else ""
    raise PolicyFailure(f"policy {name!r} failed while being built{given}: "
                        f"{type(failed).__name__}: {failed} ({_where(factory, failed)})"
                        ) from failed


def _builtin(factory) -> bool:
    """Whether ``factory`` is one of greenhop's own policies (not a file's or a package's)."""
    module = getattr(factory, "__module__", None) or ""
    return module == "greenhop" or module.startswith("greenhop.")


def decide(policy: Policy, obs: Observation) -> list[Action]:
    """``policy.decide(obs)`` as a list, for the simulator, a live run and replay alike; an
    exception from the policy's code (a bug in your own policy, say; ``SystemExit``
    included, not ``KeyboardInterrupt``) becomes a
    :class:`~greenhop.core.errors.PolicyFailure` naming the policy, the step and the line
    that raised (the original stays chained as its cause), not a bare traceback. A greenhop
    error raised in the policy's call (a ``LeakageError`` from reading the future, a
    ``ConfigError`` for a forecast level the run lacks) keeps its class, and so its exit
    code, and gets the same prefix. A ``None`` (or anything else that is no list) in
    place of the actions is refused naming the policy's ``decide``, and so is a set (its
    order follows the hash seed, so a run with it would not repeat). An action the policy's
    capabilities do not declare (a ``Suspend`` from a policy without ``suspends``, say)
    is refused the same way: a live run checks a policy by its capabilities before it
    starts, so what it returns must keep to them."""
    from greenhop.core.errors import GreenhopError, PolicyFailure

    name = getattr(policy, "name", type(policy).__name__)

    def failed(exc: BaseException) -> str:
        return (f"policy {name!r} failed at step {obs.step} ({obs.now_s:g} s): "
                f"{type(exc).__name__}: {_text(exc)} "
                f"({_where(policy, exc, _decide_where(policy))})")

    try:
        result = policy.decide(obs)
        if inspect.iscoroutine(result):
            result.close()  # never awaited: closed here, so Python does not warn about it
            raise PolicyFailure(
                f"policy {name!r}: decide() returned a coroutine at step {obs.step}: an "
                "`async def decide` is not called by greenhop; make it a plain `def` "
                f"({_decide_where(policy)})")
        if result is None or isinstance(result, str | bytes | Mapping) \
                or not isinstance(result, Iterable):
            raise PolicyFailure(
                f"policy {name!r}: decide() returned {shown(result)} at step {obs.step}; "
                "return a list of actions (an empty list to do nothing) "
                f"({_decide_where(policy)})")
        if isinstance(result, set | frozenset):
            # a set's order follows the hash seed, so the same run would act in another
            # order each time it is run: refused rather than sorted behind the policy's back
            raise PolicyFailure(
                f"policy {name!r}: decide() returned a set at step {obs.step}; its order "
                "changes from one run to the next, so the run would not repeat: return a "
                f"list ({_decide_where(policy)})")
        actions = list(result)  # a generator runs the policy's code here
    except PolicyFailure:
        raise  # refused above, or a policy this one wraps failed: already said
    except GreenhopError as exc:
        # keep the class (LeakageError, ConfigError, ...), so the exit code stays; the
        # original is the cause
        raise _same_kind(exc, failed(exc)) from exc
    except (Exception, SystemExit) as exc:  # exit() in decide would end greenhop silently
        raise PolicyFailure(failed(exc)) from exc
    caps = policy.capabilities
    for act in actions:
        needs = _NEEDS.get(type(act))
        if needs is None:
            raise PolicyFailure(f"policy {name!r} returned {shown(act)} at step {obs.step}, "
                                "which is no action (Migrate, Suspend, Resume, Place or "
                                f"Scale) ({_decide_where(policy)})")
        if not getattr(caps, needs):
            raise PolicyFailure(f"policy {name!r} returned {act!r} at step {obs.step} but its "
                                f"Capabilities do not declare {needs}=True")
    return actions


def policy_counters(policy: Policy) -> dict[str, float]:
    """``policy.counters()`` checked, for the metrics: a mapping of names to finite numbers.
    An exception from the policy's code, or anything else returned, is a
    :class:`~greenhop.core.errors.PolicyFailure` naming the policy and the line, as
    :func:`decide` says a failure in ``decide``."""
    from greenhop.core.errors import PolicyFailure
    from greenhop.core.units import finite_float

    name = getattr(policy, "name", type(policy).__name__)
    method = getattr(policy, "counters", None)
    if method is None:
        return {}
    try:
        result = method()
    except (Exception, SystemExit) as exc:
        raise PolicyFailure(f"policy {name!r} failed in counters(): {type(exc).__name__}: "
                            f"{_text(exc)} ({_where(policy, exc)})") from exc
    if not isinstance(result, Mapping):
        raise PolicyFailure(f"policy {name!r}: counters() returned {shown(result)}; return "
                            "a dict of names to numbers ({} for none)")
    out: dict[str, float] = {}
    for key, value in result.items():
        # finite_float: also an integer past any float, whose float() would raise
        number = None if isinstance(value, bool) or not isinstance(value, int | float) \
            else finite_float(value)
        if not isinstance(key, str) or number is None:
            raise PolicyFailure(f"policy {name!r}: counters() returned {shown(key)}: "
                                f"{shown(value)}; each counter is a name (str) and a finite "
                                "number")
        out[key] = number
    return out


def _text(exc: BaseException) -> str:
    """``str(exc)``, or its class's name where its ``__str__`` raises."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} that cannot be printed>"


def _same_kind(exc: BaseException, message: str) -> BaseException:
    """An exception of ``exc``'s class (and attributes) saying ``message`` (its
    ``__init__`` is not called: some take other arguments)."""
    new = type(exc).__new__(type(exc), message)
    new.args = (message,)
    new.__dict__.update(getattr(exc, "__dict__", {}))
    return new


def _decide_where(policy) -> str:
    """``file:line in Class.decide`` of the policy's ``decide`` (its class when the source
    cannot be found)."""
    cls = type(policy)
    fn = getattr(cls, "decide", None)
    owner = getattr(fn, "__qualname__", f"{cls.__qualname__}.decide")
    try:
        fn = inspect.unwrap(fn)
        return f"{inspect.getsourcefile(fn)}:{inspect.getsourcelines(fn)[1]} in {owner}"
    except (TypeError, OSError):
        return f"in {owner}"


#: the capability each action needs
_NEEDS = {Migrate: "migrates", Suspend: "suspends", Resume: "suspends", Place: "places",
          Scale: "scales"}


def _where(policy, exc: BaseException, fallback: str | None = None) -> str:
    """``file:line in function`` of the innermost frame in the policy's own source file
    (else ``fallback``, else the innermost frame): where in the policy (an object, or its
    class or factory) the error was raised. No frame of the policy's file ran when the
    call itself failed (a ``decide(self)`` without the observation)."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    try:
        own = inspect.getsourcefile(policy if inspect.isclass(policy)
                                    or inspect.isfunction(policy) else type(policy))
    except TypeError:
        own = None
    mine = [f for f in frames if own is not None and f.filename == own]
    if not mine and fallback is not None:
        return fallback
    f = (mine or frames)[-1]
    return f"{f.filename}:{f.lineno} in {f.name}"


def number_param(policy: str, name: str, value, *, lo: float | None = None,
                 lo_open: bool = False, hi: float | None = None, unit: str = "") -> float:
    """``value`` of parameter ``name`` of ``policy`` as a finite float in the given range,
    else a ConfigError that names both (a scenario's ``policy_params`` are TOML values:
    ``true`` where a number is meant is refused here, not deep in a run). A parameter in
    seconds or watts (``unit`` ``"s"`` or ``"W"``) also takes a text with its unit, as
    scenario keys do (``"1h"``, ``"5kW"``)."""
    from greenhop.core.errors import ConfigError
    from greenhop.core.units import finite_float, parse_quantity

    kind = {"s": "duration", "W": "power"}.get(unit)
    if isinstance(value, str) and kind is not None:
        value = parse_quantity(value, kind, option=f"{policy}: {name}", plain=False)
    what = ("a finite number" + (f" [{unit}]" if unit else "")
            + (f" or a {kind} with its unit" if kind else ""))
    v = None if isinstance(value, bool) or not isinstance(value, int | float) \
        else finite_float(value)  # None too for an integer past any float
    if v is None:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:20] + "…"
        raise ConfigError(f"{policy}: {name} must be {what}, got {shown}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ConfigError(f"{policy}: {name} must be {'>' if lo_open else '>='} {lo:g}"
                          f"{f' {unit}' if unit else ''}, got {value!r}")
    if hi is not None and v > hi:
        raise ConfigError(f"{policy}: {name} must be <= {hi:g}{f' {unit}' if unit else ''}, "
                          f"got {value!r}")
    return v


def whole_param(policy: str, name: str, value, *, lo: int, hi: int | None = None) -> int:
    """``value`` as a whole number in ``[lo, hi]`` (``hi`` ``None``: no upper end), else a
    ConfigError naming it."""
    from greenhop.core.errors import ConfigError

    v = number_param(policy, name, value, lo=lo, hi=hi)
    if v != int(v):
        raise ConfigError(f"{policy}: {name} must be a whole number, got {value!r}")
    return int(v)


def bool_param(policy: str, name: str, value) -> bool:
    """``value`` as a bool (``true`` / ``false`` only), else a ConfigError naming it."""
    from greenhop.core.errors import ConfigError

    if not isinstance(value, bool):
        raise ConfigError(f"{policy}: {name} must be true or false, got {value!r}")
    return bool(value)


def threshold_param(policy: str, name: str, value) -> float | None:
    """A surplus threshold [W]: ``None`` (the Observation's) or a finite number."""
    return None if value is None else number_param(policy, name, value, lo=0.0, unit="W")


def estimator_param(policy: str, name: str, value):
    """A window estimator object (the Python API only), or ``None`` for the default."""
    from greenhop.core.errors import ConfigError

    if value is not None and not callable(getattr(value, "estimate", None)):
        raise ConfigError(f"{policy}: {name} must be a window estimator object with "
                          f"estimate(obs) (from Python, not a scenario), got {value!r}")
    return value


def site_power_w(obs: Observation) -> np.ndarray:
    """Facility power of one training GPU at each site [W]: GPU power x PUE."""
    return obs.gpu_power_w * obs.pue


def move_share(obs: Observation, jobs: np.ndarray) -> np.ndarray:
    """Share [-] of each job's checkpoint that moves with it: 1 but for a partially
    migratable job, and 1 for a job with no checkpoint (a ``PENDING`` job reads no
    checkpoint: 0/0 gave NaN powers and INT64_MIN GPUs)."""
    ckpt = np.asarray(obs.job_checkpoint_bytes[jobs], dtype=float)
    moving = np.asarray(obs.job_move_bytes[jobs], dtype=float)
    return np.divide(moving, ckpt, out=np.ones_like(ckpt), where=ckpt > 0)


def job_power_at(obs: Observation, jobs: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Facility power [W] the moving part of ``jobs`` would draw at ``sites`` (broadcasts)."""
    return obs.job_gpus[jobs] * move_share(obs, jobs) * site_power_w(obs)[sites]


def available_headroom_w(obs: Observation) -> np.ndarray:
    """Headroom per site [W] minus the training power already promised to jobs migrating in."""
    head = np.array(obs.headroom_w, dtype=float)
    moving = np.flatnonzero(obs.job_phase == MIGRATING)
    if moving.size:
        dest = obs.job_dest[moving]
        ok = dest >= 0
        if ok.any():
            incoming = job_power_at(obs, moving[ok], dest[ok])
            head -= np.bincount(dest[ok], weights=incoming, minlength=obs.n_sites)
    return head


def reserved_gpus(obs: Observation) -> np.ndarray:
    """GPU slots per site ``[S]`` that queued jobs able to start there only are waiting for.

    A queued job starts nowhere but its origin when it is pinned or partially migratable
    (:func:`~greenhop.core.observation.starts_at_origin_only`), and nowhere but its one
    allowed site when it may use only one. Such a job is still queued because its site has
    too few free slots for it, so a policy that moves or places other jobs into those
    slots can keep it waiting indefinitely."""
    reserved = np.zeros(obs.n_sites, dtype=np.int64)
    for j in np.flatnonzero(obs.job_phase == QUEUED).tolist():
        site = only_start_site(obs, j)
        if site >= 0:
            reserved[site] += int(obs.job_gpus[j])
    return reserved


def only_start_site(obs: Observation, j: int) -> int:
    """The one site job ``j`` may start at: its origin when it is pinned or partially
    migratable (:func:`~greenhop.core.observation.starts_at_origin_only`), its one allowed
    site when it may use only one; -1 when it may start at several."""
    origin = int(obs.job_origin[j])
    if starts_at_origin_only(int(obs.job_mobility[j]), origin):
        return origin
    allowed = np.flatnonzero(obs.job_allowed[j])
    return int(allowed[0]) if allowed.size == 1 else -1


def move_gpus(obs: Observation, jobs: np.ndarray) -> np.ndarray:
    """GPUs that move with each job (all of them except for partially migratable jobs)."""
    return np.ceil(obs.job_gpus[jobs] * move_share(obs, jobs) - 1e-9).astype(np.int64)


def downtime_power_w(obs: Observation, jobs: np.ndarray, src: np.ndarray,
                     dst: np.ndarray) -> np.ndarray:
    """Facility power [W] a move of ``jobs`` from ``src`` to ``dst`` draws while the job is
    down, the ``idle_power_w`` of the feasibility model's ``E_mig`` (broadcasts).

    The same terms as the books with the default energy conventions (docs/design.md
    section 5): the moving GPUs idle at the source (saving, then held until the job has
    left) and at the destination (held while in flight, then restoring); the GPUs that
    stay (partially migratable jobs) idle at the source. The Observation's idle power
    includes the host share; each end is x its PUE. The destination's GPUs are counted
    through the save as well, which overstates ``E_mig`` by their idle power x the save
    time: a few seconds of idle power, on the side of not moving.
    """
    g_move = move_gpus(obs, jobs)
    g_stay = obs.job_gpus[jobs] - g_move
    idle_src = obs.gpu_idle_w[src] * obs.pue[src]
    idle_dst = obs.gpu_idle_w[dst] * obs.pue[dst]
    return g_move * (idle_src + idle_dst) + g_stay * idle_src
