"""Faults a read-only probe found in the agent and the transfer: a bad file of the newest
source checkpoint, malformed IPv6 URLs, inverted ranges, two pulls of one checkpoint at
once, a staging file changed before the commit. Real agents on 127.0.0.1, real files."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from greenhop.cli.main import main
from greenhop.core.errors import TransferError
from greenhop.runtime.agent import SiteAgent
from greenhop.runtime.agent_client import list_remote
from greenhop.runtime.transfer import fetch_via, pull_checkpoint
from greenhop.workload import latest_complete, save_checkpoint, weights_sha256

torch = pytest.importorskip("torch")

CHUNK_BYTES = 128 * 1024  # as in conftest.py
LIVE = Path(__file__).resolve().parents[2] / "src/greenhop/data/scenarios/live-3site.toml"


@pytest.fixture
def two_steps(tmp_path):
    """``(root, older, newer)``: job ``job`` with checkpoints at steps 25 and 50 (~400 kB)."""
    g = torch.Generator().manual_seed(1)
    root = tmp_path / "src"
    older = save_checkpoint(root / "job", 25, {"model": {"w": torch.randn(100_000, generator=g)}})
    newer = save_checkpoint(root / "job", 50, {"model": {"w": torch.randn(100_000, generator=g)}})
    return root, older, newer


def _spoil(f, how: str) -> None:
    data = f.read_bytes()
    if how == "longer":
        f.write_bytes(data + b"\0" * 3)
    elif how == "shorter":
        f.write_bytes(data[:-CHUNK_BYTES // 2])
    elif how == "shorter-by-a-chunk":  # ends on a chunk boundary of what it should be
        f.write_bytes(data[:-(len(data) % CHUNK_BYTES or CHUNK_BYTES)])
    elif how == "missing":
        f.unlink()
    elif how == "symlink":
        copy = f.with_name("elsewhere.bin")
        copy.write_bytes(data)
        f.unlink()
        f.symlink_to(copy)


@pytest.mark.parametrize("how", ["longer", "shorter", "shorter-by-a-chunk", "missing",
                                 "symlink"])
def test_a_bad_file_of_the_newest_checkpoint_falls_back_to_the_older(tmp_path, two_steps, how):
    root, older, newer = two_steps
    with SiteAgent(root) as agent:
        recorded = [e["manifest_sha256"] for e in list_remote(agent.url, "job")]
        _spoil(newer / "model.safetensors", how)
        res = pull_checkpoint(agent.url, "job", tmp_path / "dst" / "job", accept=recorded,
                              chunk_bytes=CHUNK_BYTES, max_retries=2)
    assert res.step == 25
    assert any(e.startswith(f"skipped {newer.name}") and "corrupt at rest" in e
               for e in res.events), res.events
    assert weights_sha256(latest_complete(tmp_path / "dst" / "job")) == weights_sha256(older)
    assert sorted(p.name for p in (tmp_path / "dst" / "job").iterdir()) == [older.name]


def test_a_failed_pull_leaves_no_empty_job_directory(tmp_path, two_steps):
    root, older, newer = two_steps
    for path in (older, newer):
        _spoil(path / "model.safetensors", "longer")
    with SiteAgent(root) as agent, pytest.raises(TransferError, match="no intact checkpoint"):
        pull_checkpoint(agent.url, "job", tmp_path / "dst" / "job", chunk_bytes=CHUNK_BYTES)
    assert not (tmp_path / "dst" / "job").exists()


def test_a_file_not_its_manifest_size_is_409_and_an_inverted_range_416(two_steps):
    root, _, newer = two_steps
    url = f"/v1/jobs/job/checkpoints/{newer.name}/model.safetensors"
    with SiteAgent(root) as agent, httpx.Client(base_url=agent.url, timeout=10) as client:
        r = client.get(url, headers={"Range": "bytes=5-2"})
        assert r.status_code == 416, r.status_code
        assert client.get(url, headers={"Range": "bytes=2-5"}).status_code == 206
        _spoil(newer / "model.safetensors", "longer")
        r = client.get(url)
        assert r.status_code == 409 and "corrupt at rest" in r.json()["error"]


BAD_URL = "http://[::1"


def test_a_malformed_ipv6_url_is_400_from_the_agent(two_steps):
    root, _, _ = two_steps
    with SiteAgent(root) as agent, httpx.Client(base_url=agent.url, timeout=10) as client:
        r = client.put("/v1/peers", json={"urls": [BAD_URL]})
        assert r.status_code == 400 and BAD_URL in r.json()["error"], r.text
        r = client.post("/v1/jobs/job/fetch", json={"source": BAD_URL})
        assert r.status_code == 400 and BAD_URL in r.json()["error"], r.text


@pytest.mark.parametrize("argv", [
    ["transfer", "peers", BAD_URL, "--peer", "http://127.0.0.1:9"],
    ["transfer", "peers", "http://127.0.0.1:9", "--peer", BAD_URL],
    ["transfer", "list", BAD_URL, "job"],
    ["run", "SCENARIO", "--agent", f"madrid-es={BAD_URL}", "--db", "DB"],
])
def test_a_malformed_ipv6_url_is_one_line_exit_2_from_the_cli(tmp_path, capsys, argv):
    subst = {"SCENARIO": str(LIVE), "DB": str(tmp_path / "r" / "run.db")}
    with pytest.raises(SystemExit) as exc:
        main([subst.get(a, a) for a in argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert repr(BAD_URL) in err
    assert not (tmp_path / "r" / "run.db").exists()


def test_two_pulls_of_one_checkpoint_into_one_agent_both_succeed(tmp_path, two_steps):
    root, _, newer = two_steps
    with SiteAgent(root, rate_bps=4e6) as a, SiteAgent(tmp_path / "b") as b, \
            ThreadPoolExecutor(2) as pool:
        both = [pool.submit(fetch_via, b.url, a.url, "job") for _ in range(2)]
        results = [f.result(timeout=60) for f in both]
    assert [r["step"] for r in results] == [50, 50]
    assert sorted(r["skipped"] for r in results) == [False, True]  # the second waited
    assert weights_sha256(latest_complete(tmp_path / "b" / "job")) == weights_sha256(newer)
    assert sorted(p.name for p in (tmp_path / "b" / "job").iterdir()) == [newer.name]
