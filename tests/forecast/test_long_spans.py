"""A refit period or calibration window longer than the series acts as the whole series,
however long (a huge one used to overflow the nanosecond arithmetic)."""

from __future__ import annotations

import numpy as np

from greenhop.forecast import calibrate, issue_forecasts

H = (3600.0, 7200.0)


def test_a_huge_refit_period_is_one_fit(pv_series) -> None:
    span_s = (pv_series.index[-1] - pv_series.index[0]).total_seconds()
    whole = issue_forecasts("persistence", pv_series, horizons_s=H, issue_every_s=3600.0,
                            refit_every_s=span_s)
    huge = issue_forecasts("persistence", pv_series, horizons_s=H, issue_every_s=3600.0,
                           refit_every_s=1e300)
    np.testing.assert_array_equal(whole.values, huge.values)


def test_a_huge_calibration_window_is_the_whole_history(pv_series) -> None:
    raw = issue_forecasts("persistence", pv_series, horizons_s=H, issue_every_s=3600.0)
    span_s = (pv_series.index[-1] - pv_series.index[0]).total_seconds()
    whole = calibrate(raw, pv_series, window_s=span_s)
    huge = calibrate(raw, pv_series, window_s=1e300)
    np.testing.assert_array_equal(whole.values, huge.values)
