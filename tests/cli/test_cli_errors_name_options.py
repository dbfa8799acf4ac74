"""An unknown name given to an option is refused in one line that names the option, not
only the name (the message came from a lookup that did not know which option asked)."""

from __future__ import annotations

from pathlib import Path

import pytest
from clikit import one_line_error, run


@pytest.mark.parametrize(("args", "names"), [
    (["windows", "--site", "atlantis"], ["--site atlantis", "no site 'atlantis'"]),
    (["forecast", "backtest", "--site", "atlantis"], ["--site atlantis", "unknown site"]),
    (["forecast", "backtest", "--site", "berlin-de", "--model", "nope"],
     ["--model", "unknown forecaster 'nope'"]),
    (["feasibility", "-c", "1GB", "-b", "1Gbps", "-w", "1h", "--gpu", "nope"],
     ["--gpu", "unknown GPU platform 'nope'"]),
])
def test_an_unknown_name_is_refused_naming_its_option(capsys, args, names):
    code, _, err = run(capsys, *args)
    one_line_error(code, err, *names)


@pytest.mark.parametrize(("policy", "some"), [
    ("wait-awhile", "horizon_s, max_delay_s, profile_days"),
    ("carbonscaler", None), ("curtail-threshold", None), ("network-aware", None),
    ("cost-aware-greedy", None), ("threshold", None), ("horizon-planner", "lam"),
])
def test_an_unknown_policy_parameter_lists_the_policys_own(capsys, tmp_path, policy, some):
    """Policies other than the planner answered with Python's own words ("__init__() got an
    unexpected keyword argument 'bogus'"), without the parameters they take."""
    import greenhop
    from greenhop.policies import POLICIES
    from greenhop.policies.base import accepted_parameters

    text = (Path(greenhop.__file__).parent / "data/scenarios/default.toml").read_text()
    path = tmp_path / "pp.toml"
    path.write_text(text + f"\n[policy_params.{policy}]\nbogus = 1\n")
    code, _, err = run(capsys, "simulate", str(path), "--policies", policy, "--out",
                       str(tmp_path / "out"))
    names = ", ".join(sorted(accepted_parameters(POLICIES.get(policy))[0])) or "none"
    line = one_line_error(code, err, f"policy_params.{policy}.bogus: unknown parameter of "
                                     f"policy '{policy}'; its parameters: {names}")
    assert "__init__" not in line
    assert some is None or some in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "names"), [
    # merged into one before: one horizon scored where two were asked for
    (["forecast", "backtest", "--site", "berlin-de", "--horizons", "1h,60min"],
     ["--horizons", "60min is the same horizon as 1h"]),
    # read as a float, 2^53 + 1 became 2^53 and passed the "<= 2^53" check
    (["sync-map", "--streams", "9007199254740993"], ["--streams 9007199254740993", "2^53"]),
])
def test_a_value_read_loosely_before_is_refused(capsys, args, names):
    code, _, err = run(capsys, *args)
    one_line_error(code, err, *names)
