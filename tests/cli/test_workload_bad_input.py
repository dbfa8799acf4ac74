"""Bad input to ``greenhop workload``, ``diloco``, ``agent`` and ``transfer``: exit code 2 and
one line naming the option or file, never a traceback, and nothing stored is lost."""

from __future__ import annotations

import hashlib
import json

import pytest
from clikit import one_line_error, run

torch = pytest.importorskip("torch")

from greenhop.workload import TrainingSession  # noqa: E402
from greenhop.workload.reference.run import RunOptions, build  # noqa: E402

TINY_LM = ["--width", "16", "--layers", "1", "--context", "16"]



def _digests(folder) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _workload(capsys, *args: str) -> tuple[int, str, str]:
    return run(capsys, "workload", "run", *args, "--quiet")


# --- workload run: option values ------------------------------------------------------------

@pytest.mark.parametrize(("option", "value"), [
    ("--seed", "-1"), ("--seed", "99999999999"), ("--width", "-4"), ("--width", "6"),
    ("--context", "100000000"), ("--context", "0"), ("--layers", "0"), ("--layers", "-1"),
    ("--scale", "1e30"), ("--scale", "nan"), ("--threads", "99999999999"),
    ("--batch-size", "100000"), ("--step-sleep", "1e300h"),
])
def test_workload_run_refuses_an_option_out_of_range_before_any_work(capsys, tmp_path, option,
                                                                     value) -> None:
    code, _, err = _workload(capsys, "lm", "--ckpt-dir", str(tmp_path / "ck"), "--steps", "1",
                             f"{option}={value}")
    one_line_error(code, err, option)
    assert not (tmp_path / "ck").exists()


def test_workload_run_refuses_a_model_too_big_in_all(capsys, tmp_path) -> None:
    code, _, err = _workload(capsys, "lm", "--ckpt-dir", str(tmp_path / "ck"), "--steps", "1",
                             "--width", "4096", "--layers", "64")
    one_line_error(code, err, "--width", "--layers", "parameters")


def test_run_options_tell_not_given_from_zero() -> None:
    from greenhop.core.errors import ConfigError
    from greenhop.workload.reference.run import lm_config

    assert lm_config(RunOptions(steps=1)).layers == 4  # not given: the default
    assert lm_config(RunOptions(steps=1, layers=2, context=8)).context == 8
    with pytest.raises(ConfigError, match="--layers"):
        RunOptions(steps=1, layers=0)


def test_workload_run_ckpt_dir_that_is_a_file_is_refused_and_kept(capsys, tmp_path) -> None:
    existing = tmp_path / "kx"
    existing.write_text("kept\n")
    code, _, err = _workload(capsys, "mlp", "--ckpt-dir", str(existing), "--steps", "1")
    one_line_error(code, err, "--ckpt-dir", "is a file")
    assert existing.read_text() == "kept\n"


def test_the_lm_shape_options_are_refused_for_the_mlp(capsys, tmp_path) -> None:
    d = tmp_path / "job"
    code, _, err = _workload(capsys, "mlp", "--ckpt-dir", str(d), "--steps", "1",
                             "--width", "64", "--layers", "2")
    one_line_error(code, err, "--width, --layers: only the lm workload has these options")
    assert not d.exists() or not any(d.iterdir())


# --- workload run: a checkpoint directory of another model ----------------------------------

@pytest.fixture
def lm_dir(tmp_path):
    """A job directory holding one finished checkpoint of a tiny LM (width 16)."""
    d = tmp_path / "lm"
    code = _run_quietly(["workload", "run", "lm", "--ckpt-dir", str(d), "--steps", "1",
                         *TINY_LM, "--quiet"])
    assert code == 0
    return d


def _run_quietly(argv: list[str]) -> int:
    from greenhop.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code or 0


@pytest.mark.parametrize(("args", "said"), [
    (["mlp"], ("model lm (", "resume as mlp (")),
    (["lm", "--width", "32", "--layers", "1", "--context", "16"], ("width 16", "width 32")),
])
def test_resuming_another_models_checkpoint_is_one_line_and_leaves_it(capsys, lm_dir, args,
                                                                       said) -> None:
    capsys.readouterr()
    before = _digests(lm_dir)
    code, _, err = _workload(capsys, *args, "--ckpt-dir", str(lm_dir), "--steps", "3")
    line = one_line_error(code, err, "--ckpt-dir", *said)
    assert len(line) < 300
    assert _digests(lm_dir) == before


