"""The Observation's guarded history and the Action types."""

from __future__ import annotations

import numpy as np
import pytest

from greenhop.core.errors import GreenhopError
from greenhop.core.observation import (
    PHASE_NAMES,
    LeakageError,
    Migrate,
    Place,
    Resume,
    SurplusHistory,
    Suspend,
)


def history(now_step=3, offset=2):
    data = np.arange(20.0).reshape(10, 2)  # steps -2 .. 7
    return SurplusHistory(data, offset=offset, now_step=now_step, dt_s=300.0)


def test_history_returns_the_past_read_only():
    h = history()
    assert h.first_step == -2
    past = h.slice(-2, 4)
    assert past.shape == (6, 2)
    assert past[-1].tolist() == [10.0, 11.0]   # step 3 = row 5
    with pytest.raises(ValueError):
        past[0, 0] = 1.0
    assert h.last(2).tolist() == [[8.0, 9.0], [10.0, 11.0]]
    assert h.at(3).tolist() == [10.0, 11.0]
    assert h.slice(-100, 0).shape == (2, 2)     # clipped to the first step


@pytest.mark.parametrize("ask", [lambda h: h.slice(0, 5), lambda h: h.at(4),
                                 lambda h: h.slice(4, 6)])
def test_history_refuses_the_future(ask):
    h = history()
    with pytest.raises(LeakageError, match="nothing after now"):
        ask(h)
    assert issubclass(LeakageError, GreenhopError)


def test_history_cannot_be_indexed_directly():
    with pytest.raises(TypeError, match="slice"):
        history()[5]


def test_actions_are_small_frozen_records():
    a = Migrate(3, "b")
    assert (a.job, a.dest) == (3, "b")
    with pytest.raises(AttributeError):
        a.job = 4  # type: ignore[misc]
    assert Suspend("j").job == "j" and Resume(1).job == 1 and Place(0, 2).site == 2
    assert PHASE_NAMES[2] == "running"
