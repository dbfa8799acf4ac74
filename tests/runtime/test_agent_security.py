"""The agent under attack: no token, a wrong token, rogue sources, foreign checkpoints,
garbage in staging, malformed and oversized requests, many slow clients. The agents are
real processes (``python -m greenhop.runtime.siteproc``) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from greenhop.core.errors import TransferError
from greenhop.runtime.agent import ROUTES, SiteAgent, build_app
from greenhop.runtime.agent_client import list_remote, set_peers
from greenhop.runtime.auth import Credentials, write_secret
from greenhop.runtime.transfer import fetch_via, pull_checkpoint
from greenhop.workload import latest_complete, save_checkpoint, weights_sha256

torch = pytest.importorskip("torch")

TOKEN = "s3cret-" + "x" * 40


class AgentProc:
    """A site agent as its own process with a token file; ``url`` once it listens."""

    def __init__(self, root: Path, token_file: Path, name: str = "site") -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "greenhop.runtime.siteproc", str(root), "--name", name,
             "--token-file", str(token_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.proc.stderr.read()

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


@pytest.fixture
def agents(tmp_path):
    tok = write_secret(tmp_path / "token", TOKEN + "\n")
    g = torch.Generator().manual_seed(1)
    for step in (25, 50):
        save_checkpoint(tmp_path / "a" / "job", step,
                        {"model": {"w": torch.randn(50_000, generator=g)}})
    a = AgentProc(tmp_path / "a", tok, "a")
    b = AgentProc(tmp_path / "b", tok, "b")
    creds = Credentials(TOKEN)
    try:
        set_peers(a.url, [a.url, b.url], credentials=creds)
        set_peers(b.url, [a.url, b.url], credentials=creds)
        yield a, b, creds
    finally:
        a.stop()
        b.stop()


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _manifests(url, creds) -> list[str]:
    return [e["manifest_sha256"] for e in list_remote(url, "job", credentials=creds)]


def test_the_route_list_is_complete(tmp_path):
    from starlette.routing import Route

    agent = SiteAgent(tmp_path)
    routes = {(m, r.path) for r in build_app(agent).app.routes if isinstance(r, Route)
              for m in r.methods - {"HEAD"}}
    assert routes == set(ROUTES)


def test_every_route_without_or_with_a_wrong_token_is_401_and_changes_nothing(agents, tmp_path):
    a, b, creds = agents
    before_a, before_b = _tree(a.root), _tree(b.root)
    name = "step-000000050"
    concrete = {"{job}": "job", "{name}": name, "{file}": "MANIFEST.json"}
    bodies = {"/v1/peers": {"urls": ["http://127.0.0.1:1"]},
              "/v1/jobs/{job}/fetch": {"source": a.url}}
    for headers in ({}, {"Authorization": "Bearer wrong-" + "y" * 40},
                    {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}):
        for method, path in ROUTES:
            url = path
            for k, v in concrete.items():
                url = url.replace(k, v)
            for target in (a.url, b.url):
                r = httpx.request(method, target + url, headers=headers,
                                  json=bodies.get(path), timeout=10)
                assert r.status_code == 401, (method, url, headers, r.status_code)
                assert r.headers.get("www-authenticate") == "Bearer"
                # a token given and refused is said so, not "needs the run's token"
                assert ("not this agent's" in r.text) == bool(headers), r.text
        # an unknown path is 401 too: nothing about the agent is revealed without the token
        assert httpx.get(a.url + "/nope", headers=headers, timeout=10).status_code == 401
    assert _tree(a.root) == before_a and _tree(b.root) == before_b
    # the peers were not replaced: a fetch from a still works
    res = fetch_via(b.url, a.url, "job", credentials=creds)
    assert res["step"] == 50


def test_a_rogue_source_and_a_foreign_checkpoint_are_refused_and_logged(agents, tmp_path):
    a, b, creds = agents
    rogue_root = tmp_path / "rogue"
    save_checkpoint(rogue_root / "job", 300, {"model": {"w": torch.zeros(10)}}, finished=True)
    with SiteAgent(rogue_root) as rogue, pytest.raises(  # not one of the run's agents
            TransferError, match="not one of this run's agents"):
        fetch_via(b.url, rogue.url, "job", credentials=creds)
    assert not (b.root / "job").exists() or latest_complete(b.root / "job") is None
    # a run agent offering a checkpoint the controller never recorded
    recorded = _manifests(a.url, creds)[1:]                  # only the older one recorded
    res = fetch_via(b.url, a.url, "job", accept=recorded, credentials=creds)
    assert res["step"] == 25 and any("never recorded" in e for e in res["events"])
    with pytest.raises(TransferError, match="no intact checkpoint"):
        fetch_via(b.url, a.url, "job", accept=["0" * 64], credentials=creds)
    err = b.stop()
    assert "refused fetch of job from" in err and "not one of this run's agents" in err


def test_a_corrupt_newest_checkpoint_at_the_source_falls_back_to_the_older(agents, tmp_path):
    a, b, creds = agents
    newest = a.root / "job" / "step-000000050"
    f = max(newest.glob("*.safetensors"), key=lambda p: p.stat().st_size)
    data = bytearray(f.read_bytes())
    data[-7] ^= 1
    f.write_bytes(bytes(data))
    t0 = time.monotonic()
    res = fetch_via(b.url, a.url, "job", accept=_manifests(a.url, creds), credentials=creds)
    assert res["step"] == 25 and any("corrupt at rest" in e for e in res["events"])
    assert weights_sha256(latest_complete(b.root / "job")) == weights_sha256(
        a.root / "job" / "step-000000025")
    assert time.monotonic() - t0 < 30
    older = a.root / "job" / "step-000000025"
    g = max(older.glob("*.safetensors"), key=lambda p: p.stat().st_size)
    data = bytearray(g.read_bytes())
    data[-7] ^= 1
    g.write_bytes(bytes(data))
    with pytest.raises(TransferError, match="no intact checkpoint"):
        pull_checkpoint(a.url, "job", tmp_path / "c" / "job", credentials=creds)


def test_staging_garbage_is_never_committed_and_a_file_in_its_place_is_no_crash(agents):
    a, b, creds = agents
    job = b.root / "job"
    job.mkdir(parents=True)
    (job / ".incoming-step-000000050").write_text("not a directory")   # a file in its place
    res = fetch_via(b.url, a.url, "job", credentials=creds)
    assert res["step"] == 50
    # garbage inside a staging directory of the next pull
    save_checkpoint(a.root / "job", 75, {"model": {"w": torch.ones(10)}})
    staging = job / ".incoming-step-000000075"
    staging.mkdir()
    (staging / "evil.pt").write_bytes(b"\x80\x04pickle")
    (staging / "notes.txt").write_text("junk")
    (staging / "sub").mkdir()
    res = fetch_via(b.url, a.url, "job", credentials=creds)
    assert res["step"] == 75
    committed = job / "step-000000075"
    listed = set(json.loads((committed / "MANIFEST.json").read_text())["files"])
    assert {p.name for p in committed.iterdir()} == listed | {"MANIFEST.json"}
    assert not staging.exists()


def _raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        with contextlib.suppress(TimeoutError, ConnectionError):
            while chunk := s.recv(65536):
                out += chunk
        return out


def test_a_body_of_the_wrong_shape_is_one_line_naming_the_field(agents):
    """PUT /v1/peers with a bad body answered with pydantic's own text over several lines."""
    a, b, creds = agents
    for path, method, body, want in (
            ("/v1/peers", "PUT", {"urls": "http://127.0.0.1:1"},
             "bad peers: Input should be a valid list at urls"),
            ("/v1/peers", "PUT", {"url": []}, "bad peers: Field required at urls (and 1 more)"),
            ("/v1/jobs/job/fetch", "POST", {"source": 5},
             "bad request body: Input should be a valid string at source")):
        r = httpx.request(method, b.url + path, headers=creds.headers(), json=body, timeout=10)
        assert r.status_code == 400
        assert r.json()["error"] == want
    assert fetch_via(b.url, a.url, "job", credentials=creds)["step"] == 50  # peers kept


