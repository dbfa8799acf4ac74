"""Parsing and formatting of human quantities (greenhop.core.units)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.core import units
from greenhop.core.errors import ConfigError, UnitError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("98GB", 98e9),
        ("1.5GiB", 1.5 * 2**30),
        ("500 MB", 500e6),
        ("2.3TB", 2.3e12),
        ("4096B", 4096.0),
        ("8Gbit", 1e9),
        ("1kB", 1e3),
        ("1KiB", 1024.0),
        ("2MiB", 2 * 2**20),
        ("1TiB", 2.0**40),
        ("1PB", 1e15),
        ("1EB", 1e18),  # the checkpoint ceiling the range errors name
        ("1EiB", 2.0**60),
        ("3 bytes", 3.0),
        ("16 bits", 2.0),
        (".5GB", 0.5e9),
        ("1e3MB", 1e9),
    ],
)
def test_parse_size(text: str, expected: float) -> None:
    assert units.parse_size(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10Gbps", 10e9),
        ("250Mbit/s", 250e6),
        ("1Gb/s", 1e9),
        ("400MB/s", 3.2e9),
        ("1.2GiB/s", 1.2 * 2**30 * 8),
        ("100 Mbps", 100e6),
        ("1 Gbit/s", 1e9),
        ("2GB/s", 16e9),
        ("1kbps", 1e3),
    ],
)
def test_parse_rate(text: str, expected: float) -> None:
    assert units.parse_rate(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.5h", 9000.0),
        ("90min", 5400.0),
        ("30s", 30.0),
        ("50ms", 0.05),
        ("1d", 86400.0),
        ("1h30min", 5400.0),
        ("1 h 30 min", 5400.0),
        ("2 hours", 7200.0),
        ("1w", 604800.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration(text: str, expected: float) -> None:
    assert units.parse_duration(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("700W", 700.0), ("1.2kW", 1200.0), ("5MW", 5e6), ("60 W", 60.0), ("1GW", 1e9)],
)
def test_parse_power(text: str, expected: float) -> None:
    assert units.parse_power(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("13.5kWh", 13.5 * 3.6e6), ("500Wh", 1.8e6), ("3.6MJ", 3.6e6), ("1000J", 1000.0)],
)
def test_parse_energy(text: str, expected: float) -> None:
    assert units.parse_energy(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7e9", 7e9), ("7B", 7e9), ("175B", 175e9), ("1.5M", 1.5e6), ("340k", 340e3),
     ("1T", 1e12), ("25600000", 25.6e6)],
)
def test_parse_count(text: str, expected: float) -> None:
    assert units.parse_count(text) == pytest.approx(expected, rel=1e-12)


def test_decimal_unless_binary_prefix_is_written() -> None:
    assert units.parse_size("1GB") == 1e9
    assert units.parse_size("1GiB") == 2**30
    assert units.parse_rate("1Gbps") == 1e9
    assert units.parse_rate("1GiB/s") == 8 * 2**30


@pytest.mark.parametrize(
    ("parser", "text", "forms"),
    [
        (units.parse_size, "98", units.SIZE_FORMS),
        (units.parse_size, "98 parsecs", units.SIZE_FORMS),
        (units.parse_size, "GB", units.SIZE_FORMS),
        (units.parse_size, "-5GB", units.SIZE_FORMS),
        (units.parse_size, "nanGB", units.SIZE_FORMS),
        (units.parse_size, "1e400GB", units.SIZE_FORMS),
        (units.parse_size, "98gb", units.SIZE_FORMS),
        (units.parse_rate, "10Gb", units.RATE_FORMS),
        (units.parse_rate, "fast", units.RATE_FORMS),
        (units.parse_rate, "/s", units.RATE_FORMS),
        (units.parse_duration, "2.5", units.DURATION_FORMS),
        (units.parse_duration, "2.5 fortnights", units.DURATION_FORMS),
        (units.parse_duration, "1h garbage", units.DURATION_FORMS),
        (units.parse_duration, "", units.DURATION_FORMS),
        (units.parse_power, "700", units.POWER_FORMS),
        (units.parse_power, "1.2KiW", units.POWER_FORMS),
        (units.parse_power, "700J", units.POWER_FORMS),
        (units.parse_energy, "5kW", units.ENERGY_FORMS),
        (units.parse_energy, "1KiWh", units.ENERGY_FORMS),
        (units.parse_count, "7 billion", units.COUNT_FORMS),
        (units.parse_count, "7X", units.COUNT_FORMS),
    ],
)
def test_bad_strings_name_the_input_and_the_accepted_forms(parser, text, forms) -> None:
    with pytest.raises(UnitError) as info:
        parser(text)
    message = str(info.value)
    assert repr(text) in message
    assert forms in message
    assert "\n" not in message


def test_non_strings_are_refused() -> None:
    with pytest.raises(UnitError, match="not a string"):
        units.parse_size(98)  # type: ignore[arg-type]
    with pytest.raises(UnitError, match="not a string"):
        units.parse_duration(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["2h-30min", "1d -2h", "1h+30min"])
def test_a_signed_part_of_a_compound_duration_is_named(text: str) -> None:
    with pytest.raises(UnitError) as exc:
        units.parse_duration(text)
    assert "compound duration has a sign" in str(exc.value) and repr(text) in str(exc.value)


def test_a_negative_duration_is_refused_as_negative() -> None:
    with pytest.raises(UnitError, match="must be finite and non-negative"):
        units.parse_duration("-2h")


def test_unit_error_is_a_config_error() -> None:
    assert issubclass(UnitError, ConfigError)


@pytest.mark.parametrize(
    ("formatter", "value", "text"),
    [
        (units.format_size, 98e9, "98 GB"),
        (units.format_size, 999.96e9, "1 TB"),
        (units.format_size, 1.5e3, "1.5 kB"),
        (units.format_size, 0.0, "0 B"),
        (units.format_size, 1e18, "1 EB"),  # the largest size accepted read "1e+03 PB"
        (units.format_rate, 1e15, "1 Pbit/s"),
        (units.format_rate, 1e9, "1 Gbit/s"),
        (units.format_rate, 28.6e6, "28.6 Mbit/s"),
        (units.format_rate, math.inf, "unlimited"),
        (units.format_power, 1200.0, "1.2 kW"),
        (units.format_energy, 3.6e6, "1 kWh"),
        (units.format_energy, 500.0, "500 J"),
        (units.format_duration, 784.0, "13 min 4 s"),
        (units.format_duration, 9000.0, "2 h 30 min"),
        (units.format_duration, 0.05, "50 ms"),
        (units.format_duration, 0.0, "0 s"),
        (units.format_duration, 3599.6, "1 h"),
        (units.format_duration, 0.99999, "1 s"),
        (units.format_duration, 86400.0 * 3, "3 d"),
        (units.format_duration, -90.0, "-1 min 30 s"),
        (units.format_duration, math.inf, "never"),
        (units.format_params, 7e9, "7 B"),  # the sync table's 1e6 read "0.001 B"
        (units.format_params, 1e6, "1 M"),
        (units.format_params, 1.3e9, "1.3 B"),
        (units.format_params, 1e15, "1000 T"),  # it read "1e+06 B"
        (units.format_params, 12.0, "12"),
    ],
)
def test_format(formatter, value: float, text: str) -> None:
    assert formatter(value) == text


@pytest.mark.parametrize(
    ("formatter", "parser"),
    [
        (units.format_size, units.parse_size),
        (units.format_rate, units.parse_rate),
        (units.format_power, units.parse_power),
        (units.format_energy, units.parse_energy),
    ],
)
@settings(max_examples=60, deadline=None)
@given(value=st.floats(min_value=1.0, max_value=1e15, allow_nan=False, allow_infinity=False))
def test_format_parse_round_trip(formatter, parser, value: float) -> None:
    # Formatting keeps 3 significant digits, so the round trip is exact to 0.05 %.
    assert parser(formatter(value)) == pytest.approx(value, rel=5e-3)


@settings(max_examples=60, deadline=None)
@given(value=st.floats(min_value=1e-3, max_value=1e7, allow_nan=False, allow_infinity=False))
def test_duration_round_trip(value: float) -> None:
    # Minutes and hours are shown to the second / minute; days to 3 digits.
    back = units.parse_duration(units.format_duration(value))
    assert back == pytest.approx(value, rel=5e-3, abs=30.0)


@settings(max_examples=60, deadline=None)
@given(
    number=st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    prefix=st.sampled_from(["", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"]),
)
def test_parse_size_scales_by_the_prefix(number: float, prefix: str) -> None:
    factor = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
              "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[prefix]
    assert units.parse_size(f"{number!r}{prefix}B") == pytest.approx(number * factor)
    assert units.parse_rate(f"{number!r} {prefix}bit/s") == pytest.approx(number * factor)
