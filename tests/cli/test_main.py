"""The CLI's composition root: version, help, and how errors become exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

import greenhop
from greenhop.cli import main as cli_main
from greenhop.core.errors import ConfigError, TransferError


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "greenhop", *args], capture_output=True, text=True, timeout=120
    )


def test_version_prints_the_package_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"greenhop {greenhop.__version__}"


def test_every_registered_command_has_help() -> None:
    for name in cli_main.COMMAND_MODULES:
        __import__(name)
    result = run_cli("--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("error", "code"), [(ConfigError("bad key x"), 2),
                                             (ConfigError("add a [[sites]] table"), 2),
                                             (TransferError("link dropped"), 1)])
def test_greenhop_errors_become_one_line_and_exit_code(capsys, error, code) -> None:
    def failing_app(*args, **kwargs):
        raise error

    with pytest.raises(SystemExit) as info:
        cli_main.main([], application=failing_app)
    assert info.value.code == code
    err = capsys.readouterr().err
    assert str(error) in err and "Traceback" not in err and err.count("\n") == 1


def test_a_full_disk_is_one_line_naming_the_file_and_other_os_errors_stay_loud(capsys):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "out/report.html")

    with pytest.raises(SystemExit) as info:
        cli_main.main([], application=full)
    err = " ".join(capsys.readouterr().err.split())
    assert info.value.code == 1
    assert "no space left on the device writing out/report.html" in err
    assert "run the same command again" in err and "Traceback" not in err

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "x")

    with pytest.raises(PermissionError):  # a bug or a case to handle where it happens
        cli_main.main([], application=denied)