def test_malformed_and_oversized_requests_and_200_slow_clients_do_not_stop_the_agent(agents):
    a, b, creds = agents
    port = int(b.url.rsplit(":", 1)[1])
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()
    head = b"POST /v1/jobs/job/fetch HTTP/1.1\r\nHost: x\r\n" + auth
    bad = _raw(port, head + b"Content-Length: -1\r\n\r\n{}")
    assert bad.startswith(b"HTTP/1.1 400"), bad[:80]
    big = _raw(port, head + b"Content-Length: 100000000\r\n\r\n{")
    assert big.startswith(b"HTTP/1.1 413"), big[:80]
    chunked = httpx.post(b.url + "/v1/jobs/job/fetch", headers=creds.headers(),
                         content=iter([b"{" + b" " * 65536] * 4), timeout=10)
    assert chunked.status_code == 413
    # 200 clients that send half a request and stay: half stop inside the headers, half
    # inside the body (without the token); 20 more with the token stop inside the body
    slow = []
    anon = b"POST /v1/jobs/job/fetch HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{"
    try:
        for i in range(220):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(head + b"Content-Length: 10\r\n\r\n{" if i >= 200 else
                      b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" if i % 2 else anon)
            slow.append(s)
        t0 = time.monotonic()
        for _ in range(3):
            assert httpx.get(b.url + "/v1/health", headers=creds.headers(),
                             timeout=10).status_code == 200
        res = fetch_via(b.url, a.url, "job", credentials=creds, timeout_s=60)
        assert res["step"] == 50
        assert time.monotonic() - t0 < 30
    finally:
        for s in slow:
            s.close()
    assert b.proc.poll() is None


def test_tls_with_the_runs_ca_only(tmp_path):
    """An agent on HTTPS with a certificate of the run's CA: a client trusting that CA pulls;
    one trusting another run's CA refuses the connection; plain HTTP gets nothing."""
    from greenhop.runtime.auth import make_run_ca

    ca, certs = make_run_ca(tmp_path / "tls", ["a"])
    other_ca, _ = make_run_ca(tmp_path / "other", ["a"])
    save_checkpoint(tmp_path / "a" / "job", 5, {"model": {"w": torch.ones(100)}})
    with SiteAgent(tmp_path / "a", token=TOKEN,
                   tls=(certs["a"].cert_file, certs["a"].key_file)) as agent:
        assert agent.url.startswith("https://")
        res = pull_checkpoint(agent.url, "job", tmp_path / "b" / "job",
                              credentials=Credentials(TOKEN, ca))
        assert res.step == 5
        with pytest.raises(TransferError, match="cannot reach"):
            list_remote(agent.url, "job", credentials=Credentials(TOKEN, other_ca))
        with pytest.raises(TransferError):
            list_remote(agent.url.replace("https", "http"), "job",
                        credentials=Credentials(TOKEN))


def test_a_certificate_that_does_not_load_names_both_files(tmp_path):
    """A certificate or key that is not PEM (here: the token file) is one error naming
    both files and their options, not the SSL library's bare "PEM lib"."""
    from greenhop.core.errors import ConfigError

    junk = tmp_path / "not-a-cert"
    junk.write_text("not a certificate\n")
    (tmp_path / "a").mkdir()
    with pytest.raises(ConfigError) as info, SiteAgent(tmp_path / "a", token=TOKEN,
                                                       tls=(str(junk), str(junk))):
        pass
    msg = str(info.value)
    assert f"{junk} (--tls-cert)" in msg and f"{junk} (--tls-key)" in msg


def test_a_newest_checkpoint_bad_at_the_source_though_its_manifest_matches_falls_back(
        agents, tmp_path):
    """A checkpoint whose files match its own manifest but do not verify (here a zip
    archive, what torch.save writes, in place of a safetensors file, the manifest's hashes
    written to fit): `latest` pulled it whole, failed "did not verify after transfer", and
    never tried the older one, where a hash mismatch fell back."""
    import zipfile

    import blake3

    a, _, creds = agents
    newest = a.root / "job" / "step-000000050"
    f = max(newest.glob("*.safetensors"), key=lambda p: p.stat().st_size)
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("data.pkl", b"\x80\x04N.")
    man = json.loads((newest / "MANIFEST.json").read_text())
    body = f.read_bytes()
    man["files"][f.name] = {"size_bytes": len(body),
                            "sha256": hashlib.sha256(body).hexdigest(),
                            "blake3": blake3.blake3(body).hexdigest()}
    (newest / "MANIFEST.json").write_text(json.dumps(man))
    dest = tmp_path / "here" / "job"
    res = pull_checkpoint(a.url, "job", dest, credentials=creds)
    assert res.checkpoint == "step-000000025", res
    assert any("did not verify after transfer" in e and "bad at the source" in e
               for e in res.events), res.events
    assert sorted(p.name for p in dest.iterdir()) == ["step-000000025"]  # no staging left


def test_a_checkpoint_the_source_does_not_have_is_named_as_missing(agents, tmp_path):
    """A pull of a step the agent never had said "has no MANIFEST.json: the checkpoint is
    incomplete", as if a copy there were torn."""
    a, _, creds = agents
    with pytest.raises(TransferError) as exc:
        pull_checkpoint(a.url, "job", tmp_path / "here" / "job", "step-000000099",
                        credentials=creds)
    assert "no such checkpoint" in str(exc.value) and "incomplete" not in str(exc.value)
