"""An unknown name given to an option is refused in one line that names the option, not
only the name (the message came from a lookup that did not know which option asked)."""

from __future__ import annotations

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