def test_a_checkpoint_without_model_config_that_does_not_fit_is_summarised(capsys,
                                                                           tmp_path) -> None:
    """A checkpoint from before ``model_config`` was recorded: torch's key dump (thousands
    of characters) becomes one short line."""
    opts = RunOptions(steps=1, width=16, layers=1, context=16)
    model, optimizer, scheduler, sampler, step = build("lm", opts)
    step()
    old = tmp_path / "old"
    TrainingSession(old, model=model, optimizer=optimizer, scheduler=scheduler,
                    loader=sampler).save(1)
    before = _digests(old)
    code, _, err = _workload(capsys, "lm", "--ckpt-dir", str(old), "--steps", "2",
                             "--width", "32", "--layers", "1", "--context", "16")
    line = one_line_error(code, err, "--ckpt-dir", "does not fit", "size mismatch")
    assert len(line) < 400
    assert _digests(old) == before


# --- corrupt checkpoints: inspect and resume ------------------------------------------------

def _flip(path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "hash": lambda step: _flip(step / "model.safetensors"),
    "truncated": lambda step: (step / "model.safetensors").write_bytes(b"\0" * 100),
    "manifest-not-json": lambda step: (step / "MANIFEST.json").write_text("{not json"),
    "manifest-missing": lambda step: (step / "MANIFEST.json").unlink(),
}


