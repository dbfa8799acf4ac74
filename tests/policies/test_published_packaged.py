"""Each published policy runs a small packaged scenario (live-3site, stretched to four days so
temporal shifting has room) and finishes every job; the policies are registered by name
with a summary, a source and typed capabilities."""

from __future__ import annotations

import pytest

from greenhop.policies import POLICIES, Capabilities, PolicyBase
from greenhop.sim import simulate
from greenhop.sim.scenario import scenario_document

PUBLISHED = {
    "wait-awhile": Capabilities(suspends=True),
    "curtail-threshold": Capabilities(suspends=True),
    "network-aware": Capabilities(migrates=True),
    "cost-aware-greedy": Capabilities(migrates=True),
}


@pytest.fixture(scope="module")
def metrics() -> dict[str, dict]:
    doc, _, _ = scenario_document("live-3site")
    doc["horizon"] = "4d"
    result = simulate(doc, policies=["static", *PUBLISHED])
    return result.metrics_by_policy


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_finishes_every_job_of_a_packaged_scenario(metrics, name):
    m = metrics[name]
    assert m["jobs"] == 4
    assert m["finished_jobs"] == 4 and m["unfinished_jobs"] == 0
    # each one causes less grid energy than never acting
    assert m["job_nr_kwh"] < metrics["static"]["job_nr_kwh"]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_registered_with_summary_source_and_capabilities(name):
    cls = POLICIES.get(name)
    assert isinstance(cls, type) and issubclass(cls, PolicyBase)
    assert cls.name == name
    assert cls.capabilities == PUBLISHED[name]
    assert 20 <= len(cls.summary) <= 120 and "\n" not in cls.summary
    assert cls.source and cls.source != "greenhop"
