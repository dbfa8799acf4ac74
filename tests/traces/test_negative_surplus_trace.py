"""A surplus trace (renewable - load) is negative wherever the load exceeds generation:
``windows --trace`` reads it (``read_trace(..., signed=True)``), and such steps have no
surplus, never inside a window; a power or intensity trace read plainly still refuses a
negative value."""

from __future__ import annotations

import json

import pytest

from greenhop.cli.main import main
from greenhop.core.errors import TraceError
from greenhop.traces.user_trace import read_trace

# hourly kW: -1 -1 5 5 5 4 3 9 -1 0 0 2, then a negative run and one step at 4
VALUES = [-1, -1, 5, 5, 5, 4, 3, 9, -1, 0, 0, 2, -3, -3, 4, -2]


def _csv(tmp_path, values=VALUES, column="surplus"):
    p = tmp_path / "surplus.csv"
    p.write_text(f"time,{column}\n" + "".join(
        f"2023-06-01T{h:02d}:00:00Z,{v}\n" for h, v in enumerate(values)))
    return p


def _windows(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(["windows", *map(str, args)])
    cap = capsys.readouterr()
    return exc.value.code, cap.out, " ".join(cap.err.split())


def test_a_signed_trace_keeps_negative_values_a_plain_one_refuses_them(tmp_path):
    p = _csv(tmp_path)
    s = read_trace(p, "surplus", "kW", signed=True)
    assert s.to_numpy().tolist() == [v * 1e3 for v in VALUES]
    assert s.attrs["signed"] is True
    with pytest.raises(TraceError, match="negative value -1 kW"):
        read_trace(p, "surplus", "kW")
    with pytest.raises(TraceError, match="only a power"):
        read_trace(p, "surplus", "gCO2/kWh", signed=True)
    huge = _csv(tmp_path, [1, -2e9, 1])  # -2e9 kW: 2 TW below zero
    with pytest.raises(TraceError, match="below zero, far above"):
        read_trace(huge, "surplus", "kW", signed=True)


@pytest.mark.parametrize("threshold, count, energy_kwh, hours", [
    ("4kW", 3, 19.0 + 9.0 + 4.0, 6.0),  # 5 5 5 4 | 9 | 4
    ("0W", 3, 31.0 + 2.0 + 4.0, 10.0),  # 5 5 5 4 3 9 | 0 0 2 | 4: zero counts, negatives never
])
def test_windows_reads_a_negative_surplus_as_no_surplus(tmp_path, capsys, threshold, count,
                                                        energy_kwh, hours):
    p = _csv(tmp_path)
    code, out, err = _windows(capsys, "--trace", p, "--column", "surplus", "--unit", "kW",
                              "--threshold", threshold, "--min-duration", "1h", "--json")
    assert code == 0, err
    st = json.loads(out)
    assert st["energy_kwh"] == pytest.approx(energy_kwh)
    assert st["count"] == count and st["total_h"] == pytest.approx(hours)
