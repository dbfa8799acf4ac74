"""The CLI's composition root: version, help, and how errors become exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_the_command_list_shows_each_summary_as_one_sentence_not_cut_at_its_line_breaks():
    """A docstring's first paragraph spans lines; the list of commands in ``--help`` must
    not break it there (Typer's list kept the breaks: "within alpha x the window," ended
    a row of its own)."""
    import os

    result = subprocess.run([sys.executable, "-m", "greenhop", "--help"], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "COLUMNS": "400"})
    assert result.returncode == 0
    rows = [line.strip("│ ").strip() for line in result.stdout.splitlines()]
    feasibility = next(r for r in rows if r.startswith("feasibility "))
    assert feasibility.endswith("within alpha x the window, and does the move pay back its "
                                "energy?")
    sweep = next(r for r in rows if r.startswith("sweep "))
    assert "parameter grid (on Ray); write every cell" in sweep


def test_a_commands_help_wraps_each_paragraph_whole_with_no_stub_at_its_source_lines():
    """At 80 columns a docstring line longer than the terminal used to leave a stub of one
    or two words on a row of its own ("... justified when" / "the payback time ...")."""
    import os

    result = subprocess.run([sys.executable, "-m", "greenhop", "feasibility", "--help"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "COLUMNS": "80"})
    text = " ".join(result.stdout.split())
    assert "alpha x window; justified when the payback time" in text
    rows = [line.strip() for line in result.stdout.splitlines()]
    assert "justified when" not in rows and "takes at" not in rows


def test_reflowed_joins_prose_paragraphs_and_keeps_lists_code_and_the_help_cut() -> None:
    from greenhop.cli.plain_help import reflowed

    doc = """First line
    goes on.

    Prose that
    continues here.

    - an item
    - another

    Example:
        greenhop simulate
    \f
    hidden
    tail"""
    assert reflowed(doc) == ("First line goes on.\n\nProse that continues here.\n\n"
                             "- an item\n- another\n\nExample:\n    greenhop simulate\n"
                             "\f\nhidden\ntail")
    assert reflowed(None) is None and reflowed("") == ""


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


@pytest.mark.parametrize(("args", "said"), [
    (("sweep", "--seeds", "1", "--out", ""), "--out: empty value"),
    (("sweep", "--out="), "--out: empty value"),
    (("simulate", "--out", ""), "--out: empty value"),
    # a positional argument: its place and the command before it
    (("bound", ""), "argument 2 (bound ...) is empty; give a value"),
])
def test_an_empty_argument_is_refused_not_read_as_the_current_folder(capsys, tmp_path,
                                                                     monkeypatch, args, said):
    # Path("") is "."; before, `sweep --out ""` wrote its cells into the current folder
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli_main.main(list(args))
    err = capsys.readouterr().err
    assert info.value.code == 2 and said in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_an_output_folder_whose_subfolder_cannot_be_written_is_refused(tmp_path, monkeypatch):
    import tempfile

    from greenhop.cli.paths import output_dir
    from greenhop.core.errors import ConfigError

    (tmp_path / "cells").mkdir()
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # root writes anywhere: the kernel's answer
        if dir is not None and Path(dir).name == "cells":
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    with pytest.raises(ConfigError, match=r"--out .*: cannot write in .*cells "
                                          r"\(Permission denied\)"):
        output_dir(tmp_path, "--out")


def test_the_cli_starts_without_pandas_or_the_simulator() -> None:
    """`greenhop --help` and every command's parsing imported the simulator and pandas
    (0.8 s before any work; a Ctrl-C in it printed an import traceback): they are imported
    by the commands that use them."""
    probe = ("import sys, greenhop.cli.main; "
             "print(sorted(m for m in ('pandas', 'greenhop.sim', 'torch', 'ray') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_ctrl_c_while_the_command_line_loads_is_aborted_not_a_traceback() -> None:
    """A Ctrl-C in the quarter second the console script spends importing typer and rich
    printed an import traceback; it ends as one during a command: one line, exit 130.
    The interrupt is raised where the import would be (a finder for the CLI module)."""
    probe = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'greenhop.cli.main':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from greenhop.cli import entry\n"
        "entry()\n")
    out = subprocess.run([sys.executable, "-c", probe, "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 130, out
    assert out.stderr.strip() == "interrupted: greenhop stopped (Ctrl-C)"
    assert out.stdout == ""


def test_a_ctrl_c_during_a_command_says_so_and_exits_130(monkeypatch, capsys) -> None:
    """A Ctrl-C in a command's first seconds (a sweep reading its scenario) ended it with
    exit 130 and no word at all."""
    import greenhop.sim.sweep

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(greenhop.sim.sweep, "prepare_sweep", interrupted)
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["sweep", "default", "--seeds", "1", "--serial"])
    assert exc.value.code == 130
    assert capsys.readouterr().err.strip() == "interrupted: greenhop sweep stopped (Ctrl-C)"