@pytest.fixture
def mlp_job(tmp_path):
    """A job directory with checkpoints of steps 1 and 2 of the mlp."""
    d = tmp_path / "job"
    assert _run_quietly(["workload", "run", "mlp", "--ckpt-dir", str(d), "--steps", "2",
                         "--every", "1", "--quiet"]) == 0
    return d


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_inspect_a_corrupt_checkpoint_exits_2_naming_it(capsys, mlp_job, kind) -> None:
    step = mlp_job / "step-000000002"
    CORRUPTIONS[kind](step)
    capsys.readouterr()
    code, _, err = run(capsys, "workload", "inspect", str(step))
    one_line_error(code, err, str(step))


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_inspect_a_job_warns_about_the_corrupt_newest_step(capsys, mlp_job, kind) -> None:
    CORRUPTIONS[kind](mlp_job / "step-000000002")
    capsys.readouterr()
    code, out, err = run(capsys, "workload", "inspect", str(mlp_job), "--json")
    assert code == 0, err
    assert json.loads(out)["step"] == 1
    warnings = [line for line in err.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("warning: skipping step-000000002")


@pytest.mark.parametrize("kind", ["hash", "manifest-not-json"])
def test_run_skips_a_corrupt_newest_step_and_keeps_it(capsys, mlp_job, kind) -> None:
    corrupt = mlp_job / "step-000000002"
    CORRUPTIONS[kind](corrupt)
    kept = _digests(corrupt)
    capsys.readouterr()
    code, _, err = _workload(capsys, "mlp", "--ckpt-dir", str(mlp_job), "--steps", "3",
                             "--keep", "5")
    assert code == 0, err
    assert "skipping step-000000002" in err and "resumed from" in err
    assert _digests(corrupt) == kept


def test_inspect_a_file_exits_2(capsys, tmp_path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x\n")
    code, _, err = run(capsys, "workload", "inspect", str(a_file))
    one_line_error(code, err, str(a_file), "is a file")


# --- diloco -----------------------------------------------------------------------------------

def test_diloco_without_sites_names_the_option(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "diloco", str(tmp_path / "dl1"), "--sites", "")
    one_line_error(code, err, "--sites")
    assert not (tmp_path / "dl1").exists()


@pytest.mark.parametrize(("args", "names"), [
    (["--sites", ",a"], ["--sites", "an empty entry"]),
    (["--sites", "a,a"], ["--sites", "named twice"]),
    (["--placement", "a,b"], ["--placement", "names 2 sites for 3 workers"]),
    (["--placement", "a,zz,b"], ["--placement", "'zz'"]),
    (["--placement", "a,,b"], ["--placement", "an empty entry"]),
    (["--move", "1:0:zz"], ["--move 1:0:zz", "'zz' is not one of"]),
    (["--move", "1:9:b"], ["--move 1:9:b", "workers are 0..2"]),
    (["--move", "99:0:b"], ["--move 99:0:b", "outer step must be in 1..9"]),
    (["--move", "2:0:b", "--move", "2:0:c"], ["--move 2:0:c", "moves twice"]),
])
def test_a_bad_diloco_plan_names_its_option_and_writes_nothing(capsys, tmp_path, args,
                                                              names) -> None:
    """The plan's checks named `placement` or `move of worker 0`, not the option; `,a`
    ran on one site."""
    code, _, err = run(capsys, "diloco", str(tmp_path / "dl1"), *args)
    one_line_error(code, err, *names)
    assert not (tmp_path / "dl1").exists()


def test_diloco_root_that_is_a_file_is_refused_and_kept(capsys, tmp_path) -> None:
    existing = tmp_path / "some_file"
    existing.write_text("kept\n")
    code, _, err = run(capsys, "diloco", str(existing))
    one_line_error(code, err, "RUN_DIR", "is a file")
    assert existing.read_text() == "kept\n"


# --- agent serve and transfer -----------------------------------------------------------------

@pytest.fixture
def token_file(tmp_path):
    p = tmp_path / "token"
    p.write_text("t" * 40 + "\n")
    p.chmod(0o600)
    return p


@pytest.mark.parametrize("value", ["1e300h", "0s", "2d"])
def test_transfer_pull_timeout_must_be_above_0_and_at_most_a_day(capsys, tmp_path,
                                                                 value) -> None:
    code, _, err = run(capsys, "transfer", "pull", "http://127.0.0.1:9", "job",
                       str(tmp_path / "dest"), "--timeout", value, "--quiet")
    one_line_error(code, err, "--timeout")
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("verb", ["pull", "push"])
def test_transfer_a_bad_checkpoint_name_is_refused_before_anything_is_drawn(capsys, tmp_path,
                                                                           verb) -> None:
    """pull drew its progress bar (and made DEST) before the name was refused."""
    dest = tmp_path / "dest"
    args = (["pull", "http://127.0.0.1:9", "job", str(dest)] if verb == "pull" else
            ["push", "job", "--from", "http://127.0.0.1:9", "--to", "http://127.0.0.1:10"])
    code, _, err = run(capsys, "transfer", *args, "--checkpoint", "step-1")
    one_line_error(code, err, "checkpoint name 'step-1' must be 'latest' or step-NNNNNNNNN")
    assert "bytes" not in err and not dest.exists()


@pytest.mark.parametrize("value", ["1e300h", "2min"])
def test_agent_serve_latency_is_bounded(capsys, tmp_path, token_file, value) -> None:
    (tmp_path / "site").mkdir()
    code, _, err = run(capsys, "agent", "serve", "--root", str(tmp_path / "site"),
                       "--token-file", str(token_file), "--port", "0", "--latency", value,
                       "--idle-timeout", "1s")  # without the check it stops by itself
    one_line_error(code, err, "--latency")


@pytest.mark.parametrize("command", [
    ["agent", "serve", "--root", "{site}", "--token-file", "{token}", "--port", "0",
     "--idle-timeout", "1s"],
    ["transfer", "pull", "http://127.0.0.1:9", "job", "{dest}", "--quiet"],
    ["transfer", "list", "http://127.0.0.1:9", "job"],
])
def test_a_tls_ca_that_is_not_a_pem_certificate_is_refused(capsys, tmp_path, token_file,
                                                           command) -> None:
    (tmp_path / "site").mkdir()
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    args = [a.format(site=tmp_path / "site", token=token_file, dest=tmp_path / "dest")
            for a in command]
    code, _, err = run(capsys, *args, "--tls-ca", str(ca))
    one_line_error(code, err, "--tls-ca", "not a PEM certificate")


def test_agent_serve_root_that_is_a_file_says_so(capsys, tmp_path, token_file) -> None:
    root = tmp_path / "root"
    root.write_text("kept\n")
    code, _, err = run(capsys, "agent", "serve", "--root", str(root), "--token-file",
                       str(token_file))
    one_line_error(code, err, "--root", "is a file")
    assert root.read_text() == "kept\n"
