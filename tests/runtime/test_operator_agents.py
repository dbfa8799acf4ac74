"""Three agents started as an operator would on three machines (here on loopback): each
``greenhop agent serve`` its own process with its own token file, TLS on with a CA made by
``greenhop agent tls``; the controller is given only their URLs. The run finishes with
final checkpoints identical (model, optimizer, scheduler, data position, RNG) to
uninterrupted runs; an unreachable agent URL is a one-line error before anything runs."""

from __future__ import annotations

import json
import subprocess

import pytest
from test_controller_kit import (
    CHAOS,
    STEPS,
    TRAIN_ARGS,
    db_jobs,
    different_components,
    greenhop_cmd,
    kill_all_under,
    processes_under,
    reference_weights,
    temp_leftovers,
)

from greenhop.runtime.auth import write_secret
from greenhop.workload import latest_complete

pytestmark = pytest.mark.slow
SITES = ("madrid-es", "tokyo-jp", "greensboro-nc")
SECRET = "operator-run-secret-" + "k" * 32




def test_three_operator_agents_with_tls_given_only_urls(tmp_path):
    refs_base = tmp_path.parent / "refs"
    reference_weights(refs_base, 4)
    tls = subprocess.run(greenhop_cmd("agent", "tls", str(tmp_path / "tls"),
                                      *[a for s in SITES for a in ("--site", s)]),
                         capture_output=True, text=True, timeout=60)
    assert tls.returncode == 0, tls.stderr
    made = json.loads(tls.stdout)
    work = tmp_path / "run"
    agents, urls = [], {}
    try:
        for site in SITES:
            machine = tmp_path / f"machine-{site}"           # what each operator holds
            machine.mkdir()
            token = write_secret(machine / "token", SECRET + "\n")
            root = work / "sites" / site
            root.mkdir(parents=True)
            proc = subprocess.Popen(greenhop_cmd(
                "agent", "serve", "--root", str(root), "--name", site, "--port", "0",
                "--token-file", str(token), "--tls-cert", made["sites"][site]["cert"],
                "--tls-key", made["sites"][site]["key"], "--tls-ca", made["ca"],
                "--rate", "1Mbps"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            agents.append(proc)
            url = proc.stdout.readline().strip()
            assert url.startswith("https://127.0.0.1:"), proc.stderr.read()
            urls[site] = url
        ctl_token = write_secret(tmp_path / "controller-token", SECRET + "\n")
        base = ["run", str(CHAOS), "--workdir", str(work), "--time-scale", "36000",
                "--step-sleep", "0.01", *TRAIN_ARGS, "--token-file", str(ctl_token),
                "--tls-ca", made["ca"]]
        # an unreachable URL: refused before anything starts
        bad = subprocess.run(greenhop_cmd(*base, "--agent", "tokyo-jp=https://127.0.0.1:1"),
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and "does not answer" in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr
        assert not (work / "run.db").exists() or all(
            j["phase"] == "pending" for j in db_jobs(work / "run.db"))
        run = subprocess.run(greenhop_cmd(*base, *[a for s in SITES for a in (
            "--agent", f"{s}={urls[s]}")]), capture_output=True, text=True, timeout=400)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "done:" in run.stderr
        rows = db_jobs(work / "run.db")
        assert all(r["phase"] == "done" for r in rows)
        moved = [r for r in rows if r["token"] > 1]
        assert moved, "no migration happened"
        for j, row in enumerate(rows):
            site = SITES[row["site"]] if isinstance(row["site"], int) else row["site"]
            final = latest_complete(work / "sites" / site / row["name"])
            assert final.name == f"step-{STEPS:09d}"
            assert different_components(final, latest_complete(refs_base / f"ref-{j}")) == [], \
                row["name"]
        assert temp_leftovers(work) == []
        # the agents are the operator's: still serving, and nobody got in without the secret
        assert all(p.poll() is None for p in agents)
    finally:
        errs = []
        for p in agents:
            p.terminate()
            try:
                errs.append(p.communicate(timeout=20)[1])
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        kill_all_under(work)
    assert not any("Traceback" in e for e in errs), errs
    assert processes_under(work) == {}
