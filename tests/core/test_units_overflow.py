"""A quantity that parses but overflows to infinity once scaled to SI is refused by the
unit parser itself, so every option and key that takes it says so with its name."""

from __future__ import annotations

import pytest

from greenhop.core import units
from greenhop.core.errors import UnitError

OVERFLOWING = [("size", "1e300TB"), ("rate", "1e308Gbps"), ("duration", "1e308h"),
               ("duration", "1e308s1e308s"), ("power", "1e308GW"), ("energy", "1e308kWh"),
               ("count", "1e300T")]


@pytest.mark.parametrize(("kind", "text"), OVERFLOWING)
def test_an_overflowing_quantity_is_refused(kind, text) -> None:
    with pytest.raises(UnitError, match=rf"^{kind} '{text}' is too large: it overflows"):
        units.parse_quantity(text, kind)


@pytest.mark.parametrize(("kind", "text"), OVERFLOWING)
def test_the_error_names_the_option(kind, text) -> None:
    with pytest.raises(UnitError, match=r"^--opt: .*too large"):
        units.parse_quantity(text, kind, option="--opt")


@pytest.mark.parametrize(("kind", "text", "si"), [
    ("size", "1e290GB", 1e299), ("rate", "1e300bps", 1e300), ("duration", "1e300s", 1e300),
    ("power", "1e300kW", 1e303), ("count", "1e300k", 1e303)])
def test_large_finite_quantities_still_parse(kind, text, si) -> None:
    assert units.parse_quantity(text, kind) == pytest.approx(si)
