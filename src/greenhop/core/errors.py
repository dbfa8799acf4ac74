"""The greenhop error hierarchy.

One root, :class:`GreenhopError`. User mistakes (bad configuration, bad traces,
bad units) are kept apart from runtime failures (a transfer that broke, a
corrupt checkpoint) so the CLI can answer the first with exit code 2 and a
one-line message, and the second with exit code 1.

Every message says what was wrong, where, and how to fix it.
"""

from __future__ import annotations


class GreenhopError(Exception):
    """Root of every error greenhop raises on purpose."""


class UserError(GreenhopError):
    """The input was wrong: the user can fix it (CLI exit code 2)."""


class ConfigError(UserError, ValueError):
    """A parameter, option, scenario or fleet file is invalid."""


class UnitError(ConfigError):
    """A quantity string such as ``"98GB"`` or ``"10Gbps"`` could not be parsed."""


class TraceError(UserError, ValueError):
    """A time series (trace file, dataset) is malformed or out of range."""


class RuntimeFailure(GreenhopError):
    """Something failed while running (CLI exit code 1)."""


class TransferError(RuntimeFailure):
    """A checkpoint transfer between sites failed or did not verify."""


class PolicyFailure(RuntimeFailure):
    """A policy's ``decide`` raised: the message names the policy, the step and where."""


class CheckpointError(RuntimeFailure):
    """A checkpoint is missing, incomplete, corrupt or unsafe to load."""


class MissingExtraError(GreenhopError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this feature needs the optional dependency '{module}'; "
            f"install it with: pip install 'greenhop[{extra}]'"
        )
        self.module = module
        self.extra = extra


def require(module: str, extra: str):
    """Import ``module`` lazily, or raise :class:`MissingExtraError` naming ``extra``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(module, extra) from exc


def named(where: str, lookup, *args):
    """``lookup(*args)``, its ConfigError (an unknown name, say) prefixed with ``where``
    (the option or key the user gave it in)."""
    try:
        return lookup(*args)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def shown(value, limit: int = 40) -> str:
    """``repr(value)`` for an error message, cut to its first ``limit`` characters and
    ``…`` when longer (an integer of 400 digits, a list holding one); a value whose
    ``repr`` raises (a user's object) is shown by its type."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[:limit]}…"
