"""The served ETA of a migration in flight counts the transfers leaving the same site:
they share its agent's rate (one token bucket), so two at once each take twice as long
(each was estimated at the full rate, and sat at "ETA 3 s" for as long again)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from greenhop.service.data import _migrations
from greenhop.sim import load_scenario
from greenhop.sim.inputs import build_inputs

LIVE = Path(__file__).resolve().parents[2] / "src" / "greenhop" / "data" / "scenarios" / \
    "live-3site.toml"


@pytest.fixture(scope="module")
def si():
    sc = load_scenario(LIVE)
    return sc, build_inputs(sc)


def _events(moves: list[tuple[str, str, str]], t0: float) -> list[tuple]:
    """``migrate`` and ``phase`` events putting each ``(job, src, dst)`` in transferring
    since ``t0``."""
    evs, seq = [], 0
    for job, src, dst in moves:
        for kind, body in (("migrate", {"src": src, "dst": dst}),
                           ("phase", {"from": "saving", "to": "transferring"})):
            seq += 1
            evs.append((seq, 1, t0, kind, job, json.dumps(body)))
    return evs


def _eta(si, moves, t0):
    sites = list(si[0].site_names)
    out = _migrations(Path("run.db"), _events(moves, t0), {}, sites, si, [])
    return {m["job"]: (m["eta_s"], m["bytes_moved"]) for m in out}


def test_two_transfers_from_one_site_share_its_rate(si, monkeypatch):
    sc, inp = si
    jobs = list(inp.job_names)
    src, dst, other = sc.site_names[0], sc.site_names[1], sc.site_names[2]
    t0 = 1.7e9
    s, d = 0, 1
    rate_Bps = float(inp.network.bandwidth_bps[s, d] * inp.network.efficiency[s, d]) / 8
    transfer_s = float(inp.job_move_bytes[0]) / rate_Bps  # alone
    monkeypatch.setattr(time, "time", lambda: t0 + 0.25 * transfer_s)
    alone = _eta(si, [(jobs[0], src, dst)], t0)[jobs[0]]
    both = _eta(si, [(jobs[0], src, dst), (jobs[1], src, dst)], t0)
    # a quarter of the transfer done alone; shared, an eighth, and 7/4 of it left
    assert both[jobs[0]][0] - alone[0] == pytest.approx(transfer_s, rel=1e-6)
    assert both[jobs[0]][1] == pytest.approx(alone[1] / 2)  # half the bytes so far
    # a transfer from another site shares nothing with it
    apart = _eta(si, [(jobs[0], src, dst), (jobs[1], other, dst)], t0)
    assert apart[jobs[0]] == pytest.approx(alone)
