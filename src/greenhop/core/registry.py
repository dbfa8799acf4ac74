"""Name registries: policies, forecasters and executors are chosen by name.

An unknown name raises :class:`~greenhop.core.errors.ConfigError` listing the
valid ones, so a typo on the command line is answered with the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from greenhop.core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from a kebab-case name to a factory of ``T``.

    ``kind`` is a human word used in error messages ("policy", "forecaster").
    """

    def __init__(self, kind: str, discover: Callable[[Registry[T]], None] | None = None) -> None:
        """``discover(registry)``, when given, runs once before the first lookup (name, get,
        membership) to register what is installed elsewhere (e.g. plugins' entry points)."""
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._discover = discover
        #: names that were found but cannot be built, with why (an installed plugin that
        #: does not import): asking for one raises that reason; the others still work
        self.unavailable: dict[str, str] = {}

    def _discovered(self) -> None:
        if self._discover is not None:
            discover, self._discover = self._discover, None
            try:
                discover(self)
            except BaseException:
                self._discover = discover  # a failed discovery is reported on every lookup
                raise

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name``."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._factories[name] = factory
            return factory

        return decorate

    @contextmanager
    def temporary(self, name: str, factory: Callable[..., T]) -> Iterator[Callable[..., T]]:
        """Register ``factory`` as ``name`` for the duration of a ``with`` block only."""
        self.register(name)(factory)
        try:
            yield factory
        finally:
            self.unregister(name)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (no error when it is not registered)."""
        self._factories.pop(name, None)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._discovered()
        return sorted(self._factories)

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name``; unknown names list the valid ones."""
        self._discovered()
        if name in self.unavailable and name not in self._factories:
            raise ConfigError(self.unavailable[name])
        try:
            return self._factories[name]
        except KeyError:
            valid = ", ".join(self.names()) or "(none registered)"
            raise ConfigError(
                f"unknown {self.kind} '{name}'; valid {self.kind} names: {valid}"
            ) from None

    def create(self, name: str, /, **kwargs) -> T:
        """Build the object registered as ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)

    def __contains__(self, name: object) -> bool:
        self._discovered()
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
