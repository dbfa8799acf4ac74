"""``greenhop workload run`` and ``greenhop workload inspect``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from greenhop.cli.main import app

runner = CliRunner()
FAST = ["--steps", "20", "--every", "5", "--quiet"]


def _inspect(path) -> dict:
    result = runner.invoke(app, ["workload", "inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_run_stop_by_control_file_resume_and_inspect(tmp_path) -> None:
    ref = runner.invoke(app, ["workload", "run", "mlp", "--ckpt-dir", str(tmp_path / "ref"), *FAST])
    assert ref.exit_code == 0, ref.output
    want = _inspect(tmp_path / "ref")
    assert want["step"] == 20 and want["finished"] and len(want["weights_sha256"]) == 64

    job = tmp_path / "job"
    job.mkdir()
    (job / "MIGRATE").touch()  # a migration request before the first step
    first = runner.invoke(app, ["workload", "run", "mlp", "--ckpt-dir", str(job), *FAST])
    assert first.exit_code == 75, first.output
    assert _inspect(job)["step"] == 1 and not (job / "MIGRATE").exists()
    second = runner.invoke(app, ["workload", "run", "mlp", "--ckpt-dir", str(job), *FAST])
    assert second.exit_code == 0, second.output
    got = _inspect(job)
    assert got["step"] == 20 and got["weights_sha256"] == want["weights_sha256"]
    table = runner.invoke(app, ["workload", "inspect", str(job)])
    assert table.exit_code == 0 and "weights_sha256" in table.stdout


def test_resuming_with_other_data_settings_is_a_usage_error(tmp_path) -> None:
    from greenhop.cli.main import main

    job = str(tmp_path / "job")
    assert runner.invoke(app, ["workload", "run", "mlp", "--ckpt-dir", job, *FAST]).exit_code == 0
    before = _inspect(job)
    with pytest.raises(SystemExit) as exc:
        main(["workload", "run", "mlp", "--ckpt-dir", job, "--steps", "40", "--seed", "5",
              "--quiet"])
    assert exc.value.code == 2
    assert _inspect(job) == before  # nothing written or removed


def test_tiny_lm_runs_and_reports(tmp_path) -> None:
    result = runner.invoke(
        app,
        [
            "workload",
            "run",
            "lm",
            "--ckpt-dir",
            str(tmp_path),
            "--steps",
            "3",
            "--width",
            "16",
            "--layers",
            "1",
            "--context",
            "16",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    info = _inspect(tmp_path)
    assert info["step"] == 3 and "optimizer" in info["components"]


def test_sigterm_to_the_cli_checkpoints_and_exits_75(tmp_path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "greenhop",
            "workload",
            "run",
            "mlp",
            "--ckpt-dir",
            str(tmp_path),
            "--steps",
            "100000",
            "--every",
            "5",
            "--step-sleep",
            "10ms",
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith("step-") for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 75, err
    assert "exit code 75" in err
    assert _inspect(tmp_path)["step"] >= 5


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["workload", "run", "nope", "--ckpt-dir", "x", "--steps", "1"], 2, "unknown workload"),
        (["workload", "inspect", "/nonexistent/dir"], 2, "does not exist"),
    ],
)
def test_bad_input_is_one_line_error(args, code, message, capsys) -> None:
    from greenhop.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == code
    assert message in capsys.readouterr().err


def test_inspect_empty_job_dir_is_a_runtime_error(tmp_path, capsys) -> None:
    from greenhop.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["workload", "inspect", str(tmp_path)])
    assert exc.value.code == 1
    assert "no complete checkpoint" in capsys.readouterr().err


def test_inspect_names_a_folder_called_step_n_without_nine_digits(tmp_path, capsys) -> None:
    """A folder ``step-1`` holding a manifest was "no complete checkpoint (step-* with a
    verified MANIFEST.json)", which it matches as written: greenhop's name is 9 digits."""
    from greenhop.cli.main import main

    odd = tmp_path / "job" / "step-1"
    odd.mkdir(parents=True)
    (odd / "MANIFEST.json").write_text("{bad")
    with pytest.raises(SystemExit) as exc:
        main(["workload", "inspect", str(odd)])
    err = " ".join(capsys.readouterr().err.split())
    assert exc.value.code == 2
    assert "step-1 is not named as a greenhop checkpoint" in err and "step-000000001" in err
    with pytest.raises(SystemExit) as exc:
        main(["workload", "inspect", str(odd.parent)])
    err = " ".join(capsys.readouterr().err.split())
    assert exc.value.code == 1 and "a step-NNNNNNNNN folder, 9 digits" in err
    assert "step-1 is not named as a greenhop checkpoint" in err


def test_a_checkpoint_skipped_as_corrupt_never_takes_the_place_of_a_verified_one(tmp_path):
    """The newest checkpoint is damaged; the run resumes from the one before it and saves
    more. `--keep 2` then keeps two *verified* checkpoints (the one it resumed from and the
    new one): the damaged one does not count as one of them (it used to, and the verified
    one it resumed from was deleted, leaving one good checkpoint), and it is left as it is."""
    job = tmp_path / "job"
    args = ["workload", "run", "mlp", "--ckpt-dir", str(job), "--quiet"]
    assert runner.invoke(app, [*args, "--steps", "15", "--every", "5", "--keep", "3"]
                         ).exit_code == 0
    bad = job / "step-000000015" / "model.safetensors"
    bad.write_bytes(os.urandom(100))
    again = runner.invoke(app, [*args, "--steps", "20", "--every", "10", "--keep", "2"])
    assert again.exit_code == 0, again.output
    left = sorted(p.name for p in job.glob("step-*"))
    assert left == ["step-000000010", "step-000000015", "step-000000020"], left
    assert bad.stat().st_size == 100  # the damaged one is left as it was
    for name in ("step-000000010", "step-000000020"):
        assert runner.invoke(app, ["workload", "inspect", str(job / name)]).exit_code == 0


def test_inspect_prints_every_digest_whole_in_a_narrow_terminal(tmp_path, capsys,
                                                                  monkeypatch) -> None:
    """The table cut weights_sha256 to "f780e1f1…eeb055…" at 80 columns (a digest cut
    cannot be compared between sites) and left out the per-file digests the docs list."""
    import torch

    from greenhop.cli.main import main
    from greenhop.workload import describe, save_checkpoint

    path = save_checkpoint(tmp_path / "job", 3, {"model": {"w": torch.arange(6.0)}})
    info = describe(path)
    monkeypatch.setenv("COLUMNS", "80")
    capsys.readouterr()
    with pytest.raises(SystemExit) as code:
        main(["workload", "inspect", str(path)])
    assert not code.value.code
    columns: dict[int, str] = {}  # each column's text, its folded lines joined
    for line in capsys.readouterr().out.splitlines():
        for i, cell in enumerate(line.split("│")[1:-1]):
            columns[i] = columns.get(i, "") + cell.strip()
    assert info["weights_sha256"] in columns[1]  # the summary's value column
    for rec in info["files"].values():  # the files table: file, size, sha256, blake3
        assert rec["sha256"] in columns[2] and rec["blake3"] in columns[3]
