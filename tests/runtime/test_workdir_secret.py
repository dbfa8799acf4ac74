"""A work directory's run secret outlives the commands run on it: a second `greenhop run`
(refused while one is live, or a resume) rewrote secrets/token, which a live run's agents
are checked against."""

from __future__ import annotations

from greenhop.runtime.executor import LocalExecutor


def test_the_work_directorys_token_is_kept_unless_one_is_given(tmp_path):
    first = LocalExecutor(tmp_path)
    token_file = tmp_path / "secrets" / "token"
    written = token_file.read_text()
    stamp = token_file.stat().st_mtime_ns
    again = LocalExecutor(tmp_path)
    assert again.token == first.token and token_file.read_text() == written
    assert token_file.stat().st_mtime_ns == stamp  # not even rewritten
    assert token_file.stat().st_mode & 0o077 == 0
    given = "g" * 40
    assert LocalExecutor(tmp_path, token=given).token == given
    assert token_file.read_text().strip() == given  # the one the run was given wins


def test_an_unusable_token_file_is_replaced_by_a_new_secret(tmp_path):
    (tmp_path / "secrets").mkdir(mode=0o700)
    (tmp_path / "secrets" / "token").write_text("short\n")
    ex = LocalExecutor(tmp_path)
    assert ex.token != "short" and len(ex.token) >= 32
    assert (tmp_path / "secrets" / "token").read_text().strip() == ex.token
