"""``greenhop agent serve`` and ``greenhop transfer pull|push|list`` on 127.0.0.1."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from greenhop.cli.main import app, main  # noqa: E402
from greenhop.core.errors import ConfigError  # noqa: E402
from greenhop.runtime.agent import SiteAgent  # noqa: E402
from greenhop.workload import latest_complete, save_checkpoint, weights_sha256  # noqa: E402

runner = CliRunner()
TOKEN = "t" * 40


@pytest.fixture
def token_file(tmp_path):
    p = tmp_path / "token"
    p.write_text(TOKEN + "\n")
    p.chmod(0o600)
    return p


@pytest.fixture
def served(tmp_path, token_file):
    """An ``agent serve`` subprocess on a free port holding job ``job``; yields its URL."""
    root = tmp_path / "src"
    save_checkpoint(root / "job", 9, {"model": {"w": torch.arange(1000.0)}})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "greenhop",
            "agent",
            "serve",
            "--root",
            str(root),
            "--token-file",
            str(token_file),
            "--port",
            "0",
            "--rate",
            "50Mbps",
            "--latency",
            "5ms",
            "--idle-timeout",
            "30s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read()
        yield url, root
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_list_pull_and_push_through_the_cli(served, tmp_path, token_file) -> None:
    url, root = served
    tok = ["--token-file", str(token_file)]
    denied = runner.invoke(app, ["transfer", "list", url, "job"])
    assert denied.exit_code == 1 and "answered 401" in str(denied.exception)
    listed = runner.invoke(app, ["transfer", "list", url, "job", *tok])
    assert listed.exit_code == 0 and json.loads(listed.stdout)[0]["name"] == "step-000000009"
    pulled = runner.invoke(app, ["transfer", "pull", url, "job", str(tmp_path / "dst"), "--json",
                                 *tok])
    assert pulled.exit_code == 0, pulled.output
    summary = json.loads(pulled.stdout)
    assert summary["step"] == 9 and summary["received_bytes"] == summary["total_bytes"]
    want = weights_sha256(latest_complete(root / "job"))
    assert weights_sha256(latest_complete(tmp_path / "dst")) == want
    with SiteAgent(tmp_path / "site-c", idle_timeout_s=30, token=TOKEN) as dest:
        refused = runner.invoke(app, ["transfer", "push", "job", "--from", url, "--to", dest.url,
                                      *tok])
        assert refused.exit_code == 1
        assert "not one of this run's agents" in str(refused.exception)
        assert dest.stats.refused  # and logged
        # what the controller registers (PUT /v1/peers), by hand
        bad = runner.invoke(app, ["transfer", "peers", dest.url, "--peer", "ftp://x", *tok])
        assert isinstance(bad.exception, ConfigError)  # exit 2 through main
        assert "'ftp://x' must look like https://host:port" in str(bad.exception)
        assert dest.peers == set()  # nothing sent
        told = runner.invoke(app, ["transfer", "peers", dest.url, "--peer", url, *tok])
        assert told.exit_code == 0, told.output
        assert dest.peers == {url}
        pushed = runner.invoke(app, ["transfer", "push", "job", "--from", url, "--to", dest.url,
                                     *tok])
        assert pushed.exit_code == 0, pushed.output
    assert weights_sha256(latest_complete(tmp_path / "site-c" / "job")) == want


def test_pull_from_nowhere_is_a_one_line_runtime_error(tmp_path, capsys) -> None:
    with SiteAgent(tmp_path) as agent:
        port = agent.port
    with pytest.raises(SystemExit) as exc:
        main(["transfer", "pull", f"http://127.0.0.1:{port}", "job", str(tmp_path / "d"), "-q"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "cannot reach the agent" in err and "Traceback" not in err


def test_bad_rate_and_job_names_are_usage_errors(tmp_path, capsys, token_file) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["agent", "serve", "--root", str(tmp_path), "--rate", "fast", "--token-file",
              str(token_file)])
    assert exc.value.code == 2 and "cannot parse rate" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["agent", "serve", "--root", str(tmp_path), "--rate", "0Gbps", "--token-file",
              str(token_file)])
    assert exc.value.code == 2 and "--rate: must be more than 0 bit/s" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["agent", "serve", "--root", str(tmp_path), "--name", "../x", "--token-file",
              str(token_file)])
    assert exc.value.code == 2 and "--name: invalid site name '../x'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["agent", "tls", str(tmp_path / "tls"), "--site", "a", "--site", "a"])
    assert exc.value.code == 2 and "--site: 'a' is given twice" in capsys.readouterr().err
    assert not (tmp_path / "tls").exists()
    with pytest.raises(SystemExit) as exc:
        main(["transfer", "pull", "http://127.0.0.1:1", "../etc", str(tmp_path)])
    assert exc.value.code == 2 and "invalid job name" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["no-root", "root-is-file", "no-token", "token-dir", "short",
                                  "readable", "no-cert"])
def test_agent_serve_with_a_missing_root_or_token_file_is_a_one_line_error(
        tmp_path, capsys, token_file, case) -> None:
    root, tok = tmp_path / "site", token_file
    root.mkdir()
    extra: list[str] = []
    if case == "no-root":
        root = tmp_path / "nope"
    elif case == "root-is-file":
        root = token_file
    elif case == "no-token":
        tok = tmp_path / "missing-token"
    elif case == "token-dir":
        tok = tmp_path
    elif case == "short":
        tok = tmp_path / "short"
        tok.write_text("abc\n")
    elif case == "readable":  # a good secret others can read: no secret
        tok.chmod(0o644)
    else:
        extra = ["--tls-cert", str(tmp_path / "c.pem"), "--tls-key", str(tmp_path / "k.pem")]
    with pytest.raises(SystemExit) as exc:
        main(["agent", "serve", "--root", str(root), "--token-file", str(tok), "--port", "0",
              *extra])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 3, err  # one message (rich may wrap it)
    if case == "readable":
        assert "chmod 600" in " ".join(err.split()), err


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o700])
def test_a_token_file_others_can_read_or_change_is_refused_and_left_alone(tmp_path, mode):
    from greenhop.core.errors import ConfigError
    from greenhop.runtime.auth import read_token_file

    tok = tmp_path / "token"
    tok.write_text(TOKEN + "\n")
    tok.chmod(mode)
    if mode & 0o077:
        with pytest.raises(ConfigError, match=f"--serve-token-file {tok}: other users.*"
                                              f"mode {mode:04o}.*chmod 600"):
            read_token_file(tok, "--serve-token-file")
        assert stat.S_IMODE(tok.stat().st_mode) == mode      # not changed behind the user
    else:
        assert read_token_file(tok) == TOKEN


@pytest.mark.parametrize("secret", ["a" * 35 + "\x01", "a" * 16 + "\x7f" + "a" * 16])
def test_a_token_with_a_control_character_is_refused(tmp_path, secret):
    """No client can send a control character in a header, so no request would ever match
    such a token: refused when the file is read, as the docs' "printable" says."""
    from greenhop.core.errors import ConfigError
    from greenhop.runtime.auth import read_token_file

    tok = tmp_path / "token"
    tok.write_text(secret + "\n")
    tok.chmod(0o600)
    with pytest.raises(ConfigError, match=f"--token-file {tok}: .*printable ASCII"):
        read_token_file(tok)


def test_agent_beyond_loopback_needs_tls(tmp_path, capsys, token_file) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["agent", "serve", "--root", str(tmp_path), "--token-file", str(token_file),
              "--host", "0.0.0.0", "--port", "0"])
    assert exc.value.code == 2 and "--tls-cert" in capsys.readouterr().err
