"""The one naming rule for jobs and sites (greenhop.core.names), as the runtime uses it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenhop.core.errors import ConfigError
from greenhop.core.names import MAX_NAME_CHARS, check_name, is_valid_name
from greenhop.runtime.agent import check_job_name
from greenhop.runtime.executor import LocalExecutor

SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@given(st.text(max_size=80))
def test_a_valid_name_is_exactly_one_safe_ascii_path_component(name):
    ok = is_valid_name(name)
    assert ok == (SAFE.fullmatch(name) is not None and name.isascii() and ".." not in name)
    if ok:
        assert "/" not in name and "\n" not in name and not name.startswith(".")
        assert len(name) <= MAX_NAME_CHARS


@pytest.mark.parametrize("bad", ["../../escape", "job-a\n", "job-\u0661", "a/b", ".hidden",
                                 "..", ".", "", "x" * 65, "a..b", "jöb", "job a", "-x"])
def test_names_that_are_paths_or_tricks_are_refused_everywhere(bad, tmp_path):
    with pytest.raises(ConfigError, match="invalid job name"):
        check_name("job", bad, "scenario jobs[0]")
    with pytest.raises(ConfigError):
        check_job_name(bad)
    ex = LocalExecutor(tmp_path)
    with pytest.raises(ConfigError):
        ex.job_dir(bad, "site-a")
    with pytest.raises(ConfigError):
        ex.job_dir("job-a", bad)
    assert {p.name for p in tmp_path.iterdir()} <= {"logs", "secrets"}


def test_the_message_says_what_and_where():
    with pytest.raises(ConfigError) as exc:
        check_name("site", "../x", "live.toml: sites[2]")
    msg = str(exc.value)
    assert msg.startswith("live.toml: sites[2]: invalid site name '../x'")
    assert "\n" not in msg
