"""``greenhop simulate``'s table and its report.html follow one rule: the same columns shown
(and defined in the footnote), the same ratios withheld over a tiny denominator.

The scenario: one site (1.2 kW renewable, 1 kW base load), one 1 GPU-h job at 400 W: static
causes 1 h x 0.4 kW - 0.2 kW of surplus = 0.4 kWh of job grid energy, under the guard's
1 kWh floor, so "saved vs static" is withheld for every policy. With one site the space
bound is static itself (0.4 kWh): the space gap is undefined for every policy (static is at
the bound) and its denominator 0 is under the floor as well; the space-time bound (0.2 kWh)
leaves a gap of 0.2 kWh, also under it.
"""

from __future__ import annotations

import re

import clikit

from greenhop.cli.simulate import _SUMMARY
from greenhop.sim.report import _COLUMNS

SCENARIO = """
name = "one-site"
start = "2023-01-01T00:00:00Z"
horizon = "2h"
step = "5min"
history = "0s"
seed = 0
policies = ["static"]

[migration]
write_rate = "2GB/s"
read_rate = "2GB/s"
startup = "60s"

[bounds]
kinds = ["space", "spacetime"]

[[sites]]
name = "a"
latitude = 0.0
longitude = 0.0
gpu_slots = 4
base_load = "1kW"
pue = 1.0
gpu_power = "400W"
gpu_idle = "50W"
throughput = 1.0
trace = { kind = "constant", power = "1.2kW" }

[[jobs]]
name = "j1"
arrival = "0s"
work_gpu_h = 1.0
checkpoint = "1GB"
gpus = 1
origin = "a"
"""

POLICIES = ("static", "energy-greedy")


def _cli_table(out: str) -> tuple[list[str], dict[str, list[str]]]:
    """The terminal table's column labels and each policy's cells."""
    head = next(line for line in out.splitlines() if line.startswith("┃"))
    labels = [c.strip() for c in head.strip("┃").split("┃")]
    rows = {}
    for line in out.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows[cells[0]] = cells[1:]
    return labels[1:], rows


def _report_table(html: str) -> tuple[list[str], dict[str, list[str]]]:
    """The report's comparison table: its column labels and each policy's cells (``n/a``
    where the cell is a withheld ratio)."""
    table = html[html.index("<tr><th>policy</th>"):]
    table = table[:table.index("</table>")]
    labels = re.findall(r"<th>([^<]*)</th>", table)[1:]
    rows = {}
    for row in table.split("<tr")[2:]:
        cells = re.findall(r"<td([^>]*)>([^<]*)</td>", row)
        rows[cells[0][1]] = ["n/a" if 'class="warn"' in attrs else text
                             for attrs, text in cells[1:]]
    return labels, rows


def test_the_table_and_the_report_show_and_withhold_the_same(tmp_path, capsys):
    path = tmp_path / "one-site.toml"
    path.write_text(SCENARIO)
    out_dir = tmp_path / "out"
    code, out, err = clikit.run(capsys, "simulate", str(path), "-p", ",".join(POLICIES),
                                "--out", str(out_dir))
    assert code == 0, err
    html = (out_dir / "report.html").read_text()
    cli_labels, cli_rows = _cli_table(out)
    rep_labels, rep_rows = _report_table(html)
    cli_key = {label: key for key, label, _ in _SUMMARY}
    rep_key = {label: key for key, label, _ in _COLUMNS}
    cli_keys = [cli_key[label] for label in cli_labels]
    rep_keys = [rep_key[label] for label in rep_labels]
    both = [k for k, _, _ in _SUMMARY if k in dict.fromkeys(k for k, _, _ in _COLUMNS)]
    # the same columns: the space gap, undefined for every policy, is a column in both
    assert [k for k in cli_keys if k in both] == [k for k in rep_keys if k in both]
    assert "gap_closed_space_pct" in cli_keys and "gap_closed_spacetime_pct" in cli_keys
    # the same cells withheld
    for policy in POLICIES:
        for key in (k for k in both if k in cli_keys):  # shown in both (asserted above)
            cli_cell = cli_rows[policy][cli_keys.index(key)]
            rep_cell = rep_rows[policy][rep_keys.index(key)]
            assert (cli_cell == "n/a") == (rep_cell == "n/a"), (policy, key, cli_cell, rep_cell)
        assert cli_rows[policy][cli_keys.index("saved_vs_static_pct")] == "n/a"
        assert cli_rows[policy][cli_keys.index("gap_closed_space_pct")] == "n/a"
    # the footnote (wrapped at the console's width) defines the columns shown, and n/a
    text = " ".join(out.split())
    assert "gap S = share of static's gap to the space bound closed" in text
    assert "gap ST = share of static's gap to the space-time bound closed" in text
    assert "n/a = withheld (static's job energy under 1 kWh)" in text
    # and the report says why it drew no panel of those ratios
    assert ("Not drawn, withheld (static&#x27;s job energy under 1 kWh): saved vs static "
            "[%].") in html
