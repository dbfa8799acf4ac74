"""``compare``'s percentage of B when ``100 x (A - B)`` is past the largest float: A = 523.9,
B = 1e308 is -100.0 %, not n/a; n/a stays for what has no percentage."""

from __future__ import annotations

import pytest

from greenhop.cli.compare import _diff_mark, _diff_pct


@pytest.mark.parametrize("a, b, pct", [
    (523.9, 1e308, -100.0),
    (-1e308, 1e308, -200.0),
    (1e308, -1e308, 200.0),
    (1.7e308, 1e308, 70.0),
    (110.0, 100.0, 10.0),
    (5, 4, 25.0),
])
def test_the_percentage_does_not_overflow(a, b, pct):
    assert _diff_pct(a, b) == pytest.approx(pct)
    assert _diff_mark(a, b, _diff_pct(a, b)) == f"{pct:+.1f}%"


def test_no_percentage_stays_n_a():
    assert _diff_pct(1.0, 0.0) is None and _diff_mark(1.0, 0.0, None) == "n/a (B = 0)"
    assert _diff_pct(None, 1.0) is None and _diff_pct(1.0, None) is None
    assert _diff_pct(True, False) is None
    assert _diff_pct(1e300, 1e-300) is None  # 1e602 %: no float holds it
    assert _diff_pct(0.0, 0.0) == 0.0 and _diff_pct(-2.0, -1.0) == -100.0
